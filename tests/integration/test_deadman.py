"""The dead-man switch: a kill fires once the timeout passes without a heartbeat."""

import json
import subprocess
import sys
import time

from .conftest import now_ms, order_status, seed


def test_without_a_heartbeat_a_kill_fires(client, admin):
    client.resume()
    since = now_ms()
    ids = seed(admin, "zebpay-flat", n=3)
    bystanders = seed(admin, "q-bystander", n=2)  # not in the switch's scope
    client.arm_deadman(0.8, ["zebpay-flat"])
    armed = client.deadman()
    request_id = f"deadman-{armed['armed_ms']}"
    try:
        final = client.store.wait_final(request_id, 60)
        assert final is not None, "the dead-man switch did not fire"
        # the venue: the scope's orders closed by one cancel-all, the bystander's untouched
        assert {order_status(admin, "q-bystander", o) for o in bystanders} == {"new"}
        calls = admin.history(since)["calls"]
        assert [c for c in calls if c["account"] == "q-bystander"] == []
        cancel_alls = [c["request_id"] for c in calls if c["route"] == "zebpay.cancel_all"]
        assert cancel_alls == [f"{request_id}:zebpay-flat"]
        assert {order_status(admin, "zebpay-flat", o) for o in ids} == {"canceled"}
        assert final["status"] == "completed" and final["reason"] == "deadman", final
        state = client.deadman()
        assert state["state"] == "sent" and state["request_id"] == request_id
        assert int(state["fired_ms"]) >= int(state["expires_ms"])  # not before the timeout
        assert client.halted()["reason"] == "deadman"
        assert json.loads(final["detail"])["accounts"].keys() == {"zebpay-flat"}
        assert client.heartbeat() is False  # fired: no longer armed
    finally:
        for oid in bystanders:
            admin.action("zebpay", "fill", account="q-bystander", clientOrderId=oid)
        client.disarm()
        client.resume()


def test_heartbeats_keep_it_quiet_and_disarm_stops_it(client, admin):
    since = now_ms()
    client.arm_deadman(2.0, ["zebpay-flat"])
    request_id = f"deadman-{client.deadman()['armed_ms']}"
    end = time.monotonic() + 3.0
    while time.monotonic() < end:  # a producer heartbeating every 0.2 s, beyond the timeout
        assert client.heartbeat() is True
        time.sleep(0.2)
    assert client.deadman()["state"] == "armed" and client.halted() is None
    assert client.disarm() is True
    assert client.store.wait_final(request_id, 2.5) is None  # past the timeout: nothing fired
    assert client.deadman() is None and client.heartbeat() is False
    assert [c for c in admin.history(since)["calls"] if c["account"] == "zebpay-flat"] == []


def test_cli_deadman(stack, client):
    def run(*args):
        cmd = [sys.executable, "-m", "ordercancel", "deadman", *args]
        return subprocess.run(cmd, env=stack.env, capture_output=True, text=True, timeout=60)

    assert run("heartbeat").returncode == 1
    assert run("arm").returncode == 2
    assert run("arm", "--timeout", "30", "--account", "nope").returncode == 2
    out = run("arm", "--timeout", "30", "--account", "zebpay-flat")
    assert out.returncode == 0 and "zebpay-flat" in out.stdout
    assert run("heartbeat").returncode == 0
    assert json.loads(run("status", "--json").stdout)["state"] == "armed"
    assert run("disarm").stdout.strip() == "disarmed"
    assert json.loads(run("status", "--json").stdout) == {"state": "disarmed"}
    assert run("status").stdout.strip() == "state=disarmed"
