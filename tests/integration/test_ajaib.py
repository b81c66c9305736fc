"""Ajaib through a real worker and the simulator: acknowledged cancels confirmed by read-back,
every documented outcome, every key format, batch cancels."""

import json
import subprocess
import sys

import pytest

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import (
    calls_for,
    events_of,
    order_status,
    seed,
    start_stack,
    venue_calls,
    venue_order,
)


def kinds(client, request_id):
    return [e["event"] for e in events_of(client, request_id)]


def sequence(calls):
    """(route, status) of each venue call, in arrival order."""
    return [(c["route"], c["status"]) for c in calls]


@pytest.fixture(scope="module")
def one_process():
    """A stack of its own with one routine worker process: the process whose clock offset a
    request set is the one that takes the account's next request."""
    stack = start_stack(extra_config={"worker": {"processes": 1}})
    client = Client(stack.settings)
    admin = SimAdmin(stack.sim_url)
    yield stack, client, admin
    client.close()
    stack.stop_worker()
    stack.drop_keys()
    stack.stop()


def test_cancel_sent_is_acknowledged_then_confirmed_by_reading_back(client, admin):
    [oid] = seed(admin, "ajaib-main")
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    assert final["status"] == "canceled" and final["venue_status"] == "CANCELLED"
    assert kinds(client, final["request_id"]) == ["accepted", "acknowledged", "final"]
    ack = events_of(client, final["request_id"])[1]
    assert ack["venue_status"] == "CANCEL_SENT" and ack["http_status"] == "200"
    assert len(venue_calls(admin, "ajaib.get_order")) >= 1
    assert order_status(admin, "ajaib-main", oid) == "CANCELLED"


def test_an_order_that_fills_while_the_cancel_is_pending_is_already_closed(client, admin):
    [oid] = seed(admin, "ajaib-main", fill_on_cancel=True)
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    assert (final["status"], final["venue_status"]) == ("already_closed", "FILLED")


def test_partially_filled_then_cancelled_is_canceled(client, admin):
    [oid] = seed(admin, "ajaib-main", executed_quantity="0.004")
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    assert (final["status"], final["venue_status"]) == ("canceled", "PARTIAL_CANCELLED")


def test_order_already_closed_is_final_at_once(client, admin):
    [oid] = seed(admin, "ajaib-main")
    admin.action("ajaib", "fill", account="ajaib-main", order_id=oid)
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    assert (final["status"], final["venue_status"]) == ("already_closed", "order_already_closed")
    assert venue_calls(admin, "ajaib.get_order") == []


def test_unknown_order_is_not_found(client, admin):
    final = client.cancel("ajaib-main", "123456789", symbol="BTC_USDT").wait(10)
    assert (final["status"], final["http_status"]) == ("not_found", "404")


def test_malformed_ids_and_missing_symbol_are_rejected_before_any_venue_call(client, admin):
    for order_id, symbol, field in [
        ("abc", "BTC_USDT", "order_id"),
        ("-5", "BTC_USDT", "order_id"),
        ("12", None, "symbol"),
        ("12", "btcusdt", "symbol"),
    ]:
        final = client.cancel("ajaib-main", order_id, symbol=symbol).wait(10)
        assert (final["status"], final["error_code"]) == ("rejected", "invalid_request")
        assert field in final["error"]
    assert [e for e in admin.log() if e["venue"] == "ajaib"] == []


def test_a_cancel_still_pending_at_the_deadline_is_unknown(client, admin):
    admin.action("ajaib", "config", cancel_delay_ms=60_000)
    [oid] = seed(admin, "ajaib-main")
    final = client.submit(
        {
            "kind": "cancel",
            "account": "ajaib-main",
            "order_id": oid,
            "symbol": "BTC_USDT",
            "deadline_ms": 1500,
        }
    ).wait(10)
    assert (final["status"], final["error_code"]) == ("unknown", "timeout")
    assert "acknowledged" in kinds(client, final["request_id"])


def test_every_key_format_and_signature_encoding_is_accepted(client, admin):
    for account in ("ajaib-main", "ajaib-ssh", "ajaib-sec1"):  # PKCS#8, OpenSSH, SEC1
        [oid] = seed(admin, account)
        assert client.cancel(account, oid, symbol="BTC_USDT").wait(10)["status"] == "canceled"


