"""A request (CONTRACT §4): parsed once, validated, immutable."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ordercancel.config import Settings
from ordercancel.errors import RequestError
from ordercancel.outcomes import ErrorCode, Kind
from ordercancel.scope import SIDES, Scope

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_request_id() -> str:
    return uuid.uuid4().hex


#: ids ordercancel derives (a batch's, cancel-all's or kill's children `<parent>:<part>`, the
#: dead-man's kill `deadman-<armed_ms>`): a producer naming one could claim its final first
RESERVED = "`:` and the prefix `deadman-` are reserved for the ids ordercancel derives"


def reserved(request_id: str) -> bool:
    return ":" in request_id or request_id.startswith("deadman-")


def known_id(message: Mapping[str, Any]) -> str | None:
    """The one id a message is known by, everywhere (ledger, owner, events, final): its
    `request_id` when that is a valid id (and, from the intake, not a reserved one), else its
    intake entry id (set by the intake, or by `enqueue` for a message that names none). None
    before either exists."""
    rid = message.get("request_id")
    entry = message.get("_entry_id")
    if isinstance(rid, str) and _REQUEST_ID.match(rid) and not (entry and reserved(rid)):
        return rid
    return entry if isinstance(entry, str) and entry else None


#: the scope's selectors finer than symbols (`ordercancel/scope.py`)
SELECTORS = ("side", "client_order_id_prefix", "placed_before_ms")
#: Fields every kind takes (`received_ms` and `_entry_id` are set on the way in).
_COMMON = frozenset(
    {"kind", "request_id", "idempotency_key", "deadline_ms", "reason", "requested_by",
     "received_ms", "_entry_id"}
)  # fmt: skip
#: The fields each kind takes besides; any other field is refused, never ignored.
FIELDS: dict[Kind, frozenset[str]] = {
    Kind.CANCEL: frozenset({"account", "symbol", "order_id"}),
    Kind.CANCEL_BATCH: frozenset({"account", "symbol", "order_ids"}),
    Kind.CANCEL_ALL: frozenset({"account", "symbol", "symbols", *SELECTORS}),
    Kind.KILL: frozenset({"accounts", "symbols", *SELECTORS}),
}


@dataclass(frozen=True, kw_only=True)
class Request:
    request_id: str
    kind: Kind
    received_ms: int
    deadline_ms: int
    account: str = ""
    venue: str = ""
    symbol: str | None = None
    order_id: str | None = None
    order_ids: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    idempotency_key: str | None = None
    symbols: tuple[str, ...] = ()
    side: str | None = None
    client_order_id_prefix: str | None = None
    placed_before_ms: int | None = None
    reason: str = ""
    requested_by: str = ""
    parent_id: str = ""

    @property
    def deadline_at_ms(self) -> int:
        return self.received_ms + self.deadline_ms

    @property
    def scope(self) -> Scope:
        """What a cancel_all or kill may touch (its named accounts; every one when none)."""
        return Scope(
            accounts=self.accounts or ((self.account,) if self.account else ()),
            symbols=(self.symbol,) if self.symbol else self.symbols,
            side=self.side,
            client_order_id_prefix=self.client_order_id_prefix,
            placed_before_ms=self.placed_before_ms,
        )

    def fingerprint(self) -> str:
        """What makes two requests "the same" for idempotency: the instruction, not metadata."""
        what = [
            self.kind,
            self.account,
            self.symbol,
            self.order_id,
            list(self.order_ids),
            sorted(self.accounts),
            sorted(self.symbols),
            self.side,
            self.client_order_id_prefix,
            self.placed_before_ms,
        ]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]


def _str(
    raw: Mapping[str, Any],
    name: str,
    *,
    max_len: int,
    pattern: re.Pattern[str] | None = None,
    required: bool = False,
) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise RequestError(ErrorCode.INVALID_REQUEST, f"{name}: is required", field=name)
        return None
    if not isinstance(value, str):
        raise RequestError(ErrorCode.INVALID_REQUEST, f"{name}: must be a string", field=name)
    if len(value) > max_len:
        raise RequestError(
            ErrorCode.INVALID_REQUEST, f"{name}: longer than {max_len} characters", field=name
        )
    _check_text(name, value)
    if pattern is not None and not pattern.match(value):
        raise RequestError(
            ErrorCode.INVALID_REQUEST,
            f"{name}: has characters outside {pattern.pattern}",
            field=name,
        )
    return value


def _str_list(raw: Mapping[str, Any], name: str, *, max_items: int) -> tuple[str, ...]:
    value = raw.get(name)
    if value is None:
        return ()
    if value == []:  # not read as absent: that would widen the scope to everything
        raise RequestError(ErrorCode.INVALID_REQUEST, f"{name}: is empty", field=name)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RequestError(
            ErrorCode.INVALID_REQUEST, f"{name}: must be a list of strings", field=name
        )
    if len(value) > max_items:
        raise RequestError(
            ErrorCode.INVALID_REQUEST, f"{name}: more than {max_items} items", field=name
        )
    for item in value:
        _check_text(name, item)
    return tuple(value)


def _check_text(name: str, value: str) -> None:
    """Every string that reaches Redis must be encodable: a JSON `\\ud800` decodes to a lone
    surrogate, which is not."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise RequestError(
            ErrorCode.INVALID_REQUEST, f"{name}: not valid Unicode (a lone surrogate)", field=name
        ) from None


