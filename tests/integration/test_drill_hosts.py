"""`ordercancel drill hosts --short`: hosts in network namespaces (root only), through a SIGKILLed
Redis primary, a dead worker host, a partitioned one and a kill; and no namespace left behind,
whichever way the drill ends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ordercancel.devtools import netns
from ordercancel.devtools.drill import hostsdrill

pytestmark = pytest.mark.skipif(
    bool(hostsdrill.missing()), reason=f"drill hosts: {hostsdrill.missing()}"
)
#: the drill brings its own Redis servers: once, in the first pass (none given), is enough
once = pytest.mark.skipif(
    bool(os.environ.get("ORDERCANCEL_REDIS_URL")), reason="drill hosts runs its own Redis"
)


def drill(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "ordercancel", "drill", "hosts", "--short", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def left_by(pid: int) -> list[str]:
    return [ns for ns in netns.namespaces() if ns.startswith(f"{netns.PREFIX}{pid}-")]


def built() -> subprocess.Popen[str]:
    """A drill whose lab is being built (its last host's namespace exists)."""
    proc = drill()
    end = time.monotonic() + 120
    while not any(ns.endswith("-w3") for ns in left_by(proc.pid)):
        assert proc.poll() is None and time.monotonic() < end, proc.stderr.read()[-2000:]
        time.sleep(0.2)
    return proc


@once
@pytest.mark.timeout(660)
def test_the_hosts_drill_keeps_the_budget_and_loses_nothing():
    proc = drill("--json")
    out, err = proc.communicate(timeout=600)
    report = json.loads(out)
    failed = {name: n for name, n in report["violations"].items() if n}
    assert report["ok"] and proc.returncode == 0, (failed, report["notes"], err[-3000:])
    assert report["requests"] == report["finals"] > 0
    assert report["lost"] == 0 and report["duplicates"] == 0
    # every fault was met, and recovered from: the hosts owned requests when they went
    assert set(report["recovery"]) == {"primary", "host", "partition", "kill"}, report
    assert all(s is not None for s in report["recovery"].values()), report["recovery"]
    assert not left_by(proc.pid)


@once
@pytest.mark.timeout(180)
def test_a_drill_stopped_midway_leaves_no_namespace():
    proc = built()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not left_by(proc.pid)


def test_a_lab_whose_creator_died_is_removed_by_the_next():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{netns.PREFIX}{dead.pid}-x"
    netns.run("ip", "netns", "add", stale)
    try:
        netns.remove_stale()
        assert stale not in netns.namespaces()
    finally:
        netns.run("ip", "netns", "del", stale, check=False)


@once
@pytest.mark.timeout(180)
def test_a_drill_killed_outright_is_torn_down_by_its_reaper():
    proc = built()
    proc.kill()
    proc.communicate(timeout=60)
    end = time.monotonic() + 60
    while left_by(proc.pid):
        assert time.monotonic() < end, left_by(proc.pid)
        time.sleep(0.2)
