"""Ajaib Coin Exchange spot REST (venues/ajaib-spot.md). Orders are addressed by a numeric
`order_id` and always with their `symbol`; URLs are lower-case."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.errors import ConfigError, RequestError, UnexpectedAnswer
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.venues import wire
from ordercancel.venues.ajaib.auth import ENCODINGS, EcdsaAuth, load_private_key
from ordercancel.venues.ajaib.errors import ALREADY_CLOSED, error_code, error_for
from ordercancel.venues.base import (
    AccountConfig,
    BatchReply,
    Call,
    CancelAllReply,
    CancelReply,
    OrderRef,
    OrderState,
    Phase,
    Secret,
    Venue,
    body_of,
    check_fields,
    resolve_secret,
)

PREFIX = "/coin/internal/v1"
#: the account fields of this venue (besides venue, base_url, rate_limit, timeout_s)
FIELDS = ("api_key", "private_key", "symbols", "signature_encoding")
_ORDER_ID = re.compile(r"^[0-9]{1,19}$")  # int64
_SYMBOL = re.compile(r"^[A-Z0-9]{1,16}_[A-Z0-9]{1,16}$")
#: The status words the docs list; any other settles nothing.
_PHASES = {
    "NEW": Phase.OPEN, "OPEN": Phase.OPEN, "PARTIAL_FILLED": Phase.OPEN,
    "PARTIALLY_FILLED": Phase.OPEN,  # the cancel page's spelling
    "CANCELLED": Phase.CANCELED, "PARTIAL_CANCELLED": Phase.CANCELED,
    "FILLED": Phase.FILLED,
    "REJECTED": Phase.CLOSED, "EXPIRED": Phase.CLOSED, "EXPIRED_IN_MATCH": Phase.CLOSED,
    "PARTIALLY_EXPIRED_IN_MATCH": Phase.CLOSED,
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class AjaibOptions:
    api_key: Secret
    private_key: Secret
    key: ec.EllipticCurvePrivateKey  # parsed from private_key; repr hidden below
    symbols: tuple[str, ...] = ()
    signature_encoding: str = "base64-der"

    def __repr__(self) -> str:
        return (
            f"AjaibOptions(api_key={self.api_key!r}, private_key={self.private_key!r}, "
            f"symbols={self.symbols!r}, signature_encoding={self.signature_encoding!r})"
        )


class Ajaib(Venue):
    name = "ajaib"
    default_rate_limit = "20/1s"  # no published quota: conservative, shrinks on 429
    max_batch = 100  # the docs set none; chunks keep one refused call small
    cancel_all_by_symbol = True  # DELETE /order/open takes one symbol
    secret_headers = ("x-api-key", "x-signature")
    probe_symbol = "BTC_USDT"
    simulator = "ordercancel.sim.ajaib"

    @classmethod
    def parse_options(
        cls, account: str, table: Mapping[str, Any], env: Mapping[str, str]
    ) -> AjaibOptions:
        check_fields(table, FIELDS, account=account)
        for key in ("api_key", "private_key"):
            if key not in table:
                raise ConfigError("is required", account=account, field=key)
        api_key = resolve_secret(table["api_key"], account=account, field="api_key", env=env)
        private = resolve_secret(
            table["private_key"], account=account, field="private_key", env=env
        )
        try:
            ec_key = load_private_key(private.reveal())
        except (ValueError, TypeError) as exc:
            # cryptography's messages name formats, never key material
            raise ConfigError(
                f"unusable key: {exc}", account=account, field="private_key"
            ) from None
        symbols = table.get("symbols", [])
        if not isinstance(symbols, list) or not all(
            isinstance(s, str) and _SYMBOL.match(s) for s in symbols
        ):
            raise ConfigError(
                'must be a list of symbols like "BTC_USDT"', account=account, field="symbols"
            )
        encoding = table.get("signature_encoding", "base64-der")
        if encoding not in ENCODINGS:
            raise ConfigError(
                f"must be one of {', '.join(ENCODINGS)}",
                account=account,
                field="signature_encoding",
            )
        return AjaibOptions(
            api_key=api_key,
            private_key=private,
            key=ec_key,
            symbols=tuple(symbols),
            signature_encoding=encoding,
        )

    def __init__(self, account: AccountConfig):
        super().__init__(account)
        opts: AjaibOptions = self.options
        self._auth = EcdsaAuth(
            opts.api_key.reveal(), opts.key, opts.signature_encoding, self.now_ms
        )
        self._clock_lock = threading.Lock()

    def check_order_ref(self, ref: OrderRef) -> None:
        if not _ORDER_ID.match(ref.order_id) or int(ref.order_id) >= 2**63:
            raise RequestError(
                ErrorCode.INVALID_REQUEST,
                "order_id: an ajaib order_id is a decimal integer (int64)",
                field="order_id",
            )
        if ref.symbol is None:
            raise RequestError(
                ErrorCode.INVALID_REQUEST, "symbol: is required on ajaib", field="symbol"
            )
        self.check_symbol(ref.symbol)

    def check_symbol(self, symbol: str) -> None:
        if not _SYMBOL.match(symbol):
            raise RequestError(
                ErrorCode.INVALID_REQUEST,
                'symbol: an ajaib symbol looks like "BTC_USDT"',
                field="symbol",
            )

    def _call(
        self, method: str, path: str, call: Call, *, settles: bool = False, **kw: Any
    ) -> tuple[int, Any]:
        """A signed call; returns (status, body) for 2xx, and for a settled cancel answer
        (the venue's own 404, `order_already_closed`) when `settles`. A 404 without the venue's
        error body (a gateway, a wrong `base_url`) settles nothing: `UnexpectedAnswer`."""
        if not self.clock_synced:  # sync before the first signed call
            with self._clock_lock:
                if not self.clock_synced:
                    self.resync_clock(call)
        resp = self.send(method, PREFIX + path, call, auth=self._auth, **kw)
        if resp.status_code in (401, 403):
            # `invalid_client` also means "timestamp out of window": re-sync once and repeat
            # before calling it an auth failure.
            self.resync_clock(call)
            resp = self.send(method, PREFIX + path, call, auth=self._auth, **kw)
        body = body_of(resp)
        if resp.status_code == 404 and not error_code(body, strict=True):
            raise UnexpectedAnswer(
                f"{method} {path}: 404 without the venue's error body", http_status=404
            )
        if resp.ok:
            return resp.status_code, body
        if settles and (resp.status_code == 404 or error_code(body) == ALREADY_CLOSED):
            return resp.status_code, body
        raise error_for(resp.status_code, body)

    def cancel(self, ref: OrderRef, call: Call) -> CancelReply:
        """`DELETE /coin/internal/v1/order?order_id=&symbol=`: 200 `CANCEL_SENT` is only an
        acknowledgement; the caller confirms by reading the order (so does any other 2xx)."""
        params = {"order_id": ref.order_id, "symbol": ref.symbol}
        status, body = self._call("DELETE", "/order", call, settles=True, params=params)
        return _settled(status, body) or CancelReply(None, status, _field(body, "status"))

    def cancel_many(self, symbol: str, refs: Sequence[OrderRef], call: Call) -> BatchReply:
        """`DELETE /coin/internal/v1/order/batch`, body `{"order_ids": [...], "symbol": ...}`.
        Not atomic: both `success` and `fail` are read."""
        body = {"order_ids": [int(r.order_id) for r in refs], "symbol": symbol}
        status, answer = self._call("DELETE", "/order/batch", call, json=body)
        success, _ = _ids(answer, "batch cancel")  # `fail` and unmentioned ids: read back
        return BatchReply(accepted=success, http_status=status)

    def cancel_all(self, symbol: str | None, call: Call) -> CancelAllReply:
        """`DELETE /coin/internal/v1/order/open?symbol=`: not atomic, `success` ids are
        acknowledged (confirmed by reading back), `fail` ids are left to the verification."""
        if symbol is None:
            raise ValueError("ajaib's cancel-all takes a symbol")
        status, body = self._call("DELETE", "/order/open", call, params={"symbol": symbol})
        success, _ = _ids(body, "cancel-all")
        cancelled = tuple(OrderRef(i, symbol) for i in success)
        return CancelAllReply(cancelled=cancelled, http_status=status)

    def list_open(self, symbol: str, call: Call) -> list[OrderRef]:
        """`GET /coin/internal/v1/order/open?symbol=&limit=&from_order_id=`: newest first;
        `from_order_id` is an inclusive cursor, so the next page starts below the last id. A
        page that is not the documented shape makes the listing fail."""
        refs: list[OrderRef] = []
        cursor: int | None = None
        for _ in range(1000):  # a bound on pages, not an expected count
            params: dict[str, Any] = {"symbol": symbol, "limit": 100}
            if cursor is not None:
                params["from_order_id"] = cursor
            _, page = self._call("GET", "/order/open", call, params=params)
            if not isinstance(page, list) or not all(
                isinstance(o, Mapping) and _ORDER_ID.match(str(o.get("order_id"))) for o in page
            ):
                raise UnexpectedAnswer("open orders: not a list of orders")
            ids = [int(o["order_id"]) for o in page]
            refs += [
                OrderRef(
                    str(o["order_id"]),
                    symbol,
                    wire.side_of(o.get("side")),
                    created_ms=wire.ms_of(o.get("created_at")),
                )
                for o in page
                if _phase(o, str(o["order_id"])) is Phase.OPEN
            ]
            if len(ids) < 100:
                break
            cursor = min(ids) - 1
        return refs

    def list_symbols(self, call: Call) -> list[str]:
        """`GET /coin/internal/v1/public/exchange-info`."""
        resp = self.send("GET", PREFIX + "/public/exchange-info", call)
        if not resp.ok:
            raise error_for(resp.status_code, body_of(resp))
        try:
            return [str(s["symbol"]) for s in resp.json()["symbols"]]
        except (ValueError, KeyError, TypeError):
            raise UnexpectedAnswer(
                "exchange-info unreadable", http_status=resp.status_code
            ) from None

    def get_order(self, ref: OrderRef, call: Call) -> OrderState:
        """`GET /coin/internal/v1/order?order_id=&symbol=`."""
        params = {"order_id": ref.order_id, "symbol": ref.symbol}
        status, body = self._call("GET", "/order", call, settles=True, params=params)
        if status == 404:
            return OrderState(Phase.NOT_FOUND, 404, "not_found")
        if not isinstance(body, Mapping):
            raise UnexpectedAnswer("order: not an object", http_status=status)
        return OrderState(_phase(body, ref.order_id), status, str(body["status"]))

    def server_time(self, call: Call) -> int:
        """`GET /coin/internal/v1/public/time` -> `{"timezone": "UTC", "timestamp": ms}`."""
        resp = self.send("GET", PREFIX + "/public/time", call)
        if not resp.ok:  # a 5xx or 429 here is retried like any other call
            raise error_for(resp.status_code, body_of(resp))
        try:
            server_ms = int(resp.json()["timestamp"])
        except (ValueError, KeyError, TypeError):
            raise UnexpectedAnswer("server time unreadable", http_status=resp.status_code) from None
        return server_ms


def _field(body: Any, name: str) -> str | None:
    value = body.get(name) if isinstance(body, Mapping) else None
    return None if value is None else str(value)[:100]


def _settled(status: int, body: Any) -> CancelReply | None:
    if status == 404:
        return CancelReply(Status.NOT_FOUND, 404, "not_found")
    if error_code(body) == ALREADY_CLOSED:
        return CancelReply(Status.ALREADY_CLOSED, status, ALREADY_CLOSED)
    return None


def _phase(order: Mapping[str, Any], order_id: str) -> Phase:
    """An order's phase from its documented status word; anything else settles nothing."""
    word = order.get("status")
    phase = _PHASES.get(word.upper()) if isinstance(word, str) else None
    if phase is None:
        raise UnexpectedAnswer(f"order {order_id}: undocumented status {str(word)[:40]!r}")
    if str(order.get("order_id", order_id)) != order_id:
        raise UnexpectedAnswer(f"asked for order {order_id}, got another")
    return phase


def _ids(body: Any, what: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `success` and `fail` id lists of a batch or cancel-all answer."""
    lists = [body.get(k) if isinstance(body, Mapping) else None for k in ("success", "fail")]
    if not all(isinstance(ids, list) for ids in lists):
        raise UnexpectedAnswer(f"{what}: answer without `success` and `fail` lists")
    success, fail = (tuple(str(i) for i in ids or []) for ids in lists)
    return success, fail
