"""`ordercancel drill`: the at-least-once + idempotent design under failure, as a repeatable drill.

Scenarios (`scenarios.py`): `crash` (SIGKILL worker process groups mid-run), `faults` (a storm
of venue faults), `redis` (Redis restarted mid-run; a worker started while it is down),
`shutdown` (SIGTERM mid-run). Each runs on its own stack against the simulator and ends in a row
of the table; the drill exits 1 on any lost request, duplicate final, or failed check.

`truth` (`truthdrill.py`) is run on its own, not by `all`: many seeded chaos runs (`chaos.py`)
on one stack, every final held against the simulator's history by the truth checker
(`truth.py`); a row per seed, exit 1 on any contradiction.

`hosts` (`hostsdrill.py`), also on its own and as root only: worker hosts, Redis with Sentinel
and a NAT'd venue in network namespaces, through a primary's SIGKILL, a host's death, a
partition and a kill.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from ordercancel.devtools.drill.harness import Row, say, table
from ordercancel.devtools.drill.scenarios import FULL, SCENARIOS, SHORT


def run(
    names: Sequence[str],
    *,
    short: bool = False,
    as_json: bool = False,
    redis_url: str | None = None,
    seeds: int | None = None,
    seed: int | None = None,
) -> int:
    """Run the named scenarios; an embedded Redis unless `redis_url` is given. `seeds` and
    `seed` choose the seeds of `truth` (`truthdrill.seeds_to_run`)."""
    if "hosts" in names:  # root only, hosts of its own: run alone
        from ordercancel.devtools.drill import hostsdrill

        code = hostsdrill.run(short=short, as_json=as_json)
        others = [n for n in names if n != "hosts"]
        return max(code, run(others, short=short, as_json=as_json, redis_url=redis_url,
                             seeds=seeds, seed=seed)) if others else code  # fmt: skip
    if "truth" in names:
        from ordercancel.devtools.drill import truthdrill

        code = truthdrill.run(
            short=short, seeds=seeds, seed=seed, as_json=as_json, redis_url=redis_url
        )
        others = [n for n in names if n != "truth"]
        if others:
            code = max(code, run(others, short=short, as_json=as_json, redis_url=redis_url))
        return code
    size = SHORT if short else FULL
    rows: list[Row] = []
    for name in names:
        rows.append(SCENARIOS[name](size, redis_url))
        say(f"{name}: {'ok' if rows[-1].ok else 'FAILED'}")
    if as_json:
        print(json.dumps([dict(asdict(r), ok=r.ok) for r in rows], indent=2))
    else:
        print(table(rows))
    return 0 if all(r.ok for r in rows) else 1


__all__ = ["FULL", "SCENARIOS", "SHORT", "run", "table"]
