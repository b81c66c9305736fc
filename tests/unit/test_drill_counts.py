"""The drill's own count (`drill.harness.tally`, `open_count`; `drill.scenarios.recovery`,
`missed_waits`) on made-up result streams, store finals and simulator histories: each failure
is counted once, in its own column, and only what the venue's record contradicts is flagged."""

from __future__ import annotations

from typing import Any

from ordercancel.devtools.drill import truth
from ordercancel.devtools.drill.harness import (
    CLOSED,
    CONTRADICTED,
    ID_FIELD,
    Order,
    Row,
    open_count,
    tally,
    venue_states,
)
from ordercancel.devtools.drill.scenarios import missed_waits, recovery
from ordercancel.sim import ajaib as ajaib_sim
from ordercancel.sim import zebpay as zebpay_sim

T0 = 1_700_000_000_000  # the requests arrive
ZEB = "zebpay-main"


def venue_order(oid: str, *changes: tuple[int, str, str | None], account: str = ZEB) -> dict:
    """An order as `SimAdmin.history()` has it: seeded before T0, then `changes` (ms from T0,
    status, the request id of the call that caused it or None for a fill)."""
    venue = "ajaib" if account.startswith("ajaib") else "zebpay"
    seeded = "NEW" if venue == "ajaib" else "new"
    history = [{"t_ms": T0 - 100, "status": seeded, "cause": "seed", "call": None,
                "request_id": None}]  # fmt: skip
    for i, (dt, status, rid) in enumerate(changes):
        cause = f"{venue}.cancel" if rid else "fill"
        history.append({"t_ms": T0 + dt, "status": status, "cause": cause,
                        "call": i + 1 if rid else None, "request_id": rid})  # fmt: skip
    return {"venue": venue, "account": account, "order_id": oid, "symbol": "BTCUSDT",
            "side": "buy", "client_order_id": oid, "created_ms": T0 - 100,
            "status": history[-1]["status"], "history": history}  # fmt: skip


def venue_call(seq: int, dt: int, rid: str, route: str = "zebpay.cancel") -> dict:
    return {"seq": seq, "t_ms": T0 + dt, "answered_ms": T0 + dt + 5, "venue": "zebpay",
            "route": route, "account": ZEB, "request_id": rid, "status": 200, "fault": None,
            "orders": []}  # fmt: skip


def final(rid: str, oid: str, status: str, dt: int = 50, **fields: str) -> dict[str, str]:
    """A `final` event as the worker publishes it (every value a string)."""
    event = {
        "event": "final", "request_id": rid, "kind": "cancel", "account": ZEB,
        "venue": "zebpay", "symbol": "BTCUSDT", "order_id": oid, "idempotency_key": "",
        "parent_id": "", "status": status, "error_code": "", "error": "", "attempts": "1",
        "http_status": "200", "venue_status": "", "ts": str(T0 + dt), "received_ms": str(T0),
        "latency_ms": str(dt), "detail": "", "reason": "", "requested_by": "",
    }  # fmt: skip
    event.update(fields)
    return event


def accepted(rid: str) -> dict[str, str]:
    return {"event": "accepted", "request_id": rid, "parent_id": ""}


def history(orders: list[dict], calls: list[dict]) -> dict[str, Any]:
    return {"now_ms": T0 + 10_000, "orders": orders, "calls": calls}


def counted(rids, events, finals, orders, hist) -> Row:
    row = Row("test")
    sent = {rid: Order(ZEB, oid, "BTCUSDT") for rid, oid in orders.items()}
    tally(row, rids, events, finals, sent, hist)
    return row


def failures(row: Row) -> int:
    """Every failure the row reports, whatever its column."""
    return row.lost + row.duplicates + sum(row.violations.values())


def test_requests_the_venue_agrees_with_count_clean():
    f1, f2 = final("r1", "o1", "canceled"), final("r2", "o2", "already_closed")
    hist = history(
        [venue_order("o1", (20, "canceled", "r1")), venue_order("o2", (-50, "filled", None))],
        [venue_call(1, 20, "r1"), venue_call(2, 20, "r2")],
    )
    row = counted(["r1", "r2"], [accepted("r1"), f1, f2], {"r1": f1, "r2": f2},
                  {"r1": "o1", "r2": "o2"}, hist)  # fmt: skip
    assert (row.requests, row.finals, row.duplicates, row.lost) == (2, 2, 0, 0)
    assert row.violations == {CONTRADICTED: 0} and row.ok
    assert "1 already_closed, 1 canceled" in row.notes


def test_a_lost_request_is_counted_once_as_lost():
    # r2 never got a final (none on the stream, none in the store); its order is still open
    f1 = final("r1", "o1", "canceled")
    hist = history(
        [venue_order("o1", (20, "canceled", "r1")), venue_order("o2")], [venue_call(1, 20, "r1")]
    )
    row = counted(["r1", "r2"], [f1], {"r1": f1, "r2": None}, {"r1": "o1", "r2": "o2"}, hist)
    assert (row.requests, row.finals, row.lost) == (2, 1, 1)
    # ... and not a second time as an outcome the venue contradicts: it has no outcome
    assert row.violations[CONTRADICTED] == 0
    assert failures(row) == 1 and not row.ok


def test_a_duplicate_final_is_counted_as_one_duplicate():
    f1 = final("r1", "o1", "canceled")
    again = final("r1", "o1", "canceled", dt=60)
    child = final("r1:o9", "o9", "canceled", parent_id="r1")  # a per-order child: not r1's
    other = final("x1", "o7", "canceled")  # a request this drill did not send
    hist = history([venue_order("o1", (20, "canceled", "r1"))], [venue_call(1, 20, "r1")])
    row = counted(["r1"], [accepted("r1"), f1, child, again, other], {"r1": f1}, {"r1": "o1"},
                  hist)  # fmt: skip
    assert (row.requests, row.finals, row.duplicates, row.lost) == (1, 1, 1, 0)
    assert row.violations[CONTRADICTED] == 0
    assert failures(row) == 1 and not row.ok


