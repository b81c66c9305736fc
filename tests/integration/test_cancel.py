"""One cancel end to end: Client -> Redis -> Celery worker -> simulated ZebPay -> one final."""

import threading

from ordercancel.engine.pipeline import handle
from ordercancel.events import FIELDS
from ordercancel.node.celery_app import make_celery
from ordercancel.node.runtime import Runtime

from .conftest import (
    await_event,
    calls_for,
    events_of,
    now_ms,
    order_status,
    seed,
    stream_end,
    venue_calls,
    venue_order,
)


def test_cancel_ends_canceled_with_accepted_then_one_final(client, admin):
    # Given an open order at the venue
    [oid] = seed(admin)
    # When it is cancelled through the client
    final = client.cancel("zebpay-main", oid, symbol="BTCUSDT", reason="test").wait(10)
    # Then the final event says canceled, and the venue agrees
    assert final["status"] == "canceled"
    assert order_status(admin, "zebpay-main", oid) == "canceled"
    events = events_of(client, final["request_id"])
    assert [e["event"] for e in events] == ["accepted", "final"]
    for event in events:
        assert set(FIELDS) <= set(event) and all(isinstance(v, str) for v in event.values())
    assert final["venue"] == "zebpay" and final["order_id"] == oid and final["reason"] == "test"
    assert final["attempts"] == "1" and final["http_status"] == "200"
    assert int(final["latency_ms"]) == int(final["ts"]) - int(final["received_ms"])
    # the venue's record: one call of this request, which cancelled the order
    [call] = calls_for(admin, final["request_id"])
    assert (call["route"], call["status"], call["orders"]) == ("zebpay.cancel", 200, [oid])
    assert venue_order(admin, "zebpay-main", oid)["history"][-1]["call"] == call["seq"]


def test_connections_are_kept_alive_and_reused(client, admin, stack):
    settings = stack.settings
    threads = settings.worker_concurrency * settings.routine_processes + settings.urgent_concurrency
    admin.reset()  # counts connections from here
    ids = seed(admin, n=threads + 8)
    for oid in ids:  # one at a time: each may land on any worker thread
        client.cancel("zebpay-main", oid).wait(10)
    assert admin.stats()["connections"] <= threads < len(ids)


def test_tls_is_always_verified(stack):
    from ordercancel.venues import venue_class

    venue = venue_class("zebpay")(stack.settings.accounts["zebpay-main"])
    assert venue.session.verify is True


def test_status_reports_the_final_event(client, admin):
    [oid] = seed(admin)
    ticket = client.cancel("zebpay-main", oid)
    final = ticket.wait(10)
    assert client.status(ticket.request_id) == final
    assert client.status("no-such-request") is None


def test_unknown_order_is_not_found(client, admin):
    final = client.cancel("zebpay-main", "never-existed").wait(10)
    assert final["status"] == "not_found" and final["http_status"] == "404"


def test_an_order_that_filled_first_is_already_closed(client, admin):
    [oid] = seed(admin)
    admin.action("zebpay", "fill", account="zebpay-main", clientOrderId=oid)
    final = client.cancel("zebpay-main", oid).wait(10)
    assert final["status"] == "already_closed" and final["venue_status"] == "filled"


def test_cancelling_twice_settles_the_second_as_already_closed_by_read_back(client, admin):
    """The venue refuses the second cancel (400): read back, the order was cancelled before it,
    by the first; the second did not cancel it."""
    [oid] = seed(admin)
    assert client.cancel("zebpay-main", oid).wait(10)["status"] == "canceled"
    second = client.cancel("zebpay-main", oid).wait(10)
    assert (second["status"], second["venue_status"]) == ("already_closed", "canceled")
    assert len(venue_calls(admin, "zebpay.get_order")) == 1


def test_a_venue_name_stands_for_its_only_account_when_unique(client, admin, stack):
    # Several zebpay accounts are configured in the tests, so "zebpay" is ambiguous: rejected.
    final = client.cancel("zebpay", "x").wait(10)
    assert final["status"] == "rejected" and final["error_code"] == "unknown_account"


def test_invalid_requests_are_rejected_with_the_field_named(client):
    cases = [
        ({"kind": "cancel", "account": "nope", "order_id": "1"}, "unknown_account", "account"),
        ({"kind": "cancel", "account": "zebpay-main"}, "invalid_request", "order_id"),
        (
            {"kind": "cancel", "account": "zebpay-main", "order_id": "a b"},
            "invalid_request",
            "order_id",
        ),
        (
            {
                "kind": "cancel",
                "account": "zebpay-main",
                "order_id": "1",
                "idempotency_key": "no spaces",
            },
            "invalid_request",
            "idempotency_key",
        ),
        ({"kind": "teleport", "account": "zebpay-main"}, "invalid_request", "kind"),
    ]
    for request, code, field in cases:
        final = client.submit(request).wait(10)
        assert (final["status"], final["error_code"]) == ("rejected", code), request
        assert field in final["error"]


def test_a_request_past_its_deadline_is_expired_without_a_venue_call(client, admin):
    [oid] = seed(admin)
    ticket = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 1}
    )
    final = ticket.wait(10)
    assert final["status"] == "expired" and final["error_code"] == "deadline_exceeded"
    assert venue_calls(admin, "zebpay.cancel") == []
    assert order_status(admin, "zebpay-main", oid) == "new"


def test_a_deadline_too_short_to_send_the_cancel_in_is_expired_not_an_error(client, admin):
    [oid] = seed(admin)
    # 60 ms leaves less than a call's minimum once the read-back reserve is kept back
    final = client.cancel("zebpay-main", oid, deadline_ms=60).wait(10)
    assert final["status"] == "expired" and final["error_code"] == "deadline_exceeded"
    assert venue_calls(admin, "zebpay.cancel") == []
    assert order_status(admin, "zebpay-main", oid) == "new"


def test_a_message_that_is_not_an_object_still_gets_a_final(client, stack):
    from ordercancel.node.celery_app import TASK

    start = stream_end(client)  # before it is sent: its final cannot be missed
    make_celery(stack.settings).send_task(TASK, args=["not an object"])
    event = await_event(client, start, lambda e: e["error_code"] == "invalid_message")
    assert event["event"] == "final" and event["status"] == "rejected"
    assert event["request_id"]  # one was assigned
    assert [e["event"] for e in client.events(start=start)
            if e["request_id"] == event["request_id"]] == ["final"]  # fmt: skip


def test_exactly_one_final_when_the_same_request_runs_concurrently(stack, client, admin):
    # Given one request delivered five times at once (at-least-once delivery does this)
    [oid] = seed(admin)
    message = {
        "kind": "cancel",
        "account": "zebpay-main",
        "order_id": oid,
        "request_id": f"dup-{oid}",
        "received_ms": now_ms(),
    }
    runtime = Runtime(stack.settings)
    threads = [threading.Thread(target=handle, args=(message, runtime)) for _ in range(5)]
    # When every copy runs to the end
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the stream holds exactly one final for it, and a late copy adds nothing
    handle(message, runtime)
    finals = [e for e in events_of(client, message["request_id"]) if e["event"] == "final"]
    assert len(finals) == 1 and finals[0]["status"] == "canceled"
    accepted = [e for e in events_of(client, message["request_id"]) if e["event"] == "accepted"]
    assert len(accepted) == 1
