"""`bench throughput`: sustained cancels/s end to end, ordercancel beside the naive baseline.

The same workload for both, on the same simulator process and Redis: `orders` open ZebPay
orders, one cancel each, all submitted at once. ordercancel's requests go in through the
intake stream (one `XADD` each, as any producer sends them); its clock stops at the last final
event. The baseline's go in as Celery tasks (`bench/baseline.py`); its clock stops at the last
stored result. The rate is requests / (last completion - first submission); the timeline is
completions per 100 ms, from the completions' own timestamps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.result import AsyncResult

from ordercancel.devtools.bench import baseline
from ordercancel.devtools.bench.rig import ACCOUNT, SYMBOL, Rig
from ordercancel.devtools.procs import cpu_s, group_pids

Say = Callable[[str], None]
BUCKET_MS = 100
WARM_UP = 50


@dataclass
class Run:
    name: str
    requests: int
    seconds: float
    statuses: Counter[str]
    #: completion times, ms after the first submission
    done_ms: list[float] = field(default_factory=list)
    worker_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def timeline(self) -> list[int]:
        """Completions per BUCKET_MS."""
        buckets = [0] * (int(max(self.done_ms, default=0) // BUCKET_MS) + 1)
        for ms in self.done_ms:
            buckets[int(ms // BUCKET_MS)] += 1
        return buckets

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.rate, 1),
            "statuses": dict(self.statuses),
            "worker_cpu_ms_per_request": round(1000 * self.worker_cpu_s / self.requests, 3),
            "redis_cpu_ms_per_request": round(1000 * self.redis_cpu_s / self.requests, 3),
        }


def redis_cpu_s(rig: Rig) -> float:
    info: Any = rig.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def request_json(order_id: str) -> str:
    """An intake entry's `request` field: cancel one seeded order."""
    return json.dumps({"kind": "cancel", "account": ACCOUNT, "order_id": order_id,
                       "symbol": SYMBOL, "deadline_ms": 120_000})  # fmt: skip


def _progress(say: Say, name: str, done: int, total: int, started: float) -> None:
    elapsed = time.time() - started
    say(f"  {name}: {done}/{total} done, {done / elapsed:,.0f}/s")


def run_ordercancel(rig: Rig, orders: int, say: Say) -> Run:
    ids = rig.seed(orders + WARM_UP)
    r, keys = rig.redis, rig.keys
    _submit_and_wait(r, keys, ids[:WARM_UP], say=None)
    cpu0, redis0 = rig.worker_cpu_s(), redis_cpu_s(rig)
    done_ms, statuses = _submit_and_wait(r, keys, ids[WARM_UP:], say=say)
    return Run("ordercancel", orders, max(done_ms) / 1000, statuses, done_ms,
               rig.worker_cpu_s() - cpu0, redis_cpu_s(rig) - redis0)  # fmt: skip


def _submit_and_wait(
    r: Any, keys: Any, ids: list[str], say: Say | None
) -> tuple[list[float], Counter[str]]:
    """Submit a cancel per order id through the intake stream; wait for every final event.

    While the run lasts, the benchmark only polls the result stream's length (XLEN, every
    20 ms): reading thousands of events as they come would take CPU from the system it
    measures. The events are read once all are in."""
    last = (r.xrevrange(keys.results, count=1) or [("0-0", None)])[0][0]
    length = r.xlen(keys.results)
    started = time.time()
    for i in range(0, len(ids), 1000):
        with r.pipeline(transaction=False) as pipe:
            for oid in ids[i : i + 1000]:
                pipe.xadd(keys.requests, {"request": request_json(oid)})
            pipe.execute()
    wanted, done_ms, statuses = set(ids), list[float](), Counter[str]()
    shown = time.time()
    while len(done_ms) < len(ids):
        # every cancel adds two events (accepted, final), or more (retrying): read once the
        # stream holds at least that many, then count the finals
        while (r.xlen(keys.results) - length) < 2 * len(ids):
            if time.time() - started > 120 + len(ids) / 50:
                raise RuntimeError(f"not every cancel was final in time ({len(done_ms)} were)")
            if say and time.time() - shown >= 1:
                shown = time.time()
                events = (r.xlen(keys.results) - length) // 2
                _progress(say, "ordercancel", min(events, len(ids)), len(ids), started)
            time.sleep(0.02)
        for entry_id, event in _read_after(r, keys.results, last):
            last = entry_id
            if event["event"] == "final" and event["order_id"] in wanted:
                done_ms.append(int(entry_id.split("-")[0]) - started * 1000)
                statuses[event["status"]] += 1
        length = r.xlen(keys.results) - 2 * (len(ids) - len(done_ms))
    return done_ms, statuses


