"""The kill switch: halt flag, parallel verified cancel-all per account, urgent, joinable."""

import json
import subprocess
import sys

import pytest

from ordercancel.client import Client
from ordercancel.devtools.stack import Stack
from ordercancel.sim.admin import SimAdmin

from .conftest import REDIS_URL, order_status, seed

FLAT = ["zebpay-flat", "ajaib-flat"]


def children_of(client, request_id):
    return {e["account"]: e for e in client.events()
            if e["parent_id"] == request_id and e["event"] == "final"}  # fmt: skip


def seed_symbols(admin):
    ids = {"zebpay-flat": [], "ajaib-flat": []}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        ids["zebpay-flat"] += seed(admin, "zebpay-flat", n=3, symbol=symbol)
    for symbol in ("BTC_USDT", "ETH_USDT"):
        ids["ajaib-flat"] += seed(admin, "ajaib-flat", n=3, symbol=symbol)
    return ids


def test_kill_halts_and_flattens_the_listed_accounts(client, admin):
    ids = seed_symbols(admin)
    ticket = client.kill("drawdown limit", FLAT)
    final = ticket.wait(20)
    assert final["status"] == "completed", final
    halt = client.halted()
    assert halt["reason"] == "drawdown limit" and halt["request_id"] == ticket.request_id
    assert int(halt["since_ms"]) <= int(final["ts"])
    detail = json.loads(final["detail"])
    assert set(detail["accounts"]) == set(FLAT)
    assert all(a["status"] == "completed" for a in detail["accounts"].values())
    children = children_of(client, ticket.request_id)
    assert {children[a]["kind"] for a in FLAT} == {"cancel_all"}
    assert all(order_status(admin, "zebpay-flat", o) == "canceled" for o in ids["zebpay-flat"])
    assert all(order_status(admin, "ajaib-flat", o) == "CANCELLED" for o in ids["ajaib-flat"])
    assert client.resume() is True and client.halted() is None
    assert client.resume() is False


def test_kill_overtakes_a_routine_backlog(client, admin, stack):
    admin.faults(latency_ms=3000, accounts=["zebpay-slow"])
    slow = seed(admin, "zebpay-slow", n=stack.settings.worker_concurrency + 4)
    routine = [client.cancel("zebpay-slow", oid) for oid in slow]
    [oid] = seed(admin, "ajaib-flat")
    final = client.kill("risk", ["ajaib-flat"]).wait(20)
    assert final["status"] == "completed"
    assert all((client.status(t.request_id) or {}).get("event") != "final" for t in routine)
    assert order_status(admin, "ajaib-flat", oid) == "CANCELLED"
    assert all(t.wait(30)["status"] == "canceled" for t in routine)
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
    resumed = run("resume")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout and client.halted() is None


@pytest.fixture(scope="module")
def own_stack():
    """A stack with the default accounts only (one per venue): a kill of every account."""
    import secrets

    stack = Stack(redis_url=REDIS_URL, prefix=f"octest-kill-{secrets.token_hex(4)}").start()
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
    admin.seed("zebpay", "zebpay-main", [{"symbol": "BTCUSDT"}] * 3)
    admin.faults(latency_ms=700, routes=["zebpay.cancel_all"])
    first = client.kill("first")
    for event in client.events(follow=True, start=client.tail_start(1)):
        if event["request_id"] == first.request_id and event["event"] == "accepted":
            break
    second = client.kill("second", ["zebpay-main"])
    a, b = first.wait(20), second.wait(20)
    assert a["status"] == b["status"] == "completed"
    assert json.loads(b["detail"])["joined"] == first.request_id
    assert len([e for e in admin.log() if e["route"] == "zebpay.cancel_all"]) == 1
    client.resume()
    client.close()
