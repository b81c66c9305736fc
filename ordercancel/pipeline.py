"""The path of one request, top to bottom.

receive -> validate -> begin (idempotency claim + `accepted`, atomic) -> run the kind's flow
(venue calls with retry; read-back when the outcome is not settled) -> finish (one `final`).

No step here knows which venue it serves: venues speak `CancelReply` / `OrderState` and the
error tree.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ordercancel import request as requests_
from ordercancel.errors import PermanentError, RequestError, RetryableError, VenueError
from ordercancel.events import (
    Event,
    Outcome,
    final_event,
    make_event,
    request_fields,
    unparsed_fields,
)
from ordercancel.outcomes import ErrorCode, EventType, Kind, Status
from ordercancel.request import Request
from ordercancel.retry import Deadline, Tally, call_with_retry
from ordercancel.runtime import Runtime
from ordercancel.venues import OrderRef, Venue

log = logging.getLogger("ordercancel")
T = TypeVar("T")
#: A request re-delivered after its deadline (its worker died mid-flight) gets this long to settle.
RERUN_GRACE_MS = 5_000


def handle(message: Mapping[str, Any], rt: Runtime) -> None:
    """Execute one request message; publishes exactly one final event for it (ever)."""
    if not isinstance(message, Mapping):
        _reject_unparsed(
            {}, RequestError(ErrorCode.INVALID_MESSAGE, "request is not a JSON object"), rt
        )
        return
    try:
        req = requests_.parse(message, rt.settings)
    except RequestError as exc:
        _reject_unparsed(message, exc, rt)
        return
    base = request_fields(req)
    idem = (
        rt.keys.idempotency(req.account or "-", req.idempotency_key)
        if req.idempotency_key
        else None
    )
    begin = rt.store.begin(
        req.request_id,
        make_event(base, EventType.ACCEPTED),
        idem=idem,
        fingerprint=req.fingerprint(),
    )
    if begin.state == "done":
        return  # a re-delivery of a finished request
    if begin.state == "conflict":
        outcome = Outcome(
            Status.REJECTED,
            ErrorCode.IDEMPOTENCY_CONFLICT,
            f"idempotency_key was used by request {begin.arg} for a different request",
        )
    elif begin.state in ("replay", "wait"):
        outcome = _outcome_of_first(req, begin.state, begin.arg, rt)
    else:
        outcome = _run(req, rerun=begin.state == "rerun", rt=rt)
    if rt.store.finish(final_event(base, outcome), idem=idem):
        log.info(
            "final request_id=%s kind=%s venue=%s account=%s status=%s error_code=%s latency_ms=%s",
            req.request_id,
            req.kind.value,
            req.venue,
            req.account,
            outcome.status.value,
            outcome.error_code or "-",
            int(time.time() * 1000) - req.received_ms,
        )


def _reject_unparsed(message: Mapping[str, Any], exc: RequestError, rt: Runtime) -> None:
    rid = message.get("request_id")
    if not isinstance(rid, str) or not rid or len(rid) > 128:
        rid = str(message.get("_entry_id") or requests_.new_request_id())
    received = message.get("received_ms")
    received_ms = received if isinstance(received, int) else requests_.now_ms()
    base = unparsed_fields(message, rid, received_ms)
    rt.store.finish(final_event(base, Outcome(Status.REJECTED, exc.code, str(exc))))


def _outcome_of_first(req: Request, state: str, arg: str, rt: Runtime) -> Outcome:
    """The same idempotency key and request as an earlier one: its outcome, no venue call."""
    if state == "replay":
        first: Event | None = json.loads(arg)
    else:  # the first is still running: wait for it, within this request's deadline
        first = rt.store.wait_final(arg, Deadline(req.deadline_at_ms).remaining())
        if first is None:
            return Outcome(
                Status.EXPIRED,
                ErrorCode.DEADLINE_EXCEEDED,
                f"request {arg} with the same idempotency_key did not finish in time",
            )
    assert first is not None
    detail = json.loads(first["detail"]) if first.get("detail") else {}
    return Outcome(
        Status(first["status"]),
        first["error_code"],
        first["error"],
        attempts=0,
        http_status=int(first["http_status"]) if first.get("http_status") else None,
        venue_status=first.get("venue_status") or None,
        detail={**detail, "idempotent_replay_of": first["request_id"]},
    )


def _run(req: Request, *, rerun: bool, rt: Runtime) -> Outcome:
    deadline = Deadline(req.deadline_at_ms)
    if deadline.remaining() <= 0:
        if not rerun:
            return Outcome(
                Status.EXPIRED,
                ErrorCode.DEADLINE_EXCEEDED,
                "deadline passed before the request was started",
            )
        deadline = Deadline(int(time.time() * 1000) + RERUN_GRACE_MS)
    flow = FLOWS.get(req.kind)
    if flow is None:
        return Outcome(
            Status.REJECTED,
            ErrorCode.INVALID_REQUEST,
            f"kind: {req.kind.value} is not supported by this version",
        )
    try:
        job = Job(req, rt, rt.venue(req.account), deadline)
        return flow(job)
    except RequestError as exc:
        return Outcome(Status.REJECTED, exc.code, str(exc))
    except Exception as exc:  # a bug must not lose the request: it still gets its final event
        log.exception("request %s failed unexpectedly", req.request_id)
        return Outcome(Status.FAILED, ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}")


class Job:
    """One request's execution against its venue: the deadline, the calls made, progress events."""

    def __init__(self, req: Request, rt: Runtime, venue: Venue, deadline: Deadline):
        self.req, self.rt, self.venue, self.deadline = req, rt, venue, deadline
        self.tally = Tally()
        self.base = request_fields(req)

    @property
    def readback_reserve(self) -> float:
        """Time kept back from cancel retries so the order can still be read back."""
        total = self.req.deadline_ms / 1000
        return min(max(self.venue.account.timeout_s, 0.5), total / 3)

    def call(self, op: Callable[[float], T], *, reserve: float = 0.0) -> T:
        return call_with_retry(
            op,
            deadline=self.deadline,
            max_timeout=self.venue.account.timeout_s,
            tally=self.tally,
            resync=self.venue.resync_clock,
            on_retry=self._retrying,
            reserve=reserve,
        )

    def _retrying(self, exc: VenueError, wait: float) -> None:
        self.emit(
            EventType.RETRYING,
            error_code=exc.code.value,
            error=str(exc),
            http_status=exc.http_status,
            venue_status=exc.venue_status,
            detail={"wait_ms": int(wait * 1000)},
        )

    def emit(self, kind: EventType, **values: Any) -> None:
        self.rt.store.emit(make_event(self.base, kind, attempts=self.tally.calls, **values))

    def outcome(self, status: Status, **kw: Any) -> Outcome:
        return Outcome(status, attempts=self.tally.calls, **kw)

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