def _read_after(r: Any, stream: str, last: str) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    while True:
        reply = r.xread({stream: last}, count=5000)
        entries = reply[0][1] if reply else []
        out += entries
        if len(entries) < 5000:
            return out
        last = entries[-1][0]


def run_baseline(rig: Rig, orders: int, say: Say) -> Run:
    """The naive canceller on the same simulator and Redis (ordercancel's worker idles)."""
    ids = rig.seed(orders + WARM_UP)
    prefix = f"{rig.prefix}:baseline"
    env = dict(
        rig.stack.env, **{baseline.REDIS_ENV: rig.stack.redis_url, baseline.PREFIX_ENV: prefix}
    )
    with open(rig.stack.workdir / "baseline.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ordercancel.devtools.bench.baseline", "worker",
             "-Q", baseline.QUEUE, "--loglevel", "WARNING", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    app = baseline.make_app(rig.stack.redis_url, prefix)
    options = rig.stack.settings.accounts[ACCOUNT].options
    creds = (rig.sim.url, options.api_key.reveal(), options.api_secret.reveal())
    try:
        for oid in ids[:WARM_UP]:  # also waits until the worker consumes
            app.send_task(baseline.TASK, args=[*creds, oid, SYMBOL]).get(timeout=120)
        pids = group_pids(proc.pid)
        cpu0, redis0 = sum(cpu_s(p) for p in pids), redis_cpu_s(rig)
        started = time.time()
        results = [
            app.send_task(baseline.TASK, args=[*creds, oid, SYMBOL]) for oid in ids[WARM_UP:]
        ]
        statuses: Counter[str] = Counter()
        shown = time.time()
        for n, result in enumerate(results, 1):
            answer = result.get(timeout=120)
            data = answer["answer"].get("data") or {}
            statuses[str(data.get("status") or answer["http_status"])] += 1
            if time.time() - shown >= 1:
                shown = time.time()
                _progress(say, "baseline", n, len(results), started)
        cpu = sum(cpu_s(p) for p in pids) - cpu0
        done_ms = [_done_at(result) - started * 1000 for result in results]
        return Run("baseline", orders, max(done_ms) / 1000, statuses, done_ms, cpu,
                   redis_cpu_s(rig) - redis0)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)
        app.close()


def _done_at(result: AsyncResult) -> float:
    done = result.date_done
    assert done is not None
    return (done.timestamp() if hasattr(done, "timestamp") else float(done)) * 1000


def bench_throughput(rig: Rig, orders: int, say: Say) -> dict[str, Any]:
    say(f"throughput: {orders} cancels, the naive baseline first (prefork pool, "
        f"{os.cpu_count()} processes, a new connection per call, Celery's Redis result "
        "backend)")  # fmt: skip
    base = run_baseline(rig, orders, say)
    say(f"  baseline: {base.rate:,.0f} cancels/s ({base.seconds:.2f} s)")
    say(f"throughput: {orders} cancels through ordercancel (intake stream -> final event)")
    ours = run_ordercancel(rig, orders, say)
    say(f"  ordercancel: {ours.rate:,.0f} cancels/s ({ours.seconds:.2f} s)")
    ratio = ours.rate / base.rate if base.rate else 0.0
    return {
        "orders": orders,
        "ordercancel": ours.to_json(),
        "baseline": base.to_json(),
        "ratio": round(ratio, 2),
        "timeline_per_s": {
            run.name: [n * (1000 // BUCKET_MS) for n in run.timeline()] for run in (ours, base)
        },
    }