def _check_fields(raw: Mapping[str, Any], kind: Kind) -> None:
    for name in sorted(set(raw) - _COMMON - FIELDS[kind]):
        shown = repr(name)[:40]
        if name == "account" and kind is Kind.KILL:
            why = "a kill takes `accounts` (a list); it is refused, not widened to every account"
        else:
            why = f"is not a field of a {kind.value} request"
        raise RequestError(ErrorCode.INVALID_REQUEST, f"{shown} {why}", field=name[:40])


def parse(raw: Mapping[str, Any], settings: Settings) -> Request:
    """Validate a request message; `RequestError` names the field. A field the kind does not
    take is refused."""
    rid = _str(raw, "request_id", max_len=128, pattern=_REQUEST_ID)
    if rid and raw.get("_entry_id") and reserved(rid):
        raise RequestError(ErrorCode.INVALID_REQUEST, f"request_id: {RESERVED}", field="request_id")
    request_id = known_id(raw) or new_request_id()
    received = raw.get("received_ms")
    received_ms = received if isinstance(received, int) and received > 0 else now_ms()
    kind_raw = raw.get("kind")
    try:
        kind = Kind(kind_raw if isinstance(kind_raw, str) else "")
    except ValueError:
        raise RequestError(
            ErrorCode.INVALID_REQUEST,
            f"kind: must be one of {', '.join(k.value for k in Kind)}",
            field="kind",
        ) from None
    _check_fields(raw, kind)
    deadline = raw.get("deadline_ms", settings.default_deadline_ms)
    if (
        not isinstance(deadline, int)
        or isinstance(deadline, bool)
        or not 1 <= deadline <= settings.max_deadline_ms
    ):
        raise RequestError(
            ErrorCode.INVALID_REQUEST,
            f"deadline_ms: must be an integer in 1..{settings.max_deadline_ms}",
            field="deadline_ms",
        )
    account_name = _str(raw, "account", max_len=64, required=kind is not Kind.KILL)
    account, venue = "", ""
    if account_name is not None:
        config = settings.account(account_name)
        if config is None:
            raise RequestError(
                ErrorCode.UNKNOWN_ACCOUNT,
                f"account: {account_name!r} is not configured",
                field="account",
            )
        account, venue = config.name, config.venue
    symbol = _str(raw, "symbol", max_len=32)
    order_id = _str(raw, "order_id", max_len=64, required=kind is Kind.CANCEL)
    order_ids = _str_list(raw, "order_ids", max_items=settings.max_batch_orders)
    if kind is Kind.CANCEL_BATCH and not order_ids:
        raise RequestError(ErrorCode.INVALID_REQUEST, "order_ids: is required", field="order_ids")
    if kind is Kind.CANCEL_BATCH and symbol is None:
        raise RequestError(ErrorCode.INVALID_REQUEST, "symbol: is required", field="symbol")
    accounts = _str_list(raw, "accounts", max_items=256)
    unknown = [a for a in accounts if a not in settings.accounts]
    if unknown:
        raise RequestError(
            ErrorCode.UNKNOWN_ACCOUNT,
            f"accounts: {unknown[0][:64]!r} is not configured",
            field="accounts",
        )
    symbols = _str_list(raw, "symbols", max_items=256)
    for name in symbols:
        if len(name) > 32:
            raise RequestError(
                ErrorCode.INVALID_REQUEST, "symbols: longer than 32 characters", field="symbols"
            )
    if symbols and symbol is not None:
        raise RequestError(
            ErrorCode.INVALID_REQUEST, "symbol and symbols: name one or the other", field="symbols"
        )
    side, prefix, placed_before = _selectors(raw, settings, kind, account, accounts)
    return Request(
        request_id=request_id,
        kind=kind,
        received_ms=received_ms,
        deadline_ms=deadline,
        account=account,
        venue=venue,
        symbol=symbol,
        order_id=order_id,
        order_ids=order_ids,
        accounts=accounts,
        idempotency_key=_str(raw, "idempotency_key", max_len=128, pattern=_IDEMPOTENCY_KEY),
        symbols=tuple(dict.fromkeys(symbols)),
        side=side,
        client_order_id_prefix=prefix,
        placed_before_ms=placed_before,
        reason=_str(raw, "reason", max_len=256) or "",
        requested_by=_str(raw, "requested_by", max_len=128) or "",
    )


