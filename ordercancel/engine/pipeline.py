"""The path of one request, top to bottom.

receive -> validate -> begin (idempotency claim + `accepted`, atomic) -> run the kind's flow
(`flows.py`: venue calls with retry, read-back when the outcome is not settled) -> finish (one
`final`, atomic). No step here knows which venue it serves.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from ordercancel import request as requests_
from ordercancel.engine.flows import FLOWS
from ordercancel.engine.job import Job
from ordercancel.engine.kill import kill_flow
from ordercancel.engine.retry import Deadline
from ordercancel.errors import Fenced, RequestError
from ordercancel.events import (
    Event,
    Outcome,
    final_event,
    make_event,
    request_fields,
    unparsed_fields,
)
from ordercancel.node.runtime import Runtime
from ordercancel.observe.metrics import IN_FLIGHT, KINDS, known
from ordercancel.outcomes import ErrorCode, EventType, Kind, Status
from ordercancel.request import Request
from ordercancel.state.store import ABANDON
from ordercancel.venues import OrderRef

log = logging.getLogger("ordercancel")
#: A request re-delivered after its deadline (its worker died mid-flight) gets this long to settle.
RERUN_GRACE_MS = 5_000


def handle(message: Mapping[str, Any], rt: Runtime) -> None:
    """Execute one request message; publishes exactly one final event for it (ever)."""
    if not isinstance(message, Mapping):
        _reject_unparsed(
            {}, RequestError(ErrorCode.INVALID_MESSAGE, "request is not a JSON object"), rt
        )
        return
    rid = requests_.known_id(message)
    with rt.running_lock:
        if rid is not None and rid in rt.running:
            log.info("request %s is running here already: duplicate delivery dropped", rid)
            return
        if rid is not None:
            rt.running.add(rid)
    in_flight = IN_FLIGHT.labels(known(message.get("kind"), KINDS))
    in_flight.inc()
    try:
        _handle(message, rt)
    except Fenced as exc:  # another node runs it now (or will): not ours to finish
        log.warning("request %s dropped: %s", rid, exc)
    finally:
        in_flight.dec()
        rt.running.discard(rid or "")


def _handle(message: Mapping[str, Any], rt: Runtime) -> None:
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
    node = rt.node  # the lease identity this request is begun, run and finished under
    begin = rt.store.begin(
        req.request_id,
        make_event(base, EventType.ACCEPTED),
        idem=idem,
        fingerprint=req.fingerprint(),
        node=node,
        max_pending=0 if req.kind is Kind.KILL else rt.settings.max_pending_per_account,
        token=_first_token(req, rt),
    )
    if begin.state in ("done", "running"):
        return  # a re-delivery of a finished request, or of one a live node is running
    if begin.state == "conflict":
        outcome = Outcome(
            Status.REJECTED,
            ErrorCode.IDEMPOTENCY_CONFLICT,
            f"idempotency_key was used by request {begin.arg} for a different request",
        )
    elif begin.state == "overloaded":
        outcome = Outcome(
            Status.REJECTED,
            ErrorCode.OVERLOADED,
            f"account {req.account} has {begin.arg} requests pending "
            f"(limit {rt.settings.max_pending_per_account}); try again later",
        )
    elif begin.state in ("replay", "wait"):
        outcome = _outcome_of_first(req, begin.state, begin.arg, rt)
    else:
        outcome = _run(
            req, rerun=begin.state == "rerun", rt=rt, node=node, token=begin.arg == "token"
        )
    rt.store.finish(final_event(base, outcome), idem=idem, node=node)


def _first_token(req: Request, rt: Runtime) -> tuple[list[str], list[int]] | None:
    """What `begin` needs to take a single cancel's first rate token (one round trip fewer):
    only for a cancel that will call its venue (an order reference the venue takes, time left
    before the deadline); the flow rejects or expires the others, without spending a token.
    No error here may lose the request: the flow's own guard turns it into a final."""
    if (
        req.kind is not Kind.CANCEL
        or not req.account
        or Deadline(req.deadline_at_ms).remaining() <= 0
    ):
        return None
    try:
        venue = rt.venue(req.account)
        venue.check_order_ref(OrderRef(req.order_id or "", req.symbol))
        return rt.budget(venue).token()
    except Exception:  # decided again, and reported, by the flow
        return None


def _reject_unparsed(message: Mapping[str, Any], exc: RequestError, rt: Runtime) -> None:
    rid = requests_.known_id(message) or requests_.new_request_id()
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
    return Outcome.from_event(first, idempotent_replay_of=first["request_id"])


def _run(req: Request, *, rerun: bool, rt: Runtime, node: str, token: bool = False) -> Outcome:
    deadline = Deadline(req.deadline_at_ms)
    if deadline.remaining() <= 0:
        if not rerun:
            return Outcome(
                Status.EXPIRED,
                ErrorCode.DEADLINE_EXCEEDED,
                "deadline passed before the request was started",
            )
        deadline = Deadline(int(time.time() * 1000) + RERUN_GRACE_MS)
    try:
        if req.kind is Kind.KILL:
            return kill_flow(req, rt, deadline, node, rerun=rerun)
        venue = rt.venue(req.account)
        return FLOWS[req.kind](Job(req, rt, venue, deadline, node=node, rerun=rerun, token=token))
    except RequestError as exc:
        return Outcome(Status.REJECTED, exc.code, str(exc))
    except ABANDON:
        raise  # not an outcome: the request runs again (Redis back, or on another node)
    except Exception as exc:  # a bug must not lose the request: it still gets its final event
        return Outcome.internal(exc, request_fields(req))
