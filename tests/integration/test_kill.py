"""The kill switch: halt flag, parallel verified cancel-all per account, urgent, joinable."""

import json
import subprocess
import sys
import time

import pytest

from ordercancel.client import Client
from ordercancel.devtools.stack import Stack
from ordercancel.sim.admin import SimAdmin

from .conftest import (
    PROCESSES,
    REDIS_URL,
    closed_ms,
    now_ms,
    order_status,
    routine_backlog,
    routine_capacity,
    seed,
    venue_of,
)

FLAT = ["zebpay-flat", "ajaib-flat"]
#: accounts no kill of this file names: their orders must stay open
BYSTANDERS = ["q-bystander", "q-bystander-ajaib"]
OPEN = {"zebpay": "new", "ajaib": "NEW"}
CLOSED = {"zebpay": "canceled", "ajaib": "CANCELLED"}


def children_of(client, request_id):
    return {e["account"]: e for e in client.events()
            if e["parent_id"] == request_id and e["event"] == "final"}  # fmt: skip


SYMBOLS = {"zebpay": ("BTCUSDT", "ETHUSDT"), "ajaib": ("BTC_USDT", "ETH_USDT")}


def seed_symbols_of(admin, account, n=3):
    return [o for s in SYMBOLS[venue_of(account)] for o in seed(admin, account, n=n, symbol=s)]


def seed_symbols(admin):
    return {account: seed_symbols_of(admin, account) for account in FLAT}


def statuses(admin, account, ids):
    """The venue's statuses of these orders of the account."""
    return {order_status(admin, account, oid) for oid in ids}


def fill(admin, account, ids):
    """Fill the orders a test left open (the venue's doing), so no later kill finds them."""
    venue = venue_of(account)
    field = {"zebpay": "clientOrderId", "ajaib": "order_id"}[venue]
    for oid in ids:
        admin.action(venue, "fill", account=account, **{field: oid})


def calls_of(admin, account, since_ms):
    return [c for c in admin.history(since_ms)["calls"] if c["account"] == account]


def test_kill_halts_and_flattens_the_listed_accounts(client, admin):
    since = now_ms()
    ids = seed_symbols(admin)
    bystanders = {a: seed_symbols_of(admin, a) for a in BYSTANDERS}
    ticket = client.kill("drawdown limit", FLAT)
    final = ticket.wait(60)
    try:  # the venue: nothing of any other account touched, every listed account's order closed
        for account, open_ids in bystanders.items():
            assert statuses(admin, account, open_ids) == {OPEN[venue_of(account)]}, account
            assert calls_of(admin, account, since) == [], account
    finally:
        for account, open_ids in bystanders.items():
            fill(admin, account, open_ids)
    assert statuses(admin, "zebpay-flat", ids["zebpay-flat"]) == {"canceled"}
    assert statuses(admin, "ajaib-flat", ids["ajaib-flat"]) == {"CANCELLED"}
    assert final["status"] == "completed", final
    halt = client.halted()
    assert halt["reason"] == "drawdown limit" and halt["request_id"] == ticket.request_id
    assert int(halt["since_ms"]) <= int(final["ts"])
    detail = json.loads(final["detail"])
    assert set(detail["accounts"]) == set(FLAT)
    assert all(a["status"] == "completed" for a in detail["accounts"].values())
    children = children_of(client, ticket.request_id)
    assert {children[a]["kind"] for a in FLAT} == {"cancel_all"}
    assert client.resume() is True and client.halted() is None
    assert client.resume() is False


@pytest.mark.parametrize("venue", ["zebpay", "ajaib"])
def test_a_kill_cancels_its_scope_and_nothing_beyond(client, admin, venue):
    """Never wider than asked: not another account, not another symbol."""
    account, bystander = f"{venue}-flat", BYSTANDERS[venue == "ajaib"]
    symbol, other = SYMBOLS[venue]
    since = now_ms()
    inside = seed(admin, account, n=3, symbol=symbol)
    off_symbol = seed(admin, account, n=2, symbol=other)
    bystanders = seed_symbols_of(admin, bystander, n=2)
    request = {"kind": "kill", "reason": "scope", "accounts": [account], "symbols": [symbol]}
    final = client.submit(request).wait(60)
    try:
        assert statuses(admin, account, off_symbol) == {OPEN[venue]}
        assert statuses(admin, bystander, bystanders) == {OPEN[venue]}
        assert calls_of(admin, bystander, since) == []
        assert statuses(admin, account, inside) == {CLOSED[venue]}
        assert final["status"] == "completed", final
    finally:
        fill(admin, account, off_symbol)
        fill(admin, bystander, bystanders)
        client.resume()


def test_kill_overtakes_a_routine_backlog(client, admin, stack):
    capacity = routine_capacity(stack)
    try:
        with routine_backlog(client, admin, stack) as reached:
            [oid] = seed(admin, "ajaib-flat")
            final = client.kill("risk", ["ajaib-flat"]).wait(60)
            assert final["status"] == "completed", final
            assert order_status(admin, "ajaib-flat", oid) == "CANCELLED"
            # the venue closed the kill's order before the backlog's second round reached it:
            # the kill waited for no routine thread (on the routine queue it would come after
            # 2 * capacity of the backlog's cancels)
            before = reached(closed_ms(admin, "ajaib-flat", oid))
            assert before <= capacity, (
                f"{before} routine cancels reached the venue before the kill's order closed "
                f"(routine capacity {capacity})"
            )
    finally:
        client.resume()


