"""Recovery from our own records: no request is lost when a worker dies, in at most a lease.

A message a worker has popped from the broker is gone from it (kombu keeps no copy in Redis,
`broker.py`), so a worker that dies takes its messages with it. So every producer first
records the request in the *ledger* (`Store.dispatch`), `begin.lua` marks
which worker node *owns* it, and `finish.lua` removes both. Every node runs a `Heartbeat`:
each `BEAT_S` it renews its lease (`lease_s`), and in the same script (`lua/beat.lua`) it takes
the requests whose owner's lease ran out, and those that nobody owns long after they were sent
while the queues are empty, and sends them again. The request path runs each once: a request
a live node runs is dropped as a duplicate, a finished one is done, a begun one is re-run
(reading the order back first). A request begun once is never `expired`: its node may have
sent the cancel before it died. Leases are fenced (`lease.py`): a node whose requests were
taken over neither calls a venue for them nor publishes their finals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from ordercancel import request as requests_
from ordercancel.errors import RequestError
from ordercancel.events import Outcome, final_event, request_fields, unparsed_fields
from ordercancel.node.runtime import EXPIRE_MARGIN_MS, Runtime
from ordercancel.observe import sentry
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.request import now_ms
from ordercancel.state import sentinel

log = logging.getLogger("ordercancel")
BEAT_S = 1.0
#: A request sent again this many times (it kills whoever runs it) is dead-lettered.
MAX_RESENDS = 5


class Heartbeat(threading.Thread):
    def __init__(self, rt: Runtime, queues: list[str], send: Callable[[dict[str, Any]], None]):
        super().__init__(name="ordercancel-heartbeat", daemon=True)
        self.rt, self.queues, self.send = rt, queues, send
        self.stopped = threading.Event()
        #: the primary this node saw at its last beat (Sentinel)
        self.seen: str | None = None

    def run(self) -> None:
        while True:
            wait = BEAT_S
            try:
                self.beat()
                due = self.rt.store.next_due_ms()
                if due is not None:  # wake when the next queued request's deadline passes
                    wait = min(wait, max(0.005, (due - EXPIRE_MARGIN_MS - now_ms()) / 1000))
            except redis.RedisError as exc:  # Redis away: the lease is renewed once it is back
                log.warning("heartbeat: %s; retrying", type(exc).__name__)
            except Exception as exc:  # a bug must not stop the lease and recovery
                sentry.unexpected(exc, "heartbeat")
            if self.stopped.wait(wait):
                return

    def beat(self) -> None:
        rt = self.rt
        disown = list(rt.disowned)
        orphans = rt.renew_lease(self.queues, disown, limit=500)
        del rt.disowned[: len(disown)]
        for what, request_id, resends, message in orphans:
            if what == "expire":
                self.expire(request_id, message)
            elif resends > MAX_RESENDS:
                self.bury(request_id, message, resends)
                continue
            else:
                log.warning("recovery: request %s sent again (%d)", request_id, resends)
                self.send(message)
        self.check_primary()

    def check_primary(self) -> None:
        """With Sentinel: the primary this node talks to, against the one the workers last
        recorded (`Keys.primary`, swapped atomically: one node sees each change first, a node
        that started after it too) and the one this node saw last. Another one means a
        failover: `Runtime.after_failover`."""
        primary = sentinel.primary_of(self.rt.store.redis)
        if primary is None:
            return
        now = f"{primary[0]}:{primary[1]}"
        before = self.rt.store.swap_primary(now)
        first = before is not None and before != now
        if first:
            log.warning("Redis failed over: primary %s -> %s", before, now)
        if first or (self.seen is not None and self.seen != now):
            try:
                self.rt.after_failover(first=first)
            except BaseException:  # not done: the next beat tries again
                if first:
                    self.rt.store.swap_primary(str(before))
                raise
        self.seen = now

    def expire(self, request_id: str, message: dict[str, Any]) -> None:
        """Its deadline passed while it waited for a worker: `expired`, never sent."""
        try:
            base = request_fields(requests_.parse(message, self.rt.settings))
        except RequestError:
            base = unparsed_fields(message, request_id, _received(message))
        outcome = Outcome(
            Status.EXPIRED,
            ErrorCode.DEADLINE_EXCEEDED,
            "deadline passed while the request waited for a worker",
        )
        self.rt.store.finish(final_event(base, outcome))

    def bury(self, request_id: str, message: dict[str, Any], resends: int) -> None:
        base = unparsed_fields(message, request_id, _received(message))
        why = f"dead-lettered: sent again {resends - 1} times without finishing"
        # each run may have reached the venue before its worker died: an order's outcome is
        # not known; an aggregate was not verified
        status = Status.UNKNOWN if message.get("kind", "cancel") == "cancel" else Status.FAILED
        self.rt.store.finish(final_event(base, Outcome(status, ErrorCode.DEAD_LETTER, why)))
        log.error("recovery: request %s %s", request_id, why)


def _received(message: dict[str, Any]) -> int:
    received = message.get("received_ms")
    return received if isinstance(received, int) else now_ms()
