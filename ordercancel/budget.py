"""One rate budget per venue scope, shared by every worker process (Redis, via `limits`).

A venue says what its limit applies to (`Venue.rate_scope`): ZebPay's 180/60s is per client IP,
so every ZebPay account reached through one host shares one budget; Ajaib's is per account.
The budget is a moving window of the (smallest) configured `rate_limit` in that scope.

Urgent work (a kill) may use the whole window. Routine work also takes a token from a routine
window of `ROUTINE_SHARE` of the limit, so a kill always finds headroom. Waiting for budget counts
against the request's deadline. A 429 burns half of what the window has left: the venue knows
better than our count (other clients on the IP, an unpublished quota). A 429 with Retry-After
instead holds the whole scope until then: no worker calls the venue in that scope before it
ends, and the window is left as it was.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from ordercancel.config import RateLimit
from ordercancel.errors import RateLimited

ROUTINE_SHARE = 0.8
#: the longest single sleep while waiting for budget (the window may free earlier)
MAX_NAP_S = 0.25


class BudgetExhausted(RateLimited):
    """No budget before the deadline: the call was never sent."""


@dataclass(frozen=True)
class CallContext:
    urgent: bool
    deadline_at_ms: int


_context: ContextVar[CallContext | None] = ContextVar("ordercancel_call", default=None)


@contextlib.contextmanager
def calling(urgent: bool, deadline_at_ms: int) -> Iterator[None]:
    """Venue calls made inside are `urgent` (or not) and may wait for budget until the deadline."""
    token = _context.set(CallContext(urgent, deadline_at_ms))
    try:
        yield
    finally:
        _context.reset(token)


def storage_uri(redis_url: str) -> str:
    return (
        "redis+unix://" + redis_url[len("unix://") :]
        if redis_url.startswith("unix://")
        else redis_url
    )


class Budget:
    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        scope: str,
        limit: RateLimit,
        client: redis.Redis,
        hold_key: str,
    ):
        self.limiter, self.scope, self.limit = limiter, scope, limit
        self.redis, self.hold_key = client, hold_key
        self._hold = client.register_script(
            files("ordercancel.lua").joinpath("hold.lua").read_text()
        )
        seconds = max(1, math.ceil(limit.seconds))
        self.item = RateLimitItemPerSecond(limit.count, seconds)
        routine = max(1, math.floor(limit.count * ROUTINE_SHARE))
        self.routine_item = RateLimitItemPerSecond(routine, seconds, namespace="ROUTINE")

    def acquire(self, timeout: float) -> float:
        """Take one token, waiting while there is none; returns the seconds waited.

        Outside a `calling` block the call is routine and may wait `timeout`."""
        ctx = _context.get()
        urgent = ctx.urgent if ctx else False
        deadline = ctx.deadline_at_ms / 1000 if ctx else time.time() + timeout
        started = time.time()
        have_routine = urgent
        while True:
            held_ms: Any = self.redis.pttl(self.hold_key)
            if held_ms > 0:  # the venue said when to come back
                if time.time() + held_ms / 1000 > deadline:
                    raise BudgetExhausted(
                        f"venue asked ({self.scope}) to wait {held_ms} ms, past the deadline"
                    )
                time.sleep(held_ms / 1000)
                continue
            have_routine = have_routine or self.limiter.hit(self.routine_item, self.scope)
            if have_routine and self.limiter.hit(self.item, self.scope):
                return time.time() - started
            item = self.item if have_routine else self.routine_item
            free_at = self.limiter.get_window_stats(item, self.scope).reset_time
            nap = min(max(free_at - time.time(), 0.005), MAX_NAP_S)
            if time.time() + nap > deadline:
                raise BudgetExhausted(
                    f"rate budget {self.limit} ({self.scope}) exhausted until the deadline"
                )
            time.sleep(nap)

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429: hold the whole scope for `retry_after` seconds when the venue says how
        long; else burn half of what the window has left."""
        if retry_after:
            self._hold(keys=[self.hold_key], args=[max(1, int(retry_after * 1000))])
            return
        left = self.limiter.get_window_stats(self.item, self.scope).remaining
        if left > 1:
            self.limiter.hit(self.item, self.scope, cost=left // 2)


def hold_key(prefix: str, scope: str) -> str:
    return f"{prefix}:budget:hold:{scope}"


def make_limiter(redis_url: str, prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(
        RedisStorage(storage_uri(redis_url), key_prefix=f"{prefix}:budget")
    )
