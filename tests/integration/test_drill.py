"""`ordercancel drill all --short`: worker crashes, a venue fault storm, a Redis restart and a
SIGTERM, each mid-run, with nothing lost and no request finished twice."""

import json
import os
import subprocess
import sys

import pytest


# the subprocess's own timeout, and a margin: not the global 120 s
@pytest.mark.timeout(660)
def test_the_short_drill_loses_nothing_and_duplicates_nothing():
    env = {k: v for k, v in os.environ.items() if k != "ORDERCANCEL_CONFIG"}
    out = subprocess.run(
        [sys.executable, "-m", "ordercancel", "drill", "all", "--short", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    rows = {row["scenario"]: row for row in json.loads(out.stdout)}
    assert set(rows) == {"crash", "faults", "redis", "shutdown"}
    for row in rows.values():
        failed = {name: n for name, n in row["violations"].items() if n}
        assert row["ok"], (row["scenario"], failed, row["notes"], out.stderr[-3000:])
        assert row["requests"] == row["finals"] > 0
        assert row["lost"] == 0 and row["duplicates"] == 0
    assert 0 < rows["crash"]["recovery_s"] < 30
    assert out.returncode == 0
