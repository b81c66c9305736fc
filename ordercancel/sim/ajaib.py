"""Ajaib Coin Exchange spot, simulated to its documented contract (venues/ajaib-spot.md).

Verifies ECDSA P-256 signatures against registered public keys (in the account's encoding),
the timestamp window and lower-case URLs. A cancel answers `CANCEL_SENT` and completes after
`cancel_delay_ms`; an order seeded with `fill_on_cancel` fills instead, and one seeded with
`batch_fail` is refused by batch and cancel-all calls while staying open; one seeded `stuck`
acknowledges every cancel and never completes it. Pending cancels are due in wall-clock time
(a skewed venue clock does not hurry them) and complete when next looked at; every order keeps
its history of state changes (`history.py`), a completion dated when it was due.
"""

from __future__ import annotations

import argparse
import base64
import copy
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ordercancel.config import AccountConfig
from ordercancel.sim.core import Clock, Handler, SimRequest, SimResponse
from ordercancel.sim.faults import ODD_BODY, ODD_STATUS, RATE_LIMIT, Faults
from ordercancel.sim.history import (
    FILL,
    SEED,
    Call,
    Cause,
    change,
    order_record,
    touched_since,
    wall_ms,
)

PREFIX = "/coin/internal/v1"
OPEN = frozenset({"NEW", "OPEN", "PARTIAL_FILLED"})
TIMESTAMP_WINDOW_MS = 10_000
SYMBOLS = ("BTC_USDT", "ETH_USDT", "SOL_USDT", "XRP_USDT", "DOGE_USDT")
#: the field naming an order in the admin routes' order lists, and a cancelled order's status
ID_FIELD = "order_id"
CANCELLED = frozenset({"CANCELLED", "PARTIAL_CANCELLED"})
#: every status of an order that is no longer open
CLOSED = CANCELLED | {"FILLED"}
TIME_ROUTE = "ajaib.time"


def error(status: int, code: str) -> SimResponse:
    return SimResponse(status, {"error": code})


@dataclass
class Account:
    name: str
    api_key: str
    public_key: str  # PEM
    signature_encoding: str = "base64-der"
    _key: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._key = serialization.load_pem_public_key(self.public_key.encode())

    def verify(self, signature: str, message: bytes) -> bool:
        try:
            if self.signature_encoding == "hex-der":
                der = bytes.fromhex(signature)
            elif self.signature_encoding == "base64-raw":
                raw = base64.b64decode(signature, validate=True)
                if len(raw) != 64:
                    return False
                der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
            else:
                der = base64.b64decode(signature, validate=True)
            self._key.verify(der, message, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ajaib-cancel-delay-ms", type=float, default=50.0, help="until an Ajaib cancel completes"
    )


def options(args: argparse.Namespace) -> dict[str, Any]:
    """`make`'s options from the command line."""
    return {"cancel_delay_ms": args.ajaib_cancel_delay_ms}


def make(clock: Clock, **options: Any) -> AjaibSim:
    return AjaibSim(clock, **options)


