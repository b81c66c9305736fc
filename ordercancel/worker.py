"""The Celery worker's app: `celery -A ordercancel.worker worker` (or `ordercancel worker`).

Configuration is read once, at import; a configuration error stops start-up with one line that
names the account and field.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from typing import Any

from celery.signals import after_setup_logger, worker_ready

from ordercancel.errors import ConfigError
from ordercancel.node import broker
from ordercancel.node.celery_app import make_celery
from ordercancel.node.runtime import Runtime
from ordercancel.observe import metrics, sentry
from ordercancel.settings import load_settings
from ordercancel.state.keys import Keys

try:
    settings = load_settings()
except ConfigError as exc:
    print(f"ordercancel: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

sentry.init(settings)  # when SENTRY_DSN is set; before the app, for its Celery integration
app = make_celery(settings)
broker.install()  # acks that never kill the node (see broker.py)
# Celery logs two lines per task at INFO ("received", "succeeded"); ours is one line per final
# outcome (logs.py), which says more. Warnings and errors still show.
for name in ("celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(name).setLevel(logging.WARNING)
_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, made on first use."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime(settings)
    return _runtime


@after_setup_logger.connect
def _log_format(logger: logging.Logger, **_: Any) -> None:
    if settings.log_format == "json":
        from ordercancel.observe.logs import use_json

        use_json(logger)


@worker_ready.connect
def _announce_ready(sender: Any = None, **_: Any) -> None:
    """Renew this node's lease (and recover lost requests), read the intake stream and watch the
    dead-man switch; then tell whoever started us (tests, the demo) that this node consumes."""
    from ordercancel.node.celery_app import enqueue, enqueue_many, queue_keys
    from ordercancel.node.intake import Intake
    from ordercancel.state.deadman import Watcher
    from ordercancel.state.recovery import Heartbeat

    rt = runtime()
    keys = Keys(settings.prefix)
    metrics_port = metrics.port()
    if metrics_port is not None and not os.environ.get(metrics.DIR_ENV):
        metrics.serve_alone(metrics_port)  # started without `ordercancel worker`

    def send(message: dict[str, Any]) -> None:
        enqueue(app, rt.store, message, settings.default_deadline_ms)

    def send_many(messages: list[dict[str, Any]], entries: list[str]) -> None:
        enqueue_many(app, rt.store, messages, settings.default_deadline_ms, entries)

    Heartbeat(rt, queue_keys(keys), send).start()
    Watcher(rt.store, send).start()
    Intake(settings, rt.store, getattr(sender, "hostname", "worker"), send_many).start()
    client = rt.store.redis
    if settings.accounts:
        client.sadd(keys.accounts, *settings.accounts)
    # What start-up made (Celery, kombu, our modules) lives as long as the process: out of
    # the cyclic collector's full passes, each of which paused every thread for 30-70 ms
    gc.freeze()
    client.rpush(keys.workers_ready, getattr(sender, "hostname", "worker"))
    client.expire(keys.workers_ready, 3600)
