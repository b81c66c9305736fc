"""The truth checker (`ordercancel.devtools.drill.truth`) on small made-up histories: for each
invariant, one run it passes and one it catches."""

from __future__ import annotations

import json
from typing import Any

from ordercancel.devtools.drill.truth import INVARIANTS, Sent, check

T0 = 1_000_000.0  # the request arrives


def order(
    oid: str,
    *changes: tuple[float, str, str | None],
    account: str = "zebpay-main",
    symbol: str = "BTCUSDT",
    venue: str = "zebpay",
    created: float = T0 - 100,
) -> dict[str, Any]:
    """An order seeded at `created`, then `changes`: (ms from T0, status, request_id or None)."""
    history = [
        {"t_ms": created, "status": "new", "cause": "seed", "call": None, "request_id": None}
    ]
    for i, (dt, status, rid) in enumerate(changes):
        cause = "fill" if status in ("filled", "FILLED") else f"{venue}.cancel"
        history.append(
            {"t_ms": T0 + dt, "status": status, "cause": cause, "call": 100 + i, "request_id": rid}
        )
    return {
        "venue": venue,
        "account": account,
        "order_id": oid,
        "symbol": symbol,
        "side": "buy",
        "client_order_id": oid,
        "created_ms": created,
        "status": history[-1]["status"],
        "history": history,
    }


def call(seq: int, dt: float, rid: str | None, route: str = "zebpay.cancel") -> dict[str, Any]:
    return {
        "seq": seq,
        "t_ms": T0 + dt,
        "answered_ms": T0 + dt + 5,
        "venue": route.split(".")[0],
        "route": route,
        "account": "zebpay-main",
        "request_id": rid,
        "status": 200,
        "fault": None,
        "orders": [],
    }


def final(rid: str, status: str, dt: float, **fields: Any) -> dict[str, str]:
    event = {
        "event": "final",
        "request_id": rid,
        "kind": "cancel",
        "account": "zebpay-main",
        "venue": "zebpay",
        "symbol": "",
        "order_id": "",
        "parent_id": "",
        "status": status,
        "error_code": "",
        "ts": str(int(T0 + dt)),
        "received_ms": str(int(T0)),
        "detail": "",
    }
    event.update({k: json.dumps(v) if k == "detail" else str(v) for k, v in fields.items()})
    return event


def cancel(rid: str = "r1", oid: str = "o1", **kw: Any) -> Sent:
    return Sent(rid, "cancel", T0, account="zebpay-main", order_id=oid, **kw)


def found(sent, finals, orders=(), calls=(), **kw) -> dict[str, int]:
    verdict = check(sent, finals, {"orders": list(orders), "calls": list(calls)}, **kw)
    return {name: n for name, n in verdict.counts.items() if n}


# -- canceled ----------------------------------------------------------------------------------


def test_canceled_holds_when_the_venue_cancelled_it_after_arrival_before_the_final():
    orders = [order("o1", (10, "canceled", "r1"))]
    assert found([cancel()], [final("r1", "canceled", 20, order_id="o1")], orders) == {}


def test_canceled_is_contradicted_by_a_fill_a_missing_cancel_or_a_late_one():
    filled = [order("o1", (10, "filled", None))]
    assert found([cancel()], [final("r1", "canceled", 20, order_id="o1")], filled) == {
        "canceled": 1
    }
    still_open = [order("o1")]
    assert found([cancel()], [final("r1", "canceled", 20, order_id="o1")], still_open) == {
        "canceled": 1
    }
    later = [order("o1", (500, "CANCELLED", "r1"), venue="ajaib", account="ajaib-main")]
    f = final("r1", "canceled", 20, order_id="o1", account="ajaib-main", venue="ajaib")
    assert found([Sent("r1", "cancel", T0, account="ajaib-main", order_id="o1")], [f], later) == {
        "canceled": 1
    }
    before = [order("o1", (-50, "canceled", None))]
    assert found([cancel()], [final("r1", "canceled", 20, order_id="o1")], before) == {
        "canceled": 1
    }


