"""The truth checker: every `final` event held against the venue's own history. Pure: no I/O.

Input: the requests sent (`Sent`), every `final` event read from the result stream (children
included: a per-order child's request_id is `<parent>:<order id>`, a kill's per-account child's
`<kill>:<account>`), and the simulator's history (`SimAdmin.history()`: every order with its
status changes, and the call log, each call carrying our `X-Request-Id`). Output (`Verdict`):
per invariant, the contradictions (request id and a one-line why), and the `unknown` outcomes
counted by error code (`unknown` is always allowed).

A request's *family* is its id and every id under it (`<id>:...`); a call or a status change
carrying one of them was made on its behalf. Its *own* ids are its id and its ancestors' (a
per-order child of a kill's account: the child, the account's cancel_all, the kill).

Invariants (stable names: the drill table's columns):

- `canceled`: the venue has the order, cancelled (zebpay `canceled`, ajaib `CANCELLED` /
  `PARTIAL_CANCELLED`) at or after the request arrived and by the final's ts; never filled. A
  final whose `detail.cancelled_by` is `unsure` (an attempt of it went unanswered) may name a
  cancel from before it arrived, if a cancel call of its own reached the venue before its final.
- `already_closed`: the venue has the order, not open at the final's ts, and not cancelled by a
  call of its own ids (that is `canceled`).
- `not_found`: the venue never had the order in that account (on that symbol, when named).
- `failed`: a per-order `failed` (or `still_open`) order was not cancelled by a call of its own
  ids sent before the final; `still_open`: the order was open after the request arrived.
- `expired`: no venue call carries an id of the request's family.
- `completed`: cancel_all / kill (and a kill's per-account children): no order in scope that was
  open when the request arrived is open at the final's ts; cancel_batch: no listed order is open.
- `partial`: an aggregate final naming `open_count` counts at least the orders in scope still
  open at its ts (placed before the request) and at most those open at some time while it ran;
  `open_after`, when complete, names every order in scope still open at ts.
- `overreach`: every order a call of a request cancelled is in the request's scope.
- `call_after_final`: no venue call on behalf of a request after its final (or of an earlier
  run's request, `retired`).
- `duplicate_final`: one final per request id. `lost`: every request sent has a final.
- `intake`: every raw intake entry has a final.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

INVARIANTS = (
    "canceled",
    "already_closed",
    "not_found",
    "failed",
    "expired",
    "completed",
    "partial",
    "overreach",
    "call_after_final",
    "duplicate_final",
    "lost",
    "intake",
)
OPEN = frozenset({"new", "partially_filled", "NEW", "OPEN", "PARTIAL_FILLED", "PARTIALLY_FILLED"})
CANCELLED = frozenset({"canceled", "CANCELLED", "PARTIAL_CANCELLED"})
FILLED = frozenset({"filled", "FILLED"})
#: clock slack between the worker's stamps and the simulator's (same host, ms rounding)
SLACK_MS = 5.0
CALL_SLACK_MS = 2.0
AGGREGATE = ("cancel_batch", "cancel_all", "kill")
#: the venue routes that cancel
CANCEL_ROUTES = frozenset(
    {
        "zebpay.cancel",
        "zebpay.cancel_all",
        "ajaib.cancel",
        "ajaib.cancel_batch",
        "ajaib.cancel_open",
    }
)


@dataclass(frozen=True)
class Sent:
    """One request as sent: through the Client, or raw to the intake stream (`intake`)."""

    request_id: str
    kind: str = ""  # "" for an intake entry that is no request
    received_ms: float = 0.0
    account: str = ""
    accounts: tuple[str, ...] = ()
    symbol: str | None = None
    order_id: str | None = None
    order_ids: tuple[str, ...] = ()
    intake: bool = False


@dataclass(frozen=True)
class Contradiction:
    invariant: str
    request_id: str
    why: str


@dataclass
class Verdict:
    contradictions: dict[str, list[Contradiction]] = field(
        default_factory=lambda: {name: [] for name in INVARIANTS}
    )
    #: `unknown` finals (children included) by error code
    unknowns: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    #: requests sent that have a final
    finals: int = 0
    #: every final event of this run's requests, children included
    events: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in self.contradictions.items()}

    @property
    def ok(self) -> bool:
        return not any(self.contradictions.values())

    def add(self, invariant: str, request_id: str, why: str) -> None:
        self.contradictions[invariant].append(Contradiction(invariant, request_id, why))


# -- the venue's history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    t_ms: float
    status: str
    cause: str
    call: int | None
    request_id: str | None


@dataclass(frozen=True)
class VenueOrder:
    account: str
    order_id: str
    symbol: str
    created_ms: float
    changes: tuple[Change, ...]

    def status_at(self, t_ms: float) -> str | None:
        """The status at `t_ms`; None before the order existed."""
        status = None
        for change in self.changes:
            if change.t_ms > t_ms:
                break
            status = change.status
        return status

    def open_at(self, t_ms: float) -> bool:
        return self.status_at(t_ms) in OPEN

    def open_during(self, start_ms: float, end_ms: float) -> bool:
        return self.open_at(start_ms) or any(
            start_ms < c.t_ms <= end_ms and c.status in OPEN for c in self.changes
        )

    def first(self, statuses: Collection[str]) -> Change | None:
        return next((c for c in self.changes if c.status in statuses), None)

    def story(self, origin_ms: float) -> str:
        """`id SYMBOL: new@-120 > canceled@+35 (zebpay.cancel #7 by R)`, times from `origin_ms`."""
        steps = []
        for c in self.changes:
            by = f" ({c.cause}" + (f" #{c.call}" if c.call is not None else "")
            by += f" by {c.request_id})" if c.request_id else ")"
            steps.append(f"{c.status}@{c.t_ms - origin_ms:+.0f}{by if c.cause != 'seed' else ''}")
        return f"{self.account}/{self.order_id} {self.symbol}: {' > '.join(steps)}"


@dataclass(frozen=True)
class Call:
    seq: int
    t_ms: float
    route: str
    account: str | None
    request_id: str | None
    status: int | None
    fault: str | None

    def story(self, origin_ms: float) -> str:
        answer = self.fault or self.status
        return f"#{self.seq} {self.route} {self.account} @{self.t_ms - origin_ms:+.0f} -> {answer}"


class Book:
    """The simulator's history, indexed."""

    def __init__(self, history: Mapping[str, Any]):
        self.orders: dict[tuple[str, str], VenueOrder] = {}
        for o in history.get("orders", []):
            changes = tuple(
                Change(
                    float(h["t_ms"]),
                    str(h["status"]),
                    str(h.get("cause") or ""),
                    h.get("call"),
                    h.get("request_id"),
                )
                for h in o.get("history", [])
            )
            order = VenueOrder(
                str(o["account"]),
                str(o["order_id"]),
                str(o["symbol"]),
                float(o["created_ms"]),
                changes,
            )
            self.orders[(order.account, order.order_id)] = order
        self.calls = [
            Call(
                int(c["seq"]),
                float(c["t_ms"]),
                str(c["route"]),
                c.get("account"),
                c.get("request_id"),
                c.get("status"),
                c.get("fault"),
            )
            for c in history.get("calls", [])
        ]
        self.by_seq = {c.seq: c for c in self.calls}
        tagged = sorted((c.request_id, c.seq) for c in self.calls if c.request_id)
        self._tag_ids = [rid for rid, _ in tagged]
        self._tag_seqs = [seq for _, seq in tagged]

    def order(self, account: str, order_id: str | None) -> VenueOrder | None:
        return self.orders.get((account, order_id or ""))

    def accounts(self) -> set[str]:
        return {account for account, _ in self.orders}

    def family_calls(self, rid: str) -> list[Call]:
        """Calls carrying `rid` or an id under it (`rid:...`), in call order."""
        found = []
        for i in range(bisect.bisect_left(self._tag_ids, rid), len(self._tag_ids)):
            tag = self._tag_ids[i]
            if not tag.startswith(rid):
                break
            if tag == rid or tag.startswith(rid + ":"):
                found.append(self.by_seq[self._tag_seqs[i]])
        return sorted(found, key=lambda c: c.seq)

    def call_time(self, change: Change) -> float:
        """When the call behind a change arrived (the change's own time when unknown)."""
        call = self.by_seq.get(change.call) if change.call is not None else None
        return call.t_ms if call is not None else change.t_ms


