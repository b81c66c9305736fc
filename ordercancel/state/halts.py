"""The halts in `<prefix>:halt`, and their history in the audit stream.

The hash holds one field per halt scope (`Scope.key()`), whose value is the halt's record as
JSON. A halt raised by 0.1 is the record's own fields in the hash (`LEGACY`); it reads as one
halt, keyed by its scope, beside any JSON field.

After a failover, the halts that no resume cleared are raised again from the audit stream
(`replay`): a `kill` entry raises its scope's halt; a `resume` entry clears the halts it names
in `cleared` (scope key and the request id of the kill whose halt it cleared), so a newer kill
over the same scope stays; a resume from before 0.2 (no `cleared`) clears every halt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ordercancel.scope import Scope

#: the fields of a halt as 0.1 kept it, in the hash itself
LEGACY = ("reason", "since_ms", "request_id", "accounts", "symbols", "requested_by")
#: how long before a resume of every halt a kill is still read back: its audit entry comes
#: before its halt is raised, so its halt may have gone up after that resume read the halts
OVERLAP_MS = 60_000


def key_of(record: Mapping[str, str]) -> str:
    """A halt's scope key, from its record (or a kill's audit entry)."""
    return record.get("halt") or Scope.from_strings(record).halt().key()


def parse(raw: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The halt hash as {scope key: record}."""
    halts = {str(k): json.loads(v) for k, v in raw.items() if k not in LEGACY}
    if "request_id" in raw:  # a 0.1 halt
        legacy = {k: str(raw[k]) for k in LEGACY if k in raw}
        halts[key_of(legacy)] = legacy
    return halts


def legacy_fields(raw: Mapping[str, str]) -> list[str]:
    return [k for k in LEGACY if k in raw]


def cleared(gone: Mapping[str, Mapping[str, str]]) -> str:
    """A resume's `cleared`: [scope key, the kill's request id] of each halt it cleared."""
    return json.dumps(sorted([k, h.get("request_id", "")] for k, h in gone.items()))


def is_resume_of_all(entry: Mapping[str, str]) -> bool:
    return entry.get("event") == "resume" and bool(entry.get("all") or "cleared" not in entry)


def history(newest_first: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """The audit entries that decide which halts stand, oldest first, from the stream read
    newest first: every entry after the newest resume of every halt, that resume, and the
    entries up to `OVERLAP_MS` before it, less the kills whose halts it cleared."""
    newer: list[Mapping[str, str]] = []
    barrier: Mapping[str, str] | None = None
    overlap: list[Mapping[str, str]] = []
    for entry in newest_first:
        if barrier is None:
            if is_resume_of_all(entry):
                barrier = entry
            else:
                newer.append(entry)
            continue
        if int(entry.get("ts") or 0) < int(barrier.get("ts") or 0) - OVERLAP_MS:
            break
        overlap.append(entry)
    if barrier is None:
        return newer[::-1]
    done = {rid for _, rid in json.loads(barrier.get("cleared") or "[]")}
    late = [e for e in overlap if e.get("event") != "kill" or e.get("request_id") not in done]
    return [*late[::-1], barrier, *newer[::-1]] if "cleared" in barrier else newer[::-1]


def replay(entries: Iterable[Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
    """{scope key: the kill entry whose halt stands} after these entries, oldest first."""
    active: dict[str, Mapping[str, str]] = {}
    for entry in entries:
        if entry.get("event") == "kill":
            active[key_of(entry)] = entry
        elif entry.get("event") == "resume" and "cleared" not in entry:
            active.clear()
        elif entry.get("event") == "resume":
            for key, rid in json.loads(entry["cleared"]):
                if key in active and active[key].get("request_id") == rid:
                    del active[key]
    return active


def record_of(key: str, kill: Mapping[str, str]) -> dict[str, Any]:
    """The halt record a kill's audit entry stands for."""
    return {
        "reason": kill.get("reason") or "kill",
        "since_ms": kill.get("ts", ""),
        "request_id": kill.get("request_id", ""),
        "requested_by": kill.get("requested_by", ""),
        **Scope.from_fields(json.loads(key)).strings(),
    }
