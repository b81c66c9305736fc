"""Celery tasks: thin; the request path is `ordercancel.engine.pipeline`."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery.exceptions import Reject

from ordercancel.engine import pipeline
from ordercancel.node.celery_app import TASK, TASK_MANY
from ordercancel.node.runtime import Runtime
from ordercancel.request import known_id
from ordercancel.worker import app, runtime

log = logging.getLogger("ordercancel")
#: How long a task waits for Redis to come back before it hands its request back.
REDIS_PATIENCE_S = 120.0


@app.task(name=TASK, ignore_result=True)
def execute(message: dict[str, Any]) -> None:
    _execute(message, runtime())


@app.task(name=TASK_MANY, ignore_result=True)
def execute_many(messages: list[dict[str, Any]]) -> None:
    """Several requests (an intake read), run side by side on the process's request threads;
    each is the request `execute` runs, with its own outcome and final event."""
    rt = runtime()
    if not isinstance(messages, list):
        messages = [messages]
    # Each begins when a thread takes it, not before: one still waiting here at its deadline is
    # not yet owned, so recovery expires it on time (begun early, it would end late).
    for future in [rt.requests.submit(_execute, m, rt) for m in messages]:
        future.result()


def _execute(message: dict[str, Any], rt: Runtime) -> None:
    give_up_at = time.monotonic() + REDIS_PATIENCE_S
    pause = 0.25
    while True:
        try:
            pipeline.handle(message, rt)
            return
        except redis.RedisError as exc:
            # Redis is restarting or unreachable (or out of memory): nothing is lost by waiting.
            # The request runs again from the top once it is back; a begun one is re-run, and
            # its final is still published once.
            if time.monotonic() + pause > give_up_at:
                rid = known_id(message)
                if rid is not None:
                    rt.disowned.append(rid)  # recovery sends it again once Redis is back
                raise Reject(requeue=True) from exc
            log.warning("redis error (%s); the request waits %.2fs", type(exc).__name__, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
