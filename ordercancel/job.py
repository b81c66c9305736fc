"""One request's execution against its venue: deadline, venue calls made, progress events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from ordercancel.budget import calling
from ordercancel.errors import VenueError
from ordercancel.events import Outcome, make_event, request_fields
from ordercancel.metrics import RETRIES
from ordercancel.outcomes import EventType, Kind, Status
from ordercancel.request import Request
from ordercancel.retry import FINISH_S, MIN_CALL_S, Deadline, Tally, call_with_retry
from ordercancel.runtime import Runtime
from ordercancel.venues import Venue

T = TypeVar("T")


class Job:
    def __init__(
        self, req: Request, rt: Runtime, venue: Venue, deadline: Deadline, *, urgent: bool = False
    ):
        self.req, self.rt, self.venue, self.deadline = req, rt, venue, deadline
        #: a kill's work: may use the whole rate budget
        self.urgent = urgent
        self.tally = Tally()
        self._calls = 0  # venue HTTP calls made for this request, before the current call
        self._mark: int | None = None  # the venue's call count when the current call began
        self.base = request_fields(req)

    def child(self, order_id: str, symbol: str | None) -> Job:
        """A per-order job of a batch: its own request_id and events, the parent's deadline."""
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
        return Job(req, self.rt, self.venue, self.deadline, urgent=self.urgent)

    @property
    def readback_reserve(self) -> float:
        """Time kept back from cancel retries so the order can still be read back."""
        total = self.req.deadline_ms / 1000
        return min(max(self.venue.account.timeout_s, 0.5), total / 3)

    def call(self, op: Callable[[float], T], *, reserve: float = 0.0) -> T:
        """Call the venue with retries inside the deadline (see `retry.call_with_retry`)."""
        self._mark = self.venue.calls_made()
        try:
            # the latest a call may start: waiting for budget past it leaves no time to finish
            last_start_ms = self.deadline.at_ms - int((reserve + FINISH_S + MIN_CALL_S) * 1000)
            with calling(self.urgent, last_start_ms):
                return call_with_retry(
                    op,
                    deadline=self.deadline,
                    max_timeout=self.venue.account.timeout_s,
                    tally=self.tally,
                    resync=self.venue.resync_clock,
                    on_retry=self._retrying,
                    reserve=reserve,
                )
        finally:
            self._calls = self.calls
            self._mark = None

    @property
    def calls(self) -> int:
        """Venue HTTP calls made for this request so far (the events' `attempts`)."""
        running = 0 if self._mark is None else self.venue.calls_made() - self._mark
        return self._calls + running

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
