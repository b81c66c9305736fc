"""Idempotency keys (CONTRACT §4): replay, conflict, wait for the first, retention, atomic claim."""

import json
import secrets
import threading

from ordercancel.engine.pipeline import handle
from ordercancel.node.runtime import Runtime

from .conftest import events_of, now_ms, seed, venue_calls


def key() -> str:
    return "k-" + secrets.token_hex(6)


def test_same_key_same_request_returns_the_first_outcome_without_a_venue_call(client, admin):
    [oid] = seed(admin)
    k = key()
    first = client.cancel("zebpay-main", oid, idempotency_key=k).wait(10)
    calls = len(venue_calls(admin, "zebpay.cancel"))  # >1 when a clock resync came first
    second = client.cancel("zebpay-main", oid, idempotency_key=k).wait(10)
    assert first["status"] == second["status"] == "canceled"
    assert second["request_id"] != first["request_id"]
    assert json.loads(second["detail"])["idempotent_replay_of"] == first["request_id"]
    assert second["attempts"] == "0"
    assert len(venue_calls(admin, "zebpay.cancel")) == calls


def test_same_key_different_request_is_a_conflict(client, admin):
    a, b = seed(admin, n=2)
    k = key()
    assert client.cancel("zebpay-main", a, idempotency_key=k).wait(10)["status"] == "canceled"
    final = client.cancel("zebpay-main", b, idempotency_key=k).wait(10)
    assert (final["status"], final["error_code"]) == ("rejected", "idempotency_conflict")
    assert len(venue_calls(admin, "zebpay.cancel")) == 1


def test_duplicate_arriving_while_the_first_runs_waits_for_its_outcome(client, admin):
    admin.faults(latency_ms=1500, routes=["zebpay.cancel"], accounts=["zebpay-slow"])
    [oid] = seed(admin, "zebpay-slow")
    k = key()
    first = client.cancel("zebpay-slow", oid, idempotency_key=k)
    # the first has been accepted (it holds the key) before the duplicate is sent
    for event in client.events(follow=True, start=client.tail_start(1)):
        if event["request_id"] == first.request_id and event["event"] == "accepted":
            break
    second = client.cancel("zebpay-slow", oid, idempotency_key=k)
    a, b = first.wait(15), second.wait(15)
    assert a["status"] == b["status"] == "canceled"
    assert first.request_id in b["detail"]
    assert len(venue_calls(admin, "zebpay.cancel", "zebpay-slow")) == 1


def test_key_is_retained_for_the_configured_time(client, admin, stack):
    [oid] = seed(admin)
    k = key()
    client.cancel("zebpay-main", oid, idempotency_key=k).wait(10)
    ttl = client.store.redis.ttl(client.keys.idempotency("zebpay-main", k))
    assert 0 < ttl <= stack.settings.idempotency_retention_s
    assert stack.settings.idempotency_retention_s == 24 * 3600


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
