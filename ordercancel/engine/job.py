"""One request's execution against its venue: deadline, venue calls made, progress events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from ordercancel.engine.retry import FINISH_S, MIN_CALL_S, Deadline, Tally, call_with_retry
from ordercancel.errors import NotSent, VenueError
from ordercancel.events import Outcome, make_event, request_fields
from ordercancel.node.runtime import Runtime
from ordercancel.observe.metrics import BUDGET_WAIT_SECONDS, BUDGET_WAITS, RETRIES
from ordercancel.outcomes import EventType, Kind, Status
from ordercancel.request import Request
from ordercancel.venues import OrderState, Venue
from ordercancel.venues.base import Call

T = TypeVar("T")
#: `detail.cancelled_by` of a `canceled` that may be another's cancel: an attempt of this
#: request went unanswered (or an earlier run of it died) before the venue showed it cancelled.
UNSURE = "unsure"


class Job:
    """`node`: the lease identity the request was begun under (`lease.py`); its venue calls
    and final are made under it, or not at all."""

    def __init__(
        self,
        req: Request,
        rt: Runtime,
        venue: Venue,
        deadline: Deadline,
        *,
        node: str,
        urgent: bool = False,
        rerun: bool = False,
        parent: Job | None = None,
        token: bool = False,
    ):
        """`token`: the rate token of the first venue call was taken as the request began."""
        self.req, self.rt, self.venue, self.deadline = req, rt, venue, deadline
        self.node = node
        #: a kill's work: may use the whole rate budget
        self.urgent = urgent
        self.tally = Tally()
        #: an earlier run of this request (or of its parent) may have sent venue calls
        self.rerun = rerun
        self.parent = parent
        #: when the first call's token was taken, as the request began (`enter` uses it while fresh)
        self._token_at = time.monotonic() if token else None
        self._sent = 0  # venue HTTP calls made for this request, on any thread
        self._lock = threading.Lock()
        self.base = request_fields(req)

    def child(self, order_id: str, symbol: str | None) -> Job:
        """A per-order job of a batch: its own request_id and events, the parent's deadline;
        its venue calls count as the parent's too."""
        req = replace(
            self.req,
            request_id=f"{self.req.request_id}:{order_id}",
            kind=Kind.CANCEL,
            order_id=order_id,
            order_ids=(),
            symbol=symbol,
            idempotency_key=None,
            parent_id=self.req.request_id,
        )
        return Job(
            req,
            self.rt,
            self.venue,
            self.deadline,
            node=self.node,
            urgent=self.urgent,
            rerun=self.rerun,
            parent=self,
        )

    @property
    def readback_reserve(self) -> float:
        """Time kept back from cancel retries so the order can still be read back."""
        total = self.req.deadline_ms / 1000
        return min(max(self.venue.account.timeout_s, 0.5), total / 3)

    def call(self, op: Callable[[Call], T], *, reserve: float = 0.0) -> T:
        """Call the venue with retries inside the deadline (see `retry.call_with_retry`)."""
        # the latest a call may start: waiting for budget past it leaves no time to finish
        start_by_ms = self.deadline.at_ms - int((reserve + FINISH_S + MIN_CALL_S) * 1000)
        return call_with_retry(
            lambda timeout: op(self._call(timeout, start_by_ms)),
            deadline=self.deadline,
            max_timeout=self.venue.account.timeout_s,
            tally=self.tally,
            resync=lambda timeout: self.venue.resync_clock(self._call(timeout, start_by_ms)),
            on_retry=self._retrying,
            reserve=reserve,
        )

    def _call(self, timeout: float, start_by_ms: int) -> Call:
        """A venue operation of this request, ending inside this node's lease (waiting for a
        renewal, within the deadline, while it has lapsed)."""
        held = self.rt.lease.hold(self.node, self.deadline.remaining() - FINISH_S - MIN_CALL_S)
        if held < MIN_CALL_S + FINISH_S:
            raise NotSent("this node's lease lapsed and was not renewed in time")
        return Call(min(timeout, held - FINISH_S), self.req.request_id, self, start_by_ms)

    # -- the `Gate` each HTTP call passes through (venues/base.py)

    def enter(self, call: Call) -> float:
        """Take a rate token (urgent work may use the whole window), check the lease, count
        the attempt up the lineage; the seconds the HTTP call may take."""
        budget = self.rt.budget(self.venue)
        assert call.start_by_ms is not None
        waited, token_at, self._token_at = 0.0, self._token_at, None
        # a token taken at `begin` counts this call only if the call follows at once: one made
        # later (a lease renewal waited for) would fall outside the window that counted it
        if token_at is None or time.monotonic() - token_at > budget.window_ms / 10_000:
            waited = budget.acquire(urgent=self.urgent, start_by_ms=call.start_by_ms)
        if waited > 0.001:
            BUDGET_WAITS.labels(budget.scope).inc()
            BUDGET_WAIT_SECONDS.labels(budget.scope).inc(waited)
        if self.rt.lease.hold(self.node, 0.0) < MIN_CALL_S:
            raise NotSent("this node's lease lapsed")
        for job in self.lineage():  # a child's calls are its parent's too
            with job._lock:
                job._sent += 1
        return max(0.05, call.timeout - waited)

    def rate_limited(self, retry_after: float | None) -> None:
        self.rt.budget(self.venue).penalize(retry_after)

    @property
    def may_have_acted(self) -> bool:
        """Whether a venue call of this request (or its parent) may have acted unseen: an
        earlier run, or a call left unsettled (no answer, an error that proves nothing)."""
        return any(job.rerun or job.tally.last_error is not None for job in self.lineage())

    def lineage(self) -> Iterator[Job]:
        """This job, its parent, and so on up."""
        job: Job | None = self
        while job is not None:
            yield job
            job = job.parent

    @property
    def calls(self) -> int:
        """Venue HTTP calls made for this request so far, on any thread (`attempts`)."""
        return self._sent

    def _retrying(self, exc: VenueError, wait: float) -> None:
        RETRIES.labels(self.venue.name, exc.code.value).inc()
        self.emit(
            EventType.RETRYING,
            error_code=exc.code.value,
            error=str(exc),
            http_status=exc.http_status,
            venue_status=exc.venue_status,
            detail={"wait_ms": int(wait * 1000)},
        )

    def emit(self, kind: EventType, **values: Any) -> None:
        self.rt.store.emit(make_event(self.base, kind, attempts=self.calls, **values))

    def outcome(self, status: Status, **kw: Any) -> Outcome:
        return Outcome(status, attempts=self.calls, **kw)

    def closed(self, state: OrderState, *, ours: bool | None) -> Outcome:
        """The outcome of an order read back terminal. `ours`: whether a cancel of this request
        closed it (True: the venue took ours while it was open; False: the venue refused ours
        as not open; None: cannot tell, an attempt went unanswered). A cancelled order is
        `canceled` only when it may be ours, else `already_closed` (closed before the cancel)."""
        status = state.phase.final_status
        assert status is not None
        detail: dict[str, str] = {}
        if status is Status.CANCELED and ours is False:
            status = Status.ALREADY_CLOSED
        elif status is Status.CANCELED and ours is None:
            detail["cancelled_by"] = UNSURE
        return self.outcome(
            status, http_status=state.http_status, venue_status=state.venue_status, detail=detail
        )

    def failed(
        self, exc: VenueError, status: Status = Status.FAILED, error: str | None = None
    ) -> Outcome:
        return self.outcome(
            status,
            error_code=exc.code.value,
            error=error or str(exc),
            http_status=exc.http_status,
            venue_status=exc.venue_status,
        )
