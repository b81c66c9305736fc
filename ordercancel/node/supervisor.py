"""`ordercancel worker`: the Celery worker, one node per queue unless told otherwise.

With no `-Q`, Celery workers run under this process: one on the urgent queue, so a kill never
waits behind routine cancels, and `[worker] processes` on the routine queue (one per core by
default: a Python process uses one core at most). With `-Q`, this is exactly
`celery -A ordercancel.worker worker ...`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import redis

from ordercancel.config import Settings, safe_url
from ordercancel.node.queues import ROUTINE, URGENT
from ordercancel.observe import metrics
from ordercancel.state.store import connect

CELERY = [sys.executable, "-m", "celery", "-A", "ordercancel.worker", "worker"]
#: Celery's node-to-node chatter: unused here, it costs a second at start-up (mingle) and logs
#: tracebacks when the broker connection drops (gossip). Flower does without it; it needs the
#: task events of `-E` (docs/operations.md, "Flower").
QUIET = ["--without-gossip", "--without-mingle", "--without-heartbeat"]


def _names_queues(args: Sequence[str]) -> bool:
    return any(a in ("-Q", "--queues") or a.startswith(("-Q", "--queues=")) for a in args)


def wait_for_redis(url: str, *, first_pause: float = 1.0, max_pause: float = 10.0) -> None:
    """Until Redis answers: one line per try on stderr, no traceback."""
    pause = first_pause
    while True:
        client = connect(url)
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            print(
                f"ordercancel worker: Redis at {safe_url(url)} is unreachable ({exc}); "
                f"retrying in {pause:g}s",
                file=sys.stderr,
                flush=True,
            )
        finally:
            client.close()
        time.sleep(pause)
        pause = min(pause * 2, max_pause)


def run(args: Sequence[str], settings: Settings) -> int:
    wait_for_redis(settings.broker_redis_url)
    if _names_queues(args):
        os.execv(sys.executable, [*CELERY, *args])
    pid = os.getpid()
    metrics_port = metrics.port()
    shared = None
    if metrics_port is not None:  # the nodes write metric files, we serve their sum
        shared = metrics.prepare_shared_dir()
        metrics.serve_shared(metrics_port)
    urgent = ["-Q", URGENT, "-n", f"urgent.{pid}@%h", "-c", str(settings.urgent_concurrency)]
    nodes = [urgent] + [
        ["-Q", ROUTINE, "-n", f"routine{i}.{pid}@%h", "-c", str(settings.worker_concurrency)]
        for i in range(1, settings.routine_processes + 1)
    ]
    children = [subprocess.Popen([*CELERY, *node, *QUIET, *args]) for node in nodes]
    asked: set[int] = set()

    def forward(signum: int, _frame: object) -> None:
        asked.add(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.2)

    if not asked:
        # one node ended on its own: stop the other too, so that whoever supervises this
        # process sees it end and starts another
        forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    # A node may get a stop signal twice (from its process group and from us); if the second
    # lands as it exits it ends "killed by" that signal: still the stop we asked for.
    return next((code for code in codes if code and -code not in asked), 0)
