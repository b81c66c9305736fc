"""ZebPay Futures, simulated to its documented contract (venues/zebpay-futures.md).

Verifies auth exactly as documented (HMAC over the transmitted bytes, the timestamp window,
JWT, scopes, IP allowlist, subaccount ownership), keeps each account's orders, and enforces one
request budget per client IP over every /api route, answering 429 with Retry-After.
Every order keeps its history of state changes (`history.py`) for the checker.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import itertools
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ordercancel.config import AccountConfig, RateLimit
from ordercancel.sim.core import Clock, Handler, SimRequest, SimResponse
from ordercancel.sim.faults import ODD_BODY, ODD_STATUS, RATE_LIMIT, Faults
from ordercancel.sim.history import FILL, SEED, Cause, change, order_record, touched_since

TRADING, FETCH = "futures:trading", "fetch:details"
OPEN = frozenset({"new", "partially_filled"})
#: accepted distance between the request's timestamp and the venue clock
TIMESTAMP_WINDOW_MS = 10_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
#: the field naming an order in the admin routes' order lists, and a cancelled order's status
ID_FIELD = "clientOrderId"
CANCELLED = frozenset({"canceled"})
#: every status of an order that is no longer open
CLOSED = CANCELLED | {"filled"}
QUOTES = ("USDT", "USDC", "INR")
#: routes whose answer carries an order's status word (what `odd_status` garbles)
STATUS_ROUTES = ("zebpay.cancel", "zebpay.get_order")


def envelope(status: int, description: str, data: Any = None) -> SimResponse:
    return SimResponse(
        status,
        {
            "statusDescription": description,
            "data": data if data is not None else {},
            "statusCode": status,
            "customMessage": ["OK" if status < 400 else description],
        },
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zebpay-limit", default="180/60s", help="ZebPay budget per client IP")


def options(args: argparse.Namespace) -> dict[str, Any]:
    """`make`'s options from the command line."""
    limit = RateLimit.parse(args.zebpay_limit, account="(sim)")
    return {"limit": limit.count, "window_s": limit.seconds}


def make(clock: Clock, **options: Any) -> ZebPaySim:
    return ZebPaySim(clock, **options)


def demo_account(sim_url: str) -> dict[str, Any]:
    """An `[accounts.X]` table for this simulator, with fresh credentials."""
    return {
        "venue": "zebpay",
        "base_url": sim_url,
        "api_key": "zk_" + secrets.token_hex(8),
        "api_secret": secrets.token_hex(24),
        "symbols": list(SYMBOLS),
    }


def registration(account: AccountConfig) -> dict[str, Any]:
    """What the venue holds for an ordercancel account: its key and secret, or its JWT."""
    opts = account.options
    held: dict[str, Any] = {"name": account.name}
    for name in ("api_key", "api_secret", "jwt"):
        if getattr(opts, name) is not None:
            held[name] = getattr(opts, name).reveal()
    if opts.subaccount_id:
        held["subaccounts"] = [opts.subaccount_id]
    return held


@dataclass
class Account:
    name: str
    api_key: str | None = None
    api_secret: str | None = None
    jwt: str | None = None
    scopes: list[str] = field(default_factory=lambda: [TRADING, FETCH])
    allowed_ips: list[str] = field(default_factory=list)
    subaccounts: list[str] = field(default_factory=list)


