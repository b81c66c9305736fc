"""The venue simulator: every registered venue's documented contract over real HTTP, with fault
injection.

`ordercancel sim` runs it; `make_server` builds one in-process (started with `serve_in_thread`).
Each venue names its simulator module (`Venue.simulator`); a simulator module provides:

- `make(clock, **options)`: the venue's `VenueSim` (`core.py`);
- `add_arguments(parser)` / `options(args)`: its `ordercancel sim` options, and `make`'s from them;
- `registration(account)`: what the venue holds for an ordercancel account;
- `demo_account(sim_url)`: an `[accounts.X]` table with fresh credentials;
- `SYMBOLS` (the symbols it lists), `OPEN` / `CANCELLED` / `CLOSED` (its status words of an open,
  a cancelled and a no-longer-open order) and `ID_FIELD` (the field naming an order) for tools
  reading its order book.
"""

from __future__ import annotations

import functools
from importlib import import_module
from types import ModuleType
from typing import Any

from ordercancel import venues
from ordercancel.sim.core import Clock, SimServer


@functools.cache
def simulators() -> dict[str, ModuleType]:
    """venue name -> its simulator module, for every registered venue that has one."""
    found = {}
    for name in venues.names():
        module = venues.venue_class(name).simulator
        if module:
            found[name] = import_module(module)
    return found


def simulator(venue: str) -> ModuleType:
    return simulators()[venue]


def make_server(host: str = "127.0.0.1", port: int = 0, **options: Any) -> SimServer:
    """`options`: `<venue>_<option>` for each venue's `make`, e.g. `zebpay_limit=1000`."""
    clock = Clock()
    sims = []
    for name, module in simulators().items():
        prefix = name + "_"
        own = {k[len(prefix) :]: v for k, v in options.items() if k.startswith(prefix)}
        sims.append(module.make(clock, **own))
    unknown = [k for k in options if not any(k.startswith(n + "_") for n in simulators())]
    if unknown:
        raise TypeError(f"unknown simulator options: {', '.join(unknown)}")
    return SimServer((host, port), sims, clock)


__all__ = ["SimServer", "make_server", "simulator", "simulators"]