# -- scope --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The orders a request may cancel (and, for aggregate kinds, must leave closed)."""

    accounts: frozenset[str]
    symbol: str | None = None
    order_ids: frozenset[str] | None = None
    #: account -> the symbols an account-wide cancel covers there (absent / None: every one)
    covered: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    def holds(self, order: VenueOrder) -> bool:
        if order.account not in self.accounts:
            return False
        if self.order_ids is not None:
            return order.order_id in self.order_ids
        if self.symbol is not None:
            return order.symbol == self.symbol
        symbols = self.covered.get(order.account)
        return symbols is None or order.symbol in symbols


def _ids(orders: Iterable[VenueOrder], limit: int = 3) -> str:
    items = sorted(orders, key=lambda o: o.order_id)
    shown = ", ".join(f"{o.account}/{o.order_id} ({o.symbol})" for o in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- the checker --------------------------------------------------------------------------------


def check(
    sent: Iterable[Sent],
    finals: Iterable[Mapping[str, str]],
    history: Mapping[str, Any],
    *,
    accounts: Mapping[str, Collection[str] | None] | None = None,
    retired: Collection[str] = (),
) -> Verdict:
    """Hold `finals` against `history`.

    `accounts`: the configured accounts -> the symbols an account-wide cancel_all covers there
    (None: all); a kill without `accounts` covers them all (default: every account in the
    history, every symbol). `retired`: ids of requests of earlier runs, all final already.
    """
    return _Checker(list(sent), list(finals), Book(history), accounts, retired).run()


class _Checker:
    def __init__(
        self,
        sent: list[Sent],
        finals: list[Mapping[str, str]],
        book: Book,
        accounts: Mapping[str, Collection[str] | None] | None,
        retired: Collection[str],
    ):
        self.sent = {s.request_id: s for s in sent}
        self.book = book
        configured = accounts if accounts is not None else dict.fromkeys(book.accounts())
        self.configured = frozenset(configured)
        self.covered = {a: frozenset(s) if s is not None else None for a, s in configured.items()}
        self.retired = set(retired)
        self.verdict = Verdict(requests=len(self.sent))
        self.counts: Counter[str] = Counter()
        self.finals: dict[str, Mapping[str, str]] = {}
        for event in finals:
            rid = event.get("request_id", "")
            if event.get("event", "final") != "final" or self._root(rid) is None:
                continue
            self.counts[rid] += 1
            self.finals.setdefault(rid, event)

    # -- ids ---------------------------------------------------------------------------------

    def _root(self, rid: str) -> Sent | None:
        """The request sent that `rid` is, or is under."""
        for prefix in _prefixes(rid):
            if prefix in self.sent:
                return self.sent[prefix]
        return None

    def _own(self, rid: str) -> set[str]:
        """`rid` and its ancestors, up to the request sent."""
        root = self._root(rid)
        top = root.request_id if root else rid
        return {p for p in _prefixes(rid) if p == top or p.startswith(top + ":")}

    @staticmethod
    def _ts(final: Mapping[str, str]) -> float:
        return float(final.get("ts") or 0)

    def _received(self, final: Mapping[str, str], root: Sent) -> float:
        raw = final.get("received_ms")
        return float(raw) if raw else root.received_ms

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> Verdict:
        v = self.verdict
        v.events = sum(self.counts.values())
        v.finals = sum(1 for rid in self.sent if rid in self.finals)
        for rid, n in sorted(self.counts.items()):
            if n > 1:
                v.add("duplicate_final", rid, f"{n} final events")
        for rid, s in self.sent.items():
            if rid not in self.finals:
                name = "intake" if s.intake else "lost"
                v.add(name, rid, f"no final for {s.kind or 'an unreadable entry'} sent")
        for rid, final in self.finals.items():
            self._final(rid, final)
        self._calls_after_finals()
        self._overreach()
        return v

    def _final(self, rid: str, final: Mapping[str, str]) -> None:
        root = self._root(rid)
        assert root is not None
        status, kind = final.get("status", ""), final.get("kind", "")
        if status == "unknown":
            self.verdict.unknowns[final.get("error_code") or "-"] += 1
        if status == "expired":
            self._expired(rid, final)
        elif kind == "cancel" and status in ("canceled", "already_closed", "not_found"):
            getattr(self, f"_{status}")(rid, final, root)
        elif kind == "cancel" and (status == "failed" or final.get("error_code") == "still_open"):
            self._failed(rid, final, root)
        elif kind in AGGREGATE and status == "completed":
            self._completed(rid, final, root)
        if kind in AGGREGATE and status in ("partial", "failed"):
            self._partial(rid, final, root)

    # -- per order ---------------------------------------------------------------------------

    def _order(self, final: Mapping[str, str]) -> VenueOrder | None:
        return self.book.order(final.get("account", ""), final.get("order_id"))

    def _canceled(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        add = self.verdict.add
        order, ts, received = self._order(final), self._ts(final), self._received(final, root)
        if order is None:
            add("canceled", rid, f"canceled, but the venue never had {_where(final)}")
            return
        story = order.story(received)
        cancel, fill = order.first(CANCELLED), order.first(FILLED)
        if fill is not None and fill.t_ms <= ts + SLACK_MS:
            why = f"it filled, {fill.t_ms - ts:+.0f} ms from the final"
        elif cancel is None:
            why = "the venue never cancelled it"
        elif cancel.t_ms < received - SLACK_MS and not self._unsure(rid, final, ts):
            why = "it was cancelled before the request arrived"
        elif cancel.t_ms > ts + SLACK_MS:
            why = f"at the final ({ts - received:+.0f}) the venue showed {order.status_at(ts)}"
        else:
            return
        add("canceled", rid, f"canceled, but {why}: {story}")

    def _unsure(self, rid: str, final: Mapping[str, str], ts: float) -> bool:
        """A `canceled` that says it cannot tell whose cancel it was (`cancelled_by` unsure):
        true when a cancel of this request (or an ancestor) reached the venue before the
        final, so that its answer (lost, or seen by a node that died) may have been ours."""
        detail = json.loads(final.get("detail") or "{}")
        if not isinstance(detail, dict) or detail.get("cancelled_by") != "unsure":
            return False
        calls = [c for r in self._own(rid) for c in self.book.family_calls(r)]
        return any(c.route in CANCEL_ROUTES and c.t_ms <= ts + SLACK_MS for c in calls)

    def _already_closed(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        add = self.verdict.add
        order, ts, received = self._order(final), self._ts(final), self._received(final, root)
        if order is None:
            add("already_closed", rid, f"already_closed, but the venue never had {_where(final)}")
            return
        story = order.story(received)
        own = self._own(rid)
        mine = [c for c in order.changes if c.status in CANCELLED and c.request_id in own]
        if order.open_at(ts + SLACK_MS):
            why = f"it was open at the final ({ts - received:+.0f})"
        elif mine:
            why = f"its own call cancelled it ({mine[0].request_id})"
        else:
            return
        add("already_closed", rid, f"already_closed, but {why}: {story}")

    def _not_found(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        order, ts = self._order(final), self._ts(final)
        symbol = final.get("symbol") or None
        if order is None or order.created_ms > ts + SLACK_MS:
            return
        if final.get("venue") == "ajaib" and symbol is not None and symbol != order.symbol:
            return  # the venue keys orders by (symbol, id): on another symbol it has no such order
        story = order.story(self._received(final, root))
        self.verdict.add("not_found", rid, f"not_found, but the venue has it: {story}")

    def _failed(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        order, ts, received = self._order(final), self._ts(final), self._received(final, root)
        if order is None:
            return
        story, what = order.story(received), f"{final.get('status')}/{final.get('error_code')}"
        own = self._own(rid)
        mine = [
            c
            for c in order.changes
            if c.status in CANCELLED
            and c.request_id in own
            and self.book.call_time(c) <= ts + CALL_SLACK_MS
        ]
        if mine:
            why = f"its own call cancelled it ({mine[0].request_id})"
        elif final.get("error_code") == "still_open" and not order.open_during(
            received - SLACK_MS, ts + SLACK_MS
        ):
            why = "it was not open while the request ran"
        else:
            return
        self.verdict.add("failed", rid, f"{what}, but {why}: {story}")

    def _expired(self, rid: str, final: Mapping[str, str]) -> None:
        calls = self.book.family_calls(rid)
        if calls:
            origin = float(final.get("received_ms") or calls[0].t_ms)
            self.verdict.add(
                "expired",
                rid,
                f"expired, but {len(calls)} venue call(s) carry its id: {calls[0].story(origin)}",
            )

    # -- aggregates --------------------------------------------------------------------------

    def _scope(self, rid: str, final: Mapping[str, str], root: Sent) -> Scope:
        """What this request covers: the request as sent, or a kill's per-account child."""
        own = self.sent.get(rid)
        kind = own.kind if own else final.get("kind", "")
        if own is not None and kind == "kill":
            accounts = frozenset(own.accounts) if own.accounts else self.configured
            return Scope(accounts, covered=self.covered)
        if own is not None and kind == "cancel_batch":
            return Scope(frozenset({own.account}), order_ids=frozenset(own.order_ids))
        account = own.account if own else final.get("account", "")
        symbol = own.symbol if own else (final.get("symbol") or None)
        return Scope(frozenset({account}), symbol=symbol, covered=self.covered)

    def _in_scope(self, scope: Scope) -> list[VenueOrder]:
        return [o for o in self.book.orders.values() if scope.holds(o)]

    def _completed(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        ts, received = self._ts(final), self._received(final, root)
        scope = self._scope(rid, final, root)
        if scope.order_ids is not None:
            left = [o for o in self._in_scope(scope) if o.open_at(ts + SLACK_MS)]
        else:
            left = [
                o for o in self._in_scope(scope) if o.open_at(received) and o.open_at(ts + SLACK_MS)
            ]
        if left:
            self.verdict.add(
                "completed",
                rid,
                f"{final.get('kind')} completed at {ts - received:+.0f}, but {len(left)} in scope "
                f"still open: {_ids(left)}; {left[0].story(received)}",
            )

    def _partial(self, rid: str, final: Mapping[str, str], root: Sent) -> None:
        try:
            detail = json.loads(final.get("detail") or "{}")
        except ValueError:
            detail = {}
        if not isinstance(detail, dict):
            return
        ts, received = self._ts(final), self._received(final, root)
        scope = self._scope(rid, final, root)
        if scope.order_ids is not None and "orders" in detail and "closed" in detail:
            still = [o for o in self._in_scope(scope) if o.open_at(ts + SLACK_MS)]
            left = int(detail["orders"]) - int(detail["closed"])
            if left < len(still):
                why = f"{left} orders not closed, but {len(still)} open: {_ids(still)}"
                self.verdict.add("partial", rid, why)
            return
        if final.get("kind") == "kill":
            for account, report in (detail.get("accounts") or {}).items():
                if isinstance(report, dict) and report.get("status") == "partial":
                    one = Scope(frozenset({account}), covered=self.covered)
                    self._count(rid, int(report.get("open_count", 0)), None, one, received, ts)
        elif "open_count" in detail:
            named = detail.get("open_after")
            listed = named if isinstance(named, list) else None
            self._count(rid, int(detail["open_count"]), listed, scope, received, ts)

    def _count(
        self,
        rid: str,
        count: int,
        listed: list[str] | None,
        scope: Scope,
        received: float,
        ts: float,
    ) -> None:
        orders = self._in_scope(scope)
        still = [o for o in orders if o.created_ms <= received and o.open_at(ts + SLACK_MS)]
        ran = [o for o in orders if o.open_during(received - SLACK_MS, ts + SLACK_MS)]
        if not len(still) <= count <= len(ran):
            self.verdict.add(
                "partial",
                rid,
                f"open_count {count}, but {len(still)} in scope open at the final and "
                f"{len(ran)} open while it ran" + (f": {_ids(still)}" if still else ""),
            )
        elif listed is not None and len(listed) == count:
            unnamed = [o for o in still if o.order_id not in set(listed)]
            if unnamed:
                self.verdict.add("partial", rid, f"open_after leaves out {_ids(unnamed)}")

    # -- calls -------------------------------------------------------------------------------

    def _calls_after_finals(self) -> None:
        """Each late call counts once, against the deepest request whose final it follows; one
        contradiction per request, naming the first late call."""
        late: dict[str, list[Call]] = {}
        for call in self.book.calls:
            if not call.request_id:
                continue
            prefixes = _prefixes(call.request_id)
            owner = next((p for p in prefixes if p in self.retired), None)
            for rid in reversed(prefixes if owner is None else []):
                final = self.finals.get(rid)
                if final is not None and call.t_ms > self._ts(final) + CALL_SLACK_MS:
                    owner = rid
                    break
            if owner is not None:
                late.setdefault(owner, []).append(call)
        for rid, calls in late.items():
            final = self.finals.get(rid)
            if final is None:
                first = calls[0].story(calls[0].t_ms)
                why = f"{len(calls)} call(s) for a request of an earlier run: {first}"
            else:
                first = calls[0].story(self._ts(final))
                why = (
                    f"{len(calls)} venue call(s) after its {final.get('status')} final, "
                    f"the first {first} (ms after the final)"
                )
            self.verdict.add("call_after_final", rid, why)

    def _overreach(self) -> None:
        """Every order cancelled by a call of a request is in the request's scope."""
        for order in self.book.orders.values():
            for c in order.changes:
                if c.status not in CANCELLED or not c.request_id:
                    continue
                root = self._root(c.request_id)
                if root is None:
                    continue
                if not self._root_scope(root).holds(order):
                    story = order.story(root.received_ms)
                    what = root.kind or "an unreadable intake entry"
                    why = f"{what} cancelled an order outside its scope: {story}"
                    self.verdict.add("overreach", root.request_id, why)

    def _root_scope(self, s: Sent) -> Scope:
        if not s.kind:
            return Scope(frozenset())  # no request: nothing
        if s.kind == "cancel":
            return Scope(frozenset({s.account}), order_ids=frozenset({s.order_id or ""}))
        if s.kind == "cancel_batch":
            return Scope(frozenset({s.account}), order_ids=frozenset(s.order_ids))
        if s.kind == "kill":
            accounts = frozenset(s.accounts) if s.accounts else self.configured
            return Scope(accounts, covered=self.covered)
        return Scope(frozenset({s.account}), symbol=s.symbol, covered=self.covered)


def _prefixes(rid: str) -> list[str]:
    """`a:b:c` -> [`a`, `a:b`, `a:b:c`]: the ids it may be under, shortest first."""
    parts = rid.split(":")
    return [":".join(parts[: i + 1]) for i in range(len(parts))]


def _where(final: Mapping[str, str]) -> str:
    return f"{final.get('account')}/{final.get('order_id')}"