def test_a_key_the_venue_does_not_know_fails_with_auth(client, admin):
    [oid] = seed(admin, "ajaib-wrongkey")
    final = client.cancel("ajaib-wrongkey", oid, symbol="BTC_USDT").wait(10)
    assert (final["status"], final["error_code"], final["http_status"]) == ("failed", "auth", "401")
    assert final["venue_status"] == "invalid_client"
    assert order_status(admin, "ajaib-wrongkey", oid) == "NEW"


def test_a_timestamp_refusal_resyncs_the_clock_before_auth_is_blamed(one_process):
    # Ajaib answers 401 `invalid_client` both for a bad key and for a timestamp out of window.
    _, client, admin = one_process
    account = "i-ajaib-skew"
    warm, oid = seed(admin, account, n=2)
    # The worker syncs its clock once, before its first signed call, at the venue's time then
    first = client.cancel(account, warm, symbol="BTC_USDT").wait(15)
    assert first["status"] == "canceled"
    assert sequence(calls_for(admin, first["request_id"]))[:2] == [
        ("ajaib.time", 200),
        ("ajaib.cancel", 200),
    ]
    admin.clock(offset_ms=90_000)  # then the venue's clock jumps 90 s ahead
    final = client.cancel(account, oid, symbol="BTC_USDT").wait(15)
    assert final["status"] == "canceled" and final["error_code"] == ""
    calls = calls_for(admin, final["request_id"])
    # refused -> the venue's time read because of that refusal -> the same cancel, accepted
    assert sequence(calls)[:3] == [
        ("ajaib.cancel", 401),
        ("ajaib.time", 200),
        ("ajaib.cancel", 200),
    ]
    assert {c["route"] for c in calls[3:]} == {"ajaib.get_order"}  # then read back
    assert "auth" not in {e["error_code"] for e in events_of(client, final["request_id"])}
    assert order_status(admin, account, oid) == "CANCELLED"
    assert venue_order(admin, account, oid)["history"][-1]["call"] == calls[2]["seq"]


def test_a_5xx_from_the_time_endpoint_is_retried_like_any_other(client, admin):
    # No worker process has synced its clock for this account: each syncs before its first call
    account = "i-ajaib-time5xx"
    [oid] = seed(admin, account)
    admin.clock(offset_ms=90_000)
    admin.faults(error_next=1, routes=["ajaib.time"])  # the first sync gets a 503
    final = client.cancel(account, oid, symbol="BTC_USDT").wait(10)
    assert final["status"] == "canceled"
    calls = calls_for(admin, final["request_id"])
    assert sequence(calls)[:3] == [("ajaib.time", 503), ("ajaib.time", 200), ("ajaib.cancel", 200)]
    assert {c["route"] for c in calls[3:]} == {"ajaib.get_order"}
    assert order_status(admin, account, oid) == "CANCELLED"


def test_409_is_retried_once_after_a_pause(client, admin):
    [oid] = seed(admin, "ajaib-main")
    admin.faults(error_next=1, error_status=409, routes=["ajaib.cancel"])
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [e["error_code"] for e in retrying] == ["conflict"]


def test_429_and_5xx_back_off_and_retry(client, admin):
    [a, b] = seed(admin, "ajaib-main", n=2)
    admin.faults(burst_429=2, routes=["ajaib.cancel"])
    assert client.cancel("ajaib-main", a, symbol="BTC_USDT").wait(10)["status"] == "canceled"
    admin.faults(error_next=2, error_status=503, routes=["ajaib.cancel"])
    final = client.cancel("ajaib-main", b, symbol="BTC_USDT").wait(10)
    assert final["status"] == "canceled"
    codes = [
        e["error_code"] for e in events_of(client, final["request_id"]) if e["event"] == "retrying"
    ]
    assert codes == ["venue_unavailable", "venue_unavailable"]


def test_lost_cancel_answer_is_retried_then_settled_by_read_back(client, admin):
    [oid] = seed(admin, "ajaib-main")
    admin.faults(timeout_next=1, timeout_s=2, routes=["ajaib.cancel"])
    final = client.cancel("ajaib-main", oid, symbol="BTC_USDT").wait(10)
    # The first cancel went through; the repeat hears "order_already_closed", which after a lost
    # answer could be our own doing: read back, and it is CANCELLED, not merely closed.
    assert (final["status"], final["venue_status"]) == ("canceled", "CANCELLED")


