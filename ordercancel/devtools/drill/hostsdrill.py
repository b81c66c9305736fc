"""`ordercancel drill hosts`: workers on three hosts, Redis with Sentinel, and the faults of a
real deployment, on one machine (root only: network namespaces, `netns.Lab`).

Hosts: redis1..3 (a Redis server and a sentinel each; redis1 the first primary, the others its
replicas, `min-replicas-to-write 1`), w1..w3 (a worker each), prod (the producer), and the
venue simulator behind one NAT address, so that every host shares ZebPay's budget per IP
(180/60 s). Timeline, against steady load above that budget:

1. SIGKILL the Redis primary (Sentinel fails over);
2. SIGKILL every process of worker host w1;
3. cut worker host w2 off from every Redis host for longer than its lease, then heal;
4. a kill from worker host w3 (the CLI), over every account.

Checks, from the simulator's log and the producer's own record (a file), not from our events:
the venue's window per IP never exceeded, no request lost, one final per request, every final
held against the venue's history (`truth.check`), the kill `completed` with every order closed.
Recovery per fault: until finals flow again (primary), until the requests the host owned at
the fault are final (w1, w2), the kill's latency.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis

from ordercancel.client import Client
from ordercancel.devtools import netns
from ordercancel.devtools.drill.harness import (
    Order,
    Row,
    open_count,
    say,
    table,
    tally,
    venue_states,
)
from ordercancel.devtools.stack import sim_accounts, symbols, toml
from ordercancel.errors import RedisUnavailable
from ordercancel.events import Event
from ordercancel.settings import load_settings
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.keys import Keys

T = TypeVar("T")
REDIS_SERVER = "/usr/bin/redis-server"
MASTER = "ocdrill"
PREFIX = "ocdrill"
REDIS_HOSTS = ("redis1", "redis2", "redis3")
WORKER_HOSTS = ("w1", "w2", "w3")
HOSTS = (*REDIS_HOSTS, *WORKER_HOSTS, "prod")
SIM_PORT = 8800
#: the simulator's answer time: a venue in another region (a request is in flight for a while)
LATENCY_MS = 200
#: ZebPay's documented limit per client IP, which the simulator enforces and our budget keeps
LIMIT, WINDOW_MS = 180, 60_000


@dataclass(frozen=True)
class Plan:
    rate: float  # cancels sent per second (the budget allows 3)
    load_s: float  # how long the producer sends
    down_after_ms: int  # Sentinel's down-after-milliseconds
    lease_s: int  # [worker] lease_s
    primary_at: float  # seconds into the load
    host_at: float
    partition_at: float
    partition_s: float
    kill_at: float
    kill_orders: int  # open orders only the kill cancels


SHORT = Plan(rate=5, load_s=50, down_after_ms=3000, lease_s=6, primary_at=6, host_at=16,
             partition_at=24, partition_s=12, kill_at=40, kill_orders=20)  # fmt: skip
FULL = Plan(rate=6, load_s=170, down_after_ms=5000, lease_s=10, primary_at=20, host_at=60,
            partition_at=90, partition_s=25, kill_at=140, kill_orders=100)  # fmt: skip


def missing() -> str | None:
    return netns.missing() or (
        None
        if Path(REDIS_SERVER).exists()
        else f"needs {REDIS_SERVER} (apt-get install redis-server)"
    )


def max_in_window(times_ms: Iterable[float], window_ms: float) -> int:
    """The most of `times_ms` that fall in any window of `window_ms` (a moving window)."""
    times, most, lo = sorted(times_ms), 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_ms:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


class HostsDrill:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.workdir = Path(tempfile.mkdtemp(prefix="oc-hosts-"))
        self.row = Row("hosts")
        self.redis: dict[str, subprocess.Popen[bytes]] = {}
        self.recovery: dict[str, float | None] = {}

    # -- the deployment --------------------------------------------------------------------

    def start(self, lab: netns.Lab) -> None:
        self.lab = lab
        self.sim_url = f"http://{lab.venue_addr}:{SIM_PORT}"
        argv = [sys.executable, "-m", "ordercancel", "sim", "--host", lab.venue_addr,
                "--port", str(SIM_PORT), "--zebpay-limit", f"{LIMIT}/60s",
                "--latency-ms", str(LATENCY_MS)]  # fmt: skip
        lab.spawn("venue", argv, log=self.workdir / "sim.log", env=self.env(config=False))
        self.admin = SimAdmin(self.sim_url)
        _until("the simulator answers", lambda: bool(self.admin.history(time.time() * 1000)))
        self._redis()
        account = sim_accounts(self.sim_url)["zebpay-main"]  # rate_limit: the venue's 180/60s
        account["allow_http"] = True  # the simulator, on a host of its own
        config = {
            "redis": {"url": self.redis_url},
            "ordercancel": {"prefix": PREFIX},
            "worker": {"processes": 1, "concurrency": 4, "lease_s": self.plan.lease_s},
            "accounts": {"zebpay-main": account},
        }
        self.config = self.workdir / "ordercancel.toml"
        self.config.write_text(toml(config))
        settings = load_settings({"ORDERCANCEL_CONFIG": str(self.config)})
        self.admin.register_account(settings.accounts["zebpay-main"])
        self.client = Client(url=self.redis_url, prefix=PREFIX, timeout=2.0)
        self.keys = Keys(PREFIX)
        for host in WORKER_HOSTS:
            argv = [sys.executable, "-m", "ordercancel", "worker", "--loglevel", "INFO"]
            lab.spawn(host, argv, log=self.workdir / f"{host}.log", env=self.env())
        ready, end = 0, time.monotonic() + 120
        while ready < 2 * len(WORKER_HOSTS):  # an urgent and a routine node per host
            if time.monotonic() > end:
                raise netns.LabError(f"the workers did not start; logs in {self.workdir}")
            ready += self.client.store.redis.blpop([self.keys.workers_ready], timeout=1) is not None

    def env(self, *, config: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
        if config:
            env["ORDERCANCEL_CONFIG"] = str(self.config)
        return env

    def _redis(self) -> None:
        lab, plan = self.lab, self.plan
        primary = lab.addr["redis1"]
        common = ["--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
                  "--appendonly", "no", "--min-replicas-to-write", "1",
                  "--min-replicas-max-lag", "10"]  # fmt: skip
        for host in REDIS_HOSTS:
            data = self.workdir / host  # its own: a replica's full sync writes dump.rdb there
            data.mkdir()
            argv = [REDIS_SERVER, *common, "--dir", str(data)]
            if host != "redis1":
                argv += ["--replicaof", primary, "6379"]
            self.redis[host] = lab.spawn(host, argv, log=self.workdir / f"{host}.log")
            conf = self.workdir / f"sentinel-{host}.conf"
            conf.write_text(
                f"port 26379\nbind 0.0.0.0\nprotected-mode no\n"
                f"sentinel monitor {MASTER} {primary} 6379 2\n"
                f"sentinel down-after-milliseconds {MASTER} {plan.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER} {max(3000, 3 * plan.down_after_ms)}\n"
            )
            argv = [REDIS_SERVER, str(conf), "--sentinel"]
            lab.spawn(host, argv, log=self.workdir / f"sentinel-{host}.log")
        hosts = ",".join(f"{lab.addr[h]}:26379" for h in REDIS_HOSTS)
        self.redis_url = f"redis+sentinel://{hosts}/{MASTER}/0"

        def ready() -> bool:
            for host in REDIS_HOSTS:
                s = redis.Redis(lab.addr[host], 26379, decode_responses=True, socket_timeout=2)
                try:
                    info: Any = s.sentinel_master(MASTER)
                    if int(info["num-slaves"]) < 2 or int(info["num-other-sentinels"]) < 2:
                        return False
                finally:
                    s.close()
            r = redis.Redis(primary, 6379, socket_timeout=2)
            try:  # both synced: only then does the primary take writes (min-replicas-to-write)
                replication: Any = r.info("replication")
                online = [replication.get(f"slave{i}", {}).get("state") == "online" for i in (0, 1)]
                return all(online) and r.set("ocdrill:ready", "1") is True
            finally:
                r.close()

        _until("the replicas synced, the sentinels seeing them and each other", ready, 90)

    def primary_host(self) -> str:
        s = redis.Redis(self.lab.addr["redis2"], 26379, decode_responses=True, socket_timeout=2)
        try:
            found: Any = s.sentinel_get_master_addr_by_name(MASTER)
            addr = found[0]
        finally:
            s.close()
        return next(h for h, a in self.lab.addr.items() if a == addr)

    def owned_by(self, pids: set[int]) -> set[str]:
        """The requests whose owner node is one of `pids` (its id names its process)."""
        owners: Any = retried(lambda: self.client.store.redis.hgetall(self.keys.owners))
        return {rid for rid, node in owners.items() if int(node.rsplit(":", 2)[1]) in pids}

    def strike(self, host: str, fault: str, act: Callable[[], object]) -> None:
        """`act` on `host` once it owns requests (a few tries); what it owned at that moment
        and still does (no final written) is what the fault leaves to recover."""
        pids = set(netns.pids_in(self.lab.ns(host)))
        for _ in range(20):
            end = time.monotonic() + 5
            while not self.owned_by(pids) and time.monotonic() < end:
                time.sleep(0.01)
            self.faults[fault] = time.time() * 1000
            act()
            owned = self.owned_by(pids)
            if owned or fault == "host":  # a dead host cannot be struck again
                break
            self.lab.partition(host, REDIS_HOSTS, heal=True)  # it finished first: again
        self.owned[fault] = owned
        say(f"         {host}: {len(owned)} requests left unfinished")

    # -- the timeline ----------------------------------------------------------------------

    def run(self) -> Row:
        plan, lab = self.plan, self.lab
        load = int(plan.rate * plan.load_s)
        listed = symbols("zebpay")
        specs = [{"symbol": listed[i % len(listed)]} for i in range(load + plan.kill_orders)]
        ids = self.admin.seed("zebpay", "zebpay-main", specs)
        self.orders = [
            Order("zebpay-main", o, s["symbol"]) for o, s in zip(ids, specs, strict=True)
        ]
        sent = self.workdir / "orders.json"
        sent.write_text(json.dumps([[o.account, o.order_id, o.symbol] for o in self.orders[:load]]))
        self.record = self.workdir / "producer.jsonl"
        argv = [sys.executable, "-m", "ordercancel.devtools.drill.hostsproducer", self.redis_url,
                PREFIX, str(sent), str(self.record), str(plan.rate)]  # fmt: skip
        self.start_ms = time.time() * 1000
        producer = lab.spawn("prod", argv, log=self.workdir / "producer.log", env=self.env())
        t0 = time.monotonic()

        def at(second: float, what: str) -> float:
            time.sleep(max(0.0, t0 + second - time.monotonic()))
            say(f"  {second:5.0f} s  {what} ({self.taken()} requests taken)")
            return time.time() * 1000

        primary = self.primary_host()
        killed_ms = at(plan.primary_at, f"SIGKILL the Redis primary on {primary}")
        self.redis[primary].kill()
        self.faults = {"primary": killed_ms}
        self.owned: dict[str, set[str]] = {}
        at(plan.host_at, "SIGKILL every process on w1, once it owns requests")
        self.strike("w1", "host", lambda: lab.kill_host("w1"))
        at(plan.partition_at, "cut w2 off from every Redis host, once it owns requests")
        self.strike("w2", "partition", lambda: lab.partition("w2", REDIS_HOSTS))
        time.sleep(max(0.0, self.faults["partition"] / 1000 + plan.partition_s - time.time()))
        say("         heal w2")
        lab.partition("w2", REDIS_HOSTS, heal=True)
        self.faults["kill"] = at(plan.kill_at, "kill, from w3")
        kill = self._kill()
        try:
            producer.wait(plan.load_s + 60)
        except subprocess.TimeoutExpired:
            producer.kill()
        self.row.violations["producer did not send every request"] = int(
            producer.returncode != 0 or self.taken() != load
        )
        say(f"  the producer is done ({self.taken()} requests taken); waiting for finals")
        return self._count(kill)

    def taken(self) -> int:
        try:
            return sum(1 for _ in self.record.open())
        except OSError:
            return 0

    def _kill(self) -> Event | None:
        argv = ["ip", "netns", "exec", self.lab.ns("w3"), sys.executable, "-m", "ordercancel",
                "kill", "--reason", "drill hosts", "--wait", "120", "--json"]  # fmt: skip
        done = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=180)
        try:
            event: Event = json.loads(done.stdout.strip().splitlines()[-1])
            return event
        except (ValueError, IndexError):
            self.row.notes.append(f"the kill's CLI said: {done.stdout[-300:]} {done.stderr[-300:]}")
            return None

    # -- the count -------------------------------------------------------------------------

    def _count(self, kill: Event | None) -> Row:
        row = self.row
        lines = [json.loads(line) for line in self.record.open()]
        rids = [r["request_id"] for r in lines]
        orders = {r["request_id"]: Order(r["account"], r["order_id"], r["symbol"]) for r in lines}
        end, finals = time.monotonic() + 120, {}
        while time.monotonic() < end:
            finals = retried(lambda: self.client.store.finals(rids))
            if all(finals.values()):
                break
            time.sleep(0.5)
        history = self.admin.history(self.start_ms - 1000)
        events = retried(lambda: list(self.client.events()))
        with open(self.workdir / "events.jsonl", "w") as out:  # for a post-mortem
            out.writelines(json.dumps(e) + "\n" for e in events)
        tally(row, rids, events, finals, orders, history)
        calls = [c for c in history["calls"] if c["venue"] == "zebpay"]
        busiest = max_in_window((c["t_ms"] for c in calls), WINDOW_MS)
        refused = sum(1 for c in calls if c["status"] == 429 and not c["fault"])
        row.violations[f"venue window over {LIMIT}/60s"] = int(busiest > LIMIT)
        row.violations["429 from the venue's limit"] = refused
        row.notes.append(f"zebpay calls {len(calls)}, most in any 60 s: {busiest} of {LIMIT}")
        stamps = {rid: int(f["ts"]) for rid, f in finals.items() if f}
        after = [t for t in stamps.values() if t > self.faults["primary"]]
        self.recovery["primary"] = (min(after) - self.faults["primary"]) / 1000 if after else None
        for fault in ("host", "partition"):
            row.violations[f"{fault}: the struck host owned no request"] = int(
                not self.owned[fault]
            )
            owned = [stamps.get(r) for r in self.owned[fault]]
            done = [t for t in owned if t is not None]
            self.recovery[fault] = (
                max(0.0, (max(done) - self.faults[fault]) / 1000)
                if done and len(done) == len(owned)
                else None
            )
        resent = sum(1 for r in lines if r["tries"] > 1)
        row.notes.append(f"{resent} sends met Redis away and were sent again")
        self._check_kill(kill, calls)
        row.recovery_s = max((s for s in self.recovery.values() if s is not None), default=None)
        return row

    def _check_kill(self, kill: Event | None, calls: list[dict[str, Any]]) -> None:
        row = self.row
        states = venue_states({"zebpay-main": self.admin.orders("zebpay", "zebpay-main")})
        left = open_count(self.orders, states)
        row.violations["kill not completed"] = int(not kill or kill["status"] != "completed")
        row.violations["orders open after the kill"] = left
        if not kill:
            return
        self.recovery["kill"] = int(kill["latency_ms"]) / 1000
        halt_ms = int(kill["received_ms"])
        own = kill["request_id"]
        others = [
            c for c in calls if c["t_ms"] > halt_ms and not (c["request_id"] or "").startswith(own)
        ]
        row.notes.append(
            f"kill {kill['status']} in {int(kill['latency_ms'])} ms; venue calls after the halt "
            f"for other requests: {len(others)} (routine cancels: a halt stops order placing, "
            f"not cancels)"
        )


def retried(read: Callable[[], T], timeout: float = 60.0) -> T:
    """`read()` from Redis, again while Redis is away (a failover under way)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return read()
        except (redis.RedisError, RedisUnavailable):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _exit_on(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _until(what: str, check: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError, ValueError):
            pass
        if time.monotonic() > end:
            raise netns.LabError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


HEADER = ("fault", "recovery")


def run(*, short: bool = False, as_json: bool = False) -> int:
    why = missing()
    if why:
        say(f"drill hosts: skipped: {why}")
        return 0
    drill = HostsDrill(SHORT if short else FULL)
    ok = False
    # SIGTERM and SIGHUP end the drill as Ctrl-C does: through `finally`, which removes the lab
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    try:
        with netns.Lab(HOSTS) as lab:
            say(f"drill hosts: {len(HOSTS)} hosts in network namespaces, the venue behind "
                f"{lab.nat_addr}")  # fmt: skip
            drill.start(lab)
            row = drill.run()
            drill.client.close()
        ok = row.ok
    finally:
        if ok and not os.environ.get("ORDERCANCEL_DRILL_KEEP"):
            shutil.rmtree(drill.workdir, ignore_errors=True)
        else:
            say(f"drill hosts: logs kept in {drill.workdir}")
    if as_json:
        print(json.dumps(dict(asdict(row), ok=row.ok, recovery=drill.recovery), indent=2))
    else:
        print(report(row, drill.recovery))
    return 0 if row.ok else 1


def report(row: Row, recovery: dict[str, float | None]) -> str:
    lines = [table([row]), "", "recovery per fault:"]
    names = {"primary": "Redis primary SIGKILLed: finals again after",
             "host": "worker host w1 killed: its requests final after",
             "partition": "w2 cut off from Redis: its requests final after",
             "kill": "kill from w3: final after"}  # fmt: skip
    for fault, name in names.items():
        s = recovery.get(fault)
        lines.append(f"  {name} {'-' if s is None else f'{s:.1f} s'}")
    return "\n".join(lines)
