"""Least privilege on a real Redis 7 with ACLs on: the users `ordercancel acl` prints, a worker
running as `worker`, a producer that submits, waits and reads as `producer` and is refused
(NOPERM) everything else, and an operator who may resume and disarm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from ordercancel.client import Client
from ordercancel.errors import RedisUnavailable
from ordercancel.node.queues import ROUTINE, URGENT
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.keys import Keys

from .conftest import calls_for, order_status, seed, start_stack
from .redis7 import REDIS_SERVER, free_port, has_redis7, redis7

pytestmark = pytest.mark.skipif(
    not has_redis7(), reason=f"needs {REDIS_SERVER} (Debian's redis-server 7)"
)
BASE = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
ADMIN_PW = "admin-pw"
PASSWORDS = {"producer": "producer-pw", "operator": "operator-pw", "worker": "worker-pw"}


def oc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordercancel", *args], env={**BASE, **env}, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass(frozen=True)
class AclRedis:
    port: int
    prefix: str
    admin: redis.Redis

    def url(self, role: str) -> str:
        return f"redis://{role}:{PASSWORDS[role]}@127.0.0.1:{self.port}/0"

    def denials(self, user: str) -> list[dict]:
        """The ACL log's refusals of `user` (but CLIENT SETINFO, which redis-py sends on
        connecting and goes on without: Redis 7.0 has no such command to grant)."""
        return [e for e in self.admin.acl_log()
                if e["username"] == user and e["object"] != "client|setinfo"]  # fmt: skip


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory) -> Iterator[AclRedis]:
    """Redis 7, the default user behind a password, one user per role made from what
    `ordercancel acl` prints (through redis-cli when it is here, as the README shows)."""
    workdir, port = tmp_path_factory.mktemp("acl"), free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--requirepass", ADMIN_PW]
    admin = redis.Redis(port=port, password=ADMIN_PW, decode_responses=True, socket_timeout=10)
    prefix = f"octest-acl-{os.getpid()}"
    with redis7(workdir, args, lambda: admin):
        for role, password in PASSWORDS.items():
            env = {"ORDERCANCEL_PREFIX": prefix, "PW": password}
            out = oc("acl", role, "--user", role, "--password-env", "PW", env=env)
            assert out.returncode == 0 and out.stderr == "", out.stderr
            [line] = out.stdout.splitlines()
            assert password not in line  # only its SHA-256 is printed
            if shutil.which("redis-cli"):
                cli = ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", ADMIN_PW]
                done = subprocess.run(cli, input=line, capture_output=True, text=True, timeout=30)
                assert done.stdout.strip() == "OK", done
            else:
                assert admin.execute_command(*line.split()) in ("OK", b"OK", True)
        admin.acl_log_reset()
        yield AclRedis(port, prefix, admin)


@pytest.fixture(scope="module")
def acl_stack(acl_redis):
    """A worker that talks to Redis as `worker` and nothing more."""
    stack = start_stack(redis_url=acl_redis.url("worker"), prefix=acl_redis.prefix)
    try:
        yield stack
    finally:
        stack.stop()


def as_role(acl_redis: AclRedis, role: str, who: str) -> Iterator[Client]:
    client = Client(url=acl_redis.url(role), prefix=acl_redis.prefix, requested_by=who)
    yield client
    client.close()


@pytest.fixture
def producer(acl_redis, acl_stack) -> Iterator[Client]:
    yield from as_role(acl_redis, "producer", "strategy@host")


@pytest.fixture
def operator(acl_redis, acl_stack) -> Iterator[Client]:
    yield from as_role(acl_redis, "operator", "ops@host")


def test_a_producer_submits_waits_and_reads_with_its_role_alone(acl_redis, acl_stack, producer):
    admin = SimAdmin(acl_stack.sim_url)
    [oid] = seed(admin, "zebpay-main")
    ticket = producer.cancel("zebpay-main", oid)
    final = ticket.wait(30)
    assert final["status"] == "canceled" and final["requested_by"] == "strategy@host", final
    assert order_status(admin, "zebpay-main", oid) == "canceled"
    assert producer.status(ticket.request_id)["status"] == "canceled"
    assert any(e["request_id"] == ticket.request_id for e in producer.events())
    # an entry that is no request, from a producer in another language: still a final
    r = redis.Redis.from_url(acl_redis.url("producer"), decode_responses=True)
    entry_id = r.xadd(Keys(acl_redis.prefix).requests, {"request": "not json"})
    assert producer.store.wait_final(entry_id, 30)["status"] == "rejected"
    r.close()
    assert producer.halted() is None
    assert acl_redis.denials("producer") == [] and acl_redis.denials("worker") == []


#: what an operator may do of a producer's forbidden acts (resume, disarm, their audit entries)
OPERATORS = {"clear the halt", "clear one scope's halt", "disarm the dead-man switch",
             "drop the dead-man entries", "read the ledger", "write the audit stream"}  # fmt: skip


def forbidden(acl_redis: AclRedis) -> dict[str, tuple]:
    """What a producer must not do, as raw commands on the keys they would touch."""
    k = Keys(acl_redis.prefix)
    queue = f"{k.celery}{ROUTINE}"
    event = ["event", "final", "request_id", "forged", "status", "canceled"]
    return {
        "clear the halt": ("DEL", k.halt),
        "clear one scope's halt": ("HDEL", k.halt, "{}"),
        "overwrite the halt": ("HSET", k.halt, "reason", "forged"),
        "disarm the dead-man switch": ("DEL", k.deadman),
        "empty the dead-man switch": ("HDEL", k.deadman, "state"),
        "rewrite the dead-man switch": ("HSET", k.deadman, "expires_ms", "99999999999999"),
        "drop the dead-man entries": ("DEL", k.deadman_beats),
        "run any script": ("EVAL", "while true do end", 0),
        "run a loaded script": ("EVALSHA", "0" * 40, 0),
        "take another's consumer group": ("XGROUP", "CREATE", k.results, "mine", "0"),
        "read through a consumer group": (
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "STREAMS",
            k.results,
            ">",
        ),
        "acknowledge for a consumer group": ("XACK", k.results, "g", "0-1"),
        "write a result": ("XADD", k.results, "*", *event),
        "write a final": ("XADD", k.final("forged"), "*", "final", "{}"),
        "trim the results": ("XTRIM", k.results, "MAXLEN", "0"),
        "push onto the routine queue": ("LPUSH", queue, "{}"),
        "push onto the urgent queue": ("LPUSH", f"{k.celery}{URGENT}", "{}"),
        "write the ledger": ("HSET", k.ledger, "forged", "{}"),
        "read the ledger": ("HGETALL", k.ledger),
        "write an idempotency key": ("HSET", k.idempotency("zebpay-main", "x"), "final", "{}"),
        "spend the rate budget": ("LPUSH", k.budget("zebpay-main")[0], "1"),
        "hold the rate budget": ("SET", k.budget("zebpay-main")[2], "1"),
        "write the audit stream": ("XADD", k.audit, "*", "event", "resume"),
        "delete the intake stream": ("DEL", k.requests),
        "a script that clears the halt": ("EVAL", "return redis.call('DEL', KEYS[1])", 1, k.halt),
        "a script that forges a result": (
            "EVAL",
            "return redis.call('XADD', KEYS[1], '*', 'event', 'final')",
            1,
            k.results,
        ),
        "a keyless script that clears the halt": (
            "EVAL",
            f"return redis.call('DEL', '{k.halt}')",
            0,
        ),
        "flush everything": ("FLUSHALL",),
        "list every key": ("KEYS", "*"),
        "read the config": ("CONFIG", "GET", "requirepass"),
    }


def test_a_producer_is_refused_everything_else(acl_redis, acl_stack, producer):
    r = redis.Redis.from_url(acl_redis.url("producer"), decode_responses=True)
    for act, command in forbidden(acl_redis).items():
        # refused by the ACL (inside a script, Redis 7.0 says so without the NOPERM code)
        with pytest.raises(redis.ResponseError, match=r"no permissions|can't run this command"):
            r.execute_command(*command)
            pytest.fail(f"a producer could {act}")
    r.close()
    acl_redis.admin.acl_log_reset()  # the refusals wanted here
    # through the API: one RedisUnavailable naming the refusal
    for act in (lambda: producer.resume("mine"), producer.disarm, producer.audit):
        with pytest.raises(RedisUnavailable, match="lacks the permission"):
            act()


def test_the_cli_says_a_refusal_in_one_line_with_exit_code_4(acl_redis, acl_stack, producer):
    env = {"ORDERCANCEL_REDIS_URL": acl_redis.url("producer"),
           "ORDERCANCEL_PREFIX": acl_redis.prefix}  # fmt: skip
    for args in (["resume", "--reason", "mine"], ["deadman", "disarm"], ["audit"]):
        out = oc(*args, env=env)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 4 and len(lines) == 1, out
        assert "refused the command" in lines[0] and "NOPERM" in lines[0], lines
        assert PASSWORDS["producer"] not in out.stderr + out.stdout
    acl_redis.admin.acl_log_reset()  # the refusals wanted here


def test_an_operator_reads_everything_and_writes_no_result_queue_or_ledger(acl_redis, acl_stack):
    k = Keys(acl_redis.prefix)
    r = redis.Redis.from_url(acl_redis.url("operator"), decode_responses=True)
    try:
        r.hgetall(k.ledger)  # reads every key of the prefix
        r.xrange(k.audit)
        r.get(k.budget("zebpay-main")[2])
        for act, command in forbidden(acl_redis).items():
            if act in OPERATORS:
                continue
            with pytest.raises(redis.ResponseError, match=r"no permissions"):
                r.execute_command(*command)
                pytest.fail(f"an operator could {act}")
    finally:
        r.close()
        acl_redis.admin.acl_log_reset()  # the refusals wanted here, not by the worker's path


def test_a_kill_from_a_producer_an_operator_resumes(acl_redis, acl_stack, producer, operator):
    admin = SimAdmin(acl_stack.sim_url)
    ids = seed(admin, "zebpay-flat", n=2)
    final = producer.kill("acl test", ["zebpay-flat"]).wait(60)
    assert final["status"] == "completed", final
    assert {order_status(admin, "zebpay-flat", o) for o in ids} == {"canceled"}
    halt = producer.halted()
    assert halt is not None and halt["requested_by"] == "strategy@host"
    env = {"ORDERCANCEL_REDIS_URL": acl_redis.url("operator"),
           "ORDERCANCEL_PREFIX": acl_redis.prefix, "USER": "ops"}  # fmt: skip
    # a second halt, of one side, cleared alone (HDEL), the first one stays
    side = producer.kill("sells only", ["zebpay-flat"], side="sell").wait(60)
    out = oc("resume", "--reason", "sells checked", "--halt", side["request_id"], env=env)
    assert out.returncode == 0 and side["request_id"] in out.stdout, out
    assert [h["request_id"] for h in producer.halts()] == [final["request_id"]]
    out = oc("resume", "--reason", "flat, checked", env=env)
    assert out.returncode == 0 and out.stdout.startswith("resumed"), out
    assert producer.halted() is None
    resume = [e for e in operator.audit() if e["event"] == "resume"][-1]
    assert resume["reason"] == "flat, checked" and resume["request_id"] == final["request_id"]
    assert acl_redis.denials("operator") == [] and acl_redis.denials("worker") == []


def test_a_producer_arms_and_beats_the_dead_man_switch_an_operator_disarms(
    acl_redis, acl_stack, producer, operator
):
    producer.arm_deadman(60, ["zebpay-flat"])  # returns once a worker applied it
    armed = producer.deadman()
    assert armed["state"] == "armed" and armed["requested_by"] == "strategy@host"
    assert producer.heartbeat() is True
    with pytest.raises(RedisUnavailable, match="lacks the permission"):
        producer.disarm()
    assert operator.disarm() is True and producer.deadman() is None
    # armed again with a short timeout and no heartbeat: the worker fires the kill
    seed(SimAdmin(acl_stack.sim_url), "zebpay-flat")
    producer.arm_deadman(0.5, ["zebpay-flat"])
    end = time.monotonic() + 60
    while (producer.deadman() or {}).get("state") != "sent" and time.monotonic() < end:
        time.sleep(0.1)
    fired = producer.deadman()
    assert fired is not None and fired["state"] == "sent", fired
    final = producer.store.wait_final(fired["request_id"], 60)
    assert final is not None and final["status"] == "completed", final
    assert calls_for(SimAdmin(acl_stack.sim_url), fired["request_id"], children=True)
    assert operator.resume("after the dead-man test")
    events = [(e["event"], e.get("requested_by", "")) for e in operator.audit()]
    assert ("deadman_arm", "strategy@host") in events and ("deadman_disarm", "ops@host") in events
    assert ("deadman_fire", "") in events
    assert json.loads(next(e for e in operator.audit() if e["event"] == "deadman_fire")["accounts"])
    assert acl_redis.denials("worker") == []


def test_a_worker_has_its_prefix_and_no_dangerous_command(acl_redis, acl_stack):
    r = redis.Redis.from_url(acl_redis.url("worker"), decode_responses=True)
    try:
        for command in (("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("CONFIG", "GET", "*"),
                        ("ACL", "LIST"), ("SHUTDOWN",), ("SCRIPT", "FLUSH"),
                        ("SET", "another-app:key", "1"), ("GET", "another-app:key"),
                        ("PUBLISH", "another-app:channel", "1")):  # fmt: skip
            with pytest.raises(redis.exceptions.NoPermissionError):
                r.execute_command(*command)
                pytest.fail(f"a worker could {' '.join(command)}")
    finally:
        r.close()
