"""The simulator as ground truth, over real HTTP: every order's history of state changes, the
call log with its sequence numbers and request ids, `/_sim/history`, clear, the ZebPay pairs
route and the gateway 404 for unrouted paths."""

from __future__ import annotations

import time

import pytest

from ordercancel.devtools.stack import symbols
from ordercancel.sim.history import CALL_FIELDS

from .simkit import AJA, GATEWAY_404, ORDER, ZEB, wall_ms


def test_zebpay_history_records_seed_cancel_and_fill_with_the_causing_call(sim):
    a, b = sim.admin.seed("zebpay", ZEB, [{"side": "sell"}, {"client_order_id": "mine-1"}])
    assert b == "mine-1"
    assert sim.zeb.cancel(a, rid="req-a").status_code == 200
    sim.admin.action("zebpay", "fill", account=ZEB, clientOrderId=b)
    [call] = sim.calls("zebpay.cancel")
    cancelled, filled = sim.order("zebpay", a), sim.order("zebpay", b)
    assert cancelled["side"] == "SELL" and cancelled["client_order_id"] == a
    assert (cancelled["account"], cancelled["symbol"], cancelled["status"]) == (
        ZEB,
        "BTCUSDT",
        "canceled",
    )
    seed, cancel = cancelled["history"]
    assert seed == {
        "t_ms": cancelled["created_ms"],
        "status": "new",
        "cause": "seed",
        "call": None,
        "request_id": None,
    }
    assert cancel["status"] == "canceled" and cancel["cause"] == "zebpay.cancel"
    assert (cancel["call"], cancel["request_id"]) == (call["seq"], "req-a")
    assert call["t_ms"] <= cancel["t_ms"] <= call["answered_ms"]
    assert [(e["status"], e["cause"], e["call"]) for e in filled["history"]] == [
        ("new", "seed", None),
        ("filled", "fill", None),
    ]


def test_zebpay_cancel_all_is_the_cause_of_every_order_it_cancels(sim):
    ids = sim.admin.seed("zebpay", ZEB, [{"symbol": "ETHUSDT"}, {}])
    body = sim.zeb.cancel_all(rid="kill-1").json()
    assert sorted(d["clientOrderId"] for d in body["data"]) == sorted(ids)
    [call] = sim.calls("zebpay.cancel_all")
    assert sorted(call["orders"]) == sorted(ids)
    for oid in ids:
        last = sim.order("zebpay", oid)["history"][-1]
        assert (last["cause"], last["call"], last["request_id"]) == (
            "zebpay.cancel_all",
            call["seq"],
            "kill-1",
        )


def test_ajaib_completions_carry_the_due_time_and_the_requesting_call(sim):
    sim.admin.action("ajaib", "config", cancel_delay_ms=100)
    plain, fills, partial = sim.admin.seed(
        "ajaib", AJA, [{"side": "SELL"}, {"fill_on_cancel": True}, {"executed_quantity": "0.004"}]
    )
    [other] = sim.admin.seed("ajaib", AJA, [{"symbol": "ETH_USDT"}])
    assert sim.aja.cancel(plain, rid="r-plain").json() == {"status": "CANCEL_SENT"}
    batch = sim.aja.cancel_batch([fills, partial], rid="r-batch").json()
    assert sorted(batch["success"]) == sorted([int(fills), int(partial)])
    assert sim.aja.cancel_open("ETH_USDT", rid="r-open").json()["success"] == [int(other)]
    pending = sim.order("ajaib", plain)
    assert pending["status"] == "NEW" and len(pending["history"]) == 1  # an ack is no change
    time.sleep(0.2)  # no call reads the orders: /_sim/history completes what is due
    calls = {c["route"]: c for c in sim.calls()}
    expect = {
        plain: ("CANCELLED", "ajaib.cancel", "r-plain"),
        fills: ("FILLED", "ajaib.cancel_batch", "r-batch"),
        partial: ("PARTIAL_CANCELLED", "ajaib.cancel_batch", "r-batch"),
        other: ("CANCELLED", "ajaib.cancel_open", "r-open"),
    }
    for oid, (status, route, rid) in expect.items():
        order = sim.order("ajaib", oid)
        assert order["client_order_id"] is None and order["status"] == status
        seed, done = order["history"]
        assert (seed["status"], seed["cause"], seed["t_ms"]) == ("NEW", "seed", order["created_ms"])
        call = calls[route]
        assert (done["status"], done["cause"], done["call"], done["request_id"]) == (
            status,
            route,
            call["seq"],
            rid,
        )
        assert call["t_ms"] + 100 <= done["t_ms"] <= call["answered_ms"] + 100  # when it was due
    assert sim.order("ajaib", plain)["side"] == "SELL"
    assert sim.aja.get(plain).json()["status"] == "CANCELLED"


def test_an_ajaib_fill_while_a_cancel_is_pending_is_final(sim):
    sim.admin.action("ajaib", "config", cancel_delay_ms=100)
    [oid] = sim.admin.seed("ajaib", AJA, [{}])
    sim.aja.cancel(oid)
    sim.admin.action("ajaib", "fill", account=AJA, order_id=oid)
    time.sleep(0.15)
    order = sim.order("ajaib", oid)
    assert order["status"] == "FILLED"
    assert [(e["status"], e["cause"]) for e in order["history"]] == [
        ("NEW", "seed"),
        ("FILLED", "fill"),
    ]


