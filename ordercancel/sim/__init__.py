"""The venue simulator: both venues' documented contracts over real HTTP, with fault injection.

`ordercancel sim` runs it; `make_server` builds one in-process (started with `serve_in_thread`).
"""

from __future__ import annotations

from ordercancel.sim.core import Clock, SimServer
from ordercancel.sim.zebpay import ZebPaySim


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    zebpay_limit: int = 180,
    zebpay_window_s: float = 60.0,
) -> SimServer:
    clock = Clock()
    venues = [ZebPaySim(clock, limit=zebpay_limit, window_s=zebpay_window_s)]
    return SimServer((host, port), venues, clock)


__all__ = ["SimServer", "make_server"]