def test_an_unsure_canceled_may_name_an_earlier_cancel_only_after_a_cancel_of_its_own():
    """`cancelled_by: unsure`: an attempt went unanswered, so the cancel may have been ours."""
    before = [order("o1", (-50, "canceled", "other"))]
    unsure = final("r1", "canceled", 20, order_id="o1", detail={"cancelled_by": "unsure"})
    assert found([cancel()], [unsure], before, [call(1, 5, "r1")]) == {}
    assert found([cancel()], [unsure], before) == {"canceled": 1}  # no cancel of ours was sent
    reads = [call(1, 5, "r1", route="zebpay.get_order")]
    assert found([cancel()], [unsure], before, reads) == {"canceled": 1}


# -- already_closed ----------------------------------------------------------------------------


def test_already_closed_holds_for_an_order_someone_else_closed():
    orders = [order("o1", (-50, "canceled", "other"))]
    assert found([cancel()], [final("r1", "already_closed", 20, order_id="o1")], orders) == {}


def test_already_closed_is_contradicted_by_an_open_order_or_our_own_cancel():
    open_ = [order("o1")]
    assert found([cancel()], [final("r1", "already_closed", 20, order_id="o1")], open_) == {
        "already_closed": 1
    }
    ours = [order("o1", (5, "canceled", "r1"))]
    assert found([cancel()], [final("r1", "already_closed", 20, order_id="o1")], ours) == {
        "already_closed": 1
    }
    # a cancel_all's child, closed by the parent's own bulk call
    parent = Sent("p", "cancel_all", T0, account="zebpay-main")
    by_parent = [order("o1", (5, "canceled", "p"))]
    child = final("p:o1", "already_closed", 20, order_id="o1", parent_id="p")
    assert found([parent], [child, final("p", "completed", 30, kind="cancel_all")], by_parent) == {
        "already_closed": 1
    }
    # a kill's per-order grandchild, closed by its account's bulk call
    by_account = [order("o1", (5, "canceled", "k:zebpay-main"))]
    grandchild = final("k:zebpay-main:o1", "already_closed", 20, order_id="o1")
    finals = [grandchild, final("k", "completed", 30, kind="kill")]
    assert found([Sent("k", "kill", T0)], finals, by_account) == {"already_closed": 1}


# -- not_found ---------------------------------------------------------------------------------


def test_not_found_holds_when_the_venue_never_had_it():
    orders = [order("o2")]
    assert found([cancel()], [final("r1", "not_found", 20, order_id="o1")], orders) == {}


def test_not_found_is_contradicted_by_an_order_the_venue_has():
    orders = [order("o1", (10, "canceled", "other"))]
    assert found([cancel()], [final("r1", "not_found", 20, order_id="o1")], orders) == {
        "not_found": 1
    }


# -- failed ------------------------------------------------------------------------------------


def test_failed_holds_when_our_calls_did_not_cancel_it():
    orders = [order("o1")]
    f = final("r1", "failed", 20, order_id="o1", error_code="still_open")
    assert found([cancel()], [f], orders) == {}


def test_failed_is_contradicted_by_our_own_cancel_or_a_closed_order_called_still_open():
    ours = [order("o1", (5, "canceled", "r1"))]
    f = final("r1", "failed", 20, order_id="o1", error_code="venue_unavailable")
    assert found([cancel()], [f], ours, [call(100, 4, "r1")]) == {"failed": 1}
    closed = [order("o1", (-50, "filled", None))]
    f = final("r1", "failed", 20, order_id="o1", error_code="still_open")
    assert found([cancel()], [f], closed) == {"failed": 1}


# -- expired -----------------------------------------------------------------------------------


def test_expired_holds_without_a_call():
    assert found([cancel()], [final("r1", "expired", 20, order_id="o1")], [order("o1")]) == {}


