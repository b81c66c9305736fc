"""Idempotency keys (CONTRACT §4): replay, conflict, wait for the first, retention, atomic claim."""

import json
import secrets
import threading

from ordercancel.engine.pipeline import handle
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


def key() -> str:
    return "k-" + secrets.token_hex(6)


def test_same_key_same_request_returns_the_first_outcome_without_a_venue_call(client, admin):
    account = "i-zebpay-idem"
    [oid] = seed(admin, account)
    k = key()
    first = client.cancel(account, oid, idempotency_key=k).wait(10)
    second = client.cancel(account, oid, idempotency_key=k).wait(10)
    assert first["status"] == second["status"] == "canceled"
    assert second["request_id"] != first["request_id"]
    assert json.loads(second["detail"])["idempotent_replay_of"] == first["request_id"]
    assert second["attempts"] == "0"
    # the venue: cancelled by the first request's last call; the second sent none
    calls = calls_for(admin, first["request_id"])
    assert (calls[-1]["route"], calls[-1]["status"]) == ("zebpay.cancel", 200)
    assert venue_order(admin, account, oid)["history"][-1]["call"] == calls[-1]["seq"]
    assert calls_for(admin, second["request_id"]) == []


def test_same_key_different_request_is_a_conflict(client, admin):
    account = "i-zebpay-idem"
    a, b = seed(admin, account, n=2)
    k = key()
    first = client.cancel(account, a, idempotency_key=k).wait(10)
    assert first["status"] == "canceled"
    final = client.cancel(account, b, idempotency_key=k).wait(10)
    assert (final["status"], final["error_code"]) == ("rejected", "idempotency_conflict")
    assert first["request_id"] in final["error"]
    # the venue: a cancelled by the first; nothing sent for the second, b still open
    assert venue_order(admin, account, a)["history"][-1]["request_id"] == first["request_id"]
    assert calls_for(admin, final["request_id"]) == []
    assert order_status(admin, account, b) == "new"
    assert not any(b in c["orders"] for c in admin.history()["calls"])


def test_duplicate_arriving_while_the_first_runs_waits_for_its_outcome(client, admin):
    admin.faults(latency_ms=1500, routes=["zebpay.cancel"], accounts=["zebpay-slow"])
    [oid] = seed(admin, "zebpay-slow")
    k = key()
    start = stream_end(client)  # before the first is sent: its `accepted` cannot be missed
    first = client.cancel("zebpay-slow", oid, idempotency_key=k)
    # the first has been accepted (it holds the key) before the duplicate is sent
    await_event(
        client, start, lambda e: e["request_id"] == first.request_id and e["event"] == "accepted"
    )
    second = client.cancel("zebpay-slow", oid, idempotency_key=k)
    a, b = first.wait(15), second.wait(15)
    assert a["status"] == b["status"] == "canceled"
    assert json.loads(b["detail"])["idempotent_replay_of"] == first.request_id
    # the venue: one cancel, the first's, still unanswered when the duplicate came; none for it
    [cancel] = calls_for(admin, first.request_id)
    assert cancel["route"] == "zebpay.cancel" and int(b["received_ms"]) < cancel["answered_ms"]
    assert calls_for(admin, second.request_id) == []
    assert venue_order(admin, "zebpay-slow", oid)["history"][-1]["request_id"] == first.request_id


def test_key_is_retained_for_the_configured_time(client, admin, stack):
    retention = stack.settings.idempotency_retention_s
    assert retention == 24 * 3600  # the documented default
    [oid] = seed(admin, "i-zebpay-idem")
    k = key()
    final = client.cancel("i-zebpay-idem", oid, idempotency_key=k).wait(10)
    idem = client.keys.idempotency("i-zebpay-idem", k)
    ttl = client.store.redis.ttl(idem)
    # set when the key was claimed, moments ago: the whole retention, less those moments
    assert retention - 60 < ttl <= retention
    assert client.store.redis.hget(idem, "request_id") == final["request_id"]


def test_claim_is_atomic_under_concurrent_requests(stack, client, admin):
    # Five different requests with one key, run at the same moment: one venue call in all.
    [oid] = seed(admin)
    k, runtime = key(), Runtime(stack.settings)
    messages = [
        {
            "kind": "cancel",
            "account": "zebpay-main",
            "order_id": oid,
            "idempotency_key": k,
            "request_id": f"{k}-{i}",
            "received_ms": now_ms(),
        }
        for i in range(5)
    ]
    threads = [threading.Thread(target=handle, args=(m, runtime)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(venue_calls(admin, "zebpay.cancel")) == 1
    statuses = [client.status(m["request_id"])["status"] for m in messages]
    assert statuses == ["canceled"] * 5
    assert all(
        len([e for e in events_of(client, m["request_id"]) if e["event"] == "final"]) == 1
        for m in messages
    )
