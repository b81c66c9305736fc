"""Recovery from our own records: no request is lost when a worker dies, in at most a lease.

kombu hands a dead worker's message back only after the visibility timeout, and a message
popped by a worker that dies before kombu records it as unacked is gone from the broker. So
every producer first records the request in the *ledger* (`Store.record`), `begin.lua` marks
which worker node *owns* it, and `finish.lua` removes both. Every node runs a `Heartbeat`:
each `BEAT_S` it renews its lease (`lease_s`), and in the same script (`lua/beat.lua`) it takes
the requests whose owner's lease ran out, and those that nobody owns long after they were sent
while the queues are empty, and sends them again. The request path runs each once: a request
a live node runs is dropped as a duplicate, a finished one is done, a begun one is re-run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from ordercancel.events import Outcome, final_event, unparsed_fields
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.request import now_ms
from ordercancel.runtime import Runtime

log = logging.getLogger("ordercancel")
BEAT_S = 1.0
#: A request nobody runs this long after it was sent, with the queues empty, is sent again.
UNOWNED_AFTER_MS = 5_000
#: A request sent again this many times (it kills whoever runs it) is dead-lettered.
MAX_RESENDS = 5


class Heartbeat(threading.Thread):
    def __init__(self, rt: Runtime, queues: list[str], send: Callable[[dict[str, Any]], None]):
        super().__init__(name="ordercancel-heartbeat", daemon=True)
        self.rt, self.queues, self.send = rt, queues, send
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except redis.RedisError as exc:  # Redis away: the lease is renewed once it is back
                log.warning("heartbeat: %s; retrying", type(exc).__name__)
            if self.stopped.wait(BEAT_S):
                return

    def beat(self) -> None:
        rt = self.rt
        disown = list(rt.disowned)
        orphans = rt.store.beat(
            rt.node,
            lease_ms=rt.settings.lease_s * 1000,
            unowned_after_ms=UNOWNED_AFTER_MS,
            queues=self.queues,
            disown=disown,
        )
        del rt.disowned[: len(disown)]
        for request_id, resends, message in orphans:
            if resends > MAX_RESENDS:
                self.bury(request_id, message, resends)
                continue
            log.warning("recovery: request %s sent again (%d)", request_id, resends)
            self.send(message)

    def bury(self, request_id: str, message: dict[str, Any], resends: int) -> None:
        received = message.get("received_ms")
        base = unparsed_fields(
            message, request_id, received if isinstance(received, int) else now_ms()
        )
        why = f"dead-lettered: sent again {resends - 1} times without finishing"
        self.rt.store.finish(final_event(base, Outcome(Status.FAILED, ErrorCode.DEAD_LETTER, why)))
        log.error("recovery: request %s %s", request_id, why)