def test_history_times_are_wall_clock_even_when_the_venue_clock_is_skewed(sim):
    sim.admin.clock(120_000)
    sim.zeb.offset_ms = 120_000
    before = wall_ms()
    [oid] = sim.admin.seed("zebpay", ZEB, [{}])
    assert sim.zeb.cancel(oid).status_code == 200
    order = sim.order("zebpay", oid)
    assert all(before <= e["t_ms"] <= wall_ms() for e in order["history"])


def test_the_call_log_numbers_every_call_and_records_its_request_id(sim):
    [oid] = sim.admin.seed("zebpay", ZEB, [{}])
    [aid] = sim.admin.seed("ajaib", AJA, [{}])
    sim.zeb.get(oid, rid="g-1")
    sim.zeb.open_orders()
    sim.aja.get(aid)
    sim.aja.get("42")  # unknown: read nothing
    calls = sim.calls()
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    assert len({c["seq"] for c in calls}) == 4
    assert all(set(c) == set(CALL_FIELDS) for c in calls)
    get, listing, aget, unknown = calls
    assert (get["venue"], get["route"], get["account"], get["request_id"]) == (
        "zebpay",
        "zebpay.get_order",
        ZEB,
        "g-1",
    )
    assert (get["status"], get["fault"], get["orders"]) == (200, None, [oid])
    assert get["t_ms"] <= get["answered_ms"]
    assert listing["request_id"] is None and listing["orders"] == [oid]
    assert (aget["route"], aget["account"], aget["orders"]) == ("ajaib.get_order", AJA, [aid])
    assert (unknown["status"], unknown["orders"]) == (404, [])
    assert sim.aja.get("42").json() == {"error": "not_found"}  # the venue's own 404 stays JSON
    assert sim.zeb.get("nope").json()["statusDescription"] == "Order not found"
    assert len(sim.admin.log()) == 6  # the request log is still there


def test_history_since_filters_orders_and_calls(sim):
    [old] = sim.admin.seed("zebpay", ZEB, [{}])
    sim.zeb.get(old)
    mark = sim.admin.history()["now_ms"]
    assert sim.admin.history(mark + 1) == {
        "now_ms": pytest.approx(wall_ms(), abs=1000),
        "orders": [],
        "calls": [],
    }
    time.sleep(0.002)
    [new] = sim.admin.seed("zebpay", ZEB, [{}])
    sim.zeb.cancel(old, rid="late")
    later = sim.admin.history(mark)
    assert sorted(o["order_id"] for o in later["orders"]) == sorted([old, new])
    assert [c["request_id"] for c in later["calls"]] == ["late"]


def test_clear_deletes_every_order_and_the_call_history_but_keeps_accounts(sim):
    sim.admin.seed("zebpay", ZEB, [{}, {}])
    sim.admin.seed("ajaib", AJA, [{}])
    sim.zeb.open_orders()
    sim.admin.clear()
    history = sim.admin.history()
    assert (history["orders"], history["calls"]) == ([], [])
    assert sim.admin.orders("zebpay", ZEB) == [] and sim.admin.orders("ajaib", AJA) == []
    assert sim.zeb.open_orders().json()["data"]["items"] == []  # the credentials still work
    assert sim.aja.get("1").status_code == 404
    [seq] = [c["seq"] for c in sim.calls("zebpay.open_orders")]
    sim.admin.reset()
    assert sim.admin.history()["calls"] == []
    sim.zeb.open_orders()
    assert sim.calls()[0]["seq"] > seq  # seq never restarts


def test_zebpay_pairs_lists_every_symbol_the_project_seeds_and_is_rate_limited(sim):
    resp = sim.zeb.http.get(sim.server.url + "/api/v1/exchange/pairs", timeout=5)
    pairs = resp.json()["data"]["pairs"]
    assert resp.json()["statusCode"] == 200
    assert {p["pair"] for p in pairs} >= set(symbols("zebpay"))
    assert next(p for p in pairs if p["pair"] == "BTCUSDT") == {
        "name": "BTC/USDT",
        "pair": "BTCUSDT",
        "isActive": True,
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
    }
    assert sim.calls()[-1]["route"] == "zebpay.pairs"
    sim.admin.action("zebpay", "limit", limit=2, window_s=60)
    try:
        statuses = [
            sim.zeb.http.get(sim.server.url + "/api/v1/exchange/pairs", timeout=5).status_code
            for _ in range(3)
        ]
    finally:
        sim.admin.action("zebpay", "limit", limit=180, window_s=60)
    assert statuses == [200, 200, 429]


def test_an_unrouted_path_is_a_gateway_404(sim):
    for method, path in [("GET", "/nope"), ("DELETE", ORDER.upper()), ("POST", "/api/v1/x")]:
        resp = sim.zeb.http.request(method, sim.server.url + path, timeout=5)
        assert resp.status_code == 404
        assert resp.headers["Content-Type"] == "text/html"
        assert resp.text == GATEWAY_404
    assert sim.calls() == []  # no venue, no venue call