def demo_account(sim_url: str) -> dict[str, Any]:
    """An `[accounts.X]` table for this simulator, with a fresh P-256 key (PKCS#8 PEM, as an
    Ajaib user would generate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "venue": "ajaib",
        "base_url": sim_url,
        "api_key": "ak_" + secrets.token_hex(8),
        "private_key": pem.decode(),
        "symbols": list(SYMBOLS),
    }


def registration(account: AccountConfig) -> dict[str, Any]:
    """What the venue holds for an ordercancel account: the API key and the public key."""
    opts = account.options
    public = opts.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "name": account.name,
        "api_key": opts.api_key.reveal(),
        "public_key": public.decode(),
        "signature_encoding": opts.signature_encoding,
    }


class AjaibSim:
    name = "ajaib"

    def __init__(self, clock: Clock, *, cancel_delay_ms: float = 50.0):
        self.clock = clock
        self.cancel_delay_ms = self._default_delay_ms = cancel_delay_ms
        self.symbols = list(SYMBOLS)
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, dict[int, dict[str, Any]]] = {}  # account -> order_id -> order
        self._ids = itertools.count(7_000_000_001)
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("DELETE", PREFIX + "/order"): ("ajaib.cancel", self.cancel),
            ("DELETE", PREFIX + "/order/batch"): ("ajaib.cancel_batch", self.cancel_batch),
            ("DELETE", PREFIX + "/order/open"): ("ajaib.cancel_open", self.cancel_open),
            ("GET", PREFIX + "/order"): ("ajaib.get_order", self.get_order),
            ("GET", PREFIX + "/order/open"): ("ajaib.open_orders", self.open_orders),
            ("GET", PREFIX + "/public/exchange-info"): ("ajaib.exchange_info", self.exchange_info),
            ("GET", PREFIX + "/public/time"): ("ajaib.time", self.server_time),
        }

    # -- plumbing ---------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, Handler] | None:
        return self._routes.get((method, path))  # case-sensitive: upper-case paths are 404

    def account_of(self, req: SimRequest) -> str | None:
        key = req.headers.get("X-API-KEY")
        return next((a.name for a in list(self.accounts.values()) if a.api_key == key), None)

    def rate_limit(self, req: SimRequest) -> SimResponse | None:
        return None  # no published quota; 429s come from fault injection

    def fault_response(self, kind: str, faults: Faults) -> SimResponse:
        if kind == RATE_LIMIT:
            return error(429, "too_many_requests")  # no rate-limit headers, as documented
        return error(faults.error_status, "api_error")

    def odd_answers(self, kind: str, route: str, served: SimResponse) -> list[SimResponse]:
        """What `odd_status` / `odd_body` may answer instead of a served 2xx call."""
        if not 200 <= served.status < 300 or route == TIME_ROUTE:
            return []
        if kind == ODD_BODY:
            return [
                SimResponse(200, {}),
                SimResponse(200, None),
                SimResponse(200, "OK", None, "text/plain"),
            ]
        if kind == ODD_STATUS and route == "ajaib.cancel":
            return [SimResponse(200, {"status": "QUEUED"})]
        if kind == ODD_STATUS and route == "ajaib.get_order" and isinstance(served.body, dict):
            renamed, removed = copy.deepcopy(served.body), copy.deepcopy(served.body)
            renamed["status"] = "PENDING_CANCEL"
            removed.pop("status", None)
            return [SimResponse(200, renamed), SimResponse(200, removed)]
        return []

    def reset(self, everything: bool) -> None:
        self.cancel_delay_ms = self._default_delay_ms
        if everything:
            with self._lock:
                self.accounts.clear()
                self.orders.clear()

    def clear(self) -> None:
        """Delete every order of every account; accounts and credentials stay."""
        with self._lock:
            for account in self.orders:
                self.orders[account] = {}

    def history(self, since_ms: float) -> list[dict[str, Any]]:
        """Every order changed since `since_ms`, pending cancels that are due completed first."""
        with self._lock:
            return [
                order_record(
                    venue=self.name,
                    account=account,
                    order_id=str(o["order_id"]),
                    symbol=o["symbol"],
                    side=o["side"],
                    client_order_id=None,
                    created_ms=o["_created_ms"],
                    status=o["status"],
                    history=o["_history"],
                )
                for account, book in self.orders.items()
                for o in book.values()
                if touched_since(self._advance(o)["_history"], since_ms)
            ]

    def _authenticate(self, req: SimRequest) -> Account | SimResponse:
        account = self.accounts.get(self.account_of(req) or "")
        if account is None:
            return error(401, "invalid_client")
        ts = req.headers.get("X-TIMESTAMP", "")
        if not ts.isdigit() or abs(self.clock.now_ms() - int(ts)) > TIMESTAMP_WINDOW_MS:
            return error(401, "invalid_client")
        message = f"{ts}{req.method}{req.path}{req.query}".encode() + req.body
        if not account.verify(req.headers.get("X-SIGNATURE", ""), message):
            return error(401, "invalid_client")
        return account

    def _advance(self, order: dict[str, Any]) -> dict[str, Any]:
        """Complete a pending cancel whose time has come (called under the lock)."""
        due = order["_cancel_at"]  # wall ms
        if due is None or wall_ms() < due or order["_stuck"]:
            return order
        order["_cancel_at"] = None
        if order["status"] not in OPEN:
            return order
        if order["_fill_on_cancel"]:
            status = "FILLED"
            order["executed_quantity"] = order["quantity"]
        elif float(order["executed_quantity"]) > 0:
            status = "PARTIAL_CANCELLED"
        else:
            status = "CANCELLED"
        self._set(order, status, order["_cancel_cause"], due)
        return order

    def _set(
        self, order: dict[str, Any], status: str, cause: Cause, t_ms: float | None = None
    ) -> None:
        """Change an order's status and record why, at `t_ms` or now (called under the lock)."""
        entry = change(status, cause, t_ms)
        order["status"] = status
        order["updated_at"] = int(entry["t_ms"]) + self.clock.offset_ms  # the venue's clock
        order["_history"].append(entry)

    def _fill(self, order: dict[str, Any]) -> None:
        order["executed_quantity"] = order["quantity"]
        order["_cancel_at"] = None
        self._set(order, "FILLED", FILL)

    def _book(self, account: Account) -> dict[int, dict[str, Any]]:
        return self.orders.setdefault(account.name, {})

    def _request_cancel(self, order: dict[str, Any], call: Call) -> bool:
        """Queue a cancel of an open order (unless it fills first); False when it is closed."""
        call.touch(order["order_id"])
        self._advance(order)
        if order["status"] in OPEN and call.fill_race():
            self._fill(order)
        if order["status"] not in OPEN:
            return False
        if order["_cancel_at"] is None:
            order["_cancel_at"] = wall_ms() + call.cancel_delay_ms(self.cancel_delay_ms)
            order["_cancel_cause"] = call.cause()
        return True

    # -- venue routes ------------------------------------------------------------------------

    def cancel(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req)
        if isinstance(auth, SimResponse):
            return auth
        params = req.params()
        if not params.get("order_id", "").isdigit() or not params.get("symbol"):
            return error(400, "invalid_request")
        with self._lock:
            order = self._book(auth).get(int(params["order_id"]))
            if order is None or order["symbol"] != params["symbol"]:
                return error(404, "not_found")
            if not self._request_cancel(order, req.call):
                return error(400, "order_already_closed")
        return SimResponse(200, {"status": "CANCEL_SENT"})

    def cancel_batch(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req)
        if isinstance(auth, SimResponse):
            return auth
        body = req.json()
        ids, symbol = body.get("order_ids"), body.get("symbol")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or not symbol:
            return error(400, "invalid_request")
        success: list[int] = []
        fail: list[int] = []
        with self._lock:
            book = self._book(auth)
            for order_id in ids:
                order = book.get(order_id)
                if order is not None and order["symbol"] == symbol and order["_batch_fail"]:
                    req.call.touch(order_id)
                ok = (
                    order is not None
                    and order["symbol"] == symbol
                    and not order["_batch_fail"]
                    and self._request_cancel(order, req.call)
                )
                (success if ok else fail).append(order_id)
        return SimResponse(200, {"success": success, "fail": fail})

    def cancel_open(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req)
        if isinstance(auth, SimResponse):
            return auth
        symbol = req.params().get("symbol")
        if not symbol:
            return error(400, "invalid_request")
        success: list[int] = []
        fail: list[int] = []
        with self._lock:
            for order in self._book(auth).values():
                if order["symbol"] == symbol and self._advance(order)["status"] in OPEN:
                    req.call.touch(order["order_id"])
                    ok = not order["_batch_fail"] and self._request_cancel(order, req.call)
                    (success if ok else fail).append(order["order_id"])
        return SimResponse(200, {"success": success, "fail": fail})

    def get_order(self, req: SimRequest) -> SimResponse:
        auth = self._authenticate(req)
        if isinstance(auth, SimResponse):
            return auth
        params = req.params()
        if not params.get("order_id", "").isdigit():
            return error(400, "invalid_request")
        with self._lock:
            order = self._book(auth).get(int(params["order_id"]))
            if order is None or order["symbol"] != params.get("symbol"):
                return error(404, "not_found")
            req.call.touch(order["order_id"])
            return SimResponse(200, _public(self._advance(order)))

    def open_orders(self, req: SimRequest) -> SimResponse:
        """Newest first; `from_order_id` is an inclusive cursor going back in time."""
        auth = self._authenticate(req)
        if isinstance(auth, SimResponse):
            return auth
        params = req.params()
        symbol = params.get("symbol")
        if not symbol:
            return error(400, "invalid_request")
        limit = min(max(int(params.get("limit", 100)), 1), 500)
        start = int(params["from_order_id"]) if params.get("from_order_id") else None
        with self._lock:
            items = sorted(
                (
                    _public(o)
                    for o in self._book(auth).values()
                    if o["symbol"] == symbol
                    and self._advance(o)["status"] in OPEN
                    and (start is None or o["order_id"] <= start)
                ),
                key=lambda o: -o["order_id"],
            )
        for o in items[:limit]:
            req.call.touch(o["order_id"])
        return SimResponse(200, items[:limit])

    def exchange_info(self, req: SimRequest) -> SimResponse:
        return SimResponse(
            200,
            {
                "symbols": [
                    {"symbol": s, "base_precision": 8, "quote_precision": 2} for s in self.symbols
                ]
            },
        )

    def server_time(self, req: SimRequest) -> SimResponse:
        return SimResponse(200, {"timezone": "UTC", "timestamp": self.clock.now_ms()})

    # -- admin (/_sim/ajaib/<action>) --------------------------------------------------------

    def admin(self, req: SimRequest, action: str) -> SimResponse:
        data = req.json() if req.method == "POST" else {}
        if action == "accounts" and req.method == "POST":
            return SimResponse(200, {"account": self.register(**data)})
        if action == "orders" and req.method == "POST":
            return SimResponse(200, {"orders": self.seed(data["account"], data["orders"])})
        if action == "orders":
            with self._lock:
                book = self.orders.get(req.params().get("account", ""), {})
                return SimResponse(200, [_public(self._advance(o)) for o in book.values()])
        if action == "fill" and req.method == "POST":
            with self._lock:  # an open order fills on its own
                order = self._advance(self.orders[data["account"]][int(data["order_id"])])
                if order["status"] in OPEN:
                    self._fill(order)
            return SimResponse(200, {})
        if action == "config" and req.method == "POST":
            self.cancel_delay_ms = float(data.get("cancel_delay_ms", self.cancel_delay_ms))
            return SimResponse(200, {"cancel_delay_ms": self.cancel_delay_ms})
        return SimResponse(404, {"error": f"no admin route ajaib/{action}"})

    def register(self, **fields: Any) -> str:
        account = Account(**fields)
        with self._lock:
            self.accounts[account.name] = account
            self.orders.setdefault(account.name, {})
        return account.name

    def seed(self, account: str, orders: list[dict[str, Any]]) -> list[str]:
        created = []
        now = self.clock.now_ms()
        with self._lock:
            book = self.orders.setdefault(account, {})
            for spec in orders:
                order_id = next(self._ids)
                seeded = change("NEW", SEED)
                book[order_id] = {
                    "order_id": order_id, "side": str(spec.get("side", "BUY")).upper(),
                    "status": "NEW",
                    "symbol": spec.get("symbol", "BTC_USDT"), "type": "LIMIT",
                    "price": str(spec.get("price", "1000000")),
                    "quantity": str(spec.get("quantity", "0.01")), "avg_price": "0",
                    "executed_quantity": str(spec.get("executed_quantity", "0")),
                    "created_at": spec.get("created_ms", now), "updated_at": now,
                    "_cancel_at": None,
                    "_cancel_cause": None, "_created_ms": seeded["t_ms"], "_history": [seeded],
                    "_fill_on_cancel": bool(spec.get("fill_on_cancel")),
                    "_batch_fail": bool(spec.get("batch_fail")),
                    "_stuck": bool(spec.get("stuck")),  # cancels are acknowledged, never done
                }  # fmt: skip
                created.append(str(order_id))
        return created


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}