def test_an_account_left_open_makes_the_kill_partial(client, admin):
    [stuck] = seed(admin, "ajaib-flat", stuck=True)
    seed(admin, "zebpay-flat", n=2)
    final = client.kill("risk", FLAT, deadline_ms=2500).wait(20)
    detail = json.loads(final["detail"])
    assert (final["status"], final["error_code"]) == ("partial", "still_open")
    assert detail["accounts"]["zebpay-flat"]["status"] == "completed"
    ajaib = detail["accounts"]["ajaib-flat"]
    assert (ajaib["status"], ajaib["open_count"], ajaib["error_code"]) == (
        "failed",
        1,
        "still_open",
    )
    admin.action("ajaib", "fill", account="ajaib-flat", order_id=stuck)
    client.resume()


def test_unknown_accounts_are_rejected_and_nothing_halts(client):
    client.resume()
    final = client.kill("risk", ["no-such-account"]).wait(10)
    assert (final["status"], final["error_code"]) == ("rejected", "unknown_account")
    assert client.halted() is None


def test_cli_kill_and_resume(stack, admin, client):
    seed(admin, "zebpay-flat", n=2)
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "ordercancel", *a], env=stack.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    out = run("kill", "--reason", "cli", "--account", "zebpay-flat", "--wait", "15", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
    assert client.halted()["reason"] == "cli"
    refused = run("resume")  # a resume says why
    assert refused.returncode == 2 and "--reason" in refused.stderr and client.halted()
    resumed = run("resume", "--reason", "flat again, checked")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout and client.halted() is None


@pytest.fixture(scope="module")
def own_stack():
    """A stack with the default accounts only (one per venue): a kill of every account."""
    import secrets

    extra = {"worker": {"processes": int(PROCESSES)}} if PROCESSES else None
    stack = Stack(
        redis_url=REDIS_URL, prefix=f"octest-kill-{secrets.token_hex(4)}", extra_config=extra
    ).start()
    yield stack
    stack.stop_worker()
    stack.drop_keys()
    stack.stop()


def test_kill_without_accounts_covers_every_configured_account(own_stack):
    admin, client = SimAdmin(own_stack.sim_url), Client(own_stack.settings)
    z = admin.seed("zebpay", "zebpay-main", [{"symbol": s} for s in ("BTCUSDT", "ETHUSDT")] * 5)
    a = admin.seed("ajaib", "ajaib-main", [{"symbol": s} for s in ("BTC_USDT", "ETH_USDT")] * 5)
    final = client.kill("everything").wait(20)
    assert final["status"] == "completed"
    assert set(json.loads(final["detail"])["accounts"]) == {"zebpay-main", "ajaib-main"}
    assert {
        o["status"] for o in admin.orders("zebpay", "zebpay-main") if o["clientOrderId"] in z
    } == {"canceled"}
    assert {
        o["status"] for o in admin.orders("ajaib", "ajaib-main") if str(o["order_id"]) in a
    } == {"CANCELLED"}
    client.resume()
    client.close()


def test_a_kill_requested_while_one_runs_joins_it(own_stack):
    admin, client = SimAdmin(own_stack.sim_url), Client(own_stack.settings)
    admin.reset()
    since = now_ms()
    zebpay = admin.seed("zebpay", "zebpay-main", [{"symbol": "BTCUSDT"}] * 3)
    # an order whose cancel never completes keeps the first kill at it until its deadline
    [stuck] = admin.seed("ajaib", "ajaib-main", [{"symbol": "BTC_USDT", "stuck": True}])
    first = client.kill("first", deadline_ms=6000)
    end = time.monotonic() + 20
    while client.status(first.request_id) is None:  # accepted: it runs
        assert time.monotonic() < end, "the first kill was not accepted"
        time.sleep(0.05)
    second = client.kill("second", ["zebpay-main"])
    a, b = first.wait(30), second.wait(30)
    try:
        assert (a["status"], a["error_code"]) == ("partial", "still_open"), a
        assert b["status"] == "completed", b
        assert json.loads(b["detail"])["joined"] == first.request_id
        # the venue: one cancel-all for the scope, the first kill's; the second only verified
        cancel_alls = [
            c for c in admin.history(since)["calls"] if c["route"] == "zebpay.cancel_all"
        ]
        assert [c["request_id"] for c in cancel_alls] == [f"{first.request_id}:zebpay-main"]
        assert {o["status"] for o in admin.orders("zebpay", "zebpay-main")
                if o["clientOrderId"] in zebpay} == {"canceled"}  # fmt: skip
    finally:
        admin.action("ajaib", "fill", account="ajaib-main", order_id=stuck)
        client.resume()
        client.close()
