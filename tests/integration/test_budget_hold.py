"""A 429 with Retry-After holds the venue scope for every worker process (README, "Rate
budget"): shown on a stack of its own with two routine processes, from the venue's record."""

from __future__ import annotations

import time

import pytest

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import await_event, calls_for, seed, start_stack, stream_end, venue_order

RETRY_AFTER_S = 4


@pytest.fixture(scope="module")
def two_processes():
    stack = start_stack(extra_config={"worker": {"processes": 2}})
    client = Client(stack.settings)
    yield stack, client, SimAdmin(stack.sim_url)
    client.close()
    stack.stop_worker()
    stack.drop_keys()
    stack.stop()


def owner(client: Client, request_id: str, timeout: float = 10.0) -> str:
    """The worker process (lease node) running a request once one has begun it; "" when the
    request ended before its process was seen."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        node = client.store.redis.hget(client.keys.owners, request_id)
        if node:
            return str(node)
        if client.store.finals([request_id])[request_id]:
            return ""
        time.sleep(0.01)
    raise AssertionError(f"no process began {request_id} within {timeout:g}s")


def test_a_429_seen_by_one_process_holds_the_scope_for_every_process(two_processes):
    _, client, admin = two_processes
    account = "i-zebpay-hold"
    [first, *others] = seed(admin, account, n=13)
    [bystander] = seed(admin, "zebpay-main")  # another account behind the same egress host
    admin.faults(
        burst_429=1, retry_after=RETRY_AFTER_S, routes=["zebpay.cancel"], accounts=[account]
    )
    start = stream_end(client)
    held = client.cancel(account, first)
    # `retrying` comes after the 429's Retry-After was turned into the scope's hold
    await_event(
        client, start, lambda e: e["request_id"] == held.request_id and e["event"] == "retrying"
    )
    held_by = owner(client, held.request_id)
    # More cancels, one at a time, until one runs in the other process
    tickets = [client.cancel("zebpay-main", bystander)]
    nodes = {}
    for oid in others:
        tickets.append(client.cancel(account, oid))
        nodes[tickets[-1].request_id] = owner(client, tickets[-1].request_id)
        if nodes[tickets[-1].request_id] != held_by:
            break
    finals = [t.wait(30) for t in [held, *tickets]]
    assert {f["status"] for f in finals} == {"canceled"}

    calls = sorted(admin.history()["calls"], key=lambda c: c["seq"])
    [limited] = [c for c in calls if c["status"] == 429]
    assert limited["request_id"] == held.request_id
    hold_from, hold_to = limited["t_ms"], limited["t_ms"] + RETRY_AFTER_S * 1000 - 50
    # No process called the venue in that scope (any account of this host) during the hold
    during = [c for c in calls if hold_from < c["t_ms"] < hold_to]
    assert during == [], during
    # while a request of another process was running: begun during the hold, sent after it
    elsewhere = [rid for rid, node in nodes.items() if node and node != held_by]
    assert elsewhere, "every request ran in the process that saw the 429"
    [other] = elsewhere
    accepted = next(e for e in client.events(start=start)
                    if e["request_id"] == other and e["event"] == "accepted")  # fmt: skip
    assert int(accepted["ts"]) < hold_to
    assert min(c["t_ms"] for c in calls_for(admin, other)) >= hold_to
    # the venue's book: every order cancelled by a call of its own request, after the hold
    for oid, final in zip([first, bystander, *others], finals, strict=False):
        acct = "zebpay-main" if oid == bystander else account
        change = venue_order(admin, acct, oid)["history"][-1]
        assert (change["status"], change["request_id"]) == ("canceled", final["request_id"])
        assert change["t_ms"] >= hold_to
