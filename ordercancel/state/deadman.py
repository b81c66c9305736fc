"""The dead-man switch: without a heartbeat inside the timeout, a `kill` fires (reason `deadman`).

Neither venue offers one, so it lives here. The switch is a Redis hash kept on the Redis
server's clock (`lua/deadman.lua`) by the workers alone: producers arm it and beat it with
entries on a stream, which every worker node's `Watcher` applies every `CHECK_S` (auditing
each arming), dated by their stream ids, before it checks the switch. The first watcher to
see it expired claims the firing and sends the kill to the urgent queue; should that watcher
die before sending, another fires again 2 s later with the same `request_id`, which the
request path runs once. So the kill fires within the timeout plus a fraction of a second,
whichever worker armed or watched it, as long as one worker is alive.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from ordercancel.observe import sentry
from ordercancel.request import now_ms
from ordercancel.state.store import Store

log = logging.getLogger("ordercancel")
CHECK_S = 0.2


class Watcher(threading.Thread):
    def __init__(self, store: Store, submit: Callable[[dict[str, Any]], None]):
        super().__init__(name="ordercancel-deadman", daemon=True)
        self.store, self.submit = store, submit
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(CHECK_S):
            try:
                self.check()
            except redis.RedisError as exc:  # Redis away: try again next tick
                log.warning("dead-man check failed: %s", type(exc).__name__)
            except Exception as exc:  # a bug must not stop the dead-man switch
                sentry.unexpected(exc, "dead-man check")

    def check(self) -> None:
        switch = self.store.deadman_check()
        if switch is None:
            return
        request_id = f"deadman-{switch['armed_ms']}"
        accounts = [a for a in (switch.get("accounts") or "").split(",") if a]
        self.submit(
            {
                "kind": "kill",
                "reason": "deadman",
                "accounts": accounts or None,
                "request_id": request_id,
                "received_ms": now_ms(),
            }
        )
        self.store.deadman_sent(request_id)
        self.store.audit(
            "deadman_fire",
            request_id=request_id,
            reason="deadman",
            accounts=json.dumps(accounts),
            timeout_ms=switch.get("timeout_ms", ""),
            armed_by=switch.get("requested_by", ""),
        )
        log.warning("dead-man switch fired: kill %s (no heartbeat for %s ms)",
                    request_id, switch.get("timeout_ms"))  # fmt: skip
