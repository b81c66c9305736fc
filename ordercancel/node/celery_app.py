"""The Celery app on the Redis broker. At-least-once delivery is ours, not the broker's.

- every request is in our ledger from before it is enqueued until its final is published, and
  is sent again if its worker dies (`recovery.py`). So a task is acknowledged when it starts:
  kombu's late acknowledgement cannot promise it (a message popped by a worker that dies before
  kombu records it is gone), and a late ack after a broker reconnect kills the Celery 5.7 node.
  kombu keeps no copy of delivered messages in Redis either (`broker.py`);
- prefetch 1: a worker reserves one message per thread (`worker_concurrency`), so a message
  waits in the queue, where any node can take it, rather than behind a busy node;
- two queues: `urgent` (kill) and `routine`; `ordercancel worker` runs a worker for each, so
  routine work never occupies the threads urgent work needs.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from celery import Celery
from kombu import Queue, serialization
from kombu.exceptions import OperationalError
from kombu.utils.uuid import uuid

from ordercancel.config import Settings
from ordercancel.node.queues import ROUTINE, URGENT, queue_for
from ordercancel.request import known_id, new_request_id
from ordercancel.state import sentinel
from ordercancel.state.keys import Keys
from ordercancel.state.store import Store

log = logging.getLogger("ordercancel")
TASK = "ordercancel.execute"
#: several requests in one task (the intake's reads): one broker message for all of them
TASK_MANY = "ordercancel.execute_many"


def queue_keys(keys: Keys) -> list[str]:
    """The Redis lists kombu keeps our queues in (no message priorities are used)."""
    return [keys.celery + ROUTINE, keys.celery + URGENT]


def enqueue(app: Celery, store: Store, message: dict[str, Any], default_deadline_ms: int) -> str:
    """Record the request in the ledger and put it on its queue; returns the id it is known by.

    The ledger entry outlives a message lost on the way (popped by a worker that dies before it
    begins the request) and a producer that dies in between: recovery sends it again. It
    also expires a request still queued at its deadline."""
    return enqueue_many(app, store, [message], default_deadline_ms)[0]


def enqueue_many(
    app: Celery,
    store: Store,
    messages: list[dict[str, Any]],
    default_deadline_ms: int,
    entries: list[str] | None = None,
) -> list[str]:
    """`enqueue` for several requests, and acknowledge the intake `entries` they came from: one
    round trip (`Store.dispatch`), with one task for all the routine ones (a kill always
    travels alone, on the urgent queue). The broker messages are pushed by our script, as
    kombu would push them (`task_message`): Celery's `send_task` cost more CPU than the rest
    of the intake's work together."""
    rids = []
    for message in messages:
        rid = known_id(message)
        if rid is None:
            rid = message["_entry_id"] = new_request_id()
        rids.append(rid)
    due = [_due_ms(m, default_deadline_ms) for m in messages]
    items = list(zip(rids, messages, due, strict=True))
    pushes = [(store.keys.celery + queue, task_message(app, task, arg, queue))
              for task, arg, queue in _tasks(messages)]  # fmt: skip
    sent, recorded = store.dispatch(items, pushes, entries or ())
    if sent:
        return rids
    for rid, message, new in zip(rids, messages, recorded, strict=True):
        if not new:
            log.info("request %s is already recorded for another intake entry: entry %s is "
                     "dropped as its duplicate", rid, message.get("_entry_id"))  # fmt: skip
    for task, arg, queue in _tasks([m for m, new in zip(messages, recorded, strict=True) if new]):
        try:
            app.send_task(task, args=[arg], queue=queue)
        except OperationalError as exc:  # recorded, so not lost: recovery sends it once it can
            log.warning("%d request(s) recorded but not sent (%s); recovery will send them",
                        len(arg) if task == TASK_MANY else 1, exc)  # fmt: skip
    if entries:
        store.ack(entries)
    return rids


