"""The audit stream: every kill, resume, dead-man arm/fire/disarm and cancel_all, with who, when,
why and the scope, written where the act happens (the worker for kills, fires and cancel-alls;
the client for resumes and the dead-man's arm and disarm), shown by `ordercancel audit`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from ordercancel.client import Client

from .conftest import seed


def oc(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ordercancel", *args], env=stack.env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def entries(client: Client, since_ms: int, event: str) -> list[dict[str, str]]:
    return [e for e in client.audit(since_ms) if e["event"] == event]


def test_a_kill_and_its_resume_say_who_why_and_what(stack, admin):
    since = int(time.time() * 1000) - 1
    seed(admin, "zebpay-flat")
    alice = Client(stack.settings, requested_by="alice@risk")
    bob = Client(stack.settings, requested_by="bob@desk")
    try:
        final = alice.kill("drawdown", accounts=["zebpay-flat"]).wait(60)
        assert final["status"] == "completed"
        [kill] = entries(alice, since, "kill")
        assert (kill["requested_by"], kill["reason"], kill["request_id"]) == (
            "alice@risk",
            "drawdown",
            final["request_id"],
        )
        assert json.loads(kill["accounts"]) == ["zebpay-flat"]
        assert bob.resume("flat, checked by hand")
        [resume] = entries(bob, since, "resume")
        assert (resume["requested_by"], resume["reason"]) == ("bob@desk", "flat, checked by hand")
        assert resume["request_id"] == final["request_id"]  # the halt it cleared
        assert int(kill["ts"]) <= int(resume["ts"])
    finally:
        alice.close()
        bob.close()


def test_the_dead_man_switch_and_a_cancel_all_are_audited(stack, admin, client):
    since = int(time.time() * 1000) - 1
    client.resume("before the test")
    ops = Client(stack.settings, requested_by="ops@host")
    try:
        ops.arm_deadman(30, ["zebpay-flat"])
        assert ops.disarm()
        ops.arm_deadman(0.5, ["zebpay-flat"])
        end = time.monotonic() + 60
        while not entries(ops, since, "deadman_fire") and time.monotonic() < end:
            time.sleep(0.2)
        [fire] = entries(ops, since, "deadman_fire")
        assert fire["request_id"].startswith("deadman-") and fire["reason"] == "deadman"
        arms = entries(ops, since, "deadman_arm")
        assert [(a["requested_by"], a["timeout_ms"]) for a in arms] == [
            ("ops@host", "30000"),
            ("ops@host", "500"),
        ]
        assert [d["requested_by"] for d in entries(ops, since, "deadman_disarm")] == ["ops@host"]
        assert client.status(fire["request_id"]) is not None  # the kill it fired ran
        client.resume("after the dead-man test")
        seed(admin, "zebpay-flat")
        done = ops.cancel_all("zebpay-flat", reason="end of session").wait(60)
        assert done["status"] == "completed"
        [flat] = entries(ops, since, "cancel_all")
        assert (flat["requested_by"], flat["reason"], flat["request_id"]) == (
            "ops@host",
            "end of session",
            done["request_id"],
        )
        assert json.loads(flat["accounts"]) == ["zebpay-flat"]
        # the kill's own per-account cancel-alls are the kill's, not entries of their own
        assert all(
            not e["request_id"].startswith("deadman-") for e in entries(ops, 0, "cancel_all")
        )
    finally:
        client.resume("after the test")
        ops.close()


def test_ordercancel_audit_prints_and_filters_by_time(stack, client):
    client.resume("an entry to show")
    out = oc(stack, "audit", "--since", "10m", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines and all(int(e["ts"]) >= (time.time() - 700) * 1000 for e in lines)
    assert "an entry to show" in {e.get("reason") for e in lines}
    text = oc(stack, "audit", "--since", "10m")
    assert text.returncode == 0 and "resume" in text.stdout and "an entry to show" in text.stdout
    future = oc(stack, "audit", "--since", str(int(time.time() * 1000) + 60_000), "--json")
    assert future.returncode == 0 and future.stdout == ""
    bad = oc(stack, "audit", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_a_halt_lost_with_a_primary_is_raised_again_from_the_audit_stream(stack, client):
    # what a worker does when it sees a new primary (Runtime.after_failover): the newest kill
    # in the audit stream has no resume after it, and the halt flag is gone
    client.resume("before the test")
    store = client.store
    store.audit("kill", request_id="lost-kill", requested_by="risk@host", reason="drawdown",
                accounts=json.dumps(["zebpay-flat"]), symbols="[]")  # fmt: skip
    try:
        assert store.reassert_halt() is True
        halt = client.halted()
        assert (halt["request_id"], halt["requested_by"], halt["accounts"]) == (
            "lost-kill",
            "risk@host",
            ["zebpay-flat"],
        )
        assert store.reassert_halt() is False  # it is up: nothing to do
        client.resume("checked")  # the resume is in the audit stream now
        assert store.reassert_halt() is False and client.halted() is None
    finally:
        client.resume("after the test")


def test_a_halt_raised_by_0_1_reads_converts_clears_and_stays_cleared(stack, client):
    client.resume("before the test")
    store, key = client.store, client.keys.halt
    accounts = json.dumps(["zebpay-flat"])
    # as 0.1 wrote them: the halt's fields in the hash itself, a kill entry with no halt key
    store.audit("kill", request_id="old-kill", reason="old", accounts=accounts, symbols="[]")
    store.redis.hset(key, mapping={"reason": "old", "since_ms": "1", "request_id": "old-kill",
                                   "accounts": accounts, "symbols": "[]"})  # fmt: skip
    try:
        assert [h["request_id"] for h in client.halts()] == ["old-kill"]
        assert client.resume("the 0.1 halt alone") is True  # cleared, not just said to be
        assert client.halts() == [] and not store.redis.exists(key)
        store.redis.hset(key, mapping={"reason": "old", "since_ms": "1", "request_id": "old-kill",
                                       "accounts": accounts, "symbols": "[]"})  # fmt: skip
        new = client.kill("new", ["zebpay-flat"], side="buy").wait(30)["request_id"]
        assert {h["request_id"] for h in client.halts()} == {"old-kill", new}  # both kept
        assert client.resume("the old one is done", "old-kill") is True
        assert [h["request_id"] for h in client.halts()] == [new]
        store.redis.delete(key)  # as if lost with a primary
        assert store.reassert_halt() is True
        assert [h["request_id"] for h in client.halts()] == [new]  # not the resumed 0.1 one
    finally:
        client.resume("after the test")
