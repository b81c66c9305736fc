"""`ordercancel sim`: serve the simulator in the foreground."""

from __future__ import annotations

import argparse

from ordercancel.config import RateLimit, Settings
from ordercancel.sim import REGISTRATION, make_server
from ordercancel.sim.faults import Faults

SEED_SYMBOLS = {"zebpay": ("BTCUSDT", "ETHUSDT"), "ajaib": ("BTC_USDT", "ETH_USDT")}


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
            venue = server.venues[account.venue]
            venue.register(**REGISTRATION[account.venue](account))
            symbols = SEED_SYMBOLS[account.venue]
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