def test_an_outcome_the_venue_contradicts_is_flagged_once():
    # r1 says canceled, but the venue never cancelled o1; r2 says not_found, but it has o2
    f1, f2 = final("r1", "o1", "canceled"), final("r2", "o2", "not_found")
    hist = history([venue_order("o1"), venue_order("o2")],
                   [venue_call(1, 20, "r1"), venue_call(2, 20, "r2")])  # fmt: skip
    row = counted(["r1", "r2"], [f1, f2], {"r1": f1, "r2": f2}, {"r1": "o1", "r2": "o2"}, hist)
    assert (row.finals, row.duplicates, row.lost) == (2, 0, 0)
    assert row.violations[CONTRADICTED] == 2 and not row.ok
    assert any(n.startswith("canceled r1: ") for n in row.notes), row.notes
    assert any(n.startswith("not_found r2: ") for n in row.notes), row.notes


def test_a_cancel_after_the_final_is_flagged():
    f1 = final("r1", "o1", "canceled")
    hist = history([venue_order("o1", (20, "canceled", "r1"))],
                   [venue_call(1, 20, "r1"), venue_call(2, 900, "r1")])  # fmt: skip
    row = counted(["r1"], [f1], {"r1": f1}, {"r1": "o1"}, hist)
    assert row.violations[CONTRADICTED] == 1
    assert any(n.startswith("call_after_final r1") for n in row.notes), row.notes


def test_a_lost_request_and_a_contradicted_one_are_one_failure_each():
    f1 = final("r1", "o1", "canceled")
    hist = history([venue_order("o1"), venue_order("o2")], [venue_call(1, 20, "r1")])
    row = counted(["r1", "r2"], [f1], {"r1": f1, "r2": None}, {"r1": "o1", "r2": "o2"}, hist)
    assert (row.lost, row.violations[CONTRADICTED]) == (1, 1)
    assert failures(row) == 2


# -- orders left open at the venue ------------------------------------------------------------


def book_entry(venue: str, oid: str, status: str, **extra: Any) -> dict[str, Any]:
    """An order as `SimAdmin.orders` lists it (the venue's own fields)."""
    return {ID_FIELD[venue]: int(oid) if venue == "ajaib" else oid, "status": status, **extra}


def test_an_ajaib_order_cancelled_after_a_partial_fill_is_closed():
    books = {
        "ajaib-main": [
            book_entry("ajaib", "1", "PARTIAL_CANCELLED", executed_quantity="0.004"),
            book_entry("ajaib", "2", "CANCELLED"),
            book_entry("ajaib", "3", "FILLED"),
            book_entry("ajaib", "4", "PARTIAL_FILLED"),
            book_entry("ajaib", "5", "NEW"),
        ],
        "zebpay-main": [
            book_entry("zebpay", "z1", "canceled"),
            book_entry("zebpay", "z2", "filled"),
            book_entry("zebpay", "z3", "partially_filled"),
        ],
    }
    states = venue_states(books)
    ajaib = [Order("ajaib-main", str(i), "BTC_USDT") for i in range(1, 6)]
    zebpay = [Order("zebpay-main", f"z{i}", "BTCUSDT") for i in range(1, 4)]
    assert open_count(ajaib[:1], states) == 0  # PARTIAL_CANCELLED: closed
    assert open_count(ajaib, states) == 2  # PARTIAL_FILLED and NEW
    assert open_count(zebpay, states) == 1  # partially_filled
    # an order the venue does not list is not known closed
    assert open_count([Order("zebpay-main", "gone", "BTCUSDT")], states) == 1


def test_closed_means_what_the_simulator_and_the_truth_checker_mean():
    # every terminal state the truth checker knows for a venue is closed for the drill, and no
    # state the simulator calls open is
    terminal = truth.CANCELLED | truth.FILLED
    assert {s for s in terminal if s.isupper()} <= CLOSED["ajaib"]
    assert {s for s in terminal if s.islower()} <= CLOSED["zebpay"]
    assert not CLOSED["ajaib"] & ajaib_sim.OPEN
    assert not CLOSED["zebpay"] & zebpay_sim.OPEN


# -- after a kill; producer waits -------------------------------------------------------------


def test_a_killed_workers_lost_request_is_counted_as_lost_not_also_as_slow():
    killed = T0 + 1_000
    finals = {"a": final("a", "o1", "canceled", dt=3_000), "b": None}
    recovery_s, slow = recovery([(killed, {"a", "b"})], finals, target_s=30)
    assert recovery_s == 2.0
    assert slow == 0  # b has no final: `lost` counts it


def test_a_request_late_after_two_kills_is_one_slow_request():
    finals = {"a": final("a", "o1", "canceled", dt=100_000), "b": final("b", "o2", "canceled")}
    kills = [(T0, {"a", "b"}), (T0 + 10_000, {"a"})]
    recovery_s, slow = recovery(kills, finals, target_s=30)
    assert recovery_s == 100.0
    assert slow == 1


def test_a_wait_that_missed_an_existing_final_counts_a_lost_one_does_not():
    finals = {"a": final("a", "o1", "canceled"), "b": None, "c": final("c", "o3", "canceled")}
    assert missed_waits(["a", "b"], finals) == 1
    assert missed_waits([], finals) == 0
