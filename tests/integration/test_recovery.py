"""Recovery's promises (recovery.py), on real parts, held against the simulator's record.

- a request whose worker keeps dying is sent again at most `MAX_RESENDS` times, then ends
  with one `unknown` / `dead_letter` final instead of looping (a run may have acted: here
  the first run's cancel did), which the venue's history does not contradict;
- a duplicate of a request (the same request_id, or the same idempotency key) that arrives
  while the worker running the first dies ends once, and the venue cancels the order once;
- a Redis restarted empty (no persistence: the intake's consumer group, the budget's windows,
  the leases all gone) under a running worker: requests sent afterwards are served.

The worker SIGKILLs happen on stacks of this module's own, never the session's. The venue holds
the calls of the accounts used here `HELD_MS` before it serves them (it serves them even when
the caller is gone): a worker killed then dies mid-call."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ordercancel.client import Client
from ordercancel.devtools.drill.truth import Sent, check
from ordercancel.devtools.stack import Stack
from ordercancel.node.celery_app import queue_keys
from ordercancel.node.intake import GROUP
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.recovery import MAX_RESENDS

from . import conftest
from .conftest import order_status, seed, start_stack

#: a node's lease: a venue call it makes ends inside it (job.py), so a held call is answered
#: in time, and a killed node's requests are sent again this long after its last renewal
LEASE_S = 5
#: how long the venue holds each call of the accounts killed mid-call (less than a call may
#: take: one call per run, no client-side timeouts and retries)
HELD_MS = 3000


@pytest.fixture(scope="module")
def kill_stack() -> Iterator[Stack]:
    """A stack of this module's own, its workers killed and restarted by the tests."""
    stack = start_stack(extra_config={"worker": {"lease_s": LEASE_S}})
    try:
        yield stack
    finally:
        stack.stop_worker(signal.SIGKILL)
        stack.drop_keys()
        stack.stop()


@pytest.fixture
def parts(kill_stack: Stack) -> Iterator[tuple[Stack, SimAdmin, Client]]:
    admin = SimAdmin(kill_stack.sim_url)
    admin.faults()
    client = Client(kill_stack.settings)
    try:
        yield kill_stack, admin, client
    finally:
        admin.faults()
        client.close()
        if not kill_stack.workers:  # a test that failed between a kill and the restart
            kill_stack.start_worker()