def test_expired_is_contradicted_by_a_call_of_the_request_or_a_child():
    calls = [call(1, 5, "r1")]
    assert found([cancel()], [final("r1", "expired", 20, order_id="o1")], calls=calls) == {
        "expired": 1
    }
    batch = Sent("b", "cancel_batch", T0, account="zebpay-main", order_ids=("o1",))
    f = final("b", "expired", 20, kind="cancel_batch")
    assert found([batch], [f], calls=[call(1, 5, "b:o1")]) == {"expired": 1}


# -- completed ---------------------------------------------------------------------------------


def kill(rid: str = "k", accounts: tuple[str, ...] = ()) -> Sent:
    return Sent(rid, "kill", T0, accounts=accounts)


def test_completed_holds_when_the_scope_is_flat_at_the_final():
    orders = [
        order("o1", (10, "canceled", "k:zebpay-main")),
        order("o2", (5, "filled", None)),
        order("o3", created=T0 + 50),  # placed after the kill arrived
        order("a1", account="ajaib-main", symbol="SOL_USDT", venue="ajaib"),  # not covered
    ]
    accounts = {"zebpay-main": None, "ajaib-main": ["BTC_USDT"]}
    f = final("k", "completed", 20, kind="kill", account="", venue="")
    assert found([kill()], [f], orders, accounts=accounts) == {}


def test_completed_is_contradicted_by_an_order_left_open():
    orders = [order("o1", (10, "canceled", "k:zebpay-main")), order("o2")]
    f = final("k", "completed", 20, kind="kill", account="", venue="")
    assert found([kill()], [f], orders) == {"completed": 1}
    # the kill's per-account child too, and a symbol-scoped cancel_all
    child = final("k:zebpay-main", "completed", 15, kind="cancel_all", parent_id="k")
    assert found([kill()], [f, child], orders) == {"completed": 2}
    ca = Sent("c", "cancel_all", T0, account="zebpay-main", symbol="BTCUSDT")
    f = final("c", "completed", 20, kind="cancel_all", symbol="BTCUSDT")
    assert found([ca], [f], orders) == {"completed": 1}
    other_symbol = [order("o2", symbol="ETHUSDT")]
    assert found([ca], [f], other_symbol) == {}


def test_a_completed_batch_leaves_none_of_its_orders_open():
    batch = Sent("b", "cancel_batch", T0, account="zebpay-main", order_ids=("o1", "o2"))
    f = final("b", "completed", 20, kind="cancel_batch")
    done = [order("o1", (5, "canceled", "b:o1")), order("o2", (6, "canceled", "b:o2"))]
    assert found([batch], [f], done) == {}
    assert found([batch], [f], [done[0], order("o2")]) == {"completed": 1}


# -- partial -----------------------------------------------------------------------------------


def test_partial_counts_what_is_left():
    ca = Sent("c", "cancel_all", T0, account="zebpay-main")
    orders = [order("o1", (10, "canceled", "c")), order("o2")]
    detail = {"open_count": 1, "open_after": ["o2"]}
    f = final("c", "partial", 20, kind="cancel_all", detail=detail)
    assert found([ca], [f], orders) == {}
    # an order that closed after the last listing may still be counted
    closed_late = [orders[0], order("o2", (15, "filled", None))]
    assert found([ca], [f], closed_late) == {}


def test_partial_is_contradicted_by_a_wrong_count_or_a_missing_name():
    ca = Sent("c", "cancel_all", T0, account="zebpay-main")
    orders = [order("o1", (10, "canceled", "c")), order("o2"), order("o3")]
    f = final("c", "partial", 20, kind="cancel_all", detail={"open_count": 1})
    assert found([ca], [f], orders) == {"partial": 1}
    named = {"open_count": 2, "open_after": ["o2", "o1"]}
    f = final("c", "partial", 20, kind="cancel_all", detail=named)
    assert found([ca], [f], orders) == {"partial": 1}


