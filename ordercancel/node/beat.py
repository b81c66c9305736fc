"""`ordercancel beat`: Celery beat sending the `[[schedule]]` runs (`ordercancel/schedule.py`).

Celery beat keeps the time: cron and interval schedules, one tick loop. Its due entries do not
go onto a Celery queue: each becomes a request sent through the intake stream like any
producer's (one XADD), under the run's stable request id. So beat holds the producer's role
only (no broker, no venue secret), and keeps no state: a restarted beat does not send a run
twice, and if it did, the worker would drop the second as a duplicate of the first.

Run one per deployment. A second beat is safe (every run has one request id) but sends every
run twice, and Celery beat has no leader election to make the second one stand by.
"""

from __future__ import annotations

import getpass
import logging
import signal
import socket
from typing import Any

from celery import Celery
from celery.beat import Scheduler, Service

from ordercancel.client import Client
from ordercancel.errors import ConfigError, OrderCancelError
from ordercancel.request import now_ms
from ordercancel.schedule import Schedule, parse

log = logging.getLogger("ordercancel")


class IntakeScheduler(Scheduler):
    """Celery's in-memory scheduler whose due entries are sent as requests."""

    client: Client
    jobs: dict[str, Schedule]
    requested_by: str

    @property
    def producer(self) -> None:
        return None  # no broker: runs go to the intake stream

    def install_default_entries(self, data: Any) -> None:
        pass  # no result backend to clean up

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        job = self.jobs[entry.name]
        message = job.message(job.run_ms(now_ms()), self.requested_by)
        try:
            self.client.submit(message)
        except OrderCancelError as exc:  # Redis away for longer than the client retries
            log.error("schedule %s: run %s not sent: %s", job.name, message["request_id"], exc)
            return
        log.info("schedule %s: sent %s", job.name, message["request_id"])

    def close(self) -> None:
        pass


def run(client: Client) -> int:
    """Send the configured schedules' runs until SIGINT / SIGTERM."""
    jobs = parse(client.settings.schedule)
    if not jobs:
        raise ConfigError("no [[schedule]] table in the config: nothing to run", field="schedule")
    app = Celery("ordercancel-beat", set_as_current=False)
    app.conf.update(
        timezone="UTC",
        enable_utc=True,
        beat_schedule={j.name: {"task": "ordercancel.scheduled", "schedule": j.celery_schedule()}
                       for j in jobs},
    )  # fmt: skip
    scheduler = type(
        "Scheduler",
        (IntakeScheduler,),
        {
            "client": client,
            "jobs": {j.name: j for j in jobs},
            "requested_by": f"beat:{getpass.getuser()}@{socket.gethostname()}",
        },
    )
    service = Service(app, max_interval=1.0, scheduler_cls=scheduler, remote_control=False)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    for job in jobs:
        log.info("schedule %s: %s, %s", job.name, job.when, job.request.get("kind"))
    service.start()
    return 0