def test_batch_cancel_gives_each_order_its_own_final(client, admin):
    ids = seed(admin, "ajaib-main", n=5)
    [bystander] = seed(admin, "ajaib-main")  # not in the batch
    [filled] = seed(admin, "ajaib-main")
    admin.action("ajaib", "fill", account="ajaib-main", order_id=filled)
    [flaky] = seed(admin, "ajaib-main", batch_fail=True)  # refused by the batch, still open
    [pending_fill] = seed(admin, "ajaib-main", fill_on_cancel=True)
    order_ids = [*ids, filled, flaky, pending_fill, "999999"]
    ticket = client.cancel_batch("ajaib-main", order_ids, symbol="BTC_USDT")
    final = ticket.wait(15)
    children = {e["order_id"]: e for e in client.events()
                if e["parent_id"] == ticket.request_id and e["event"] == "final"}  # fmt: skip
    assert set(children) == set(order_ids)
    assert {children[i]["status"] for i in ids} == {"canceled"}
    assert children[filled]["status"] == "already_closed"
    assert children[flaky]["status"] == "canceled"  # read back, found open, cancelled alone
    assert children[pending_fill]["status"] == "already_closed"
    assert children[pending_fill]["venue_status"] == "FILLED"
    assert children["999999"]["status"] == "not_found"
    assert final["status"] == "completed"
    assert json.loads(final["detail"])["orders"] == len(order_ids)
    # The venue's record: one batch call, and one single cancel, of the refused order alone
    calls = calls_for(admin, ticket.request_id, children=True)
    [batch] = [c for c in calls if (c["route"], c["status"]) == ("ajaib.cancel_batch", 200)]
    [alone] = [c for c in calls if (c["route"], c["status"]) == ("ajaib.cancel", 200)]
    assert alone["orders"] == [flaky] and alone["request_id"] == f"{ticket.request_id}:{flaky}"
    changed = {i: venue_order(admin, "ajaib-main", i)["history"][-1] for i in [*ids, flaky]}
    assert {i: (e["status"], e["call"]) for i, e in changed.items()} == {
        **{i: ("CANCELLED", batch["seq"]) for i in ids},
        flaky: ("CANCELLED", alone["seq"]),
    }
    assert order_status(admin, "ajaib-main", filled) == "FILLED"
    assert order_status(admin, "ajaib-main", pending_fill) == "FILLED"
    assert order_status(admin, "ajaib-main", bystander) == "NEW"  # never named: left open
    assert not any(bystander in c["orders"] for c in calls)
    admin.action("ajaib", "fill", account="ajaib-main", order_id=bystander)  # leave it closed


def test_large_batches_are_chunked(client, admin):
    ids = seed(admin, "ajaib-main", n=130)
    final = client.cancel_batch("ajaib-main", ids, symbol="BTC_USDT").wait(20)
    assert final["status"] == "completed"
    assert len(venue_calls(admin, "ajaib.cancel_batch")) == 2  # 100 + 30


def test_batch_with_orders_left_open_is_partial(client, admin):
    # Every cancel is refused with 503 and every read works: the orders are seen open.
    ids = seed(admin, "ajaib-main", n=2)
    admin.faults(error_rate=1.0, routes=["ajaib.cancel_batch", "ajaib.cancel"])
    final = client.submit(
        {
            "kind": "cancel_batch",
            "account": "ajaib-main",
            "order_ids": [*ids, "77"],
            "symbol": "BTC_USDT",
            "deadline_ms": 2500,
        }
    ).wait(15)
    detail = json.loads(final["detail"])
    assert final["status"] == "partial" and detail["statuses"] == {"failed": 2, "not_found": 1}


def test_batch_fans_out_on_a_venue_without_batch_cancel(client, admin):
    ids = seed(admin, "zebpay-main", n=3)
    ticket = client.cancel_batch("zebpay-main", [*ids, "nope"], symbol="BTCUSDT")
    final = ticket.wait(15)
    assert final["status"] == "completed"
    assert len(venue_calls(admin, "zebpay.cancel")) == 4
    assert json.loads(final["detail"])["statuses"] == {"canceled": 3, "not_found": 1}


def test_cli_cancel_batch(stack, admin):
    ids = seed(admin, "ajaib-main", n=2, symbol="ETH_USDT")
    out = subprocess.run(
        [sys.executable, "-m", "ordercancel", "cancel-batch", "ajaib-main", *ids, "--symbol",
         "ETH_USDT", "--wait", "10", "--json"],
        env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