def _tasks(messages: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    """(task, its argument, queue) to send these requests: each kill alone on the urgent
    queue, the routine ones together."""
    routine = [m for m in messages if queue_for(m.get("kind")) == ROUTINE]
    tasks: list[tuple[str, Any, str]] = [
        (TASK, m, URGENT) for m in messages if queue_for(m.get("kind")) == URGENT
    ]
    if len(routine) == 1:
        tasks.append((TASK, routine[0], ROUTINE))
    elif routine:
        tasks.append((TASK_MANY, routine, ROUTINE))
    return tasks


def task_message(app: Celery, task: str, arg: Any, queue: str) -> str:
    """The message `app.send_task(task, args=[arg], queue=queue)` would push onto the queue's
    list, as kombu's Redis transport keeps it: Celery's protocol 2 (its own `as_task_v2`), the
    body JSON then base64, published to the default exchange with the queue as routing key."""
    task_id = uuid()
    headers, properties, body, _ = app.amqp.as_task_v2(
        task_id, task, args=[arg], argsrepr=_argsrepr(arg), kwargsrepr="{}", ignore_result=None
    )
    content_type, encoding, payload = serialization.dumps(body, serializer="json")
    assert isinstance(payload, str)
    properties.update(
        delivery_mode=2,
        delivery_info={"exchange": "", "routing_key": queue},
        priority=0,
        body_encoding="base64",
        delivery_tag=uuid(),
    )
    return json.dumps(
        {
            "body": base64.b64encode(payload.encode()).decode(),
            "content-encoding": encoding,
            "content-type": content_type,
            "headers": headers,
            "properties": properties,
        }
    )


def _argsrepr(arg: Any) -> str:
    """What Flower and `celery inspect` show of a task: per request its id, kind, account and
    order id (not the whole body, which Celery would repr at a cost), within Celery's 1,024
    characters."""
    messages = arg if isinstance(arg, list) else [arg]
    shown = (
        " ".join(str(m.get(k)) for k in ("kind", "account", "order_id") if m.get(k))
        for m in messages
    )
    ids = (known_id(m) or m.get("_entry_id") for m in messages)
    text = "[" + ", ".join(f"{rid}: {what}" for rid, what in zip(ids, shown, strict=True)) + "]"
    return text if len(text) <= 1024 else text[:1020] + "...]"


def _due_ms(message: dict[str, Any], default_deadline_ms: int) -> int:
    """When the request's deadline passes (0 when its fields are not usable numbers)."""
    received, deadline = message.get("received_ms"), message.get("deadline_ms", default_deadline_ms)
    whole = all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (received, deadline)
    )
    return received + deadline if whole else 0


def broker_url(redis_url: str) -> str:
    """kombu spells a unix socket `redis+socket://`. And for a `rediss://` URL that gives no
    `ssl_*` option, kombu turns certificate verification off (redis-py keeps it on): so
    `ssl_cert_reqs=required` is made explicit, unless the URL says otherwise."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "rediss" and "ssl_cert_reqs" not in parse_qs(parts.query, True):
        query = "&".join(q for q in (parts.query, "ssl_cert_reqs=required") if q)
        return urlunsplit(parts._replace(query=query))
    return redis_url


def make_celery(settings: Settings) -> Celery:
    url, transport = broker_url(settings.broker_redis_url), dict[str, Any]()
    if sentinel.is_sentinel(settings.broker_redis_url):
        url, transport = sentinel.broker_params(settings.broker_redis_url)
    app = Celery("ordercancel", broker=url, include=["ordercancel.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        task_queues=(Queue(ROUTINE), Queue(URGENT)),
        task_default_queue=ROUTINE,
        task_create_missing_queues=False,
        broker_transport_options={
            "global_keyprefix": Keys(settings.prefix).celery,
            "queue_order_strategy": "priority",  # a worker on both queues drains urgent first
            **transport,  # Sentinel: master_name, the sentinels' own options
        },
        # a demoted primary's errors reconnect the consumer (celery#7946), as a lost link does
        broker_channel_error_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # Redis restarting: never give up
        worker_pool="threads",
        worker_concurrency=settings.worker_concurrency,
        worker_disable_rate_limits=True,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app
