"""The drill's own checks, on made-up simulator logs and rows."""

from ordercancel.devtools.drill.harness import Row, table
from ordercancel.devtools.drill.hostsdrill import max_in_window
from ordercancel.devtools.drill.scenarios import _inside_retry_after


def call(t_ms, status=200, ip="127.0.0.1", venue="zebpay"):
    return {"t_ms": t_ms, "answered_ms": t_ms + 20, "status": status, "ip": ip, "venue": venue}


def test_a_call_inside_a_retry_after_is_counted():
    log = [call(1000, 429), call(1500), call(2500)]
    assert _inside_retry_after(log, hold_ms=1000) == 1


def test_calls_already_on_their_way_other_ips_and_other_venues_are_not():
    log = [call(1000, 429), call(1050), call(1400, ip="10.0.0.2"), call(1400, venue="ajaib")]
    assert _inside_retry_after(log, hold_ms=1000) == 0


def test_the_table_names_what_failed():
    ok = Row("crash", requests=10, finals=10, recovery_s=3.25, violations={"late": 0})
    bad = Row("redis", requests=10, finals=9, lost=1, violations={"left open": 2})
    text = table([ok, bad])
    assert "3.2 s" in text and "FAILED: left open: 2" in text
    assert ok.ok and not bad.ok


def test_the_busiest_moving_window_is_found_wherever_it_starts():
    assert max_in_window([], 1000) == 0
    assert max_in_window([0, 999, 1000, 1999], 1000) == 2  # a window holds [t, t + 1000)
    assert max_in_window([5000, 0, 100, 200, 1150, 1160], 1000) == 3  # not sorted
    assert max_in_window([0, 500, 900, 1400, 1450], 1000) == 4
