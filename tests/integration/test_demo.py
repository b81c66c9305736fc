"""`ordercancel demo` as a user runs it: its own embedded Redis (or ORDERCANCEL_REDIS_URL),
simulator and worker; exit 0 when every order ended cancelled and the venue agrees."""

import json
import os
import subprocess
import sys

import pytest


# the subprocess's own timeout, and a margin: not the global 120 s
@pytest.mark.timeout(180)
def test_demo_cancels_every_order_and_says_so():
    env = {k: v for k, v in os.environ.items() if k != "ORDERCANCEL_CONFIG"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ordercancel",
            "demo",
            "--orders",
            "12",
            "--kill-orders",
            "50",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["ok"] is True
    assert set(summary["venues"]) == {"zebpay", "ajaib"}
    for venue in summary["venues"].values():
        assert venue["statuses"] == {"canceled": 12} and venue["open_at_venue_after"] == 0
        assert venue["latency_ms"]["p50"] <= venue["latency_ms"]["p99"]
    scoped = summary["scoped"]  # one strategy's orders cancelled, the others left open
    assert scoped["cancelled_at_venue"] == ["stratA-1", "stratA-2", "stratA-3"]
    assert scoped["open_at_venue"] == ["manual-1", "stratB-1", "stratB-2"]
    kill = summary["kill"]
    assert kill["status"] == "completed"
    assert all(v["not_cancelled_at_venue"] == 0 for v in kill["venues"].values())
