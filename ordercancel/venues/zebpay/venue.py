"""ZebPay Futures REST (venues/zebpay-futures.md). Orders are addressed by `clientOrderId`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests

from ordercancel.errors import ConfigError, InvalidRequest, RequestError, UnexpectedAnswer
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.venues import wire
from ordercancel.venues.base import (
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
from ordercancel.venues.zebpay.auth import HmacAuth, JwtAuth
from ordercancel.venues.zebpay.errors import description, error_for

#: the account fields of this venue (besides venue, base_url, rate_limit, timeout_s)
FIELDS = ("api_key", "api_secret", "jwt", "subaccount_id", "symbols")
_CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces
_SYMBOL = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: The status words the reference documents; any other settles nothing.
_PHASES = {
    "new": Phase.OPEN,
    "partially_filled": Phase.OPEN,
    "canceled": Phase.CANCELED,
    "filled": Phase.FILLED,
}


@dataclass(frozen=True, kw_only=True)
class ZebPayOptions:
    api_key: Secret | None = None
    api_secret: Secret | None = None
    jwt: Secret | None = None
    subaccount_id: str | None = None
    #: symbols an account-wide cancel_all verifies (its listing route needs a symbol)
    symbols: tuple[str, ...] = ()


class ZebPay(Venue):
    name = "zebpay"
    default_rate_limit = "180/60s"  # per client IP, all /api routes
    cancel_all_by_symbol = False  # DELETE /order/all is account-wide
    client_order_ids = True  # orders are addressed by the client's own id
    rate_scope = "ip"
    secret_headers = ("x-auth-apikey", "x-auth-signature")  # and Authorization (sentry's list)
    simulator = "ordercancel.sim.zebpay"

    @classmethod
    def parse_options(
        cls, account: str, table: Mapping[str, Any], env: Mapping[str, str]
    ) -> ZebPayOptions:
        check_fields(table, FIELDS, account=account)

        def secret(key: str) -> Secret | None:
            if key not in table:
                return None
            return resolve_secret(table[key], account=account, field=key, env=env)

        if "jwt" in table:
            if "api_key" in table or "api_secret" in table:
                raise ConfigError(
                    "use jwt or api_key/api_secret, not both", account=account, field="jwt"
                )
            options = ZebPayOptions(jwt=secret("jwt"))
        else:
            for key in ("api_key", "api_secret"):
                if key not in table:
                    raise ConfigError("is required (or jwt)", account=account, field=key)
            options = ZebPayOptions(api_key=secret("api_key"), api_secret=secret("api_secret"))
        sub = table.get("subaccount_id")
        if sub is not None and (
            not isinstance(sub, str | int) or isinstance(sub, bool) or not str(sub)
        ):
            raise ConfigError("must be a string or integer", account=account, field="subaccount_id")
        symbols = table.get("symbols", [])
        if not isinstance(symbols, list) or not all(
            isinstance(s, str) and _SYMBOL.match(s) for s in symbols
        ):
            raise ConfigError("must be a list of symbols", account=account, field="symbols")
        return replace(
            options, subaccount_id=None if sub is None else str(sub), symbols=tuple(symbols)
        )

    def __init__(self, account: Any):
        super().__init__(account)
        opts: ZebPayOptions = self.options
        if opts.jwt is not None:
            self._auth: requests.auth.AuthBase = JwtAuth(opts.jwt.reveal())
        else:
            assert opts.api_key is not None and opts.api_secret is not None
            self._auth = HmacAuth(opts.api_key.reveal(), opts.api_secret.reveal(), self.now_ms)
        self._headers = {"Accept": "application/json"}
        if opts.subaccount_id:
            self._headers["subaccountid"] = opts.subaccount_id

    def check_order_ref(self, ref: OrderRef) -> None:
        if not _CLIENT_ORDER_ID.match(ref.order_id):
            raise RequestError(
                ErrorCode.INVALID_REQUEST,
                "order_id: a zebpay clientOrderId is 1..64 printable characters without spaces",
                field="order_id",
            )
        if ref.symbol is not None:
            self.check_symbol(ref.symbol)

    def check_symbol(self, symbol: str) -> None:
        if not _SYMBOL.match(symbol):
            raise RequestError(
                ErrorCode.INVALID_REQUEST, "symbol: not a zebpay symbol", field="symbol"
            )

    def _call(
        self, method: str, path: str, call: Call, *, missing_ok: bool = False, **kw: Any
    ) -> tuple[int, Any]:
        """Send a signed call; return (status, envelope `data`) for a 2xx, or (404, None) for
        the venue's own "not found" when `missing_ok`. A 2xx or 404 without the venue's
        envelope (a gateway, a wrong `base_url`) settles nothing: `UnexpectedAnswer`."""
        resp = self.send(method, path, call, auth=self._auth, headers=self._headers, **kw)
        body = body_of(resp)
        status = resp.status_code
        if resp.ok or status == 404:
            if not _is_envelope(body):
                raise UnexpectedAnswer(
                    f"{method} {path}: {status} without the venue's envelope: "
                    f"{description(body) or 'empty body'}",
                    http_status=status,
                )
            if resp.ok:
                return status, body["data"]
            if missing_ok:
                return status, None
        raise error_for(status, body, resp.headers)

    def cancel(self, ref: OrderRef, call: Call) -> CancelReply:
        """`DELETE /api/v1/trade/order` (body `clientOrderId`, optional `symbol`)."""
        body: dict[str, Any] = {"clientOrderId": ref.order_id}
        if ref.symbol:
            body["symbol"] = ref.symbol
        try:
            status, data = self._call(
                "DELETE", "/api/v1/trade/order", call, missing_ok=True, json=body
            )
        except InvalidRequest:
            # The venue does not document its answer for an order that is no longer open;
            # reading the order back tells a closed order (not closed by this call: it was
            # refused) from a truly bad request.
            state = self.get_order(ref, call)
            if state.phase is Phase.OPEN:
                raise
            gone = Status.NOT_FOUND if state.phase is Phase.NOT_FOUND else Status.ALREADY_CLOSED
            return CancelReply(gone, state.http_status, state.venue_status)
        if data is None:
            return CancelReply(Status.NOT_FOUND, status, "not found")
        venue_status = str(data.get("status", "")) if isinstance(data, Mapping) else ""
        if venue_status == "canceled" and data.get("clientOrderId") == ref.order_id:
            return CancelReply(Status.CANCELED, status, venue_status)
        # an answer the docs do not describe: the venue took the call, read the order back
        return CancelReply(None, status, venue_status[:100] or None)

    def get_order(self, ref: OrderRef, call: Call) -> OrderState:
        """`GET /api/v1/trade/order?id=<clientOrderId>`."""
        status, data = self._call(
            "GET", "/api/v1/trade/order", call, missing_ok=True, params={"id": ref.order_id}
        )
        if data is None:
            return OrderState(Phase.NOT_FOUND, status, "not found")
        return OrderState(_phase(data, ref.order_id), status, str(data["status"]))

    def cancel_all(self, symbol: str | None, call: Call) -> CancelAllReply:
        """`DELETE /api/v1/trade/order/all`: every open order of the account; answers the
        cancelled orders (`[]` when none was open). Only items that say `canceled` count."""
        if symbol is not None:
            raise ValueError("zebpay's cancel-all is account-wide")
        status, data = self._call("DELETE", "/api/v1/trade/order/all", call, json={})
        if not isinstance(data, list):
            raise UnexpectedAnswer("cancel-all answered without a list", http_status=status)
        refs = tuple(
            OrderRef(str(o["clientOrderId"]), str(o.get("symbol") or "") or None)
            for o in data
            if isinstance(o, Mapping) and o.get("clientOrderId") and o.get("status") == "canceled"
        )
        return CancelAllReply(cancelled=refs, http_status=status)

    def list_open(self, symbol: str, call: Call) -> list[OrderRef]:
        """`GET /api/v1/trade/order/open-orders?symbol=&limit=&since=`, following
        `nextTimestamp`. A page that is not the documented shape makes the listing fail."""
        refs: list[OrderRef] = []
        since: int | None = None
        for _ in range(1000):  # a bound on pages, not an expected count
            params: dict[str, Any] = {"symbol": symbol, "limit": 500}
            if since is not None:
                params["since"] = since
            _, data = self._call("GET", "/api/v1/trade/order/open-orders", call, params=params)
            items = data.get("items") if isinstance(data, Mapping) else None
            if not isinstance(items, list):
                raise UnexpectedAnswer("open-orders answered without `items`")
            for o in items:
                if not isinstance(o, Mapping) or not o.get("clientOrderId"):
                    raise UnexpectedAnswer("open-orders listed an order without clientOrderId")
                coid = str(o["clientOrderId"])
                if _phase(o, coid) is Phase.OPEN:
                    created = wire.ms_of(o.get("timestamp"))
                    if created is None:
                        created = wire.ms_of(o.get("datetime"))
                    refs.append(OrderRef(coid, symbol, wire.side_of(o.get("side")), coid, created))
            since = data.get("nextTimestamp")
            if not since:
                break
        return refs

    def list_symbols(self, call: Call) -> list[str]:
        """`GET /api/v1/exchange/pairs` (public): every pair, active or not (an inactive pair
        may still hold open orders)."""
        resp = self.send("GET", "/api/v1/exchange/pairs", call, headers=self._headers)
        if not resp.ok:
            raise error_for(resp.status_code, body_of(resp), resp.headers)
        body = body_of(resp)
        data = body.get("data") if isinstance(body, Mapping) else None
        pairs = data.get("pairs") if isinstance(data, Mapping) else None
        if not isinstance(pairs, list) or not all(
            isinstance(p, Mapping) and isinstance(p.get("pair"), str) for p in pairs
        ):
            raise UnexpectedAnswer("exchange pairs unreadable", http_status=resp.status_code)
        return [str(p["pair"]) for p in pairs]

    def server_time(self, call: Call) -> int:
        """`GET /api/v1/system/time` (public)."""
        resp = self.send("GET", "/api/v1/system/time", call, headers=self._headers)
        if not resp.ok:  # a 5xx or 429 here is retried like any other call
            raise error_for(resp.status_code, body_of(resp), resp.headers)
        try:
            server_ms = int(resp.json()["data"]["timestamp"])
        except (ValueError, KeyError, TypeError):
            raise UnexpectedAnswer(
                f"server time unreadable: {description(resp.text)}", http_status=resp.status_code
            ) from None
        return server_ms


def _is_envelope(body: Any) -> bool:
    """The venue's answer envelope, success and error alike."""
    return isinstance(body, Mapping) and "statusCode" in body and "data" in body


def _phase(order: Mapping[str, Any], order_id: str) -> Phase:
    """An order's phase from its documented status word; anything else settles nothing."""
    word = order.get("status")
    phase = _PHASES.get(word) if isinstance(word, str) else None
    if phase is None:
        raise UnexpectedAnswer(f"order {order_id[:64]}: undocumented status {str(word)[:40]!r}")
    if order.get("clientOrderId", order_id) != order_id:
        raise UnexpectedAnswer(f"asked for order {order_id[:64]}, got another")
    return phase
