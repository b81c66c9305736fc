"""`bench latency`: enqueue -> final event for single cancels, beside the cost floor.

- floor: what any canceller on this machine pays at least: one signed HTTP cancel to the
  simulator on a kept-alive connection, plus one `XADD` of its result;
- idle: one cancel at a time through the Python client (`Client.cancel(...).wait()`), timed by
  the producer from the call to the final event in hand;
- loaded: the same probes while a producer sends cancels through the intake stream at half the
  sustained rate measured by `throughput` (or `LOADED_RATE` when that did not run).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ordercancel.client import Client
from ordercancel.devtools.bench.rig import ACCOUNT, SYMBOL, Rig
from ordercancel.devtools.bench.throughput import request_json
from ordercancel.devtools.stats import percentile
from ordercancel.venues.zebpay.auth import HmacAuth

Say = Callable[[str], None]
LOADED_RATE = 300.0
PERCENTILES = (50, 90, 99)


def summary(ms: list[float]) -> dict[str, float]:
    out = {f"p{p}": round(percentile(ms, p), 2) for p in PERCENTILES}
    out["max"] = round(max(ms, default=0.0), 2)
    out["n"] = len(ms)
    return out


def floor(rig: Rig, samples: int) -> tuple[list[float], float]:
    """The floor's times (ms), and its CPU per call (ms, this thread's: signing, HTTP, XADD)."""
    options = rig.stack.settings.accounts[ACCOUNT].options
    auth = HmacAuth(options.api_key.reveal(), options.api_secret.reveal(),
                    lambda: int(time.time() * 1000))  # fmt: skip
    scratch = f"{rig.prefix}:bench:floor"
    out, cpu = [], 0.0
    with requests.Session() as http:
        for oid in rig.seed(samples + 10):
            started, cpu_started = time.perf_counter(), time.thread_time()
            resp = http.delete(rig.sim.url + "/api/v1/trade/order", auth=auth, timeout=5,
                               json={"clientOrderId": oid, "symbol": SYMBOL})  # fmt: skip
            rig.redis.xadd(scratch, {"order_id": oid, "status": str(resp.status_code)})
            out.append((time.perf_counter() - started) * 1000)
            cpu += time.thread_time() - cpu_started if len(out) > 10 else 0.0
    rig.redis.delete(scratch)
    return out[10:], 1000 * cpu / samples  # the first calls open the connection


def probe(client: Client, ids: list[str], *, gap_s: float = 0.0) -> list[float]:
    out = []
    for oid in ids:
        started = time.perf_counter()
        final = client.cancel(ACCOUNT, oid, symbol=SYMBOL).wait(30)
        out.append((time.perf_counter() - started) * 1000)
        if final["status"] != "canceled":
            raise RuntimeError(f"probe cancel ended {final['status']}: {final['error']}")
        if gap_s:
            time.sleep(gap_s)
    return out


class Load(threading.Thread):
    """Cancels through the intake stream at `rate` per second, in 10 ms ticks."""

    def __init__(self, rig: Rig, rate: float, ids: list[str]):
        super().__init__(name="bench-load", daemon=True)
        self.rig, self.rate, self.ids = rig, rate, ids
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set() and self.sent < len(self.ids):
            due = min(len(self.ids), int((time.monotonic() - started) * self.rate))
            if due > self.sent:
                with self.rig.redis.pipeline(transaction=False) as pipe:
                    for oid in self.ids[self.sent : due]:
                        pipe.xadd(self.rig.keys.requests, {"request": request_json(oid)})
                    pipe.execute()
                self.sent = due
            self.stop.wait(0.01)


def bench_latency(rig: Rig, samples: int, sustained_rate: float | None, say: Say) -> dict[str, Any]:
    client = Client(rig.stack.settings)
    try:
        say(f"latency: floor (signed HTTP cancel + XADD), {samples} samples")
        base, floor_cpu_ms = floor(rig, samples)
        say(f"  floor p50 {percentile(base, 50):.2f} ms")
        say(f"latency: idle, {samples} single cancels one after another")
        ids = rig.seed(samples + 20)
        probe(client, ids[:20])  # warm-up: connections, threads
        idle = probe(client, ids[20:])
        say(f"  idle p50 {percentile(idle, 50):.2f} ms, p99 {percentile(idle, 99):.2f} ms")
        rate = sustained_rate / 2 if sustained_rate else LOADED_RATE
        gap = 0.02
        duration = samples * (gap + percentile(idle, 50) / 1000) * 1.5 + 2
        say(f"latency: loaded, {samples} probes while {rate:,.0f} cancels/s arrive")
        load = Load(rig, rate, rig.seed(int(rate * duration)))
        probes = rig.seed(samples)
        load.start()
        try:
            time.sleep(0.5)  # the load reaches its pace
            loaded = probe(client, probes, gap_s=gap)
        finally:
            load.stop.set()
            load.join()
        say(f"  loaded p50 {percentile(loaded, 50):.2f} ms, p99 {percentile(loaded, 99):.2f} ms")
    finally:
        client.close()
    return {
        "floor_ms": summary(base),
        "idle_ms": summary(idle),
        "loaded_ms": summary(loaded),
        "loaded_rate_per_s": round(rate, 1),
        "floor_cpu_ms_per_call": round(floor_cpu_ms, 3),
        "samples_ms": {"floor": base, "idle": idle, "loaded": loaded},
    }
