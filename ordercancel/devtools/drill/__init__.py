"""`ordercancel drill`: the at-least-once + idempotent design under failure, as a repeatable drill.

Scenarios (`scenarios.py`): `crash` (SIGKILL worker process groups mid-run), `faults` (a storm
of venue faults), `redis` (Redis restarted mid-run; a worker started while it is down),
`shutdown` (SIGTERM mid-run). Each runs on its own stack against the simulator and ends in a row
of the table; the drill exits 1 on any lost request, duplicate final, or failed check.

`truth` (`truthdrill.py`) is run on its own, not by `all`: many seeded chaos runs (`chaos.py`)
on one stack, every final held against the simulator's history by the truth checker
(`truth.py`); a row per seed, exit 1 on any contradiction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from ordercancel.devtools.drill.harness import Row, say
from ordercancel.devtools.drill.scenarios import FULL, SCENARIOS, SHORT

HEADER = ("scenario", "requests", "finals", "duplicate finals", "lost", "recovery", "result")


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


def table(rows: list[Row]) -> str:
    cells = [HEADER] + [
        (
            r.scenario,
            str(r.requests),
            str(r.finals),
            str(r.duplicates),
            str(r.lost),
            f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "-",
            "ok" if r.ok else "FAILED",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        failed = [f"{name}: {n}" for name, n in r.violations.items() if n]
        checks = ", ".join(name for name, n in r.violations.items() if not n)
        lines.append(f"\n{r.scenario}: {'; '.join(r.notes)}")
        lines.append(f"  checked: {checks or '-'}")
        if failed:
            lines.append(f"  FAILED: {'; '.join(failed)}")
    return "\n".join(lines)


__all__ = ["FULL", "SCENARIOS", "SHORT", "run", "table"]
