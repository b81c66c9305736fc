"""Scope selectors of cancel_all and kill (issue 19): orders outside the scope are never
touched, those inside are cancelled and a listing of the scope proves it, on both venues. Held
against the simulator's record of every order's changes and every call."""

import json
import time

import pytest

from .conftest import calls_for, seed, venue_calls, venue_of, venue_order

SYMBOLS = {"zebpay": ("BTCUSDT", "ETHUSDT"), "ajaib": ("BTC_USDT", "ETH_USDT")}
CANCEL_ROUTE = {"zebpay": "zebpay.cancel", "ajaib": "ajaib.cancel"}
BULK_ROUTES = ("zebpay.cancel_all", "ajaib.cancel_open")


def untouched(admin, account, order_ids):
    """Orders whose only change at the venue is their seeding: no call of ours changed them."""
    for oid in order_ids:
        history = venue_order(admin, account, oid)["history"]
        assert [h["status"].lower() for h in history] in (["new"],), (oid, history)


def cancelled_by(admin, account, request_id, order_ids):
    """Orders the venue shows cancelled, each by a cancel of this request (its child id)."""
    venue = venue_of(account)
    for oid in order_ids:
        last = venue_order(admin, account, oid)["history"][-1]
        assert last["status"].lower() in ("canceled", "cancelled"), (oid, last)
        assert last["cause"] == CANCEL_ROUTE[venue] and last["request_id"].startswith(request_id)


def proven_by_listing(admin, request_id, account, symbols):
    """No bulk endpoint was called (each is wider than a selective scope), and every symbol in
    scope was listed after the last cancel."""
    calls = calls_for(admin, request_id, children=True)
    assert not [c for c in calls if c["route"] in BULK_ROUTES]
    cancels = [c["seq"] for c in calls if c["route"] == CANCEL_ROUTE[venue_of(account)]]
    listings = [c for c in calls if c["route"].endswith("open_orders") and c["seq"] > max(cancels)]
    assert len(listings) >= len(symbols), listings


def report_of(final, account):
    return json.loads(final["detail"])["accounts"][account]


@pytest.mark.parametrize("account", ["s-zebpay", "s-ajaib"])
def test_side_scope_cancels_that_side_only(client, admin, account):
    a, b = SYMBOLS[venue_of(account)]
    buys = seed(admin, account, n=3, symbol=a, side="buy") + seed(
        admin, account, symbol=b, side="buy"
    )
    sells = seed(admin, account, n=2, symbol=a, side="sell") + seed(
        admin, account, symbol=b, side="sell"
    )
    ticket = client.cancel_all(account, symbols=[a, b], side="buy")
    final = ticket.wait(30)
    assert final["status"] == "completed", final
    untouched(admin, account, sells)
    cancelled_by(admin, account, ticket.request_id, buys)
    proven_by_listing(admin, ticket.request_id, account, (a, b))
    report = report_of(final, account)
    assert report["cancelled"] == sorted(buys) and report["still_open"] == []
    assert json.loads(final["detail"])["scope"] == {
        "accounts": [account], "symbols": [a, b], "side": "buy"
    }  # fmt: skip
    assert json.loads(final["detail"])["total_affected"] == len(buys)
    client.cancel_all(account, symbols=[a, b]).wait(30)  # leave it flat


@pytest.mark.parametrize("account", ["s-zebpay", "s-ajaib"])
def test_placed_before_scope_cancels_older_orders_only(client, admin, account):
    a, _ = SYMBOLS[venue_of(account)]
    now = int(time.time() * 1000)
    old = [seed(admin, account, symbol=a, created_ms=now - 60_000 + i)[0] for i in range(3)]
    young = seed(admin, account, n=2, symbol=a)
    final = client.cancel_all(account, a, placed_before_ms=now - 30_000).wait(30)
    assert final["status"] == "completed", final
    untouched(admin, account, young)
    cancelled_by(admin, account, final["request_id"], old)
    proven_by_listing(admin, final["request_id"], account, (a,))
    assert json.loads(final["detail"])["left_outside_scope"] == 2
    client.cancel_all(account, a).wait(30)


def test_client_order_id_prefix_selects_one_strategy_on_zebpay(client, admin):
    account = "s-zebpay"
    mine = [seed(admin, account, client_order_id=f"stratA-{i}")[0] for i in range(3)]
    others = [
        seed(admin, account, client_order_id=c)[0] for c in ("stratB-1", "manual-1", "xstratA-1")
    ]
    final = client.cancel_all(account, "BTCUSDT", client_order_id_prefix="stratA-").wait(30)
    assert final["status"] == "completed", final
    untouched(admin, account, others)
    cancelled_by(admin, account, final["request_id"], mine)
    proven_by_listing(admin, final["request_id"], account, ("BTCUSDT",))
    client.cancel_all(account, "BTCUSDT").wait(30)


