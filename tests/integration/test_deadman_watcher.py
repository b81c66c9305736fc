"""The dead-man switch outlives the watcher that fires it (deadman.py): a watcher that dies
mid-fire, after it claimed the firing and before it marked the kill sent, leaves the kill to
the other watchers, and the venue still sees it exactly once, with one final.

The dying watcher is the real `Watcher`, in a process of its own that the test kills; while it
claims, the stack's worker (whose nodes run the other watchers) is stopped (SIGSTOP), so that
it is the one to claim; then the worker goes on (SIGCONT)."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from ordercancel.devtools.procs import group_pids
from ordercancel.node.celery_app import queue_keys

from .conftest import now_ms, order_status, seed, stream_end

#: The dying watcher: `sends` sends the kill before it dies, `claims` dies before sending it.
WATCHER = r"""
import sys, time
from ordercancel.node.celery_app import enqueue, make_celery
from ordercancel.settings import load_settings
from ordercancel.state.deadman import Watcher
from ordercancel.state.store import Store

settings = load_settings()
store, app = Store.from_settings(settings), make_celery(settings)

def submit(message):
    if sys.argv[1] == "sends":
        enqueue(app, store, message, settings.default_deadline_ms)
    print("firing", message["request_id"], flush=True)
    time.sleep(300)  # killed here: the firing claimed, never marked sent

print("ready", flush=True)
sys.stdin.readline()
Watcher(store, submit).run()
"""


class Lines:
    """A child's stdout lines, read with a timeout (never a wait that hangs)."""

    def __init__(self, proc):
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, out):
        for line in out:
            self.lines.put(line.strip())

    def next(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the watcher within {timeout:g}s") from None


def stopped(pgid):
    """Every process of the group is stopped (state T in /proc)."""
    pids = group_pids(pgid)
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] not in "Tt":
                return False
    return bool(pids)


def until(what, check, timeout=30.0):
    end = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.1)
    return value


@pytest.mark.parametrize("dies", ["before_sending", "after_sending"])
def test_a_watcher_dying_mid_fire_leaves_the_kill_to_the_others(stack, client, admin, dies):
    client.disarm()
    client.resume()
    redis, keys = client.store.redis, client.keys
    urgent_queue = queue_keys(keys)[1]
    since, start = now_ms(), stream_end(client)
    ids = seed(admin, "q-deadman", n=3)
    bystanders = seed(admin, "q-bystander", n=2)
    mode = "sends" if dies == "after_sending" else "claims"
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, mode],
        env=stack.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    out = Lines(watcher)
    pgid = stack.worker.pid  # `ordercancel worker` leads its own process group
    with watcher:
        try:
            assert out.next(60) == "ready"
            os.killpg(pgid, signal.SIGSTOP)  # the stack's watchers pause; ours is the only one
            try:
                until("the worker stopped", lambda: stopped(pgid), 10)
                client.arm_deadman(0.1, ["q-deadman"], confirm_s=0)  # our watcher applies it
                watcher.stdin.write("go\n")
                watcher.stdin.flush()
                # Given the watcher claimed the firing and dies before marking the kill sent
                fired, request_id = out.next(30).split()
                assert fired == "firing"
                watcher.kill()
                watcher.wait(10)
                state = client.deadman()
                assert state["state"] == "fired" and "request_id" not in state, state
                # sent: recorded in the ledger (and on the urgent queue); else nowhere
                assert bool(redis.hexists(keys.ledger, request_id)) is (dies == "after_sending")
            finally:
                os.killpg(pgid, signal.SIGCONT)
        finally:
            watcher.kill()
            watcher.wait(10)
            out.thread.join(10)
    try:
        # Then another watcher fires it again, and the kill runs once
        state = until("fired again", lambda: (s := client.deadman())["state"] == "sent" and s)
        final = client.store.wait_final(request_id, 60)
        assert final is not None, "the kill the dying watcher fired never ran"
        # every copy sent was taken: the queue empty, the ledger cleared
        until(
            "the kill's messages disposed of",
            lambda: (
                not redis.llen(urgent_queue)
                and not redis.hexists(keys.ledger, request_id)
                and not redis.hexists(keys.ledger, state["request_id"])
            ),
        )
        # the venue: one cancel-all for the scope, its orders closed, the bystander untouched
        calls = admin.history(since)["calls"]
        cancel_alls = [c["request_id"] for c in calls if c["route"] == "zebpay.cancel_all"]
        assert cancel_alls == [f"{request_id}:q-deadman"]
        assert {order_status(admin, "q-deadman", o) for o in ids} == {"canceled"}
        assert {order_status(admin, "q-bystander", o) for o in bystanders} == {"new"}
        # one kill, one final: the one the dying watcher fired
        kills = [e for e in client.events(start=start) if e["kind"] == "kill"]
        assert [(e["request_id"], e["event"]) for e in kills if e["event"] == "final"] == [
            (request_id, "final")
        ]
        assert final["status"] == "completed" and final["reason"] == "deadman", final
        assert state["request_id"] == request_id
    finally:
        for oid in bystanders:
            admin.action("zebpay", "fill", account="q-bystander", clientOrderId=oid)
        client.disarm()
        client.resume()
