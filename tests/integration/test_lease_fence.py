"""Leases are fenced in Redis (`lua/begin.lua`, `lua/beat.lua`, `lua/finish.lua`): a node whose
request was taken over can never publish its final, and after an outage in which no node could
renew, nobody is declared dead before it had a lease's time to come back. On a prefix of its
own, so the stack's workers leave these nodes alone."""

import secrets

import pytest

from ordercancel.errors import Fenced
from ordercancel.state.keys import Keys
from ordercancel.state.store import Store

LEASE_MS = 10_000


@pytest.fixture
def store(client):
    keys = Keys(f"octest-lease-{secrets.token_hex(4)}")
    yield Store(client.store.redis, keys, maxlen=1000, retention_s=60)
    client.store.redis.delete(*client.store.redis.keys(f"{keys.prefix}:*") or ["-"])


def renew(store, node, limit=0):
    return store.beat(
        node, lease_ms=LEASE_MS, unowned_after_ms=60_000, queues=[], disown=[], limit=limit
    )


def begin(store, rid, node):
    accepted = {"request_id": rid, "account": "a", "event": "accepted"}
    return store.begin(rid, accepted, idem=None, fingerprint="f", node=node).state


def final(rid):
    return {"request_id": rid, "account": "a", "event": "final", "status": "canceled"}


def lapse(store, node):
    store.redis.zadd(store.keys.nodes, {node: 1})  # its lease ran out long ago


def test_a_taken_over_owner_cannot_publish_its_final(store):
    assert renew(store, "a.0")[0] is False  # unknown to Redis before its first renewal
    assert renew(store, "a.0")[0] is True and renew(store, "b.0") is not None
    assert begin(store, "r1", "a.0") == "new"
    lapse(store, "a.0")
    assert begin(store, "r1", "b.0") == "rerun"  # b takes it over, and a is fenced
    with pytest.raises(Fenced):
        store.finish(final("r1"), node="a.0")
    assert store.redis.exists(store.keys.final("r1")) == 0
    assert renew(store, "a.0")[0] is False  # a learns it was taken over: a new epoch
    assert store.finish(final("r1"), node="b.0") is True


def test_a_live_owner_keeps_its_request(store):
    renew(store, "a.0")
    assert begin(store, "r1", "a.0") == "new"
    assert begin(store, "r1", "b.0") == "running"
    assert store.finish(final("r1"), node="a.0") is True


def test_after_an_outage_nobody_is_declared_dead_for_a_lease(store):
    renew(store, "a.0")
    renew(store, "b.0")
    store.dispatch([("r1", {"kind": "cancel", "request_id": "r1"}, 0)])
    assert begin(store, "r1", "a.0") == "new"
    # Redis was away for longer than a lease: nobody renewed, a's lease ran out meanwhile
    store.redis.set(store.keys.nodes_beat, 1)
    lapse(store, "a.0")
    _, orphans = renew(store, "b.0", limit=100)
    assert orphans == []  # a is not declared dead, its request not sent again ...
    assert begin(store, "r1", "b.0") == "running"  # ... nor taken over
    assert renew(store, "a.0")[0] is True  # a renews in the grace and keeps its work
    assert store.finish(final("r1"), node="a.0") is True
    assert store.finals(["r1"])["r1"]["status"] == "canceled"
