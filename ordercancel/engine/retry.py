"""Calling a venue inside a deadline: backoff, Retry-After, clock re-sync.

A retryable failure leaves the outcome unsettled; when time runs out the last such error is
raised and the caller reads the order back before deciding (NautilusTrader's rule).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ordercancel.errors import ClockSkew, NotSent, RetryableError, VenueError

T = TypeVar("T")
#: A call with less time than this left is not started.
MIN_CALL_S = 0.05
#: Kept back from venue calls at the end of a deadline: the time to settle and publish the
#: final (a Redis round trip, and a thread's turn on a busy machine).
FINISH_S = 0.1
MAX_CLOCK_RESYNCS = 2


def compute_backoff(
    attempt: int, *, base: float = 0.05, cap: float = 2.0, rand: Callable[[], float] = random.random
) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt))."""
    return rand() * min(cap, base * (2 ** max(attempt, 0)))


def poll_delay(
    polls: int,
    *,
    first: float = 0.025,
    cap: float = 0.25,
    rand: Callable[[], float] = random.random,
) -> float:
    """Wait before reading back a pending cancel: `first` four times, then doubling every four
    reads up to `cap`, +-10% jitter. Venues complete most cancels within tens of milliseconds,
    so the first reads come quickly; a slow one costs few calls."""
    return min(cap, first * 2 ** (polls // 4)) * (0.9 + 0.2 * rand())


@dataclass
class Deadline:
    at_ms: int

    def remaining(self) -> float:
        return (self.at_ms - time.time() * 1000) / 1000


@dataclass
class Tally:
    """What the retry loop saw of one request: the last error."""

    last_error: VenueError | None = None


def call_with_retry(
    op: Callable[[float], T],
    *,
    deadline: Deadline,
    max_timeout: float,
    tally: Tally,
    resync: Callable[[float], None],
    on_retry: Callable[[VenueError, float], None],
    reserve: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `op(timeout)` until it returns, fails for good, or the deadline (less `reserve` and
    FINISH_S) nears.

    429 waits at least Retry-After; 5xx, timeouts and connection errors back off with jitter;
    `ClockSkew` re-syncs the clock and tries again (twice at most).
    """
    resyncs = 0
    retries = 0
    by_kind: dict[type, int] = {}

    def left() -> float:
        return deadline.remaining() - reserve - FINISH_S

    while True:
        budget = left()
        if budget < MIN_CALL_S:
            raise tally.last_error or NotSent("deadline reached before the venue was called")
        try:
            return op(min(max_timeout, budget))
        except ClockSkew as exc:
            tally.last_error = exc
            if resyncs >= MAX_CLOCK_RESYNCS:
                raise
            resyncs += 1
            on_retry(exc, 0.0)
            try:
                resync(min(max_timeout, max(MIN_CALL_S, left())))
            except RetryableError as sync_exc:
                tally.last_error = sync_exc
        except RetryableError as exc:
            if exc.sent:  # a call never made leaves the outcome as settled as it was
                tally.last_error = exc
            by_kind[type(exc)] = by_kind.get(type(exc), 0) + 1
            if exc.max_retries is not None and by_kind[type(exc)] > exc.max_retries:
                raise
            wait = compute_backoff(retries)
            retries += 1
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            if wait + MIN_CALL_S > left():
                raise  # no time to wait it out: unsettled
            on_retry(exc, wait)
            sleep(wait)
