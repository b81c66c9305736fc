"""A client for the simulator's `/_sim/` admin routes (used by the demo, the tests, the benches)."""

from __future__ import annotations

from typing import Any

import requests

from ordercancel.config import AccountConfig


class SimAdmin:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def _post(self, path: str, payload: Any = None) -> Any:
        resp = self.http.post(self.base_url + path, json=payload or {}, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def _get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(self.base_url + path, params=params, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def register(self, venue: str, **account: Any) -> None:
        self._post(f"/_sim/{venue}/accounts", account)

    def register_account(self, config: AccountConfig) -> None:
        """Register an ordercancel account, as the venue would have issued its credentials."""
        from ordercancel.sim import simulator

        self.register(config.venue, **simulator(config.venue).registration(config))

    def seed(self, venue: str, account: str, orders: list[dict[str, Any]]) -> list[str]:
        return list(
            self._post(f"/_sim/{venue}/orders", {"account": account, "orders": orders})["orders"]
        )

    def orders(self, venue: str, account: str) -> list[dict[str, Any]]:
        return list(self._get(f"/_sim/{venue}/orders", account=account))

    def action(self, venue: str, name: str, **payload: Any) -> Any:
        return self._post(f"/_sim/{venue}/{name}", payload)

    def faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self._post("/_sim/faults", faults))

    def clock(self, offset_ms: int) -> None:
        self._post("/_sim/clock", {"offset_ms": offset_ms})

    def log(self, since_ms: float = 0) -> list[dict[str, Any]]:
        return list(self._get("/_sim/log", since=since_ms))

    def stats(self) -> dict[str, int]:
        return dict(self._get("/_sim/stats"))

    def history(self, since_ms: float = 0) -> dict[str, Any]:
        """{"now_ms", "orders": [order with its "history"], "calls": [call record]} since then."""
        return dict(self._get("/_sim/history", since=since_ms))

    def clear(self) -> None:
        """Delete every order of every account (accounts stay) and the call history."""
        self._post("/_sim/clear")

    def reset(self, everything: bool = False) -> None:
        resp = self.http.post(
            self.base_url + "/_sim/reset", params={"all": "1"} if everything else {}, timeout=10
        )
        resp.raise_for_status()