def test_a_client_order_id_prefix_on_ajaib_is_refused_before_any_call(client, admin):
    orders = seed(admin, "s-ajaib", n=2)
    final = client.cancel_all("s-ajaib", client_order_id_prefix="stratA-").wait(30)
    assert (final["status"], final["error_code"]) == ("rejected", "invalid_request")
    assert "client order id" in final["error"]
    assert venue_calls(admin, "ajaib.open_orders", "s-ajaib") == []
    untouched(admin, "s-ajaib", orders)
    client.cancel_all("s-ajaib").wait(30)


def test_a_kill_with_selectors_touches_its_scope_only_on_both_venues(client, admin):
    """side and creation time together, over a ZebPay and an Ajaib account, one symbol each."""
    zeb, aja = "s-zebpay-kill", "s-ajaib-kill"
    now = int(time.time() * 1000)
    inside, outside = {}, {}
    for account in (zeb, aja):
        a, b = SYMBOLS[venue_of(account)]
        old = now - 120_000
        inside[account] = [seed(admin, account, symbol=a, side="sell", created_ms=old + i)[0]
                           for i in range(3)]  # fmt: skip
        outside[account] = (
            seed(admin, account, symbol=a, side="buy", created_ms=old + 10)  # other side
            + seed(admin, account, symbol=a, side="sell")  # placed after
            + seed(admin, account, symbol=b, side="sell", created_ms=old + 11)  # other symbol
        )
    ticket = client.kill(
        "strategy S sells", [zeb, aja], symbols=["BTCUSDT", "BTC_USDT"], side="sell",
        placed_before_ms=now - 60_000,
    )  # fmt: skip
    final = ticket.wait(30)
    assert final["status"] == "completed", final
    detail = json.loads(final["detail"])
    for account in (zeb, aja):
        untouched(admin, account, outside[account])
        cancelled_by(admin, account, ticket.request_id, inside[account])
        groups = detail["accounts"][account]
        # a kill reads back no acknowledged cancel (Ajaib's): those are closed, how not known
        assert sorted(groups["cancelled"] + groups["unknown"]) == sorted(inside[account])
    cancelled = sum(len(g["cancelled"]) for g in detail["accounts"].values())
    assert detail["total_affected"] == cancelled >= 3 and detail["scope"]["side"] == "sell"
    assert not [c for c in calls_for(admin, ticket.request_id, children=True)
                if c["route"] in BULK_ROUTES]  # fmt: skip
    client.resume("test done")
    for account in (zeb, aja):
        client.cancel_all(account, symbols=list(SYMBOLS[venue_of(account)])).wait(30)


def test_a_scoped_kill_halts_its_scope_and_resumes_alone(stack, client):
    """Strategy A is stopped while B trades; each halt clears alone; a halt lost with the
    primary comes back from the audit stream only if no resume cleared it."""
    from .test_cli import run

    client.resume("before the test")
    account = "s-zebpay-kill"
    a = client.kill("A misbehaves", [account], client_order_id_prefix="stratA-")
    b = client.kill("B too", [account], client_order_id_prefix="stratB-", side="buy")
    assert a.wait(30)["status"] == b.wait(30)["status"] == "completed"
    try:
        assert client.halted(account, client_order_id="stratA-9")["request_id"] == a.request_id
        assert client.halted(account, client_order_id="stratC-1") is None  # C trades on
        assert client.halted(account, side="sell", client_order_id="stratB-1") is None
        assert client.halted(account, side="buy", client_order_id="stratB-1")["reason"] == "B too"
        # no client id given: both may hold it (the two kills ran side by side: either is newest)
        assert {h["request_id"] for h in client.halts(account)} == {a.request_id, b.request_id}
        assert client.halted("s-zebpay", client_order_id="stratA-1") is None  # another account
        assert {h["request_id"] for h in client.halts()} == {a.request_id, b.request_id}
        cli = ("halted", "--account", account, "--client-order-id")
        assert run(stack, *cli, "stratC-1").returncode == 0
        held = run(stack, *cli, "stratA-1")
        assert held.returncode == 1 and "client order ids stratA-*" in held.stdout

        out = run(stack, "resume", "--reason", "A fixed", "--halt", a.request_id)
        assert out.returncode == 0 and a.request_id in out.stdout, out
        assert [h["request_id"] for h in client.halts()] == [b.request_id]
        resume = [e for e in client.audit() if e["event"] == "resume"][-1]
        assert resume["request_id"] == a.request_id and resume["reason"] == "A fixed"

        client.store.redis.delete(client.keys.halt)  # as if lost with a primary
        assert client.store.reassert_halt() is True
        assert [h["request_id"] for h in client.halts()] == [b.request_id]  # not A: resumed
        assert client.halted(account, side="buy", client_order_id="stratB-2") is not None
    finally:
        client.resume("after the test")
    assert client.halts() == []
