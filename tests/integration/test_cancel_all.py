"""cancel_all: the venue's cancel-all where it fits the scope, then verified flat by listing."""

import json
import subprocess
import sys

from .conftest import order_status, seed, venue_calls


def children_of(client, request_id):
    return {e["order_id"]: e for e in client.events()
            if e["parent_id"] == request_id and e["event"] == "final"}  # fmt: skip


def test_zebpay_account_wide_uses_cancel_all_and_verifies_every_symbol(client, admin):
    btc = seed(admin, "zebpay-flat", n=3, symbol="BTCUSDT")
    eth = seed(admin, "zebpay-flat", n=2, symbol="ETHUSDT")
    ticket = client.cancel_all("zebpay-flat")
    final = ticket.wait(15)
    assert final["status"] == "completed", final
    assert len(venue_calls(admin, "zebpay.cancel_all")) == 1
    listed = {e["t_ms"] for e in venue_calls(admin, "zebpay.open_orders")}
    assert len(listed) >= 2  # both symbols named by the cancel-all answer were listed
    assert all(order_status(admin, "zebpay-flat", o) == "canceled" for o in btc + eth)
    children = children_of(client, ticket.request_id)
    assert set(btc + eth) <= set(children)
    assert {children[o]["status"] for o in btc + eth} == {"canceled"}
    detail = json.loads(final["detail"])
    assert set(detail["symbols"]) >= {"BTCUSDT", "ETHUSDT"} and detail["closed"] >= 5


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
    admin.action("ajaib", "fill", account="ajaib-flat", order_id=stuck)  # leave the account flat


def test_nothing_open_is_completed_at_once(client, admin):
    final = client.cancel_all("ajaib-flat", "ETH_USDT").wait(15)
    assert final["status"] == "completed"
    assert json.loads(final["detail"])["closed"] == 0


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


def test_ajaib_verification_pages_through_the_listing(client, admin):
    [missed] = seed(admin, "ajaib-flat", batch_fail=True)  # the oldest: on the last page
    seed(admin, "ajaib-flat", n=230)
    ticket = client.cancel_all("ajaib-flat", "BTC_USDT")
    final = ticket.wait(20)
    assert final["status"] == "completed"
    assert order_status(admin, "ajaib-flat", missed) == "CANCELLED"
    assert len(venue_calls(admin, "ajaib.cancel")) == 1
    assert json.loads(final["detail"])["closed"] == 231
