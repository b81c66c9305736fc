"""What each request kind does with its venue. Venue-agnostic: venues speak `CancelReply`,
`BatchReply`, `OrderState` and the error tree."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from ordercancel.engine import report
from ordercancel.engine.budget import BudgetExhausted
from ordercancel.engine.flatten import cancel_all_flow
from ordercancel.engine.job import Job
from ordercancel.engine.retry import FINISH_S, MIN_CALL_S, poll_delay
from ordercancel.errors import NotSent, PermanentError, RequestError, RetryableError, VenueError
from ordercancel.events import Outcome, final_event
from ordercancel.outcomes import SUCCESS, ErrorCode, EventType, Kind, Status
from ordercancel.state.store import ABANDON
from ordercancel.venues import OrderRef


def cancel_flow(job: Job) -> Outcome:
    """One order: cancel, then settle anything the venue's answer left open by reading it back.

    A re-run (its first run's node died or lost its lease, perhaps after sending the cancel)
    reads the order back first: a cancel of its own may already have closed it."""
    ref = OrderRef(job.req.order_id or "", job.req.symbol)
    job.venue.check_order_ref(ref)
    if job.rerun:
        try:
            state = job.call(lambda c: job.venue.get_order(ref, c), reserve=job.readback_reserve)
        except PermanentError as exc:
            return job.failed(exc, Status.UNKNOWN)
        except VenueError:
            state = None  # unread: the cancel below, and its read-back, settle it
        if state is not None and state.phase.final_status is not None:
            return job.closed(state, ours=None)
    try:
        reply = job.call(lambda c: job.venue.cancel(ref, c), reserve=job.readback_reserve)
    except RetryableError as exc:
        return settle(job, ref, cause=exc)
    except VenueError as exc:  # permanent, or a clock that would not sync
        return job.failed(exc)
    if reply.acknowledged:
        job.emit(
            EventType.ACKNOWLEDGED, http_status=reply.http_status, venue_status=reply.venue_status
        )
        return settle(job, ref, acknowledged=True)
    if reply.status is Status.ALREADY_CLOSED and job.may_have_acted:
        return settle(job, ref)  # closed, perhaps by our own unanswered attempt: read it back
    assert reply.status is not None
    return job.outcome(reply.status, http_status=reply.http_status, venue_status=reply.venue_status)


def settle(
    job: Job, ref: OrderRef, *, acknowledged: bool = False, cause: VenueError | None = None
) -> Outcome:
    """Read the order back until it is terminal or time runs out.

    After an acknowledgement the cancel is pending, so an open order is polled again; after an
    unsettled error an open order means the cancel did not happen (`failed`, `still_open`).
    Anything not settled by the deadline is `unknown`: the order may still be open.
    """
    cause = cause or job.tally.last_error
    # nothing that may have acted was sent (by this job, a parent's batch call, or an earlier
    # run): the order is untouched
    if not job.may_have_acted and isinstance(cause, BudgetExhausted):
        return job.failed(cause)
    if not job.may_have_acted and isinstance(cause, NotSent):
        return job.outcome(
            Status.EXPIRED,
            error_code=ErrorCode.DEADLINE_EXCEEDED.value,
            error="the deadline came before the cancel could be sent",
        )
    if cause is not None and not cause.sent:  # the attempt that may have acted tells more
        cause = next((j.tally.last_error for j in job.lineage() if j.tally.last_error), cause)
    polls = 0
    while True:
        try:
            state = job.call(lambda c: job.venue.get_order(ref, c))
        except PermanentError as exc:
            return job.failed(exc, Status.UNKNOWN)
        except VenueError as exc:
            err = cause or exc
            return job.failed(err, Status.UNKNOWN, f"not settled: {err}; read-back failed: {exc}")
        if state.phase.final_status is not None:
            return job.closed(state, ours=True if acknowledged else None)
        if not acknowledged:
            assert cause is not None
            still_open = f"the order is still open after: {cause}"
            return replace(job.failed(cause, error=still_open), error_code=ErrorCode.STILL_OPEN)
        wait = poll_delay(polls)
        polls += 1
        if wait + MIN_CALL_S + FINISH_S > job.deadline.remaining():
            return job.outcome(
                Status.UNKNOWN,
                error_code=ErrorCode.TIMEOUT.value,
                error="cancel acknowledged but the order was still open at the deadline",
                venue_status=state.venue_status,
            )
        time.sleep(wait)


def recheck(job: Job, ref: OrderRef) -> Outcome:
    """An order a batch refused: usually it just closed on its own. Read it back; cancel it
    alone if it is still open."""
    try:
        state = job.call(lambda c: job.venue.get_order(ref, c), reserve=job.readback_reserve)
    except VenueError:
        return cancel_flow(job)
    if state.phase.final_status is None:
        return cancel_flow(job)
    return job.closed(state, ours=None if job.may_have_acted else False)


def batch_flow(job: Job) -> Outcome:
    """Several orders of one symbol: the venue's batch cancel in chunks (or one cancel per order
    where there is none), then every order settled and given its own final event. A re-run
    settles each order not yet final one by one, reading it back first."""
    symbol, venue = job.req.symbol, job.venue
    children = {oid: job.child(oid, symbol) for oid in dict.fromkeys(job.req.order_ids)}
    earlier = job.rt.store.finals([c.req.request_id for c in children.values()])
    ended = {oid: e["status"] for oid, c in children.items() if (e := earlier[c.req.request_id])}
    attempts = sum(int(e["attempts"] or 0) for e in earlier.values() if e)
    work: list[tuple[Job, Callable[[], Outcome]]] = []
    pending: list[Job] = []
    for oid, child in children.items():
        if earlier[child.req.request_id]:
            continue  # settled by an earlier run of this request
        try:
            venue.check_order_ref(OrderRef(oid, symbol))
        except RequestError as exc:
            work.append((child, _const(Outcome(Status.REJECTED, exc.code, str(exc)))))
            continue
        pending.append(child)
    if job.rerun or not venue.max_batch:
        work += [(c, _bind(cancel_flow, c)) for c in pending]
        pending = []
    for chunk in _chunks(pending, venue.max_batch):
        work += _send_batch(job, chunk)
    futures = {
        child.req.order_id or "": job.rt.pool.submit(_finish_child, child, run)
        for child, run in work
    }
    ended.update((oid, future.result().status.value) for oid, future in futures.items())
    # the children's calls are the job's
    return _batch_outcome(job, ended, attempts + job.calls)


def _send_batch(job: Job, chunk: list[Job]) -> list[tuple[Job, Callable[[], Outcome]]]:
    refs = [OrderRef(c.req.order_id or "", c.req.symbol) for c in chunk]
    symbol = job.req.symbol or ""  # required for batches by request validation
    try:
        reply = job.call(
            lambda c: job.venue.cancel_many(symbol, refs, c),
            reserve=job.readback_reserve,
        )
    except RetryableError as exc:  # unsettled for every order of the chunk
        return [(c, _bind(settle, c, r, cause=exc)) for c, r in zip(chunk, refs, strict=True)]
    except VenueError as exc:
        return [(c, _const(c.failed(exc))) for c in chunk]
    accepted = set(reply.accepted)
    work: list[tuple[Job, Callable[[], Outcome]]] = []
    for child, ref in zip(chunk, refs, strict=True):
        if ref.order_id in accepted:
            work.append((child, _bind(_confirm, child, ref, reply.http_status)))
        else:
            work.append((child, _bind(recheck, child, ref)))
    return work


def _confirm(job: Job, ref: OrderRef, http_status: int | None) -> Outcome:
    job.emit(EventType.ACKNOWLEDGED, http_status=http_status, venue_status="batch success")
    return settle(job, ref, acknowledged=True)


def _finish_child(child: Job, run: Callable[[], Outcome]) -> Outcome:
    try:
        outcome = run()
    except ABANDON:
        raise
    except Exception as exc:  # a bug must not lose the order: it still gets its final
        outcome = Outcome.internal(exc, child.base)
    child.rt.store.finish(final_event(child.base, outcome), node=child.node)
    return outcome


def _batch_outcome(job: Job, ended: dict[str, str], attempts: int) -> Outcome:
    statuses = Counter(ended.values())
    total = sum(statuses.values())
    closed = sum(n for status, n in statuses.items() if status in SUCCESS)
    accounts = {job.req.account: report.orders(ended)}
    detail = {
        **report.header(job.req),
        "total_affected": report.affected(accounts),
        "orders": total,
        "closed": closed,
        "statuses": dict(sorted(statuses.items())),
        "accounts": accounts,
    }
    return Outcome.of_parts(
        closed,
        total,
        ErrorCode.STILL_OPEN if closed else ErrorCode.VENUE_ERROR,
        f"{total - closed} of {total} orders not known to be closed",
        attempts=attempts,
        detail=detail,
    )


def _chunks(items: list[Job], size: int) -> list[list[Job]]:
    return [items[i : i + size] for i in range(0, len(items), size)] if size else []


def _const(outcome: Outcome) -> Callable[[], Outcome]:
    return lambda: outcome


def _bind(fn: Callable[..., Outcome], *args: object, **kw: object) -> Callable[[], Outcome]:
    return lambda: fn(*args, **kw)


FLOWS: dict[Kind, Callable[[Job], Outcome]] = {
    Kind.CANCEL: cancel_flow,
    Kind.CANCEL_BATCH: batch_flow,
    Kind.CANCEL_ALL: cancel_all_flow,
}
