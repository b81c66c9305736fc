"""The venue simulator: both venues' documented contracts over real HTTP, with fault injection.

`ordercancel sim` runs it; `make_server` builds one in-process (started with `serve_in_thread`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ordercancel.config import AccountConfig
from ordercancel.sim import ajaib, zebpay
from ordercancel.sim.core import Clock, SimServer, VenueSim

#: What each venue holds for an ordercancel account (the payload of its registration).
REGISTRATION: dict[str, Callable[[AccountConfig], dict[str, Any]]] = {
    "zebpay": zebpay.registration,
    "ajaib": ajaib.registration,
}


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    zebpay_limit: int = 180,
    zebpay_window_s: float = 60.0,
    ajaib_cancel_delay_ms: float = 50.0,
) -> SimServer:
    clock = Clock()
    venues: list[VenueSim] = [
        zebpay.ZebPaySim(clock, limit=zebpay_limit, window_s=zebpay_window_s),
        ajaib.AjaibSim(clock, cancel_delay_ms=ajaib_cancel_delay_ms),
    ]
    return SimServer((host, port), venues, clock)


__all__ = ["REGISTRATION", "SimServer", "make_server"]
