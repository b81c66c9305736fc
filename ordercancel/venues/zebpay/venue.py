"""ZebPay Futures REST (venues/zebpay-futures.md). Orders are addressed by `clientOrderId`."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests

from ordercancel.config import Secret, resolve_secret
from ordercancel.errors import ConfigError, InvalidRequest, RequestError, VenueError
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.venues.base import (
    CancelAllReply,
    CancelReply,
    OrderRef,
    OrderState,
    Phase,
    Venue,
    body_of,
)
from ordercancel.venues.zebpay.auth import HmacAuth, JwtAuth
from ordercancel.venues.zebpay.errors import description, error_for

_CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces
_SYMBOL = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PHASES = {
    "new": Phase.OPEN,
    "open": Phase.OPEN,
    "partially_filled": Phase.OPEN,
    "canceled": Phase.CANCELED,
    "cancelled": Phase.CANCELED,
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
    rate_scope = "ip"

    @classmethod
    def parse_options(
        cls, account: str, table: Mapping[str, Any], env: Mapping[str, str]
    ) -> ZebPayOptions:
        allowed = {"api_key", "api_secret", "jwt", "subaccount_id", "symbols"}
        for key in table:
            if key not in allowed:
                raise ConfigError("unknown field for venue zebpay", account=account, field=key)

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
            self._auth = HmacAuth(opts.api_key.reveal(), opts.api_secret.reveal(), self._now_ms)
        self._headers = {"Accept": "application/json"}
        if opts.subaccount_id:
            self._headers["subaccountid"] = opts.subaccount_id

    def _now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

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
        self, method: str, path: str, timeout: float, *, ok: tuple[int, ...] = (), **kw: Any
    ) -> tuple[int, Any]:
        """Send a signed call; return (status, envelope data) for 2xx or a status in `ok`."""
        resp = self.send(method, path, timeout, auth=self._auth, headers=self._headers, **kw)
        body = body_of(resp)
        if resp.ok or resp.status_code in ok:
            data = body.get("data") if isinstance(body, Mapping) else None
            return resp.status_code, data
        raise error_for(resp.status_code, body, resp.headers)

    def cancel(self, ref: OrderRef, timeout: float) -> CancelReply:
        """`DELETE /api/v1/trade/order` (body `clientOrderId`, optional `symbol`)."""
        body: dict[str, Any] = {"clientOrderId": ref.order_id}
        if ref.symbol:
            body["symbol"] = ref.symbol
        try:
            status, data = self._call(
                "DELETE", "/api/v1/trade/order", timeout, ok=(404,), json=body
            )
        except InvalidRequest:
            # The venue does not document its answer for an order that is no longer open;
            # reading the order back tells a closed order from a truly bad request.
            state = self.get_order(ref, timeout)
            if state.phase is Phase.OPEN:
                raise
            assert state.phase.final_status is not None
            return CancelReply(state.phase.final_status, state.http_status, state.venue_status)
        if status == 404:
            return CancelReply(Status.NOT_FOUND, 404, "not found")
        venue_status = str(data.get("status", "")) if isinstance(data, Mapping) else ""
        if venue_status.lower() == "canceled":
            return CancelReply(Status.CANCELED, status, venue_status)
        return CancelReply(None, status, venue_status or None)  # unclear: read it back

    def get_order(self, ref: OrderRef, timeout: float) -> OrderState:
        """`GET /api/v1/trade/order?id=<clientOrderId>`."""
        status, data = self._call(
            "GET", "/api/v1/trade/order", timeout, ok=(404,), params={"id": ref.order_id}
        )
        if status == 404 or not isinstance(data, Mapping):
            return OrderState(Phase.NOT_FOUND, status, "not found")
        venue_status = str(data.get("status", "")).lower()
        return OrderState(_PHASES.get(venue_status, Phase.CLOSED), status, venue_status)

    def cancel_all(self, symbol: str | None, timeout: float) -> CancelAllReply:
        """`DELETE /api/v1/trade/order/all`: every open order of the account; answers the
        cancelled orders (`[]` when none was open)."""
        if symbol is not None:
            raise ValueError("zebpay's cancel-all is account-wide")
        status, data = self._call("DELETE", "/api/v1/trade/order/all", timeout, json={})
        items = data if isinstance(data, list) else []
        refs = tuple(
            OrderRef(str(o["clientOrderId"]), str(o.get("symbol") or "") or None)
            for o in items
            if isinstance(o, Mapping) and o.get("clientOrderId")
        )
        return CancelAllReply(cancelled=refs, settled=True, http_status=status)

    def list_open(self, symbol: str, timeout: float) -> list[OrderRef]:
        """`GET /api/v1/trade/order/open-orders?symbol=&limit=&since=`, following
        `nextTimestamp`."""
        refs: list[OrderRef] = []
        since: int | None = None
        for _ in range(1000):  # a bound on pages, not an expected count
            params: dict[str, Any] = {"symbol": symbol, "limit": 500}
            if since is not None:
                params["since"] = since
            _, data = self._call("GET", "/api/v1/trade/order/open-orders", timeout, params=params)
            data = data if isinstance(data, Mapping) else {}
            refs += [
                OrderRef(str(o["clientOrderId"]), symbol)
                for o in data.get("items") or []
                if isinstance(o, Mapping) and o.get("clientOrderId")
            ]
            since = data.get("nextTimestamp")
            if not since:
                break
        return refs

    def resync_clock(self, timeout: float) -> None:
        """`GET /api/v1/system/time` (public): offset = server time - local midpoint."""
        sent = time.time() * 1000
        resp = self.send("GET", "/api/v1/system/time", timeout, headers=self._headers)
        received = time.time() * 1000
        if not resp.ok:  # a 5xx or 429 here is retried like any other call
            raise error_for(resp.status_code, body_of(resp), resp.headers)
        try:
            server_ms = int(resp.json()["data"]["timestamp"])
        except (ValueError, KeyError, TypeError):
            raise VenueError(
                f"server time unreadable: {description(resp.text)}", http_status=resp.status_code
            ) from None
        self.clock_offset_ms = int(server_ms - (sent + received) / 2)
