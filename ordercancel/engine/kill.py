"""`kill`: the risk engine's kill switch.

1. raise the halt of its scope at once (`Client.halted()`), so order-placing components stop
   (those of that scope: one strategy's prefix, an account, a side);
2. claim the run; a kill already running over a scope that holds this one's is let finish
   first (its cancel-alls go out once), then this kill verifies its own scope;
3. `cancel_all` on every configured account (or the listed ones) in parallel, account-wide,
   each verified flat and published as a child `final` (`parent_id` = the kill);
4. one final for the kill: `completed` when every account is flat, `partial`, or `failed`.

Kills travel on the urgent queue and their venue calls may use the whole rate budget.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from ordercancel.engine import report
from ordercancel.engine.flatten import cancel_all_flow
from ordercancel.engine.job import Job
from ordercancel.engine.retry import Deadline
from ordercancel.errors import RequestError
from ordercancel.events import Outcome, final_event, request_fields
from ordercancel.node.runtime import Runtime
from ordercancel.outcomes import ErrorCode, Kind, Status
from ordercancel.request import Request, now_ms
from ordercancel.scope import Scope
from ordercancel.state.store import ABANDON
from ordercancel.venues import Venue


def kill_flow(
    req: Request, rt: Runtime, deadline: Deadline, node: str, *, rerun: bool = False
) -> Outcome:
    accounts = req.accounts or _every_account(req, rt)
    if not accounts:  # nothing could be shown flat: refused, never `completed` over nothing
        why = "no configured account's venue can name its symbols or carries client order ids"
        raise RequestError(ErrorCode.INVALID_REQUEST, f"a kill over no account: {why}")
    scope = replace(req.scope, accounts=accounts)
    halt = req.scope.halt()  # no accounts named: every account, those configured later too
    if not rerun:
        rt.store.audit(
            "kill",
            request_id=req.request_id,
            requested_by=req.requested_by,
            reason=req.reason,
            halt=halt.key(),
            **scope.strings(),
        )
    rt.store.set_halt(
        halt.key(),
        {
            "reason": req.reason or "kill",
            "since_ms": str(now_ms()),
            "request_id": req.request_id,
            "requested_by": req.requested_by,
            **halt.strings(),
        },
    )
    claim = json.dumps({"request_id": req.request_id, **scope.fields()})
    running = rt.store.claim_kill(claim, ttl_ms=max(1000, int(deadline.remaining() * 1000) + 5000))
    joined = None
    if running is not None:
        first = json.loads(running)
        if first["request_id"] != req.request_id and _covers(first, accounts, req.scope):
            joined = first["request_id"]
            _wait_for(joined, rt, deadline)
    # a re-run keeps the accounts an earlier run already published: no call after their final
    ids = {account: f"{req.request_id}:{account}" for account in accounts}
    earlier = rt.store.finals(list(ids.values())) if rerun else {}
    try:
        futures: dict[str, Future[Outcome]] = {
            account: rt.accounts_pool.submit(
                _flatten_account, req, account, rt, deadline, node, bulk=not joined, rerun=rerun
            )
            for account in accounts
            if not earlier.get(ids[account])
        }
        outcomes = {
            account: Outcome.from_event(event) if (event := earlier.get(ids[account])) else
            futures[account].result()
            for account in accounts
        }  # fmt: skip
    finally:
        if running is None:
            rt.store.release_kill(claim)
    outcome = _kill_outcome(replace(req, accounts=accounts), outcomes)
    return replace(outcome, detail={**outcome.detail, "joined": joined}) if joined else outcome


def _every_account(req: Request, rt: Runtime) -> tuple[str, ...]:
    """The accounts of a kill that names none: every one, except, for a client order id
    prefix, those whose venue's orders carry no client id (none of their orders is in scope)."""
    return tuple(
        name
        for name in sorted(rt.settings.accounts)
        if (not req.client_order_id_prefix or rt.venue(name).client_order_ids)
        and (not req.symbols or _symbols_for(req, rt.venue(name)))
    )


def _symbols_for(req: Request, venue: Venue) -> tuple[str, ...]:
    """The kill's symbols this account's venue can name (each venue spells its own): one it
    cannot name has no order there."""
    fits = []
    for symbol in req.symbols:
        try:
            venue.check_symbol(symbol)
        except RequestError:
            continue
        fits.append(symbol)
    return tuple(fits)


def _covers(first: dict[str, Any], accounts: tuple[str, ...], scope: Scope) -> bool:
    """Whether a running kill's scope holds this one's."""
    theirs = Scope.from_fields(first)
    return set(theirs.accounts) >= set(accounts) and theirs.covers(scope)


def _flatten_account(
    kill: Request,
    account: str,
    rt: Runtime,
    deadline: Deadline,
    node: str,
    *,
    bulk: bool,
    rerun: bool,
) -> Outcome:
    config = rt.settings.accounts[account]
    child = replace(
        kill,
        request_id=f"{kill.request_id}:{account}",
        kind=Kind.CANCEL_ALL,
        account=account,
        venue=config.venue,
        accounts=(),
        symbols=_symbols_for(kill, rt.venue(account)) or kill.symbols,
        symbol=None,
        idempotency_key=None,
        parent_id=kill.request_id,
    )
    try:
        job = Job(child, rt, rt.venue(account), deadline, node=node, urgent=True, rerun=rerun)
        outcome = cancel_all_flow(job, bulk=bulk)
    except ABANDON:
        raise
    except RequestError as exc:  # e.g. none of the kill's symbols is one of this venue's
        outcome = Outcome(Status.FAILED, exc.code.value, f"{account}: {exc}")
    except Exception as exc:  # one account's bug must not stop the others
        outcome = Outcome.internal(exc, request_fields(child))
    rt.store.finish(final_event(request_fields(child), outcome), node=node)
    return outcome


def _wait_for(first_id: str, rt: Runtime, deadline: Deadline) -> None:
    """Let a kill already running over this scope finish its cancel-alls (so the venue gets
    them once), while its node lives; this kill then verifies its scope itself: another
    kill's outcome says nothing of what was placed after it listed."""
    while deadline.remaining() > 1.0:
        if rt.store.wait_final(first_id, 0.5) is not None or not rt.store.owner_alive(first_id):
            return


def _kill_outcome(req: Request, outcomes: dict[str, Outcome]) -> Outcome:
    per_account: dict[str, Any] = {}
    for account, outcome in outcomes.items():
        per_account[account] = {
            "status": outcome.status.value,
            "closed": outcome.detail.get("closed", 0),
            "open_count": outcome.detail.get("open_count", 0),
            "flat_ms": outcome.detail.get("flat_ms"),
            **outcome.detail.get("accounts", {}).get(account, {}),
        }
        if outcome.error_code:
            per_account[account]["error_code"] = outcome.error_code
    attempts = sum(o.attempts for o in outcomes.values())
    detail = {
        **report.header(req),
        "total_affected": report.affected(per_account),
        "accounts": per_account,
        "halted": True,
    }
    left = sorted(a for a, o in outcomes.items() if o.status is not Status.COMPLETED)
    return Outcome.of_parts(
        len(outcomes) - len(left),
        len(outcomes),
        ErrorCode.STILL_OPEN,
        f"not verified flat: {', '.join(left)}",
        attempts=attempts,
        detail=detail,
    )
