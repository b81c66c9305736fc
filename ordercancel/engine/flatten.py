"""`cancel_all`: cancel every open order in scope, then prove it with the venue's own listing.

1. scope: the request's `symbol` or `symbols`, else the account's configured `symbols`, else
   every symbol the venue lists; no known symbol means no proof is possible (`failed`);
2. bulk: the venue's cancel-all where it fits the scope (account-wide on ZebPay only for an
   account-wide request; per symbol on Ajaib), else nothing; its retries stop after
   `BULK_RETRY_S`, the rest of the time is the verification's;
3. verify: list the open orders of every symbol in scope; orders still open are cancelled one
   by one (an acknowledged cancel gets a moment to land first); list again, until a listing
   shows nothing open, or the deadline passes.

`completed` means complete listings of every symbol in scope showed it flat. Every order that
closed gets a child `final` event (`parent_id`) with its own truth: an order the venue said it
cancelled is `canceled`; one whose cancel was only acknowledged and which then left the open
listing is read back (it may have filled instead), and is `unknown` when that read fails, or
when reading it back is not worth its cost (`READ_BACK_MAX`; a kill reads none back).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, TypeVar

from ordercancel.engine import report
from ordercancel.engine.job import Job
from ordercancel.engine.retry import poll_delay
from ordercancel.errors import PermanentError, RetryableError, VenueError
from ordercancel.events import Event, Outcome, final_event
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.venues import CancelReply, OrderRef

T = TypeVar("T")
log = logging.getLogger("ordercancel")
#: how long an acknowledged cancel may stay in the open listing before it is sent again
ACK_GRACE_S = 0.5
#: order ids listed in a partial outcome's detail, at most
DETAIL_IDS = 50
#: orders a routine cancel_all reads back, at most, after they left the open listing once their
#: cancel was acknowledged (a kill reads none: flat is its proof, and its speed matters more);
#: the others are `unknown` / `not_read_back`: closed, but cancelled or filled is not known
READ_BACK_MAX = 100
#: how long the venue's cancel-all may be retried (a third of the time left at most): the rest
#: is the verification's, which lists and cancels one by one what an unanswered bulk left open
BULK_RETRY_S = 2.0


class Flatten:
    def __init__(self, job: Job, *, bulk: bool = True):
        self.job, self.venue, self.bulk = job, job.venue, bulk
        self.closed: dict[str, Outcome] = {}
        self.acked: dict[str, tuple[OrderRef, float]] = {}  # cancel sent, outcome pending
        self.refused: dict[str, VenueError] = {}  # the venue will not cancel these
        self.children: list[Event] = []
        self.jobs: dict[str, Job] = {}  # per-order jobs: their calls, their request ids
        self.symbols: set[str] = set()
        self.read_backs = 0  # orders read back after they left the open listing
        self.scope = job.req.scope
        self.outside = 0  # orders listed in the scope's symbols that its selectors leave out

    def run(self) -> Outcome:
        started = time.monotonic()
        try:
            self.symbols = set(self._scope())
            if not self.symbols:
                return self.job.outcome(
                    Status.FAILED,
                    error_code=ErrorCode.INVALID_REQUEST.value,
                    error="no symbol in scope: configure the account's `symbols` to prove it flat",
                )
            if self.bulk and not self.scope.selective:
                self._bulk()
            left, rounds = self._verify()
        except PermanentError as exc:
            self._publish()
            return self.job.failed(exc)
        except RetryableError as exc:  # the scope could not be read: nothing can be proven
            self._publish()
            return self.job.failed(exc, error=f"the symbols in scope could not be read: {exc}")
        self._publish()
        statuses = Counter(o.status.value for o in self.closed.values())
        open_ids = [r.order_id for r in left or ()]
        groups = report.orders(
            {oid: o.status.value for oid, o in self.closed.items()},
            [oid for oid in open_ids if oid in self.refused],
            [oid for oid in open_ids if oid not in self.refused],
        )
        accounts = {self.job.req.account: groups}
        detail: dict[str, Any] = {
            **report.header(self.job.req),
            "total_affected": report.affected(accounts),
            "symbols": sorted(self.symbols),
            "closed": len(self.closed),
            "statuses": dict(sorted(statuses.items())),
            "rounds": rounds,
            "flat_ms": int((time.monotonic() - started) * 1000),
            "accounts": accounts,
        }
        if self.scope.selective:
            detail["left_outside_scope"] = self.outside
        if left is not None and not left:
            return self.job.outcome(Status.COMPLETED, detail=detail)
        if left is None:
            detail["open_after"] = "unknown: no listing succeeded"
            return self.job.outcome(
                Status.FAILED,
                error_code=ErrorCode.VENUE_UNAVAILABLE.value,
                error="the open orders could not be listed",
                detail=detail,
            )
        detail["open_after"] = sorted(r.order_id for r in left)[:DETAIL_IDS]
        detail["open_count"] = len(left)
        refusals = {oid: str(exc) for oid, exc in self.refused.items()}
        if refusals:
            detail["refused"] = dict(sorted(refusals.items())[:DETAIL_IDS])
        status = Status.PARTIAL if self.closed else Status.FAILED
        return self.job.outcome(
            status,
            error_code=ErrorCode.STILL_OPEN.value,
            error=f"{len(left)} orders still open in scope",
            detail=detail,
        )

    def _scope(self) -> Iterable[str]:
        req, venue = self.job.req, self.venue
        if req.symbol or req.symbols:
            named = (req.symbol,) if req.symbol else req.symbols
            for symbol in named:
                venue.check_symbol(symbol)
            return named
        if venue.symbols():
            return venue.symbols()
        try:
            return self.job.call(venue.list_symbols)
        except NotImplementedError:
            return ()

    def _bulk(self) -> None:
        venue, job = self.venue, self.job
        left = job.deadline.remaining()
        reserve = left - min(BULK_RETRY_S, left / 3)
        if venue.cancel_all_by_symbol is False and not (job.req.symbol or job.req.symbols):
            try:
                reply = job.call(lambda c: venue.cancel_all(None, c), reserve=reserve)
            except RetryableError:
                return  # unanswered: the verification lists and cancels what is left
            self.symbols |= {r.symbol for r in reply.cancelled if r.symbol}
            for ref in reply.cancelled:  # the venue says each of these is cancelled
                self._close(
                    ref,
                    Outcome(
                        Status.CANCELED, http_status=reply.http_status, venue_status="canceled"
                    ),
                )
        elif venue.cancel_all_by_symbol:
            for answer in self._parallel(
                lambda s: job.call(lambda c: venue.cancel_all(s, c), reserve=reserve),
                sorted(self.symbols),
            ):
                if isinstance(answer, PermanentError):
                    raise answer
                if not isinstance(answer, VenueError):
                    now = time.monotonic()
                    self.acked.update((r.order_id, (r, now)) for r in answer.cancelled)

    def _verify(self) -> tuple[list[OrderRef] | None, int]:
        """List, cancel what is still open, list again; (still open, rounds). None: unlisted."""
        job, rounds, left = self.job, 0, None
        while True:
            listed = self._list()
            if listed is not None:
                left = listed
                open_ids = {r.order_id for r in listed}
                self._gone([ref for oid, (ref, _) in self.acked.items() if oid not in open_ids])
                if not listed:
                    return [], rounds
                due = [r for r in listed if r.order_id not in self.refused and self._due(r)]
                if not due and all(r.order_id in self.refused for r in listed):
                    return left, rounds  # nothing left that the venue would cancel
                self._cancel_each(due)
            rounds += 1
            wait = poll_delay(rounds)
            if wait + job.venue.account.timeout_s / 4 > job.deadline.remaining():
                return left, rounds
            time.sleep(wait)

    def _gone(self, refs: list[OrderRef]) -> None:
        """Orders whose cancel was acknowledged and which left the open listing: read back, as
        many as `READ_BACK_MAX` allows; the others are closed, but how is not known."""
        allowed = 0 if self.job.urgent else max(0, READ_BACK_MAX - self.read_backs)
        self.read_backs += min(allowed, len(refs))
        self._read_back(refs[:allowed])
        why = "left the open listing after its cancel was acknowledged; not read back"
        for ref in refs[allowed:]:
            self._close(ref, Outcome(Status.UNKNOWN, ErrorCode.NOT_READ_BACK, why))

    def _read_back(self, refs: list[OrderRef], *, ours: bool | None = True) -> None:
        """Orders whose cancel was acknowledged and which left the open listing (`ours`), or
        which a cancel found closed after an attempt that went unanswered (`ours` None):
        cancelled, or filled first? Read each back; `unknown` when the venue will not say."""
        if not refs:
            return

        def read(ref: OrderRef) -> Any:
            return self._child(ref).call(lambda c: self.venue.get_order(ref, c))

        for ref, state in zip(refs, self._parallel(read, refs), strict=True):
            if isinstance(state, VenueError):
                why = f"closed at the venue, but not read back: {state}"
                self._close(ref, Outcome(Status.UNKNOWN, state.code.value, why))
            elif state.phase.final_status is not None:
                self._close(ref, self._child(ref).closed(state, ours=ours))

    def _list(self) -> list[OrderRef] | None:
        results = self._parallel(
            lambda s: self.job.call(lambda c: self.venue.list_open(s, c)), sorted(self.symbols)
        )
        refs: dict[str, OrderRef] = {}
        for result in results:
            if isinstance(result, PermanentError):
                raise result
            if isinstance(result, VenueError):
                return None  # an incomplete listing proves nothing
            refs.update((r.order_id, r) for r in result)
        if not self.scope.selective:
            return list(refs.values())
        inside = {oid: self.scope.matches(ref) for oid, ref in refs.items()}
        if None in inside.values():  # an order it cannot place in or out of scope
            log.warning(
                "request %s: the open orders listed do not say what its scope selects by",
                self.job.req.request_id,
            )
            return None
        self.outside = sum(1 for v in inside.values() if not v)
        return [ref for oid, ref in refs.items() if inside[oid]]

    def _due(self, ref: OrderRef) -> bool:
        acked = self.acked.get(ref.order_id)
        return acked is None or time.monotonic() - acked[1] > ACK_GRACE_S

    def _cancel_each(self, refs: list[OrderRef]) -> None:
        venue = self.venue
        replies = self._parallel(lambda r: self._child(r).call(lambda c: venue.cancel(r, c)), refs)
        now = time.monotonic()
        mine: list[OrderRef] = []  # found closed after a cancel of ours was acknowledged
        unsure: list[OrderRef] = []  # found closed after an attempt of ours went unanswered
        for ref, reply in zip(refs, replies, strict=True):
            if (
                isinstance(reply, CancelReply)
                and reply.status is Status.ALREADY_CLOSED
                and (ref.order_id in self.acked or self._child(ref).may_have_acted)
            ):
                (mine if ref.order_id in self.acked else unsure).append(ref)
            elif isinstance(reply, CancelReply) and reply.status is not None:
                self._close(
                    ref,
                    Outcome(
                        reply.status, http_status=reply.http_status, venue_status=reply.venue_status
                    ),
                )
            elif isinstance(reply, CancelReply):
                self.acked[ref.order_id] = (ref, now)
            elif isinstance(reply, PermanentError):
                self.refused[ref.order_id] = reply  # this order only; not sent again
            # other errors: the next listing tells
        self._read_back(mine)
        self._read_back(unsure, ours=None)

    def _child(self, ref: OrderRef) -> Job:
        child = self.jobs.get(ref.order_id)
        if child is None:
            child = self.jobs[ref.order_id] = self.job.child(ref.order_id, ref.symbol)
        return child

    def _close(self, ref: OrderRef, outcome: Outcome) -> None:
        if ref.order_id in self.closed:
            return
        self.acked.pop(ref.order_id, None)
        child = self._child(ref)
        self.closed[ref.order_id] = outcome = replace(outcome, attempts=child.calls)
        self.children.append(final_event(child.base, outcome))
        if len(self.children) >= 200:
            self._publish()

    def _publish(self) -> None:
        if self.children:
            self.job.rt.store.finish_many(self.children, node=self.job.node)
            self.children = []

    def _parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T | VenueError]:
        """`fn` over items on the runtime's pool; a VenueError is returned, not raised."""

        def guarded(item: Any) -> T | VenueError:
            try:
                return fn(item)
            except VenueError as exc:
                return exc

        if len(items) == 1:
            return [guarded(items[0])]
        futures: list[Future[T | VenueError]] = [self.job.rt.pool.submit(guarded, i) for i in items]
        return [f.result() for f in futures]


def cancel_all_flow(job: Job, *, bulk: bool = True) -> Outcome:
    """A re-run is one more run: a cancel-all lists before it decides anything. Without
    `bulk`, the venue's cancel-all is not called (a kill that let another go first)."""
    req = job.req
    if not req.parent_id and not job.rerun:  # a request of its own, not a kill's account
        job.rt.store.audit(
            "cancel_all",
            request_id=req.request_id,
            requested_by=req.requested_by,
            reason=req.reason,
            **req.scope.strings(),
        )
    return Flatten(job, bulk=bulk).run()
