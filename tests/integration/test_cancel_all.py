"""cancel_all: the venue's cancel-all where it fits the scope, then verified flat by listing."""

import json
import subprocess
import sys
import time

from ordercancel.sim.zebpay import SYMBOLS as ZEBPAY_SYMBOLS

from .conftest import calls_for, order_status, seed, venue_calls, venue_order


def children_of(client, request_id):
    return {e["order_id"]: e for e in client.events()
            if e["parent_id"] == request_id and e["event"] == "final"}  # fmt: skip


def open_at_venue(admin, account, venue="zebpay"):
    """The account's orders the venue holds open now."""
    open_ = {"zebpay": {"new", "partially_filled"}, "ajaib": {"NEW", "OPEN", "PARTIAL_FILLED"}}
    id_field = {"zebpay": "clientOrderId", "ajaib": "order_id"}[venue]
    return {str(o[id_field]) for o in admin.orders(venue, account) if o["status"] in open_[venue]}


def test_zebpay_account_wide_uses_cancel_all_and_verifies_every_symbol(client, admin):
    account = "i-zebpay-wide"  # no symbols configured: the scope is every symbol the venue lists
    btc = seed(admin, account, n=3, symbol="BTCUSDT")
    eth = seed(admin, account, n=2, symbol="ETHUSDT")
    # The venue's record names the orders a listing returned, not its symbol. So listings are
    # slowed down (2 s before the venue reads its book), and as the first arrives one order
    # appears in each symbol: a listing that returns it was a listing of that symbol.
    admin.faults(latency_ms=2000, routes=["zebpay.open_orders"], accounts=[account])
    ticket = client.cancel_all(account)
    end = time.monotonic() + 20
    while not any(c["route"] == "zebpay.open_orders" for c in calls_for(admin, ticket.request_id)):
        assert time.monotonic() < end, "no listing began"
        time.sleep(0.02)
    late = {symbol: seed(admin, account, symbol=symbol)[0] for symbol in ZEBPAY_SYMBOLS}
    final = ticket.wait(30)
    assert final["status"] == "completed", final
    calls = calls_for(admin, ticket.request_id, children=True)
    [bulk] = [c for c in calls if c["route"] == "zebpay.cancel_all"]
    assert bulk["status"] == 200 and sorted(bulk["orders"]) == sorted(btc + eth)
    listings = [c for c in calls if c["route"] == "zebpay.open_orders"]
    assert all(c["seq"] > bulk["seq"] for c in listings)
    for symbol, oid in late.items():  # each symbol in scope was listed after the cancel-all
        assert any(oid in c["orders"] for c in listings), f"{symbol} was not listed"
    # The venue's book: the cancel-all closed the first orders, single cancels the late ones
    for oid in btc + eth:
        assert venue_order(admin, account, oid)["history"][-1]["call"] == bulk["seq"]
    for oid in late.values():
        last = venue_order(admin, account, oid)["history"][-1]
        assert (last["status"], last["cause"]) == ("canceled", "zebpay.cancel")
        assert last["request_id"] == f"{ticket.request_id}:{oid}"
    assert open_at_venue(admin, account) == set()
    # and every symbol was listed again after the last cancel: the listing that proved it flat
    last_cancel = max(c["seq"] for c in calls if c["route"] == "zebpay.cancel")
    assert len([c for c in listings if c["seq"] > last_cancel]) >= len(ZEBPAY_SYMBOLS)
    children = children_of(client, ticket.request_id)
    assert {children[o]["status"] for o in [*btc, *eth, *late.values()]} == {"canceled"}


def test_zebpay_symbol_scope_never_uses_the_account_wide_endpoint(client, admin):
    btc = seed(admin, "zebpay-flat", n=3, symbol="BTCUSDT")
    eth = seed(admin, "zebpay-flat", n=2, symbol="ETHUSDT")
    final = client.cancel_all("zebpay-flat", "BTCUSDT").wait(15)
    assert final["status"] == "completed"
    assert venue_calls(admin, "zebpay.cancel_all") == []
    assert len(venue_calls(admin, "zebpay.cancel")) == 3
    assert all(order_status(admin, "zebpay-flat", o) == "canceled" for o in btc)
    assert all(order_status(admin, "zebpay-flat", o) == "new" for o in eth)  # out of scope
    client.cancel_all("zebpay-flat").wait(15)  # leave the account flat


