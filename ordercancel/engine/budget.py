"""One rate budget per venue scope, shared by every worker process (Redis).

A venue says what its limit applies to (`Venue.rate_scope`): ZebPay's 180/60s is per client IP,
so every ZebPay account reached through one host shares one budget; Ajaib's is per account.
The budget is a moving window of the (smallest) configured `rate_limit` in that scope, kept in
Redis by one script (`lua/budget.lua`) that also checks the hold: one round trip per call.
(The `limits` library's moving window took three: the hold, the routine window, the window.)

Urgent work (a kill) may use the whole window. Routine work also takes a token from a routine
window of `ROUTINE_SHARE` of the limit, so a kill always finds headroom. Waiting for budget counts
against the request's deadline. A 429 burns half of what the window has left: the venue knows
better than our count (other clients on the IP, an unpublished quota). A 429 with Retry-After
instead holds the whole scope until then: no worker calls the venue in that scope before it
ends, and the window is left as it was.
"""

from __future__ import annotations

import math
import time
from importlib.resources import files
from typing import Any

import redis

from ordercancel.config import RateLimit
from ordercancel.errors import RateLimited
from ordercancel.state.keys import Keys

ROUTINE_SHARE = 0.8
#: the longest single sleep while waiting for budget (the window may free earlier)
MAX_NAP_S = 0.25


class BudgetExhausted(RateLimited):
    """No budget before the deadline: the call was never sent."""


class Budget:
    """The rate budget of one scope, in Redis (`lua/budget.lua`): one round trip per call."""

    def __init__(self, client: redis.Redis, prefix: str, scope: str, limit: RateLimit):
        self.redis, self.scope, self.limit = client, scope, limit
        self.keys = Keys(prefix).budget(scope)
        self.hold_key = self.keys[2]
        self.window_ms = max(1, round(limit.seconds * 1000))
        self.routine = max(1, math.floor(limit.count * ROUTINE_SHARE))
        self._script = client.register_script(
            files("ordercancel.state.lua").joinpath("budget.lua").read_text()
        )

    def _run(self, op: str, routine: int = 0, arg: int = 0) -> Any:
        return self._script(
            keys=self.keys, args=[op, self.window_ms, self.limit.count, routine, arg]
        )

    def acquire(
        self, timeout: float = 0.0, *, urgent: bool = False, start_by_ms: int | None = None
    ) -> float:
        """Take one token, waiting while there is none, until `start_by_ms` (else `timeout`
        seconds); returns the seconds waited. Urgent work may use the whole window."""
        deadline = start_by_ms / 1000 if start_by_ms is not None else time.time() + timeout
        started = time.time()
        while True:
            code, wait_ms = self._run("take", 0 if urgent else self.routine)
            if code == 0:
                return time.time() - started
            wait = wait_ms / 1000
            if time.time() + wait > deadline:
                if code == 1:
                    raise BudgetExhausted(
                        f"venue asked ({self.scope}) to wait {wait_ms} ms, past the deadline"
                    )
                raise BudgetExhausted(
                    f"rate budget {self.limit} ({self.scope}) exhausted until the deadline"
                )
            time.sleep(max(0.001, wait if code == 1 else min(wait, MAX_NAP_S)))

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429: hold the whole scope for `retry_after` seconds when the venue says how
        long; else burn half of what the window has left."""
        if retry_after:
            self._run("hold", arg=max(1, int(retry_after * 1000)))
        else:
            self._run("burn")

    def after_failover(self) -> None:
        """A new primary: the calls whose counts it never received may still be inside the
        window, so routine work waits one whole window; kills go on (docs/guarantees.md)."""
        self._run("failover")

    def left(self) -> int:
        """Calls the window has room for now."""
        return int(self._run("left"))
