"""`ordercancel demo` and `ordercancel up`: the product on real parts, on this machine."""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import time
import tomllib
from collections import Counter
from typing import Any

from ordercancel.client import Client
from ordercancel.config import Settings
from ordercancel.sim.admin import SimAdmin
from ordercancel.stack import Stack
from ordercancel.stats import percentile

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def run(*, orders: int, as_json: bool, redis_url: str | None) -> int:
    """Seed open orders on the simulated venue, cancel every one through a worker, verify."""
    if not 1 <= orders <= 170:
        print(
            "ordercancel: --orders must be 1..170 (one by one under ZebPay's 180/60s budget)",
            file=sys.stderr,
        )
        return 2
    quiet = as_json
    prefix = "ordercancel" if redis_url is None else f"ordercancel-demo-{secrets.token_hex(4)}"
    started = time.monotonic()
    with Stack(redis_url=redis_url, prefix=prefix) as stack:
        _say(
            quiet, f"redis     {'embedded at ' + stack.redis_url if redis_url is None else 'given'}"
        )
        _say(quiet, f"simulator {stack.sim_url}")
        _say(quiet, "worker    ready (urgent + routine nodes)")
        admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
        account = "zebpay-main"
        ids = admin.seed("zebpay", account, [{"symbol": SYMBOLS[i % 2]} for i in range(orders)])
        _say(quiet, f"seeded    {len(ids)} open orders on zebpay ({', '.join(SYMBOLS)})")
        t0 = time.monotonic()
        tickets = [
            client.cancel(account, oid, symbol=SYMBOLS[i % 2], reason="demo")
            for i, oid in enumerate(ids)
        ]
        finals = []
        step = max(1, len(tickets) // 5)
        for i, ticket in enumerate(tickets, 1):
            finals.append(ticket.wait(30))
            if i % step == 0 or i == len(tickets):
                _say(quiet, f"progress  {i}/{len(tickets)} final")
        elapsed = time.monotonic() - t0
        still_open = [
            o["clientOrderId"] for o in admin.orders("zebpay", account) if o["status"] != "canceled"
        ]
        client.close()
        if redis_url is not None:
            stack.stop_worker()
            stack.drop_keys()
    counts = Counter(e["status"] for e in finals)
    latencies = [int(e["latency_ms"]) for e in finals]
    summary: dict[str, Any] = {
        "orders": orders,
        "statuses": dict(counts),
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
        },
        "cancel_seconds": round(elapsed, 3),
        "open_at_venue_after": len(still_open),
        "total_seconds": round(time.monotonic() - started, 3),
    }
    ok = counts.get("canceled", 0) == orders and not still_open
    summary["ok"] = ok
    if as_json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print("summary")
        for status, n in sorted(counts.items()):
            print(f"  {status:<15} {n}")
        lat = summary["latency_ms"]
        print(f"  latency ms      p50 {lat['p50']:.0f}  p99 {lat['p99']:.0f}  max {lat['max']:.0f}")
        print(f"  open at venue   {len(still_open)}")
        print(f"  {'OK: every order cancelled and verified at the venue' if ok else 'NOT OK'}")
    return 0 if ok else 1


def up(settings: Settings, *, with_sim: bool) -> int:
    """Run a local stack in the foreground until interrupted.

    With `--sim` the worker's accounts are fresh simulator accounts; without it, the accounts
    of your config file (secrets still resolved from your environment by the worker).
    """
    accounts = None
    if not with_sim:
        accounts = {}
        if settings.source:
            with open(settings.source, "rb") as fh:
                accounts = tomllib.load(fh).get("accounts", {})
    with Stack(
        redis_url=settings.redis_url, prefix=settings.prefix, sim=with_sim, accounts=accounts
    ) as stack:
        print(f"redis     {stack.redis_url}", flush=True)
        if with_sim:
            print(f"simulator {stack.sim_url}", flush=True)
        for name in stack.settings.accounts:
            print(f"account   {name}", flush=True)
        print(f"config    ORDERCANCEL_CONFIG={stack.config_path}", flush=True)
        print("worker    ready; Ctrl-C stops everything", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stack.wait_forever()
    return 0
