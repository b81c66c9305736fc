"""One rate budget per venue scope, shared by every worker process (Redis).

A venue says what its limit applies to (`Venue.rate_scope`): ZebPay's 180/60s is per client IP,
so every ZebPay account reached through one host shares one budget; Ajaib's is per account.
The budget is a moving window of the (smallest) configured `rate_limit` in that scope, kept in
Redis by one script (`lua/budget.lua`) that also checks the hold: one round trip per call.
A single cancel's first token is taken by `begin.lua` instead, as the request begins (the
window's functions are shared: `lua/budget_lib.lua`); not where tokens wait for replicas.
(The `limits` library's moving window took three: the hold, the routine window, the window.)

Urgent work (a kill) may use the whole window. Routine work also takes a token from a routine
window of `ROUTINE_SHARE` of the limit, so a kill always finds headroom. Waiting for budget counts
against the request's deadline. A 429 burns half of what the window has left: the venue knows
better than our count (other clients on the IP, an unpublished quota). A 429 with Retry-After
instead holds the whole scope until then: no worker calls the venue in that scope before it
ends, and the window is left as it was.

With replicas to wait for (`[redis] wait_replicas`, Sentinel), a token travels with a `WAIT`
(one pipeline): its count is on a replica before its call is sent, so a failover loses none.
A token whose WAIT fell short is remembered by the process that took it, which puts it back
into the window when it sees a new primary (`after_failover`). No scope is held after a failover.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import redis

from ordercancel.config import RateLimit
from ordercancel.errors import RateLimited
from ordercancel.state.keys import Keys
from ordercancel.state.store import script_text

if TYPE_CHECKING:
    from ordercancel.state.store import Store

ROUTINE_SHARE = 0.8
#: the longest single sleep while waiting for budget (the window may free earlier)
MAX_NAP_S = 0.25


#: why no token, per `lua/budget.lua`'s answer code: {0} the budget, {1} the ms to wait
HELD = {
    1: "venue asked ({0.scope}) to wait {1} ms, past the deadline",
    2: "rate budget {0.limit} ({0.scope}) exhausted until the deadline",
}


class BudgetExhausted(RateLimited):
    """No budget before the deadline: the call was never sent. Not retried: the budget already
    waited for as long as the call could start (a hold or a full window outlasts it)."""

    sent = False
    max_retries = 0


class Budget:
    """The rate budget of one scope, in Redis (`lua/budget.lua`): one round trip per call."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        scope: str,
        limit: RateLimit,
        *,
        store: Store | None = None,
    ):
        """`store`: whose `WAIT` replicates each token (none: tokens are not waited for)."""
        self.redis, self.scope, self.limit, self.store = client, scope, limit, store
        #: when this process took tokens whose WAIT fell short (time.time()): a failover may
        #: lose their counts, so they are put back after one
        self.unconfirmed: deque[float] = deque()
        self._lock = threading.Lock()
        self.keys = Keys(prefix).budget(scope)
        self.hold_key = self.keys[2]
        self.window_ms = max(1, round(limit.seconds * 1000))
        self.routine = max(1, math.floor(limit.count * ROUTINE_SHARE))
        self._script = client.register_script(script_text("budget"))

    def token(self, *, urgent: bool = False) -> tuple[list[str], list[int]] | None:
        """What `Store.begin` needs to take a token as it begins a request (its keys and
        arguments); None where each token must travel with a WAIT (`_take`)."""
        if self.store is not None and self.store.wait_replicas:
            return None
        return self.keys, [self.window_ms, self.limit.count, 0 if urgent else self.routine]

    def _run(self, op: str, routine: int = 0, arg: int = 0) -> Any:
        return self._script(
            keys=self.keys, args=[op, self.window_ms, self.limit.count, routine, arg]
        )

    def _take(self, routine: int) -> tuple[int, int]:
        """One `take`, followed by a WAIT in the same pipeline when replicas are waited for."""
        store = self.store
        if store is None or not store.wait_replicas:
            code, wait_ms = self._run("take", routine)
            return int(code), int(wait_ms)
        args: list[Any] = ["take", self.window_ms, self.limit.count, routine, 0]
        for loaded in (False, True):
            pipe = self.redis.pipeline(transaction=False)
            pipe.evalsha(self._script.sha, len(self.keys), *self.keys, *args)
            try:
                replies, short = store.execute_replicated(pipe, "a rate token")
                break
            except redis.exceptions.NoScriptError:  # a new primary, or a restarted server
                if loaded:
                    raise
                self.redis.script_load(self._script.script)
        code, wait_ms = (int(v) for v in replies[0])
        if code == 0 and short is not False:  # on the primary alone, perhaps
            now = time.time()
            with self._lock:
                self.unconfirmed.append(now)
                while self.unconfirmed[0] < now - self.limit.seconds:
                    self.unconfirmed.popleft()
        return code, wait_ms

    def acquire(
        self, timeout: float = 0.0, *, urgent: bool = False, start_by_ms: int | None = None
    ) -> float:
        """Take one token, waiting while there is none, until `start_by_ms` (else `timeout`
        seconds); returns the seconds waited. Urgent work may use the whole window."""
        deadline = start_by_ms / 1000 if start_by_ms is not None else time.time() + timeout
        started = time.time()
        while True:
            code, wait_ms = self._take(0 if urgent else self.routine)
            if code == 0:
                return time.time() - started
            wait = wait_ms / 1000
            if time.time() + wait > deadline:
                raise BudgetExhausted(HELD[code].format(self, wait_ms))
            time.sleep(max(0.001, wait if code != 2 else min(wait, MAX_NAP_S)))

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429: hold the whole scope for `retry_after` seconds when the venue says how
        long; else burn half of what the window has left."""
        if retry_after:
            self._run("hold", arg=max(1, int(retry_after * 1000)))
        else:
            self._run("burn")

    def after_failover(self) -> int:
        """A new primary: put back into the window the tokens this process took in the last
        window whose WAIT fell short (the new primary may never have received their counts);
        how many. They are kept: another failover puts them back again."""
        with self._lock:
            cutoff = time.time() - self.limit.seconds
            while self.unconfirmed and self.unconfirmed[0] < cutoff:
                self.unconfirmed.popleft()
            lost = len(self.unconfirmed)
        if lost:
            self._run("restore", self.routine, lost)
        return lost

    def left(self) -> int:
        """Calls the window has room for now."""
        return int(self._run("left"))
