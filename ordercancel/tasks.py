"""Celery tasks: thin; the request path is `ordercancel.pipeline`."""

from __future__ import annotations

from typing import Any

from ordercancel import pipeline
from ordercancel.celery_app import TASK
from ordercancel.worker import app, runtime


@app.task(name=TASK, ignore_result=True)
def execute(message: dict[str, Any]) -> None:
    pipeline.handle(message, runtime())
