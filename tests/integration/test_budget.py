"""The shared rate budget: Redis-backed (one Lua script), routine capped below the limit so a kill
finds headroom, waiting counts against the deadline, 429s shrink what is left."""

import time

import pytest

from ordercancel.config import RateLimit
from ordercancel.engine.budget import Budget, BudgetExhausted
from ordercancel.node.runtime import Runtime
from ordercancel.state.keys import Keys
from ordercancel.state.store import Store, connect

from .conftest import order_status, seed, venue_calls, venue_order

ACCOUNT = "zebpay-budget"  # 10 per 2 s, its own scope (another egress host)


def most_in_window(calls, seconds=2.0):
    times = sorted(c["t_ms"] for c in calls)
    return max((sum(1 for u in times if t <= u < t + seconds * 1000) for t in times), default=0)


@pytest.fixture
def budget(stack):
    scope = f"test-{time.time_ns()}"
    client = connect(stack.redis_url)
    yield Budget(client, stack.prefix, scope, RateLimit(10, 2.0))
    client.close()


@pytest.fixture
def venue_quota(stack, admin):
    """Set the venue's own per-IP quota for the test (the simulator enforces it with 429s)."""
    zebpay = stack.sim.venues["zebpay"]
    documented = zebpay.limit, zebpay.window_s

    def set_quota(limit: int, window_s: float) -> None:
        admin.action("zebpay", "limit", limit=limit, window_s=window_s)

    yield set_quota
    set_quota(*documented)


def test_routine_work_stays_under_its_share_and_the_venue_never_says_429(
    client, admin, venue_quota
):
    # The venue takes 16 calls per 2 s from our IP; 24 cancels sent at once would get 8 429s.
    # Our budget (10 per 2 s, routine 80% of it) spreads them over three windows instead.
    venue_quota(16, 2.0)
    ids = seed(admin, ACCOUNT, n=24)
    tickets = [client.cancel(ACCOUNT, o) for o in ids]
    finals = [t.wait(30) for t in tickets]
    assert {f["status"] for f in finals} == {"canceled"}
    calls = admin.history()["calls"]
    assert [c for c in calls if c["status"] == 429] == []
    mine = [c for c in calls if c["account"] == ACCOUNT]
    assert len(mine) == 24 and {c["route"] for c in mine} == {"zebpay.cancel"}
    # 80% of 10 per 2 s. The budget stamps a call when it takes its token, the venue when the
    # call arrives, later by a few ms (more on a busy machine): measure over 1.5 s so that this
    # jitter is not counted as excess.
    assert most_in_window(mine, 1.5) <= 8
    assert max(c["t_ms"] for c in mine) - min(c["t_ms"] for c in mine) >= 4000  # 8 + 8 + 8
    # the venue's book: each order cancelled by its own request's call
    by_request = {c["request_id"]: c["seq"] for c in mine}
    for oid, final in zip(ids, finals, strict=True):
        change = venue_order(admin, ACCOUNT, oid)["history"][-1]
        assert (change["status"], change["call"]) == ("canceled", by_request[final["request_id"]])


def test_a_kill_finds_headroom_while_routine_work_waits_for_budget(client, admin):
    # 40 routine cancels at 8 per 2 s: about 10 s of work queued for budget, so the kill
    # arrives while routine work still waits, even on a slow machine
    ids = seed(admin, ACCOUNT, n=40)
    routine = [client.cancel(ACCOUNT, o, deadline_ms=60_000) for o in ids]
    kill = client.kill("risk", [ACCOUNT]).wait(60)
    assert kill["status"] == "completed"
    finals = [t.wait(60) for t in routine]
    assert int(kill["ts"]) < max(int(f["ts"]) for f in finals)  # it did not queue behind them
    assert all(c["status"] != 429 for c in admin.log())
    [bulk] = venue_calls(admin, "zebpay.cancel_all", ACCOUNT)
    assert bulk["status"] == 200
    # the venue's book: every order closed, those still open at the kill by its cancel-all
    changes = [venue_order(admin, ACCOUNT, o)["history"][-1] for o in ids]
    assert {c["status"] for c in changes} == {"canceled"}
    assert bulk["request_id"].startswith(kill["request_id"])  # the kill's, for this account
    assert any(c["call"] == bulk["seq"] for c in changes)
    client.resume()