def test_ajaib_account_wide_covers_the_configured_symbols_only(client, admin):
    btc = seed(admin, "ajaib-flat", n=3, symbol="BTC_USDT")
    eth = seed(admin, "ajaib-flat", n=2, symbol="ETH_USDT")
    [sol] = seed(admin, "ajaib-flat", symbol="SOL_USDT")
    ticket = client.cancel_all("ajaib-flat")
    final = ticket.wait(15)
    assert final["status"] == "completed", final
    assert len(venue_calls(admin, "ajaib.cancel_open")) == 2
    assert all(order_status(admin, "ajaib-flat", o) == "CANCELLED" for o in btc + eth)
    assert order_status(admin, "ajaib-flat", sol) == "NEW"
    children = children_of(client, ticket.request_id)
    assert {children[o]["status"] for o in btc + eth} == {"canceled"}


def test_ajaib_account_without_symbols_uses_the_venue_symbol_list(client, admin):
    ids = [*seed(admin, "ajaib-flatall", symbol="XRP_USDT"), *seed(admin, "ajaib-flatall")]
    final = client.cancel_all("ajaib-flatall").wait(15)
    assert final["status"] == "completed"
    assert len(venue_calls(admin, "ajaib.exchange_info")) == 1
    assert len(venue_calls(admin, "ajaib.cancel_open")) == 5  # every symbol of the venue
    assert all(order_status(admin, "ajaib-flatall", o) == "CANCELLED" for o in ids)


def test_orders_the_cancel_all_missed_are_cancelled_one_by_one(client, admin):
    [missed] = seed(admin, "ajaib-flat", batch_fail=True)  # cancel-all refuses it
    [other] = seed(admin, "ajaib-flat")
    ticket = client.cancel_all("ajaib-flat", "BTC_USDT")
    final = ticket.wait(15)
    assert final["status"] == "completed"
    cancels = venue_calls(admin, "ajaib.cancel")
    assert len(cancels) == 1  # only the missed one, after its grace
    assert order_status(admin, "ajaib-flat", missed) == "CANCELLED"
    assert order_status(admin, "ajaib-flat", other) == "CANCELLED"
    assert children_of(client, ticket.request_id)[missed]["status"] == "canceled"


def test_an_order_that_will_not_close_makes_it_partial(client, admin):
    [stuck] = seed(admin, "ajaib-flat", symbol="ETH_USDT", stuck=True)
    [fine] = seed(admin, "ajaib-flat", symbol="ETH_USDT")
    final = client.submit(
        {"kind": "cancel_all", "account": "ajaib-flat", "symbol": "ETH_USDT", "deadline_ms": 2000}
    ).wait(15)
    detail = json.loads(final["detail"])
    assert (final["status"], final["error_code"]) == ("partial", "still_open")
    assert detail["open_after"] == [stuck] and detail["open_count"] == 1
    assert order_status(admin, "ajaib-flat", fine) == "CANCELLED"
    assert order_status(admin, "ajaib-flat", stuck) == "NEW"  # the venue agrees: still open
    admin.action("ajaib", "fill", account="ajaib-flat", order_id=stuck)  # leave the account flat


