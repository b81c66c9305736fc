"""The naive canceller the throughput benchmark compares against: what a first Celery version
of this tool usually looks like.

One Celery task per cancel on the default prefork pool; a new HTTP connection per call
(`requests.delete`, no session); the task's return value stored in Celery's Redis result
backend, where the producer reads it (`AsyncResult.get`). It signs the cancel correctly and
reports the venue's answer; it does not verify, retry, deduplicate or budget anything.

The worker is `celery -A ordercancel.devtools.bench.baseline worker`, configured by the environment:
`OC_BASELINE_REDIS` (the Redis URL), `OC_BASELINE_PREFIX` (key prefix).
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from celery import Celery

from ordercancel.node.celery_app import broker_url
from ordercancel.venues.zebpay.auth import compact_json, sign

REDIS_ENV, PREFIX_ENV = "OC_BASELINE_REDIS", "OC_BASELINE_PREFIX"
QUEUE = "baseline"
TASK = "baseline.cancel"


def make_app(redis_url: str, prefix: str) -> Celery:
    url = broker_url(redis_url)
    app = Celery("baseline", broker=url, backend=url)
    app.conf.update(
        task_default_queue=QUEUE,
        broker_transport_options={"global_keyprefix": f"{prefix}:"},
        result_backend_transport_options={"global_keyprefix": f"{prefix}:"},
        result_expires=3600,
        worker_send_task_events=False,
    )
    app.task(name=TASK)(cancel)
    return app


def cancel(base_url: str, api_key: str, secret: str, order_id: str, symbol: str) -> dict[str, Any]:
    """`DELETE /api/v1/trade/order`, signed; the venue's status code and answer."""
    body = compact_json({"clientOrderId": order_id, "symbol": symbol,
                         "timestamp": int(time.time() * 1000)})  # fmt: skip
    resp = requests.delete(
        base_url + "/api/v1/trade/order",
        data=body,
        headers={
            "Content-Type": "application/json",
            "x-auth-apikey": api_key,
            "x-auth-signature": sign(secret, body),
        },
        timeout=10,
    )
    return {"http_status": resp.status_code, "answer": resp.json()}


app = make_app(os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0"),
               os.environ.get(PREFIX_ENV, "ocbaseline"))  # fmt: skip
