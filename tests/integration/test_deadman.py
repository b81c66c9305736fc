"""The dead-man switch: a kill fires within the timeout + 1 s unless heartbeats arrive."""

import json
import subprocess
import sys
import time

from .conftest import order_status, seed


def test_without_a_heartbeat_a_kill_fires(client, admin):
    client.resume()
    ids = seed(admin, "zebpay-flat", n=3)
    client.arm_deadman(0.8, ["zebpay-flat"])
    armed = client.deadman()
    request_id = f"deadman-{armed['armed_ms']}"
    final = client.store.wait_final(request_id, 10)
    assert final is not None and final["status"] == "completed" and final["reason"] == "deadman"
    state = client.deadman()
    assert state["state"] == "sent" and state["request_id"] == request_id
    assert int(state["fired_ms"]) - int(state["expires_ms"]) <= 1000  # timeout + 1 s at most
    assert client.halted()["reason"] == "deadman"
    assert json.loads(final["detail"])["accounts"].keys() == {"zebpay-flat"}
    assert all(order_status(admin, "zebpay-flat", o) == "canceled" for o in ids)
    assert client.heartbeat() is False  # fired: no longer armed
    assert client.disarm() is True
    client.resume()


def test_heartbeats_keep_it_quiet_and_disarm_stops_it(client):
    client.arm_deadman(0.6, ["zebpay-flat"])
    request_id = f"deadman-{client.deadman()['armed_ms']}"
    end = time.monotonic() + 1.5
    while time.monotonic() < end:  # a producer heartbeating every 0.2 s, beyond the timeout
        assert client.heartbeat() is True
        time.sleep(0.2)
    assert client.deadman()["state"] == "armed" and client.halted() is None
    assert client.disarm() is True
    assert client.store.wait_final(request_id, 1.5) is None  # past the timeout: nothing fired
    assert client.deadman() is None and client.heartbeat() is False


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
    assert json.loads(run("status").stdout)["state"] == "armed"
    assert run("disarm").stdout.strip() == "disarmed"
    assert json.loads(run("status").stdout) == {"state": "disarmed"}