# -- overreach ---------------------------------------------------------------------------------


def test_a_request_cancels_only_what_it_names():
    ca = Sent("c", "cancel_all", T0, account="zebpay-main", symbol="BTCUSDT")
    orders = [order("o1", (10, "canceled", "c:o1"))]
    f = final("c", "completed", 20, kind="cancel_all", symbol="BTCUSDT")
    assert found([ca], [f], orders) == {}
    wider = [*orders, order("o2", (10, "canceled", "c"), symbol="ETHUSDT")]
    assert found([ca], [f], wider) == {"overreach": 1}


def test_an_entry_that_is_no_request_cancels_nothing():
    entry = Sent("1700000000000-0", intake=True, received_ms=T0)
    rejected = final("1700000000000-0", "rejected", 5, kind="kill", error_code="invalid_request")
    assert found([entry], [rejected], [order("o1")]) == {}
    widened = [order("o1", (3, "canceled", "1700000000000-0:zebpay-main"))]
    assert found([entry], [rejected], widened) == {"overreach": 1}


def test_an_account_wide_cancel_all_stays_inside_the_configured_symbols():
    ca = Sent("c", "cancel_all", T0, account="ajaib-main")
    orders = [order("a1", (10, "CANCELLED", "c"), account="ajaib-main", symbol="SOL_USDT")]
    f = final("c", "completed", 20, kind="cancel_all", account="ajaib-main")
    assert found([ca], [f], orders, accounts={"ajaib-main": None}) == {}
    assert found([ca], [f], orders, accounts={"ajaib-main": ["BTC_USDT"]}) == {"overreach": 1}


# -- calls after the final, finals -------------------------------------------------------------


def test_no_call_after_the_final():
    orders = [order("o1", (10, "canceled", "r1"))]
    f = final("r1", "canceled", 20, order_id="o1")
    assert found([cancel()], [f], orders, [call(1, 9, "r1"), call(2, 21, "r1")]) == {}
    late = [call(1, 9, "r1"), call(2, 40, "r1"), call(3, 50, "r1", "zebpay.get_order")]
    assert found([cancel()], [f], orders, late) == {"call_after_final": 1}  # one per request
    # one late call of a kill's grandchild is reported once, against the deepest final before it
    finals = [
        final("k:zebpay-main:o1", "canceled", 12, order_id="o1"),
        final("k:zebpay-main", "completed", 15, kind="cancel_all"),
        final("k", "completed", 20, kind="kill"),
    ]
    verdict = check(
        [kill()], finals, {"orders": orders, "calls": [call(1, 30, "k:zebpay-main:o1")]}
    )
    assert [c.request_id for c in verdict.contradictions["call_after_final"]] == [
        "k:zebpay-main:o1"
    ]
    # a call of an earlier run's request
    assert found([], [], calls=[call(1, 5, "old:o1")], retired={"old"}) == {"call_after_final": 1}


def test_one_final_per_request_and_none_lost():
    orders = [order("o1", (10, "canceled", "r1"))]
    f = final("r1", "canceled", 20, order_id="o1")
    assert found([cancel()], [f], orders) == {}
    assert found([cancel()], [f, f], orders) == {"duplicate_final": 1}
    assert found([cancel(), cancel("r2", "o2")], [f], orders) == {"lost": 1}


def test_every_intake_entry_gets_a_final():
    entry = Sent("1700000000000-0", intake=True)
    rejected = final("1700000000000-0", "rejected", 5, kind="", error_code="invalid_message")
    assert found([entry], [rejected]) == {}
    assert found([entry], []) == {"intake": 1}


def test_unknowns_are_allowed_and_counted():
    f = final("r1", "unknown", 20, order_id="o1", error_code="timeout")
    verdict = check([cancel()], [f], {"orders": [order("o1")], "calls": []})
    assert verdict.ok and verdict.unknowns == {"timeout": 1}
    assert set(verdict.counts) == set(INVARIANTS)