def cancel_flow(job: Job) -> Outcome:
    """One order: cancel, then settle anything the venue's answer left open by reading it back."""
    ref = OrderRef(job.req.order_id or "", job.req.symbol)
    job.venue.check_order_ref(ref)
    try:
        reply = job.call(lambda t: job.venue.cancel(ref, t), reserve=job.readback_reserve)
    except RetryableError:
        return settle(job, ref)
    except VenueError as exc:  # permanent, or a clock that would not sync
        return job.failed(exc)
    if reply.acknowledged:
        job.emit(
            EventType.ACKNOWLEDGED, http_status=reply.http_status, venue_status=reply.venue_status
        )
        return settle(job, ref, acknowledged=True)
    assert reply.status is not None
    return job.outcome(reply.status, http_status=reply.http_status, venue_status=reply.venue_status)


def settle(job: Job, ref: OrderRef, *, acknowledged: bool = False) -> Outcome:
    """Read the order back until it is terminal or time runs out.

    After an acknowledgement the cancel is pending, so an open order is polled again; after an
    unsettled error an open order means the cancel did not happen (`failed`, `still_open`).
    Anything not settled by the deadline is `unknown`: the order may still be open.
    """
    cause = job.tally.last_error
    polls = 0
    while True:
        try:
            state = job.call(lambda t: job.venue.get_order(ref, t))
        except PermanentError as exc:
            return job.failed(exc, Status.UNKNOWN)
        except VenueError as exc:
            err = cause or exc
            return job.failed(err, Status.UNKNOWN, f"not settled: {err}; read-back failed: {exc}")
        status = state.phase.final_status
        if status is not None:
            return job.outcome(
                status, http_status=state.http_status, venue_status=state.venue_status
            )
        if not acknowledged:
            assert cause is not None
            still_open = f"the order is still open after: {cause}"
            return replace(job.failed(cause, error=still_open), error_code=ErrorCode.STILL_OPEN)
        wait = min(0.5, 0.02 * 2**polls) * (0.5 + 0.5 * random.random())
        polls += 1
        if wait + 0.05 > job.deadline.remaining():
            return job.outcome(
                Status.UNKNOWN,
                error_code=ErrorCode.TIMEOUT.value,
                error="cancel acknowledged but the order was still open at the deadline",
                venue_status=state.venue_status,
            )
        time.sleep(wait)


FLOWS: dict[Kind, Callable[[Job], Outcome]] = {
    Kind.CANCEL: cancel_flow,
}
