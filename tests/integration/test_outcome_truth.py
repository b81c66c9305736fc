"""No false success: each class of defect the outcome-truth issue found, held against what the
venue (the simulator's own record) shows, not against our events. Each of these failed before."""

import json
import time

from ordercancel.node.runtime import Runtime
from ordercancel.venues.base import Call, OrderRef

from .conftest import order_status, seed


def calls_for(admin, request_id, since_ms=0.0):
    """The venue calls made on behalf of a request or its children (our X-Request-Id)."""
    return [
        c
        for c in admin.history(since_ms)["calls"]
        if c["request_id"]
        and (c["request_id"] == request_id or c["request_id"].startswith(f"{request_id}:"))
    ]


def xadd(client, value):
    return client.store.redis.xadd(client.keys.requests, {"request": json.dumps(value)})


def test_a_kill_whose_cancel_all_fails_on_an_account_without_symbols_is_true(client, admin):
    """ZebPay answers 503 to its cancel-all; the account configures no `symbols`. The kill used
    to end `completed` with every order open (the error swallowed, nothing listed)."""
    btc = seed(admin, "zebpay-flat", n=2, symbol="BTCUSDT")
    sol = seed(admin, "zebpay-flat", n=2, symbol="SOLUSDT")
    admin.faults(error_rate=1.0, routes=["zebpay.cancel_all"])
    final = client.kill("drill", ["zebpay-flat"]).wait(30)
    still_open = [o for o in btc + sol if order_status(admin, "zebpay-flat", o) != "canceled"]
    assert final["status"] != "completed" or not still_open, (final, still_open)
    assert final["status"] == "completed" and not still_open, final  # each pair listed, cancelled


def test_no_listing_possible_is_never_completed(client, admin):
    """Neither the cancel-all nor the pairs nor the listing answer: nothing is proven flat."""
    ids = seed(admin, "zebpay-flat", n=2, symbol="BTCUSDT")
    admin.faults(error_rate=1.0, routes=["zebpay.cancel_all", "zebpay.pairs"])
    final = client.kill("drill", ["zebpay-flat"]).wait(60)
    assert final["status"] != "completed", final
    assert all(order_status(admin, "zebpay-flat", o) == "new" for o in ids)
    admin.faults()
    assert client.cancel_all("zebpay-flat").wait(30)["status"] == "completed"


def test_a_gateway_404_is_not_not_found(client, admin):
    """A wrong path in base_url: a bare 404 that is not the venue's envelope."""
    [oid] = seed(admin, "zebpay-main")
    final = client.cancel("zebpay-gateway", oid).wait(30)
    assert final["status"] not in ("not_found", "canceled", "already_closed"), final
    assert order_status(admin, "zebpay-main", oid) == "new"
    admin.faults(bare_404_rate=1.0, routes=["ajaib.cancel", "ajaib.get_order"])
    [aid] = seed(admin, "ajaib-main")
    final = client.cancel("ajaib-main", aid, symbol="BTC_USDT", deadline_ms=5000).wait(30)
    assert final["status"] not in ("not_found", "canceled", "already_closed"), final
    assert order_status(admin, "ajaib-main", aid) == "NEW"


def test_an_undocumented_status_settles_nothing(client, admin):
    """Every read-back answers a status word the docs do not list: the order is in fact
    cancelled, but nothing we were told says so."""
    [oid] = seed(admin, "ajaib-main")
    admin.faults(odd_status_rate=1.0, routes=["ajaib.get_order"])
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT", deadline_ms=3000).wait(30)
    assert final["status"] == "unknown", final
    assert final["error_code"] == "unexpected_answer"


def test_a_2xx_without_the_expected_body_is_not_not_found(client, admin):
    """ZebPay's cancel answers 400 for a closed order; the read-back answers 200 with no data."""
    [oid] = seed(admin, "zebpay-main")
    admin.action("zebpay", "fill", account="zebpay-main", clientOrderId=oid)
    admin.faults(odd_body_rate=1.0, routes=["zebpay.get_order"])
    final = client.cancel("zebpay-main", oid, deadline_ms=3000).wait(30)
    assert final["status"] == "unknown", final
    assert order_status(admin, "zebpay-main", oid) == "filled"


