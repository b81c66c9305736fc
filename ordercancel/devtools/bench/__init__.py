"""`ordercancel bench [throughput|latency|kill|all] [--json] [--plot FILE.png]`.

Measured runs on this machine, against the simulator, printing progress as they go; each
scenario ends with the worker's resident memory. Targets (issue 20) are ratios measured within
one run, so they hold on any host; reported, never asserted: throughput >= 3.5x the naive
baseline (5,000 cancels, and 20,000); idle p50 <= 2.5x and p99 <= 5x the floor's p50, loaded p99
<= 15x it; kill <= 0.5 s, also behind 3,000 queued routine cancels; worker RSS <= 150 MB. The
worker's CPU per cancel is reported beside the floor's CPU per call. Method and results:
docs/performance.md.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from ordercancel.devtools.bench.kill import bench_kill
from ordercancel.devtools.bench.latency import bench_latency
from ordercancel.devtools.bench.rig import Rig
from ordercancel.devtools.bench.throughput import bench_throughput

SCENARIOS = ("throughput", "latency", "kill")
RATIO_TARGET, KILL_MS, RSS_MB = 3.5, 500, 150.0
#: latency targets, as multiples of the floor's p50 measured in the same run
IDLE_P50_X, IDLE_P99_X, LOADED_P99_X = 2.5, 5.0, 15.0


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": f"Python {platform.python_version()}",
        "platform": platform.platform(terse=True),
    }


def targets(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(name: str, value: float, target: str, met: bool) -> None:
        rows.append({"target": name, "value": value, "goal": target, "met": met})

    for run in _throughput_runs(scenarios):
        ratio = run["ratio"]
        row(f"throughput vs naive baseline, {run['orders']:,} cancels", ratio,
            f">= {RATIO_TARGET:g}x", ratio >= RATIO_TARGET)  # fmt: skip
    if "latency" in scenarios:
        lat = scenarios["latency"]
        floor = lat["floor_ms"]["p50"]
        for name, value, times in (
            ("idle latency p50", lat["idle_ms"]["p50"], IDLE_P50_X),
            ("idle latency p99", lat["idle_ms"]["p99"], IDLE_P99_X),
            ("loaded latency p99", lat["loaded_ms"]["p99"], LOADED_P99_X),
        ):
            ratio = round(value / floor, 2) if floor else 0.0
            row(f"{name}, x the floor ({value:g} vs {floor:g} ms)", ratio, f"<= {times:g}x",
                0 < ratio <= times)  # fmt: skip
    if "kill" in scenarios:
        kill = scenarios["kill"]
        worst = kill["kill_ms"]["max"]
        row("kill, 2 venues, ms (worst run)", worst, f"<= {KILL_MS}", kill["meets_target"])
        behind = kill.get("behind_backlog")
        if behind:
            row(f"kill behind {behind['backlog']:,} routine cancels, ms (worst run)",
                behind["kill_ms"]["max"], f"<= {KILL_MS}", behind["meets_target"])  # fmt: skip
    for name, result in scenarios.items():
        rss = result["worker_rss_mb"]
        row(f"worker RSS after {name}, MB (largest process; group {rss['total']:g})",
            rss["largest"], f"<= {RSS_MB:g}", rss["largest"] <= RSS_MB)  # fmt: skip
    return rows


def _throughput_runs(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    first = scenarios.get("throughput")
    return [run for run in (first, first and first.get("large")) if run]


def run(
    names: list[str],
    *,
    as_json: bool,
    plot_path: str | None,
    redis_url: str | None,
    orders: int,
    large_orders: int,
    kill_orders: int,
    kill_backlog: int,
    samples: int,
    runs: int,
) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr if as_json else sys.stdout, flush=True)

    scenarios: dict[str, Any] = {}
    if "throughput" in names or "latency" in names:
        # the clock must not stop for the cyclic collector: a full pass over this process's
        # results paused it for up to 0.4 s, inside a measurement
        gc.disable()
        with Rig(redis_url) as rig:
            conf = rig.stack.settings
            say(f"rig: simulator {rig.sim.url}, worker with {conf.routine_processes} routine "
                f"process(es) x {conf.worker_concurrency} threads")  # fmt: skip
            if "throughput" in names:
                scenarios["throughput"] = bench_throughput(rig, orders, say)
                if large_orders:
                    scenarios["throughput"]["large"] = bench_throughput(rig, large_orders, say)
                scenarios["throughput"]["worker_rss_mb"] = rig.worker_rss_mb()
            if "latency" in names:
                sustained = scenarios.get("throughput", {}).get("ordercancel", {}).get("per_s")
                scenarios["latency"] = bench_latency(rig, samples, sustained, say)
                scenarios["latency"]["worker_rss_mb"] = rig.worker_rss_mb()
        gc.enable()  # the kill's simulator runs in this process, and is timed by the worker
    if "kill" in names:
        scenarios["kill"] = bench_kill(orders=kill_orders, backlog=kill_backlog, latency_ms=20,
                                       runs=runs, redis_url=redis_url, say=say)  # fmt: skip
    report: dict[str, Any] = {
        "machine": machine(),
        "scenarios": scenarios,
        "targets": targets(scenarios),
    }
    if plot_path:
        from ordercancel.devtools.bench.plot import plot

        plot(report, Path(plot_path))
        say(f"plot written to {plot_path}")
    if as_json:
        print(json.dumps(report, sort_keys=True))
    else:
        print_summary(report)
    return 0 if all(t["met"] for t in report["targets"]) else 1


def print_summary(report: dict[str, Any]) -> None:
    s = report["scenarios"]
    print()
    for t in _throughput_runs(s):
        ours = t["ordercancel"]["per_s"]
        print(f"throughput  {t['orders']:,} cancels: ordercancel {ours:,.0f}/s, "
              f"baseline {t['baseline']['per_s']:,.0f}/s: {t['ratio']:g}x; worker CPU per cancel "
              f"{t['ordercancel']['worker_cpu_ms_per_request']:g} ms vs "
              f"{t['baseline']['worker_cpu_ms_per_request']:g} ms")  # fmt: skip
    if "latency" in s:
        lat = s["latency"]
        print("latency ms  " + "   ".join(
            f"{name} p50 {lat[name + '_ms']['p50']:g} p90 {lat[name + '_ms']['p90']:g} "
            f"p99 {lat[name + '_ms']['p99']:g} max {lat[name + '_ms']['max']:g}"
            for name in ("floor", "idle", "loaded")))  # fmt: skip
        print(f"floor CPU   {lat['floor_cpu_ms_per_call']:g} ms per call (signed HTTP cancel + "
              "XADD, the producer's thread)")  # fmt: skip
    if "kill" in s:
        for k in (s["kill"], s["kill"].get("behind_backlog")):
            if k:
                behind = f" behind {k['backlog']:,} routine cancels" if "backlog" in k else ""
                print(f"kill{behind}: median {k['kill_ms']['median']:g} ms, "
                      f"max {k['kill_ms']['max']} ms")  # fmt: skip
    print()
    width = max(len(t["target"]) for t in report["targets"]) if report["targets"] else 0
    for t in report["targets"]:
        mark = "met" if t["met"] else "MISSED"
        print(f"{t['target']:<{width}}  {t['value']:>8g}  goal {t['goal']:<8}  {mark}")


__all__ = ["SCENARIOS", "run"]
