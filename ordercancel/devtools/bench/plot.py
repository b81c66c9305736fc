"""The benchmark's plot: latency distributions and throughput over time, one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ordercancel.devtools.bench.throughput import BUCKET_MS


def plot(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "ordercancel bench --plot needs matplotlib: pip install 'ordercancel[bench]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = report["scenarios"]
    latency, throughput = scenarios.get("latency"), scenarios.get("throughput")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    if latency:
        for name, samples in latency["samples_ms"].items():
            ordered = sorted(samples)
            n = len(ordered)
            left.plot(ordered, [(i + 1) / n for i in range(n)], label=f"{name} (n={n})")
        left.set_xscale("log")
        left.set_xlabel("enqueue -> final event, ms (log)")
        left.set_ylabel("fraction of cancels at or below")
        left.set_title("Latency of single cancels")
        left.grid(True, which="both", alpha=0.3)
        left.legend()
    if throughput:
        for name, per_s in throughput["timeline_per_s"].items():
            seconds = [i * BUCKET_MS / 1000 for i in range(len(per_s))]
            rate = throughput[name]["per_s"]
            right.plot(seconds, per_s, label=f"{name}: {rate:,.0f}/s overall")
        right.set_xlabel("seconds since the first submission")
        right.set_ylabel(f"completions per second (per {BUCKET_MS} ms bucket)")
        right.set_title(f"Throughput, {throughput['orders']:,} cancels")
        right.grid(True, alpha=0.3)
        right.legend()
    machine = report["machine"]
    fig.suptitle(f"ordercancel bench on {machine['cpus']} CPUs, {machine['python']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