def test_waiting_for_budget_counts_against_the_deadline(client, admin, stack):
    [oid] = seed(admin, ACCOUNT)
    rt = Runtime(stack.settings)
    budget = rt.budget(rt.venue(ACCOUNT))
    for _ in range(10):
        budget.acquire(1.0, urgent=True)  # the whole window, taken
    final = client.submit(
        {"kind": "cancel", "account": ACCOUNT, "order_id": oid, "deadline_ms": 800}
    ).wait(10)
    assert (final["status"], final["error_code"], final["attempts"]) == (
        "failed",
        "rate_limited",
        "0",
    )
    assert venue_calls(admin, "zebpay.cancel", ACCOUNT) == []
    assert order_status(admin, ACCOUNT, oid) == "new"  # the venue never heard of it


def test_a_single_cancel_takes_its_one_token_as_it_begins(client, admin, stack):
    # the token travels with `begin` (one round trip fewer): counted once, not again at the call
    rt = Runtime(stack.settings)
    budget = rt.budget(rt.venue(ACCOUNT))
    ids = seed(admin, ACCOUNT, n=3)
    for oid in ids:
        assert client.cancel(ACCOUNT, oid).wait(30)["status"] == "canceled"
    assert len(venue_calls(admin, "zebpay.cancel", ACCOUNT)) == 3
    assert budget.left() == 10 - 3
    # a cancel that never calls the venue takes none: one the venue cannot name, one whose
    # deadline passed before it began
    bad = client.cancel(ACCOUNT, "has space").wait(30)
    late = client.submit(
        {"kind": "cancel", "account": ACCOUNT, "order_id": ids[0], "deadline_ms": 1}
    ).wait(30)
    assert (bad["status"], late["status"]) == ("rejected", "expired")
    assert budget.left() == 10 - 3


def test_urgent_may_use_the_whole_window_routine_only_its_share(budget):
    for _ in range(8):
        budget.acquire(0.1)
    with pytest.raises(BudgetExhausted):
        budget.acquire(0.1)  # routine: 8 of 10 used
    budget.acquire(0.1, urgent=True)
    budget.acquire(0.1, urgent=True)
    with pytest.raises(BudgetExhausted):
        budget.acquire(0.1, urgent=True)


def test_a_429_burns_half_of_what_is_left(budget):
    budget.acquire(1.0)
    budget.acquire(1.0)
    budget.penalize()  # 8 left -> 4 left
    assert budget.left() == 4


def test_a_429_with_retry_after_holds_the_whole_scope(budget):
    budget.penalize(retry_after=30)
    # Given the venue asked for 30 s, a call due within 1 s is refused at once, never sent
    with pytest.raises(BudgetExhausted, match="wait"):
        budget.acquire(1.0, urgent=True)
    # and a shorter Retry-After later does not shorten the hold
    budget.penalize(retry_after=0.01)
    assert budget.redis.pttl(budget.hold_key) > 20_000


def test_a_token_not_on_a_replica_is_put_back_after_a_failover(stack):
    """A token travels with a WAIT; when it falls short (no replica here), the process keeps
    the token and counts it again once it sees a new primary, which may never have had it."""
    client = connect(stack.redis_url)
    store = Store(client, Keys(stack.prefix), maxlen=100, retention_s=60, wait_replicas=1,
                  wait_timeout_ms=10)  # fmt: skip
    budget = Budget(client, stack.prefix, f"test-{time.time_ns()}", RateLimit(10, 2.0), store=store)
    try:
        for _ in range(3):
            budget.acquire(1.0)
        assert len(budget.unconfirmed) == 3 and budget.left() == 7
        assert budget.after_failover() == 3  # a new primary: the three counted once more
        assert budget.left() == 4
        store.wait_replicas = 0  # no replica wanted: nothing to put back
        budget.unconfirmed.clear()
        budget.acquire(1.0)
        assert budget.after_failover() == 0 and budget.left() == 3
    finally:
        client.close()
