"""`[[schedule]]` tables (`ordercancel/schedule.py`): checked, and each run's request."""

import pytest

from ordercancel.errors import ConfigError
from ordercancel.schedule import duration_s, parse

KILL = {"kind": "kill", "reason": "eod"}


def one(**table):
    return parse([{"name": "j", "request": KILL, **table}])[0]


def test_a_run_is_named_by_its_own_time_not_when_it_was_sent():
    cron = one(cron="*/5 * * * *")
    assert cron.run_ms(1_700_000_059_999) == cron.run_ms(1_700_000_040_000) == 1_700_000_040_000
    every = one(every="10s", older_than="10m")
    message = every.message(every.run_ms(1_700_000_005_123), "beat@h")
    assert message["request_id"] == "sched-j-1700000000000"
    assert message["placed_before_ms"] == 1_700_000_000_000 - 600_000
    assert (message["kind"], message["reason"], message["requested_by"]) == (
        "kill",
        "eod",
        "beat@h",
    )
    assert one(every=60).message(0, "b")["reason"] == "eod"


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"cron": "0 16 * *"}, "schedule.j.cron"),
        ({"cron": "0 16 * * 8"}, "schedule.j.cron"),
        ({"cron": "* * * * *", "every": 5}, "schedule.j"),
        ({}, "schedule.j"),
        ({"every": "5x"}, "schedule.j.every"),
        ({"every": 0}, "schedule.j.every"),
        ({"every": 5, "request": {"kind": "cancel", "idempotency_key": "k"}},
         "schedule.j.request.idempotency_key"),
        ({"every": 5, "request": {"kind": "cancel", "side": "buy"}}, "schedule.j.request.side"),
        ({"every": 5, "older_than": "1m", "request": {"kind": "cancel"}}, "schedule.j.older_than"),
        ({"every": 5, "name": "a b"}, "schedule[0].name"),
    ],
)  # fmt: skip
def test_a_bad_schedule_is_named(table, where):
    with pytest.raises(ConfigError) as info:
        one(**table)
    assert where in str(info.value)


def test_two_schedules_of_one_name_are_refused():
    with pytest.raises(ConfigError, match="names two schedules"):
        parse([{"name": "j", "every": 1, "request": KILL}] * 2)


def test_durations():
    assert [duration_s(v, "f") for v in (90, "90s", "10m", "2h", "1d")] == [
        90,
        90,
        600,
        7200,
        86400,
    ]
