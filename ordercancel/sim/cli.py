"""`ordercancel sim`: serve the simulator in the foreground."""

from __future__ import annotations

import argparse

from ordercancel.config import Settings
from ordercancel.sim import make_server, simulator, simulators
from ordercancel.sim.faults import Faults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Each venue simulator's own options."""
    for module in simulators().values():
        module.add_arguments(parser)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    options = {
        f"{name}_{key}": value
        for name, module in simulators().items()
        for key, value in module.options(args).items()
    }
    server = make_server(args.host, args.port, **options)
    server.faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        reset_rate=args.reset_rate,
    )
    if args.register:
        for account in settings.accounts.values():
            module = simulator(account.venue)
            venue = server.venues[account.venue]
            venue.register(**module.registration(account))
            symbols = module.SYMBOLS[:2]
            specs = [{"symbol": symbols[i % len(symbols)]} for i in range(args.seed)]
            venue.seed(account.name, specs)
            print(
                f"registered {account.name} ({account.venue}), {args.seed} open orders", flush=True
            )
    print(f"ordercancel sim listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