def test_an_acknowledged_order_that_filled_is_not_reported_cancelled(client, admin):
    """Ajaib's cancel-all acknowledges; the order then fills instead and leaves the listing."""
    filled = seed(admin, "ajaib-flat", n=2, fill_on_cancel=True)
    plain = seed(admin, "ajaib-flat", n=2)
    ticket = client.cancel_all("ajaib-flat", "BTC_USDT")
    assert ticket.wait(20)["status"] == "completed"
    children = {
        e["order_id"]: e["status"]
        for e in client.events()
        if e["parent_id"] == ticket.request_id and e["event"] == "final"
    }
    assert {o: order_status(admin, "ajaib-flat", o) for o in filled} == dict.fromkeys(
        filled, "FILLED"
    )
    assert {children.get(o) for o in filled} == {"already_closed"}, children
    assert {children.get(o) for o in plain} == {"canceled"}


def test_a_kill_does_not_claim_how_acknowledged_orders_closed(client, admin):
    """A kill reads nothing back (flat is its proof): an Ajaib order whose cancel was only
    acknowledged and which left the listing is closed, but cancelled or filled is not known."""
    client.resume()
    filled = seed(admin, "ajaib-flat", n=2, fill_on_cancel=True)
    plain = seed(admin, "ajaib-flat", n=2)
    ticket = client.kill("truth", ["ajaib-flat"])
    assert ticket.wait(20)["status"] == "completed"
    child = f"{ticket.request_id}:ajaib-flat"
    children = {
        e["order_id"]: (e["status"], e["error_code"])
        for e in client.events()
        if e["parent_id"] == child and e["event"] == "final"
    }
    assert {children.get(o) for o in filled + plain} == {("unknown", "not_read_back")}
    assert {order_status(admin, "ajaib-flat", o) for o in filled} == {"FILLED"}
    client.resume()


def test_a_rerun_past_its_deadline_reads_back_before_it_says_expired(stack, client, admin):
    """A worker began the request, sent the cancel (the venue acted) and died; its deadline
    passed before recovery. It used to be `expired` ("never sent")."""
    [oid] = seed(admin, "zebpay-main")
    rid = f"dead-{oid}"
    venue = Runtime(stack.settings).venue("zebpay-main")
    venue.cancel(OrderRef(oid), Call(5.0, rid))  # the dead worker's cancel, by its request id
    assert order_status(admin, "zebpay-main", oid) == "canceled"
    message = {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "request_id": rid,
               "received_ms": int(time.time() * 1000) - 60_000, "deadline_ms": 1000}  # fmt: skip
    keys, r = client.keys, client.store.redis
    client.store.dispatch([(rid, message, message["received_ms"] + 1000)])
    r.set(keys.last(rid), json.dumps({"event": "accepted"}))  # begun ...
    r.hset(keys.owners, rid, "dead-host:1:abc.0")  # ... by a node with no lease
    final = client.store.wait_final(rid, 30)
    assert final is not None and final["status"] == "canceled", final


def test_a_kill_naming_one_account_is_refused_not_widened(client, admin):
    client.resume()
    ids = seed(admin, "zebpay-flat", n=2)
    entry = xadd(client, {"kind": "kill", "account": "ajaib-flat", "reason": "wrong field"})
    final = client.store.wait_final(entry, 15)
    assert final is not None and final["status"] == "rejected", final
    assert final["error_code"] == "invalid_request" and "accounts" in final["error"]
    assert all(order_status(admin, "zebpay-flat", o) == "new" for o in ids)
    assert client.halted() is None
    client.cancel_all("zebpay-flat").wait(30)


def test_an_empty_request_id_is_one_id(client, admin):
    """`request_id: ""` from the Python client: the ledger and the final used two ids."""
    [oid] = seed(admin)
    ticket = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "request_id": ""}
    )
    assert ticket.wait(15)["status"] == "canceled"


def test_a_lone_surrogate_still_gets_its_final(client):
    raw = '{"kind": "cancel", "account": "zebpay-main", "order_id": "\\ud800"}'
    entry = client.store.redis.xadd(client.keys.requests, {"request": raw})
    final = client.store.wait_final(entry, 15)
    assert final is not None and final["status"] == "rejected", final
    assert final["error_code"] == "invalid_message"


def test_attempts_count_the_calls_of_helper_threads(client, admin):
    """A symbol-scoped cancel_all on ZebPay cancels each order on pool threads."""
    ids = seed(admin, "zebpay-flat", n=4, symbol="BTCUSDT")
    since = time.time() * 1000
    final = client.cancel_all("zebpay-flat", "BTCUSDT").wait(30)
    assert final["status"] == "completed"
    made = calls_for(admin, final["request_id"], since)
    assert sorted(o for c in made if c["route"] == "zebpay.cancel" for o in c["orders"]) == sorted(
        ids
    )
    assert int(final["attempts"]) == len(made)  # the listings and every per-order cancel
