"""The `ordercancel` command as a user runs it: a subprocess against the running stack."""

import json
import socket
import subprocess
import sys

from .conftest import seed


def run(stack, *args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "ordercancel", *args],
        env=env or stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_cancel_wait_ends_canceled_with_exit_0(stack, admin):
    [oid] = seed(admin)
    out = run(stack, "cancel", "zebpay-main", oid, "--symbol", "BTCUSDT", "--wait", "10")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("final ") and "status=canceled" in out.stdout


def test_cancel_json_and_exit_codes(stack, admin):
    [oid] = seed(admin, "zebpay-badsecret")
    out = run(stack, "cancel", "zebpay-badsecret", oid, "--wait", "10", "--json")
    assert out.returncode == 1
    event = json.loads(out.stdout)
    assert (event["status"], event["error_code"]) == ("failed", "auth")
    assert event["requested_by"].endswith(f"@{socket.gethostname()}")  # who asked: user@host
    # not_found counts as success: the order is not open
    assert run(stack, "cancel", "zebpay-main", "nope", "--wait", "10").returncode == 0


def test_no_final_within_the_wait_exits_3(stack, admin):
    admin.faults(latency_ms=3000, accounts=["zebpay-slow"])
    [oid] = seed(admin, "zebpay-slow")
    out = run(stack, "cancel", "zebpay-slow", oid, "--wait", "0.5")
    assert out.returncode == 3 and "no final event" in out.stderr


def test_without_wait_prints_the_request_id_and_status_finds_it(stack, admin, client):
    [oid] = seed(admin)
    out = run(stack, "cancel", "zebpay-main", oid, "--key", "cli-" + oid)
    assert out.returncode == 0
    request_id = out.stdout.strip()
    from ordercancel.client import Ticket

    Ticket(client, request_id).wait(10)
    status = run(stack, "status", request_id, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "canceled"
    assert run(stack, "status", "no-such-id").returncode == 1


def test_tail_prints_recent_events(stack, admin, client):
    [oid] = seed(admin)
    final = client.cancel("zebpay-main", oid).wait(10)
    out = run(stack, "tail", "-n", "2", "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    # the newest events; a worker's recovery may publish one of its own in between
    assert len(lines) == 2 and final["request_id"] in {line["request_id"] for line in lines}


def test_config_check_masks_secrets(stack):
    out = run(stack, "config", "check")
    assert (
        out.returncode == 0
        and "zebpay-main" in out.stdout
        and f"ok: {len(stack.settings.accounts)} account(s)" in out.stdout
    )
    for account in stack.settings.accounts.values():
        for value in vars(account.options).values():
            if hasattr(value, "reveal"):
                assert value.reveal() not in out.stdout + out.stderr


def test_config_errors_exit_2_naming_account_and_field(stack, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'[redis]\nurl = "{stack.redis_url}"\n[ordercancel]\nprefix = "{stack.prefix}"\n'
        '[accounts.z1]\nvenue = "zebpay"\nbase_url = "https://x"\n'
        'api_key = "env:OC_TEST_MISSING_KEY"\napi_secret = "TOPSECRET"\n'
    )
    env = {**stack.env, "ORDERCANCEL_CONFIG": str(bad)}
    out = run(stack, "config", "check", env=env)
    assert out.returncode == 2
    assert "accounts.z1.api_key" in out.stderr and "OC_TEST_MISSING_KEY" in out.stderr
    assert "TOPSECRET" not in out.stderr + out.stdout
    # a producer reads no account: the request goes, and the worker (whose config has no z1)
    # rejects it
    out = run(stack, "cancel", "z1", "1", "--wait", "30", "--json", env=env)
    final = json.loads(out.stdout)
    assert out.returncode == 1 and (final["status"], final["error_code"]) == (
        "rejected",
        "unknown_account",
    )
    assert "OC_TEST_MISSING_KEY" not in out.stderr
    worker = run(stack, "worker", env=env)
    assert worker.returncode == 2 and "accounts.z1.api_key" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_up_stops_what_it_started_on_sigterm(tmp_path):
    import os
    import signal

    import redis

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
    proc = subprocess.Popen([sys.executable, "-m", "ordercancel", "up", "--sim"], env=env,
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path)  # fmt: skip
    lines = []
    for line in proc.stdout:  # up prints its parts, then "worker ready"
        lines.append(line)
        if line.startswith("worker"):
            break
    socket = next(x.split()[1] for x in lines if x.startswith("redis"))[len("unix://") :]
    assert redis.Redis(unix_socket_path=socket).ping()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    proc.stdout.close()
    try:
        redis.Redis(unix_socket_path=socket, socket_connect_timeout=1).ping()
        raise AssertionError("the embedded Redis outlived `ordercancel up`")
    except redis.ConnectionError:
        pass
