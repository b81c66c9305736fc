"""A venue simulator in this process, and signed clients for both venues: for the tests of the
simulator itself (`test_sim_history.py`, `test_sim_faults.py`)."""

from __future__ import annotations

import time
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.sim import SimServer, make_server
from ordercancel.sim.admin import SimAdmin
from ordercancel.venues.ajaib.auth import EcdsaAuth
from ordercancel.venues.zebpay.auth import HmacAuth

ZEB, AJA = "zeb-1", "aja-1"
GATEWAY_404 = "<html><body><h1>404 Not Found</h1></body></html>"
ORDER = "/coin/internal/v1/order"


def wall_ms() -> float:
    return time.time() * 1000


class VenueClient:
    """Signs calls the way the venue documents, with an optional X-Request-Id."""

    def __init__(self, base_url: str, auth: Any):
        self.base_url, self.auth = base_url, auth
        self.http = requests.Session()
        self.offset_ms = 0  # the venue clock's skew, for the signed timestamp

    def now_ms(self) -> int:
        return int(wall_ms()) + self.offset_ms

    def call(self, method: str, path: str, rid: str | None = None, **kw: Any) -> requests.Response:
        headers = {"X-Request-Id": rid} if rid else {}
        return self.http.request(
            method, self.base_url + path, auth=self.auth, headers=headers, timeout=5, **kw
        )


class Zeb(VenueClient):
    def __init__(self, base_url: str, key: str, secret: str):
        super().__init__(base_url, HmacAuth(key, secret, self.now_ms))

    def cancel(self, coid: str, rid: str | None = None) -> requests.Response:
        return self.call("DELETE", "/api/v1/trade/order", rid, json={"clientOrderId": coid})

    def cancel_all(self, rid: str | None = None) -> requests.Response:
        return self.call("DELETE", "/api/v1/trade/order/all", rid, json={})

    def get(self, coid: str, rid: str | None = None) -> requests.Response:
        return self.call("GET", "/api/v1/trade/order", rid, params={"id": coid})

    def open_orders(self, symbol: str = "BTCUSDT") -> requests.Response:
        return self.call("GET", "/api/v1/trade/order/open-orders", params={"symbol": symbol})


class Aja(VenueClient):
    def __init__(self, base_url: str, key: str, private: ec.EllipticCurvePrivateKey):
        super().__init__(base_url, EcdsaAuth(key, private, "base64-der", self.now_ms))

    def cancel(self, oid: str, symbol: str = "BTC_USDT", rid: str | None = None):
        return self.call("DELETE", ORDER, rid, params={"order_id": oid, "symbol": symbol})

    def cancel_batch(self, oids: list[str], symbol: str = "BTC_USDT", rid: str | None = None):
        body = {"order_ids": [int(o) for o in oids], "symbol": symbol}
        return self.call("DELETE", ORDER + "/batch", rid, json=body)

    def cancel_open(self, symbol: str, rid: str | None = None) -> requests.Response:
        return self.call("DELETE", ORDER + "/open", rid, params={"symbol": symbol})

    def get(self, oid: str, symbol: str = "BTC_USDT", rid: str | None = None):
        return self.call("GET", ORDER, rid, params={"order_id": oid, "symbol": symbol})


class Sim:
    """An in-process simulator with one account per venue and clients signing for them."""

    def __init__(self) -> None:
        self.server: SimServer = make_server(port=0, ajaib_cancel_delay_ms=50)
        self.server.serve_in_thread()
        self.admin = SimAdmin(self.server.url)
        self.admin.register("zebpay", name=ZEB, api_key="zk-1", api_secret="s3cr3t")
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.admin.register("ajaib", name=AJA, api_key="ak-1", public_key=public.decode())
        self.zeb = Zeb(self.server.url, "zk-1", "s3cr3t")
        self.aja = Aja(self.server.url, "ak-1", private)

    def fresh(self) -> None:
        self.admin.reset()
        self.admin.clear()
        self.admin.action("ajaib", "config", cancel_delay_ms=50)
        self.zeb.offset_ms = self.aja.offset_ms = 0

    def close(self) -> None:
        for session in (self.admin.http, self.zeb.http, self.aja.http):
            session.close()
        self.server.shutdown()
        self.server.server_close()

    def order(self, venue: str, order_id: str, since_ms: float = 0) -> dict[str, Any]:
        orders = self.admin.history(since_ms)["orders"]
        return next(o for o in orders if o["venue"] == venue and o["order_id"] == order_id)

    def calls(self, route: str | None = None) -> list[dict[str, Any]]:
        calls = self.admin.history()["calls"]
        return [c for c in calls if route is None or c["route"] == route]