def _selectors(
    raw: Mapping[str, Any],
    settings: Settings,
    kind: Kind,
    account: str,
    accounts: tuple[str, ...],
) -> tuple[str | None, str | None, int | None]:
    """`side`, `client_order_id_prefix`, `placed_before_ms`, checked. An empty one is refused,
    not read as absent (an unset variable in `--prefix "$STRAT"` would widen the scope to the
    whole account). A prefix is refused on an account whose venue's orders carry no client id:
    nothing there could be shown in scope."""
    scope = (*SELECTORS, "symbol") if kind is Kind.CANCEL_ALL else SELECTORS
    for name in scope:
        if raw.get(name) == "" and name in FIELDS[kind]:
            raise RequestError(ErrorCode.INVALID_REQUEST, f"{name}: is empty", field=name)
    side = _str(raw, "side", max_len=4)
    if side is not None and side.lower() not in SIDES:
        raise RequestError(ErrorCode.INVALID_REQUEST, "side: must be buy or sell", field="side")
    prefix = _str(raw, "client_order_id_prefix", max_len=64)
    if prefix is not None:
        from ordercancel.venues import venue_class

        for name in (account,) if account else accounts:
            venue = settings.accounts[name].venue
            if not venue_class(venue).client_order_ids:
                raise RequestError(
                    ErrorCode.INVALID_REQUEST,
                    f"client_order_id_prefix: {venue} orders carry no client order id "
                    f"(account {name!r})",
                    field="client_order_id_prefix",
                )
    placed = raw.get("placed_before_ms")
    if placed is not None and (
        not isinstance(placed, int) or isinstance(placed, bool) or placed <= 0
    ):
        raise RequestError(
            ErrorCode.INVALID_REQUEST,
            "placed_before_ms: must be a positive integer (ms since the epoch)",
            field="placed_before_ms",
        )
    return (side.lower() if side else None), prefix, placed
