"""`ordercancel sim`: serve the simulator in the foreground."""

from __future__ import annotations

import argparse

from ordercancel.config import RateLimit, Settings
from ordercancel.sim import make_server
from ordercancel.sim.faults import Faults


def serve(args: argparse.Namespace, settings: Settings) -> int:
    limit = RateLimit.parse(args.zebpay_limit, account="(sim)")
    server = make_server(
        args.host, args.port, zebpay_limit=limit.count, zebpay_window_s=limit.seconds
    )
    server.faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        reset_rate=args.reset_rate,
    )
    if args.register:
        for account in settings.accounts.values():
            venue = server.venues.get(account.venue)
            if venue is None:
                continue
            secrets = {
                k: v.reveal() for k, v in vars(account.options).items() if hasattr(v, "reveal")
            }
            venue.register(name=account.name, **secrets)  # type: ignore[attr-defined]
            symbols = ("BTCUSDT", "ETHUSDT")
            venue.seed(account.name, [{"symbol": symbols[i % 2]} for i in range(args.seed)])  # type: ignore[attr-defined]
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