def test_nothing_open_is_completed_at_once(client, admin):
    assert "ETH_USDT" not in {o["symbol"] for o in admin.orders("ajaib", "ajaib-flat")
                              if o["status"] in ("NEW", "OPEN", "PARTIAL_FILLED")}  # fmt: skip
    [other] = seed(admin, "ajaib-flat", symbol="BTC_USDT")  # open, but out of scope
    final = client.cancel_all("ajaib-flat", "ETH_USDT").wait(15)
    assert final["status"] == "completed"
    calls = calls_for(admin, final["request_id"], children=True)
    routes = {c["route"] for c in calls} - {"ajaib.time"}  # a process's first sync, perhaps
    assert routes == {"ajaib.cancel_open", "ajaib.open_orders"}
    assert [c["orders"] for c in calls] == [[]] * len(calls)  # no order touched at the venue
    assert order_status(admin, "ajaib-flat", other) == "NEW"
    admin.action("ajaib", "fill", account="ajaib-flat", order_id=other)  # leave the account flat


def test_a_malformed_symbol_is_rejected_before_any_venue_call(client, admin):
    for account, symbol in (("ajaib-flat", "btcusdt"), ("zebpay-flat", "BTC USDT")):
        final = client.cancel_all(account, symbol).wait(10)
        assert (final["status"], final["error_code"]) == ("rejected", "invalid_request")
        assert "symbol" in final["error"]
    assert admin.log() == []


def test_auth_failure_fails_the_whole_request(client, admin):
    final = client.cancel_all("ajaib-wrongkey", "BTC_USDT").wait(15)
    assert (final["status"], final["error_code"]) == ("failed", "auth")


def test_cli_cancel_all(stack, admin):
    ids = seed(admin, "zebpay-flat", n=2)
    out = subprocess.run(
        [sys.executable, "-m", "ordercancel", "cancel-all", "zebpay-flat", "--symbol", "BTCUSDT",
         "--wait", "10", "--json"],
        env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
    assert all(order_status(admin, "zebpay-flat", o) == "canceled" for o in ids)


def test_zebpay_listing_follows_its_cursor_across_pages(stack, admin):
    from ordercancel.node.runtime import Runtime
    from ordercancel.venues.base import Call

    ids = seed(admin, "zebpay-flat", n=1100, symbol="SOLUSDT")
    listed = Runtime(stack.settings).venue("zebpay-flat").list_open("SOLUSDT", Call(5.0))
    assert sorted(r.order_id for r in listed) == sorted(ids)
    assert len(venue_calls(admin, "zebpay.open_orders")) == 3  # 500 + 500 + 100
    client_all = Runtime(stack.settings).venue("zebpay-flat").cancel_all(None, Call(5.0))
    assert len(client_all.cancelled) >= 1100
    assert open_at_venue(admin, "zebpay-flat") == set()


def test_ajaib_verification_pages_through_the_listing(client, admin):
    # The venue's cancel-all refuses 101 orders (`batch_fail`), so the first verification
    # listing finds at least 101 open: more than a page (100). The oldest is on the last page.
    account = "i-ajaib-pages"
    [missed] = seed(admin, account, batch_fail=True)
    refused = [missed, *seed(admin, account, n=100, batch_fail=True)]
    taken = seed(admin, account, n=130)
    ticket = client.cancel_all(account, "BTC_USDT")
    final = ticket.wait(30)
    assert final["status"] == "completed", final
    calls = calls_for(admin, ticket.request_id, children=True)
    [bulk] = [c for c in calls if c["route"] == "ajaib.cancel_open"]
    first_single = min(c["seq"] for c in calls if c["route"] == "ajaib.cancel")
    pages = [c for c in calls if c["route"] == "ajaib.open_orders" and c["seq"] < first_single]
    assert len(pages) >= 2 and len(pages[0]["orders"]) == 100  # a full page, then the next
    assert missed not in pages[0]["orders"] and missed in pages[-1]["orders"]
    # The venue's book: everything cancelled, the refused ones by single cancels of this request
    changes = {o: venue_order(admin, account, o)["history"][-1] for o in refused + taken}
    assert {c["status"] for c in changes.values()} == {"CANCELLED"}
    assert {o for o, c in changes.items() if c["call"] == bulk["seq"]} == set(taken)
    assert all(changes[o]["request_id"] == f"{ticket.request_id}:{o}" for o in refused)
    assert open_at_venue(admin, account, "ajaib") == set()
