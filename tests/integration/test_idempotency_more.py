"""Idempotency keys (CONTRACT §4, README "Idempotency"), the promises test_idempotency.py leaves
out: keys are per account, a failed or unknown first outcome is replayed like any other, a
different request with the key of one still running is a conflict, and a request id reused
while its request runs does not start a second one. Held against the venue's record."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ordercancel.node.celery_app import queue_keys
from ordercancel.state.keys import Keys
from ordercancel.state.store import connect
from ordercancel.venues import venue_class

from .conftest import (
    await_event,
    calls_for,
    order_status,
    seed,
    stream_end,
    venue_order,
)


def key() -> str:
    return "k-" + secrets.token_hex(6)


@contextmanager
def venue_held(stack, account: str) -> Iterator[None]:
    """Hold the account's rate-budget scope (as a 429 with Retry-After does) for as long as the
    block runs: a request of the account is begun, then waits before its first venue call (it
    sleeps out each hold it finds: up to 3 s past the block). The hold is renewed until the
    block ends."""
    config = stack.settings.accounts[account]
    key_ = Keys(stack.prefix).budget(venue_class(config.venue).budget_scope(config))[2]  # hold
    redis_, done = connect(stack.redis_url), threading.Event()

    def renew() -> None:  # 3 s ahead: a busy machine may starve this thread for a while
        while not done.wait(0.1):
            redis_.set(key_, "1", px=3000)

    redis_.set(key_, "1", px=3000)  # held before the block begins
    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        redis_.delete(key_)
        redis_.close()


def test_a_key_is_scoped_to_its_account(client, admin):
    # The same key and the same order id on two accounts: two requests, two cancels.
    coid, k = "same-" + secrets.token_hex(4), key()
    accounts = ("i-zebpay-idem", "idem-zebpay-scope")
    for account in accounts:
        seed(admin, account, clientOrderId=coid)
    # one after the other: the second comes when the first's outcome is stored under its key
    finals = {a: client.cancel(a, coid, idempotency_key=k).wait(10) for a in accounts}
    for account, final in finals.items():
        assert final["status"] == "canceled", final
        assert "idempotent_replay_of" not in json.loads(final["detail"] or "{}")
        [cancel] = [c for c in calls_for(admin, final["request_id"]) if c["status"] == 200]
        assert (cancel["route"], cancel["account"]) == ("zebpay.cancel", account)
        assert venue_order(admin, account, coid)["history"][-1]["call"] == cancel["seq"]


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        ({"error_rate": 1.0, "routes": ["zebpay.cancel"]}, "failed", "still_open"),
        ({"error_rate": 1.0}, "unknown", "venue_unavailable"),
    ],
    ids=["failed", "unknown"],
)
def test_a_failed_or_unknown_first_outcome_is_replayed_not_run_again(
    client, admin, faults, status, code
):
    # README: the same key with the same request returns the first request's outcome with no
    # venue call, whatever that outcome was (Stripe's rule); a new key is a new request.
    account = "idem-zebpay-replay"
    [oid] = seed(admin, account)
    k = key()
    admin.faults(accounts=[account], **faults)
    request = {"kind": "cancel", "account": account, "order_id": oid, "idempotency_key": k}
    first = client.submit({**request, "deadline_ms": 1500}).wait(15)
    assert (first["status"], first["error_code"]) == (status, code)
    assert len(calls_for(admin, first["request_id"])) == int(first["attempts"]) > 0
    admin.faults()  # the venue works again
    second = client.submit(request).wait(10)  # the same request (deadline is not part of it)
    assert (second["status"], second["error_code"]) == (status, code)
    assert second["attempts"] == "0"
    assert json.loads(second["detail"])["idempotent_replay_of"] == first["request_id"]
    assert calls_for(admin, second["request_id"]) == []
    assert order_status(admin, account, oid) == "new"  # so the order is still open
    third = client.submit({**request, "idempotency_key": key()}).wait(10)
    assert third["status"] == "canceled"
    assert venue_order(admin, account, oid)["history"][-1]["request_id"] == third["request_id"]


def test_a_different_request_with_the_key_of_one_running_is_a_conflict(client, admin, stack):
    account = "idem-zebpay-inflight"
    a, b = seed(admin, account, n=2)
    k = key()
    start = stream_end(client)
    with venue_held(stack, account):
        first = client.cancel(account, a, idempotency_key=k)
        await_event(
            client,
            start,
            lambda e: e["request_id"] == first.request_id and e["event"] == "accepted",
        )
        second = client.cancel(account, b, idempotency_key=k)
        conflict = second.wait(15)
        # decided while the first runs: begun, holding the key, not yet at the venue
        assert client.status(first.request_id)["event"] == "accepted"
        assert calls_for(admin, first.request_id) == []
    assert (conflict["status"], conflict["error_code"]) == ("rejected", "idempotency_conflict")
    assert first.request_id in conflict["error"]
    assert first.wait(15)["status"] == "canceled"
    # the venue saw the first only: a cancelled by it; nothing sent for the second
    assert venue_order(admin, account, a)["history"][-1]["request_id"] == first.request_id
    assert calls_for(admin, second.request_id) == []
    assert order_status(admin, account, b) == "new"
    assert not any(b in c["orders"] for c in admin.history()["calls"])


def test_a_request_id_reused_while_its_request_runs_starts_nothing(client, admin, stack):
    # Every request gets exactly one final: a second message under a running request's id, with
    # another order in it, is that request delivered again, not a new one.
    account = "idem-zebpay-samerid"
    a, b = seed(admin, account, n=2)
    rid = "reused-" + secrets.token_hex(4)
    start = stream_end(client)
    with venue_held(stack, account):
        client.cancel(account, a, request_id=rid)
        await_event(client, start, lambda e: e["request_id"] == rid and e["event"] == "accepted")
        client.cancel(account, b, request_id=rid)
        # until a worker has taken the second message, while the first still waits
        queues, end = queue_keys(client.keys), time.monotonic() + 15
        while any(client.store.redis.llen(q) for q in queues) and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.5)
        assert client.status(rid)["event"] == "accepted"
    final = client.store.wait_final(rid, 15)
    assert final is not None and (final["status"], final["order_id"]) == ("canceled", a)
    events = [e for e in client.events(start=start) if e["request_id"] == rid]
    assert [e["event"] for e in events] == ["accepted", "final"]
    # the venue: a cancelled by this request; b never named in any call, still open
    assert venue_order(admin, account, a)["history"][-1]["request_id"] == rid
    assert order_status(admin, account, b) == "new"
    assert not any(b in c["orders"] for c in admin.history()["calls"])


def test_an_invalid_request_under_a_running_ones_id_cannot_end_it(client, admin, stack):
    # Another producer (who can read the result stream, so knows the id) sends an entry that
    # will be rejected, under the id of a request still running: it must not publish that
    # request's final, nor take it out of the ledger; the request ends on its own.
    account = "idem-zebpay-forge"
    [a] = seed(admin, account)
    rid = "victim-" + secrets.token_hex(4)
    start = stream_end(client)
    with venue_held(stack, account):
        client.cancel(account, a, request_id=rid)
        await_event(client, start, lambda e: e["request_id"] == rid and e["event"] == "accepted")
        intruder = client.submit({"kind": "no-such-kind", "request_id": rid})
        assert intruder.request_id == rid
        time.sleep(1.0)  # time enough for a worker to reject it, were it let through
        assert client.status(rid)["event"] == "accepted"
        assert client.store.redis.hexists(client.keys.ledger, rid)
    final = client.store.wait_final(rid, 15)
    assert final is not None and final["status"] == "canceled", final
    finals = [
        e for e in client.events(start=start) if e["request_id"] == rid and e["event"] == "final"
    ]
    assert len(finals) == 1
    assert order_status(admin, account, a) == "canceled"


def test_ids_ordercancel_derives_are_refused_from_producers(client, admin):
    # the dead-man's kill and the children of batches, cancel-alls and kills
    [a] = seed(admin, "zebpay-main")
    for rid in ("deadman-1796000000000", "someones-batch:" + a):
        ticket = client.cancel("zebpay-main", a, request_id=rid)
        assert ticket.request_id != rid  # known by its intake entry id instead
        final = ticket.wait(15)
        assert (final["status"], final["error_code"]) == ("rejected", "invalid_request")
        assert "reserved" in final["error"]
        assert client.status(rid) is None
    assert order_status(admin, "zebpay-main", a) == "new"
