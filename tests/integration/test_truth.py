"""`ordercancel drill truth --short`: a few seeded chaos runs (venue faults, fills racing
cancels, a worker SIGKILLed mid-run), every final held against the simulator's own history."""

import json
import os
import subprocess
import sys
import time

import pytest

from ordercancel.devtools.drill.truth import INVARIANTS
from ordercancel.devtools.drill.truthdrill import SHORT_SEEDS, SeedRow, table


@pytest.mark.timeout(300)
def test_no_final_is_contradicted_by_the_venue():
    env = {k: v for k, v in os.environ.items() if k != "ORDERCANCEL_CONFIG"}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "ordercancel", "drill", "truth", "--short", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        stdin=subprocess.DEVNULL,
    )
    assert out.stdout, out.stderr[-3000:]
    rows = [
        SeedRow(**{k: v for k, v in row.items() if k != "ok"}) for row in json.loads(out.stdout)
    ]
    print(table(rows))
    print(f"short form: {time.monotonic() - started:.0f}s")
    assert [r.seed for r in rows] == list(SHORT_SEEDS)
    for row in rows:
        assert set(row.contradictions) == set(INVARIANTS)
        assert row.requests == row.finals > 0
    contradicted = {(r.seed, name): n for r in rows for name, n in r.contradictions.items() if n}
    assert not contradicted, table(rows)
    assert out.returncode == 0, out.stderr[-3000:]