class ZebPaySim:
    name = "zebpay"

    def __init__(self, clock: Clock, *, limit: int = 180, window_s: float = 60.0):
        self.clock = clock
        self.limit, self.window_s = limit, window_s
        self.symbols = list(SYMBOLS)
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, dict[str, dict[str, Any]]] = {}  # account -> clientOrderId -> order
        self._windows: dict[str, list[float]] = {}  # ip -> [window start, count]
        self._ids = itertools.count(900_000_001)
        self._last_created = 0
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("DELETE", "/api/v1/trade/order"): ("zebpay.cancel", self.cancel),
            ("DELETE", "/api/v1/trade/order/all"): ("zebpay.cancel_all", self.cancel_all),
            ("GET", "/api/v1/trade/order"): ("zebpay.get_order", self.get_order),
            ("GET", "/api/v1/trade/order/open-orders"): ("zebpay.open_orders", self.open_orders),
            ("GET", "/api/v1/system/time"): ("zebpay.time", self.server_time),
            ("GET", "/api/v1/exchange/pairs"): ("zebpay.pairs", self.pairs),
            ("GET", "/api/v1/exchange/exchangeInfo"): ("zebpay.pairs", self.pairs),
        }

    # -- plumbing ---------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, Handler] | None:
        return self._routes.get((method, path))

    def rate_limit(self, req: SimRequest) -> SimResponse | None:
        """One fixed window per client IP over every /api route."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(req.client_ip, [now, 0])
            if now - window[0] >= self.window_s:
                window[:] = [now, 0]
            window[1] += 1
            if window[1] <= self.limit:
                return None
            left = math.ceil(self.window_s - (now - window[0]))
        return self._too_many(max(1, left))

    def _too_many(self, retry_after: int) -> SimResponse:
        response = envelope(
            429, f"Too many requests. Limit {self.limit} requests per {self.window_s:g} seconds."
        )
        response.headers = {"Retry-After": str(retry_after)}
        return response

    def fault_response(self, kind: str, faults: Faults) -> SimResponse:
        if kind == RATE_LIMIT:
            return self._too_many(faults.retry_after)
        return envelope(faults.error_status, "Internal Server Error")

    def odd_answers(self, kind: str, route: str, served: SimResponse) -> list[SimResponse]:
        """What `odd_status` / `odd_body` may answer instead of a served 2xx call."""
        if not 200 <= served.status < 300 or route == "zebpay.time":
            return []
        if kind == ODD_BODY:
            return [
                SimResponse(200, {}),
                SimResponse(200, {"data": None}),
                SimResponse(200, "OK", None, "text/plain"),
            ]
        data = served.body.get("data") if isinstance(served.body, dict) else None
        if kind != ODD_STATUS or route not in STATUS_ROUTES or not isinstance(data, dict):
            return []
        renamed, removed = copy.deepcopy(served.body), copy.deepcopy(served.body)
        renamed["data"]["status"] = "pending_cancel"
        removed["data"].pop("status", None)
        return [SimResponse(200, renamed), SimResponse(200, removed)]

    def reset(self, everything: bool) -> None:
        with self._lock:
            self._windows.clear()
            if everything:
                self.accounts.clear()
                self.orders.clear()

    def clear(self) -> None:
        """Delete every order of every account; accounts and credentials stay."""
        with self._lock:
            for account in self.orders:
                self.orders[account] = {}

    def history(self, since_ms: float) -> list[dict[str, Any]]:
        with self._lock:
            return [
                order_record(
                    venue=self.name,
                    account=account,
                    order_id=o["clientOrderId"],
                    symbol=o["symbol"],
                    side=o["side"],
                    client_order_id=o["clientOrderId"],
                    created_ms=o["_created_ms"],
                    status=o["status"],
                    history=o["_history"],
                )
                for account, book in self.orders.items()
                for o in book.values()
                if touched_since(o["_history"], since_ms)
            ]

    def _set(self, order: dict[str, Any], status: str, cause: Cause) -> None:
        """Change an order's status and record why (called under the lock)."""
        order["status"] = status
        order["updatedAt"] = self.clock.now_ms()
        order["_history"].append(change(status, cause))

    def account_of(self, req: SimRequest) -> str | None:
        """Who the caller claims to be (not yet verified): for logs and per-account faults."""
        bearer = req.headers.get("Authorization", "")
        key = req.headers.get("x-auth-apikey")
        for account in list(self.accounts.values()):
            if (bearer.startswith("Bearer ") and account.jwt == bearer[7:]) or (
                key and account.api_key == key
            ):
                return account.name
        return None

    # -- auth (venue doc, "Authentication") ------------------------------------------------

    def _authenticate(
        self, req: SimRequest, scopes: set[str]
    ) -> tuple[Account, str | None] | SimResponse:
        bearer = req.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            account = next(
                (a for a in self.accounts.values() if a.jwt and a.jwt == bearer[7:]), None
            )
            if account is None:
                return envelope(401, "Invalid or expired token")
        else:
            key = req.headers.get("x-auth-apikey")
            account = next(
                (a for a in self.accounts.values() if a.api_key and a.api_key == key), None
            )
            if account is None:
                return envelope(401, "Invalid API key")
            if req.method == "GET":
                signed: bytes = req.query.encode()
                ts = req.params().get("timestamp")
            else:
                signed = req.body
                try:
                    ts = json.loads(req.body).get("timestamp") if req.body else None
                except ValueError:
                    return envelope(400, "Invalid request body")
            try:
                ts_ms = int(ts) if ts is not None else None
            except (TypeError, ValueError):
                ts_ms = None
            if ts_ms is None or abs(self.clock.now_ms() - ts_ms) > TIMESTAMP_WINDOW_MS:
                return envelope(400, "Invalid or expired timestamp")
            expected = hmac.new(
                (account.api_secret or "").encode(), signed, hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(expected, req.headers.get("x-auth-signature", "")):
                return envelope(400, "Invalid signature")
        if account.allowed_ips and req.client_ip not in account.allowed_ips:
            return envelope(403, "You are not allowed API access from this ip")
        if not scopes & set(account.scopes):
            return envelope(
                403, f"You do not have the required scope ({' or '.join(sorted(scopes))})"
            )
        sub = req.headers.get("subaccountid")
        if sub is not None and sub not in account.subaccounts:
            return envelope(403, "Forbidden request")
        return account, sub

    def _order(
        self, account: Account, sub: str | None, client_order_id: str
    ) -> dict[str, Any] | SimResponse:
        order = self.orders.get(account.name, {}).get(client_order_id)
        if order is None:
            return envelope(404, "Order not found")
        if order["subaccount"] != sub:
            return envelope(403, "Forbidden request")
        return order

    def _cancel(self, req: SimRequest, order: dict[str, Any]) -> bool:
        """Cancel an open order, unless it fills first (a fill race); False when not open."""
        req.call.touch(order["clientOrderId"])
        if order["status"] in OPEN and req.call.fill_race():
            self._set(order, "filled", FILL)
        if order["status"] not in OPEN:
            return False
        self._set(order, "canceled", req.call.cause())
        return True

    # -- venue routes ------------------------------------------------------------------------

    def cancel(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req, {TRADING})
        if isinstance(auth, SimResponse):
            return auth
        body = req.json()
        coid = body.get("clientOrderId")
        if not isinstance(coid, str) or not coid:
            return envelope(400, "clientOrderId is required")
        with self._lock:
            order = self._order(*auth, coid)
            if isinstance(order, SimResponse):
                return order
            if not self._cancel(req, order):
                return envelope(400, f"Order is already {order['status']}")
        return envelope(
            200,
            "Success",
            {
                "clientOrderId": coid,
                "status": "canceled",
                "symbol": order["symbol"],
                "info": {
                    "clientOrderId": coid,
                    "orderId": order["orderId"],
                    "status": "CANCELED",
                    "success": True,
                },
            },
        )

    def cancel_all(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req, {TRADING})
        if isinstance(auth, SimResponse):
            return auth
        account, sub = auth
        done = []
        with self._lock:
            for order in self.orders.get(account.name, {}).values():
                if (
                    order["status"] in OPEN
                    and order["subaccount"] == sub
                    and self._cancel(req, order)
                ):
                    done.append(
                        {
                            "clientOrderId": order["clientOrderId"],
                            "status": "canceled",
                            "symbol": order["symbol"],
                        }
                    )
        return envelope(200, "Success", done)

    def get_order(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req, {TRADING, FETCH})
        if isinstance(auth, SimResponse):
            return auth
        coid = req.params().get("id")
        if not coid:
            return envelope(400, "id is required")
        with self._lock:
            order = self._order(*auth, coid)
            if isinstance(order, SimResponse):
                return order
            req.call.touch(coid)
            return envelope(200, "Success", _public(order))

    def open_orders(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req, {TRADING, FETCH})
        if isinstance(auth, SimResponse):
            return auth
        account, sub = auth
        params = req.params()
        symbol = params.get("symbol")
        if not symbol:
            return envelope(400, "symbol is required")
        limit = min(max(int(params.get("limit", 100)), 1), 500)
        since = int(params.get("since", 0))
        with self._lock:
            items = sorted(
                (
                    o
                    for o in self.orders.get(account.name, {}).values()
                    if o["symbol"] == symbol
                    and o["status"] in OPEN
                    and o["subaccount"] == sub
                    and o["timestamp"] >= since
                ),
                key=lambda o: (o["timestamp"], o["orderId"]),
            )
        page = items[:limit]
        for o in page:
            req.call.touch(o["clientOrderId"])
        next_ts = page[-1]["timestamp"] + 1 if len(items) > limit else None
        return envelope(
            200,
            "Success",
            {
                "items": [_public(o) for o in page],
                "totalCount": len(items),
                "nextTimestamp": next_ts,
            },
        )

    def server_time(self, req: SimRequest) -> SimResponse:
        return envelope(200, "Success", {"timestamp": self.clock.now_ms()})

    def pairs(self, req: SimRequest) -> SimResponse:
        return envelope(200, "Success", {"pairs": [_pair(s) for s in self.symbols]})

    # -- admin (/_sim/zebpay/<action>) -------------------------------------------------------

    def admin(self, req: SimRequest, action: str) -> SimResponse:
        data = req.json() if req.method == "POST" else {}
        if action == "accounts" and req.method == "POST":
            return SimResponse(200, {"account": self.register(**data)})
        if action == "orders" and req.method == "POST":
            return SimResponse(200, {"orders": self.seed(data["account"], data["orders"])})
        if action == "orders":
            params = req.params()
            with self._lock:
                orders = [
                    _public(o) for o in self.orders.get(params.get("account", ""), {}).values()
                ]
            return SimResponse(200, orders)
        if action == "fill" and req.method == "POST":  # an open order fills on its own
            with self._lock:
                order = self.orders[data["account"]][data["clientOrderId"]]
                if order["status"] in OPEN:
                    self._set(order, "filled", FILL)
            return SimResponse(200, {})
        if action == "limit" and req.method == "POST":
            with self._lock:
                self.limit, self.window_s = int(data["limit"]), float(data["window_s"])
                self._windows.clear()
            return SimResponse(200, {"limit": self.limit, "window_s": self.window_s})
        return SimResponse(404, {"error": f"no admin route zebpay/{action}"})

    def register(self, **fields: Any) -> str:
        """Issue credentials to an account (`Account` fields)."""
        account = Account(**fields)
        with self._lock:
            self.accounts[account.name] = account
            self.orders.setdefault(account.name, {})
        return account.name

    def seed(self, account: str, orders: list[dict[str, Any]]) -> list[str]:
        created = []
        with self._lock:
            book = self.orders.setdefault(account, {})
            taken = {o["timestamp"] for o in book.values()}
            for spec in orders:
                order_id = next(self._ids)
                created_ms = spec.get("created_ms")
                if created_ms is None:  # strictly increasing, as the `since` cursor needs
                    created_ms = self._last_created = max(
                        self.clock.now_ms(), self._last_created + 1
                    )
                while created_ms in taken:  # one order per ms: the cursor skips no tie
                    created_ms += 1
                taken.add(created_ms)
                coid = spec.get("clientOrderId") or spec.get("client_order_id") or f"sim{order_id}"
                seeded = change("new", SEED)
                book[coid] = {
                    "clientOrderId": coid,
                    "orderId": order_id,
                    "symbol": spec.get("symbol", "BTCUSDT"),
                    "side": str(spec.get("side", "buy")).upper(),
                    "price": spec.get("price", 65000),
                    "amount": spec.get("amount", 0.001),
                    "status": "new",
                    "subaccount": spec.get("subaccount"),
                    "timestamp": created_ms,
                    "datetime": iso(created_ms),
                    "_created_ms": seeded["t_ms"],
                    "_history": [seeded],
                }
                created.append(coid)
        return created


def iso(ms: int) -> str:
    """ms since the epoch as the ISO 8601 `datetime` of the venue's orders."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k != "subaccount" and not k.startswith("_")}


def _pair(symbol: str) -> dict[str, Any]:
    quote = next((q for q in QUOTES if symbol.endswith(q) and symbol != q), "USDT")
    base = symbol.removesuffix(quote)
    return {
        "name": f"{base}/{quote}",
        "pair": symbol,
        "isActive": True,
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
    }
