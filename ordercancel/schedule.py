"""Scheduled requests: the `[[schedule]]` tables of the config, which `ordercancel beat` sends.

```toml
[[schedule]]
name = "end-of-session"            # 1..64 chars of [A-Za-z0-9._-], unique
cron = "0 16 * * 1-5"              # minute hour day-of-month month day-of-week, in UTC
request = { kind = "cancel_all", account = "zebpay-main", reason = "end of session" }

[[schedule]]
name = "stale-strategy-a"
every = "1m"                       # or seconds; exactly one of cron and every
older_than = "10m"                 # the run's placed_before_ms: its time minus this
request = { kind = "cancel_all", account = "zebpay-main", client_order_id_prefix = "stratA-" }
```

Each run is an ordinary request whose `request_id` is `sched-<name>-<run ms>`: the run's own
time (a cron match, or a multiple of the interval since the epoch), not the moment it was sent,
so a run sent twice (a beat restarted within it, a second beat) is one request: the worker
drops the second as a duplicate, or as done.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ordercancel.config import check_keys, did_you_mean
from ordercancel.errors import ConfigError
from ordercancel.outcomes import Kind
from ordercancel.request import FIELDS

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: the units of a duration or an age in text: `90s`, `10m`, `2h`, `7d`
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
KEYS = ("name", "cron", "every", "older_than", "request")
#: request fields a schedule sets itself
OWN = ("request_id", "received_ms", "_entry_id", "requested_by")


@dataclass(frozen=True)
class Schedule:
    name: str
    request: Mapping[str, Any]
    cron: str | None = None
    every_s: int | None = None
    older_than_s: int | None = None

    def celery_schedule(self) -> Any:
        """The Celery beat schedule: a crontab (UTC) or an interval."""
        from datetime import timedelta

        from celery.schedules import crontab, schedule

        if self.cron is None:
            return schedule(timedelta(seconds=self.every_s or 1))
        minute, hour, day_of_month, month, day_of_week = self.cron.split()
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )

    @property
    def when(self) -> str:
        return f"cron {self.cron} (UTC)" if self.cron else f"every {self.every_s}s"

    def run_ms(self, now_ms: int) -> int:
        """The time of the run due at `now_ms`: a cron run's minute, an interval's multiple."""
        step = 60_000 if self.cron is not None else (self.every_s or 1) * 1000
        return now_ms - now_ms % step

    def message(self, run_ms: int, requested_by: str) -> dict[str, Any]:
        """The request of the run at `run_ms`."""
        message = {
            "reason": f"schedule {self.name}",
            **self.request,
            "request_id": f"sched-{self.name}-{run_ms}",
            "requested_by": requested_by,
        }
        if self.older_than_s is not None:
            message["placed_before_ms"] = run_ms - self.older_than_s * 1000
        return message


def duration_s(value: Any, field: str) -> int:
    """Seconds from a positive integer or a text such as `90s`, `10m`, `1h`, `1d`."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and len(value) > 1 and value[-1] in UNITS and value[:-1].isdigit():
        seconds = int(value[:-1]) * UNITS[value[-1]]
        if seconds > 0:
            return seconds
    raise ConfigError('must be seconds (a positive integer) or a text like "10m"', field=field)


def parse(tables: Sequence[Any]) -> list[Schedule]:
    """Every `[[schedule]]` table, checked; a `ConfigError` names `schedule[i].key`."""
    out: list[Schedule] = []
    for i, table in enumerate(tables):
        where = f"schedule[{i}]"
        if not isinstance(table, Mapping):
            raise ConfigError("must be a table ([[schedule]])", field=where)
        check_keys(table, KEYS, section=where)
        name = table.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError("must be 1..64 chars of [A-Za-z0-9._-]", field=f"{where}.name")
        if any(s.name == name for s in out):
            raise ConfigError(f"{name!r} names two schedules", field=f"{where}.name")
        where = f"schedule.{name}"
        if ("cron" in table) == ("every" in table):
            raise ConfigError("needs exactly one of cron and every", field=where)
        cron = table.get("cron")
        if cron is not None:
            _check_cron(cron, f"{where}.cron")
        every = duration_s(table["every"], f"{where}.every") if "every" in table else None
        request = _request(table.get("request"), f"{where}.request")
        older = table.get("older_than")
        older_s = duration_s(older, f"{where}.older_than") if older is not None else None
        if older is not None:
            if request["kind"] not in (Kind.CANCEL_ALL.value, Kind.KILL.value):
                raise ConfigError("applies to cancel_all and kill", field=f"{where}.older_than")
            if "placed_before_ms" in request:
                raise ConfigError(
                    "use older_than or request.placed_before_ms, not both",
                    field=f"{where}.older_than",
                )
        out.append(
            Schedule(
                name=name,
                request=request,
                cron=cron,
                every_s=every,
                older_than_s=older_s,
            )
        )
    return out


def _check_cron(cron: Any, field: str) -> None:
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ConfigError(
            'must be 5 fields: minute hour day-of-month month day-of-week, e.g. "0 16 * * 1-5"',
            field=field,
        )
    try:
        Schedule(name="check", request={}, cron=cron).celery_schedule()
    except ValueError as exc:
        raise ConfigError(f"not a cron expression: {exc}", field=field) from None


def _request(request: Any, field: str) -> dict[str, Any]:
    """The request a schedule sends: its kind and fields (the worker checks the rest, as for
    any request); the fields a schedule sets itself are refused."""
    if not isinstance(request, Mapping):
        raise ConfigError("must be a table: the request to send", field=field)
    kind = request.get("kind")
    kinds = [k.value for k in Kind]
    if kind not in kinds:
        hint = did_you_mean(str(kind), kinds)
        raise ConfigError(f"kind must be one of {', '.join(kinds)}{hint}", field=f"{field}.kind")
    for key in request:
        if key in OWN:
            raise ConfigError("is set by the schedule itself", field=f"{field}.{key}")
        if key == "idempotency_key":
            why = "every run after the first would replay the first one's outcome"
            raise ConfigError(f"is not for schedules: {why}", field=f"{field}.{key}")
    allowed = {"kind", "deadline_ms", "reason", *FIELDS[Kind(kind)]} - set(OWN)
    check_keys(request, sorted(allowed), section=field)
    return dict(request)