def wait_until(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    """`probe()`'s first truthy answer; fails (never hangs) after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"no {what} within {timeout:g}s")
        time.sleep(0.05)


def calls_for(admin: SimAdmin, request_id: str) -> list[dict[str, Any]]:
    """The venue calls that carried `request_id` (X-Request-Id), in arrival order."""
    calls = [c for c in admin.history()["calls"] if c["request_id"] == request_id]
    return sorted(calls, key=lambda c: c["seq"])


def finals_of(client: Client, request_id: str) -> list[dict[str, str]]:
    return [e for e in client.events() if e["request_id"] == request_id and e["event"] == "final"]


def kill_mid_call(stack: Stack, admin: SimAdmin, request_id: str, calls_before: int) -> int:
    """Once a venue call of the request after the first `calls_before` is held at the venue
    (arrived, unanswered), SIGKILL every worker process group; start a new worker, not
    waiting for it. Returns how many calls of the request the venue had seen by the kill."""

    def held() -> list[dict[str, Any]]:
        calls = calls_for(admin, request_id)
        return calls if len(calls) > calls_before and calls[-1]["answered_ms"] is None else []

    calls = wait_until(f"venue call #{calls_before + 1} of {request_id} held", held, 90)
    stack.stop_worker(signal.SIGKILL)
    stack.start_worker(wait=False)
    return len(calls)


def contradictions(sent: list[Sent], finals: list[dict[str, str]], admin: SimAdmin) -> dict:
    verdict = check(sent, finals, admin.history())
    return {name: [c.why for c in found] for name, found in verdict.contradictions.items() if found}


# -- dead letter ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dead_lettered(kill_stack: Stack) -> dict[str, Any]:
    """One cancel whose worker is SIGKILLed in every run, each time while a venue call of it
    is held at the venue: the first run's cancel, then each re-run's read-back. After the
    MAX_RESENDS + 1-th kill, the next worker's heartbeat must bury it."""
    stack, admin, client = kill_stack, SimAdmin(kill_stack.sim_url), Client(kill_stack.settings)
    account = "r-zebpay-dead"
    try:
        admin.faults(latency_ms=HELD_MS, accounts=[account])
        [oid] = seed(admin, account)
        ticket = client.cancel(account, oid, deadline_ms=300_000)
        rid = ticket.request_id
        seen = 0
        for _run in range(MAX_RESENDS + 1):
            seen = kill_mid_call(stack, admin, rid, calls_before=seen)
        final = ticket.wait(90)
        # a request sent again once more would be running by now: its lease has run out
        time.sleep(LEASE_S + 2)
        return {
            "rid": rid,
            "account": account,
            "order_id": oid,
            "final": final,
            "finals": finals_of(client, rid),
            "calls": calls_for(admin, rid),
            "sent": Sent(rid, "cancel", account=account, order_id=oid, symbol="BTCUSDT"),
            "history": admin.history(),
        }
    finally:
        admin.faults()
        client.close()


@pytest.mark.timeout(420)
def test_a_request_whose_worker_keeps_dying_is_dead_lettered_not_looped(dead_lettered):
    d = dead_lettered
    final = d["final"]
    assert (final["status"], final["error_code"]) == ("unknown", "dead_letter"), final
    assert f"sent again {MAX_RESENDS} times" in final["error"]
    # one final, ever: nothing ran it again after it was buried
    assert len(d["finals"]) == 1, d["finals"]
    # the venue saw one call per run (each killed while held there): the first run and
    # MAX_RESENDS re-runs, and none after the final
    calls = d["calls"]
    assert len(calls) <= MAX_RESENDS + 1, [(c["route"], c["t_ms"]) for c in calls]
    assert [c["route"] for c in calls] == ["zebpay.cancel"] + ["zebpay.get_order"] * MAX_RESENDS
    assert all(c["t_ms"] <= int(final["ts"]) for c in calls)
    # the first run's cancel, held when its worker died, still went through at the venue
    order = next(
        o
        for o in d["history"]["orders"]
        if o["account"] == d["account"] and o["order_id"] == d["order_id"]
    )
    cancelled = [h for h in order["history"] if h["status"] == "canceled"]
    assert [(h["request_id"], h["call"]) for h in cancelled] == [(d["rid"], calls[0]["seq"])]


@pytest.mark.timeout(420)
def test_a_dead_lettered_outcome_agrees_with_the_venue(dead_lettered):
    d = dead_lettered
    verdict = check([d["sent"]], d["finals"], d["history"])
    found = {name: [c.why for c in cs] for name, cs in verdict.contradictions.items() if cs}
    assert not found


# -- duplicates of a request whose worker dies ----------------------------------------------


def queued(client: Client) -> int:
    """Messages waiting in the broker's queues (not yet taken by a worker)."""
    redis_: Any = client.store.redis
    return sum(redis_.llen(q) for q in queue_keys(client.keys))


def cancelled_at(admin: SimAdmin, account: str, order_id: str) -> list[dict[str, Any]]:
    """The venue's record of an order's cancellation(s): when, by which call and request."""
    order = next(
        o
        for o in admin.history()["orders"]
        if o["account"] == account and o["order_id"] == order_id
    )
    return [h for h in order["history"] if h["status"] == "canceled"]


@pytest.mark.timeout(240)
def test_a_duplicate_of_a_request_whose_worker_dies_ends_once_and_cancels_once(parts):
    stack, admin, client = parts
    account = "r-zebpay-dup"
    admin.faults(latency_ms=HELD_MS, accounts=[account])
    [oid] = seed(admin, account)
    rid = f"dup-{oid}"
    first = client.cancel(account, oid, request_id=rid, deadline_ms=120_000)
    # Given A's cancel held at the venue, and a duplicate (the same request id) taken by the
    # worker running A meanwhile
    wait_until("A's cancel at the venue", lambda: calls_for(admin, rid), 60)
    client.cancel(account, oid, request_id=rid, deadline_ms=120_000)
    wait_until("the duplicate taken from the queue", lambda: queued(client) == 0, 10)
    time.sleep(0.3)
    # When that worker is SIGKILLed, and another duplicate waits in the queue for the next one
    stack.stop_worker(signal.SIGKILL)
    killed_ms = time.time() * 1000
    client.cancel(account, oid, request_id=rid, deadline_ms=120_000)
    stack.start_worker()
    # Then the request ends once, cancelled, and the venue agrees
    final = first.wait(60)
    assert final["status"] == "canceled", final
    time.sleep(LEASE_S + 1)  # a late venue call of a second run would have come by now
    finals = finals_of(client, rid)
    assert len(finals) == 1, finals
    # the venue cancelled the order once, on A's cancel, after A's worker had died
    [cancel] = cancelled_at(admin, account, oid)
    assert cancel["request_id"] == rid and cancel["t_ms"] > killed_ms
    # and saw no call from the duplicates: A's cancel, then one re-run's read-back
    calls = calls_for(admin, rid)
    assert [c["route"] for c in calls] == ["zebpay.cancel", "zebpay.get_order"], calls
    sent = Sent(rid, "cancel", account=account, order_id=oid, symbol="BTCUSDT")
    assert not contradictions([sent], finals, admin)


@pytest.mark.timeout(240)
def test_a_duplicate_waiting_on_an_idempotency_key_whose_first_worker_dies_gets_its_outcome(
    parts,
):
    stack, admin, client = parts
    account = "r-zebpay-idem"
    admin.faults(latency_ms=HELD_MS, accounts=[account])
    [oid] = seed(admin, account)
    key = f"idem-{oid}"
    owners: Any = client.store.redis
    # Given A's cancel held at the venue, and B (another request id, the same idempotency key
    # and instruction) begun and waiting for A's outcome
    a = client.cancel(account, oid, idempotency_key=key, deadline_ms=120_000)
    wait_until("A's cancel at the venue", lambda: calls_for(admin, a.request_id), 60)
    b = client.cancel(account, oid, idempotency_key=key, deadline_ms=120_000)
    wait_until("B begun", lambda: owners.hexists(client.keys.owners, b.request_id), 10)
    # When the worker (running A, B waiting) is SIGKILLed, and a new one starts
    stack.stop_worker(signal.SIGKILL)
    killed_ms = time.time() * 1000
    stack.start_worker()
    # Then A ends once, cancelled; B ends once with A's outcome, making no venue call
    fa, fb = a.wait(60), b.wait(60)
    assert fa["status"] == "canceled", fa
    assert fb["status"] == "canceled", fb
    assert json.loads(fb["detail"])["idempotent_replay_of"] == a.request_id
    time.sleep(LEASE_S + 1)
    finals_a, finals_b = finals_of(client, a.request_id), finals_of(client, b.request_id)
    assert (len(finals_a), len(finals_b)) == (1, 1), (finals_a, finals_b)
    [cancel] = cancelled_at(admin, account, oid)
    assert cancel["request_id"] == a.request_id and cancel["t_ms"] > killed_ms
    assert [c["route"] for c in calls_for(admin, a.request_id)].count("zebpay.cancel") == 1
    assert calls_for(admin, b.request_id) == []
    sent = Sent(a.request_id, "cancel", account=account, order_id=oid, symbol="BTCUSDT")
    assert not contradictions([sent], finals_a, admin)


# -- Redis restarted without its data -------------------------------------------------------


@pytest.fixture
def embedded_stack(monkeypatch) -> Iterator[Stack]:
    """A stack with an embedded Redis of its own (even when the suite runs on
    ORDERCANCEL_REDIS_URL): the test restarts it."""
    monkeypatch.setattr(conftest, "REDIS_URL", None)
    stack = start_stack(extra_config={"worker": {"lease_s": LEASE_S}})
    try:
        yield stack
    finally:
        stack.stop_worker(signal.SIGKILL)
        stack.stop()


@pytest.mark.timeout(240)
def test_a_redis_restarted_empty_under_a_running_worker_serves_new_requests(embedded_stack):
    stack = embedded_stack
    assert stack.embedded is not None
    admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
    account = "r-zebpay-restart"
    try:
        ids = seed(admin, account, n=3)
        before = client.cancel(account, ids[0])
        assert before.wait(30)["status"] == "canceled"
        keys, redis_ = client.keys, client.store.redis
        assert redis_.keys(f"{keys.prefix}:budget:*")
        worker = stack.worker
        # When Redis restarts with none of its data (no AOF, no RDB), the worker still running
        stack.embedded.shut_down()
        time.sleep(1.0)
        stack.embedded.start()
        assert client.status(before.request_id) is None  # its final went with the data
        # Then a request sent through the intake stream (the consumer group is gone with it)
        # and one through the client are served, and cancelled at the venue
        entry = redis_.xadd(
            keys.requests,
            {"request": json.dumps({"kind": "cancel", "account": account, "order_id": ids[1]})},
        )
        ticket = client.cancel(account, ids[2])
        via_intake = client.store.wait_final(entry, 60)
        via_client = ticket.wait(60)
        assert via_intake is not None and via_intake["status"] == "canceled", via_intake
        assert via_client["status"] == "canceled", via_client
        assert order_status(admin, account, ids[1]) == "canceled"
        assert order_status(admin, account, ids[2]) == "canceled"
        # the intake's group is back, and the rate budget counts again in the new Redis
        assert GROUP in {g["name"] for g in redis_.xinfo_groups(keys.requests)}
        assert redis_.keys(f"{keys.prefix}:budget:*")
        sent = [
            Sent(entry, "cancel", account=account, order_id=ids[1]),
            Sent(ticket.request_id, "cancel", account=account, order_id=ids[2]),
        ]
        assert not contradictions(sent, [via_intake, via_client], admin)
        assert stack.worker is worker and worker.poll() is None  # served by the same worker
    finally:
        client.close()
