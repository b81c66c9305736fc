"""Ground truth for an independent checker: every order's state changes and every venue call.

Times are wall-clock ms (`time.time()`), never the venues' skewable `Clock`. An order's history
is a list of `change` entries; the call log holds one record per venue call, numbered by `seq`.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ordercancel.sim.faults import Faults

#: The keys of a call record in `/_sim/history` (the request log also carries "ip").
CALL_FIELDS = (
    "seq", "t_ms", "answered_ms", "venue", "route", "account", "request_id", "status", "fault",
    "orders",
)  # fmt: skip


def wall_ms() -> float:
    return time.time() * 1000


@dataclass(frozen=True)
class Cause:
    """Why an order changed: "seed", "fill", or a route name with the call that asked."""

    name: str
    call: int | None = None
    request_id: str | None = None


SEED, FILL = Cause("seed"), Cause("fill")


def change(status: str, cause: Cause, t_ms: float | None = None) -> dict[str, Any]:
    """One history entry: the status after the change, and what caused it (now, unless due)."""
    return {
        "t_ms": wall_ms() if t_ms is None else t_ms,
        "status": status,
        "cause": cause.name,
        "call": cause.call,
        "request_id": cause.request_id,
    }


def touched_since(history: list[dict[str, Any]], since_ms: float) -> bool:
    return any(e["t_ms"] >= since_ms for e in history)


def order_record(
    *,
    venue: str,
    account: str,
    order_id: str,
    symbol: str,
    side: str,
    client_order_id: str | None,
    created_ms: float,
    status: str,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "venue": venue,
        "account": account,
        "order_id": order_id,
        "symbol": symbol,
        "side": side,
        "client_order_id": client_order_id,
        "created_ms": created_ms,
        "status": status,
        "history": sorted((dict(e) for e in history), key=lambda e: e["t_ms"]),
    }


@dataclass
class Call:
    """A venue call as its handler sees it: what it may cause, and the orders it touches."""

    seq: int | None = None
    route: str = ""
    account: str | None = None
    request_id: str | None = None
    faults: Faults | None = None
    orders: list[str] = field(default_factory=list)
    raced: bool = False  # some order filled just before this call's cancel reached it

    def cause(self) -> Cause:
        return Cause(self.route, self.seq, self.request_id)

    def touch(self, order_id: object) -> None:
        if str(order_id) not in self.orders:
            self.orders.append(str(order_id))

    def fill_race(self) -> bool:
        """Whether the open order this call's cancel reaches fills first (a fault)."""
        if self.faults is not None and self.faults.fill_race(self.route, self.account):
            self.raced = True
            return True
        return False

    def cancel_delay_ms(self, base_ms: float) -> float:
        extra = self.faults.late_cancel(self.route, self.account) if self.faults else 0.0
        return base_ms + extra


class CallLog:
    """Every venue call since the last reset or clear, in `seq` order (seq never restarts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._seq = itertools.count(1)

    def open(
        self, *, venue: str, route: str, account: str | None, request_id: str | None, ip: str
    ) -> dict[str, Any]:
        """A record for a call that just arrived; the caller fills in the rest as it goes."""
        with self._lock:
            record: dict[str, Any] = {
                "seq": next(self._seq),
                "t_ms": wall_ms(),
                "answered_ms": None,
                "venue": venue,
                "route": route,
                "account": account,
                "ip": ip,
                "request_id": request_id,
                "status": None,
                "fault": None,
                "orders": [],
            }
            self._calls.append(record)
        return record

    def since(self, since_ms: float) -> list[dict[str, Any]]:
        with self._lock:
            calls = [c for c in self._calls if c["t_ms"] >= since_ms]
        return [{k: list(c[k]) if k == "orders" else c[k] for k in CALL_FIELDS} for c in calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
