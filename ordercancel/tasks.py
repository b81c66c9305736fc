"""Celery tasks: thin; the request path is `ordercancel.pipeline`."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.exceptions import Reject

from ordercancel import pipeline
from ordercancel.celery_app import TASK
from ordercancel.worker import app, runtime

log = logging.getLogger("ordercancel")


@app.task(name=TASK, ignore_result=True)
def execute(message: dict[str, Any]) -> None:
    try:
        pipeline.handle(message, runtime())
    except redis.RedisError as exc:
        # Acking now would lose the request: hand it back. If Redis is too far gone to take it,
        # it stays in the unacked set and is redelivered after the visibility timeout.
        log.warning("redis error, handing the request back: %s", type(exc).__name__)
        raise Reject(requeue=True) from exc
