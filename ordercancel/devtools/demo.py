"""`ordercancel demo` and `ordercancel up`: the product on real parts, on this machine."""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import sys
import time
import tomllib
from collections import Counter
from typing import Any

from ordercancel.client import Client
from ordercancel.config import Settings
from ordercancel.devtools.bench.kill import ACCOUNTS, AJAIB_RATE, kill_round
from ordercancel.devtools.stack import Stack, sim_accounts, symbols
from ordercancel.devtools.stats import percentile
from ordercancel.engine.report import render
from ordercancel.events import Event
from ordercancel.sim import simulator
from ordercancel.sim.admin import SimAdmin
from ordercancel.venues import venue_class


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def _cancel_all_orders(client: Client, venue: str, ids: list[str]) -> list[Event]:
    """Cancel seeded orders: one request per order, except on a venue with batch cancels,
    where the second half of each symbol's orders goes as one `cancel_batch`."""
    account, listed = ACCOUNTS[venue], symbols(venue)[:2]
    singles, batches = [], []
    for n, symbol in enumerate(listed):
        mine = ids[n :: len(listed)]
        half = len(mine) // 2 if venue_class(venue).max_batch else len(mine)
        singles += [
            client.cancel(account, oid, symbol=symbol, reason="demo") for oid in mine[:half]
        ]
        if mine[half:]:
            batches.append((client.cancel_batch(account, mine[half:], symbol=symbol), mine[half:]))
    finals = [t.wait(30) for t in singles]
    for ticket, order_ids in batches:
        ticket.wait(30)
        children = client.store.finals([f"{ticket.request_id}:{oid}" for oid in order_ids])
        finals += [e for e in children.values() if e]
    return finals


def _scoped_cancel(client: Client, admin: SimAdmin, quiet: bool) -> dict[str, Any]:
    """One strategy's orders cancelled, every other order left open (ZebPay's orders carry
    the client's own id, which is how a strategy tags them); its report printed."""
    account, [symbol] = ACCOUNTS["zebpay"], symbols("zebpay")[:1]
    mine = [f"stratA-{i}" for i in range(1, 4)]
    others = ["stratB-1", "stratB-2", "manual-1"]
    admin.seed("zebpay", account, [{"symbol": symbol, "client_order_id": o} for o in mine + others])
    _say(quiet, f"scoped    seeded {', '.join(mine + others)}; cancel stratA-* only")
    ticket = client.cancel_all(
        account, symbol, client_order_id_prefix="stratA-", reason="strategy A stops"
    )
    final = ticket.wait(30)
    status = {o["clientOrderId"]: o["status"] for o in admin.orders("zebpay", account)}
    found = client.report(ticket.request_id) or {"children": []}
    _say(quiet, render(final, [c for c in found["children"] if c.get("order_id")]))
    cancelled = sorted(o for o in mine if status[o] == "canceled")
    untouched = sorted(o for o in others if status[o] == "new")
    ok = final["status"] == "completed" and len(cancelled) + len(untouched) == len(mine + others)
    result = {
        "request_id": ticket.request_id,
        "status": final["status"],
        "cancelled_at_venue": cancelled,
        "open_at_venue": untouched,
        "ok": ok,
    }
    client.cancel_all(account, symbol, reason="demo: clean up").wait(30)
    return result


def run(*, orders: int, kill_orders: int, as_json: bool, redis_url: str | None) -> int:
    """Seed open orders on both simulated venues, cancel every one through a worker, verify
    at the venue; then seed `kill_orders` more per venue over five symbols and fire a kill."""
    if not 1 <= orders <= 120 or not 1 <= kill_orders <= 5000:
        print(
            "ordercancel: --orders must be 1..120 (one by one, under 80% of ZebPay's 180/60s "
            "budget) and --kill-orders 1..5000",
            file=sys.stderr,
        )
        return 2
    quiet = as_json
    prefix = "ordercancel" if redis_url is None else f"ordercancel-demo-{secrets.token_hex(4)}"
    started = time.monotonic()
    report: dict[str, Any] = {}
    accounts = functools.partial(sim_accounts, rate_limits={"ajaib": AJAIB_RATE})
    with Stack(redis_url=redis_url, prefix=prefix, accounts=accounts) as stack:
        where = "embedded at " + stack.redis_url if redis_url is None else "given"
        _say(quiet, f"redis     {where}")
        _say(quiet, f"simulator {stack.sim_url}")
        _say(quiet, "worker    ready (urgent + routine nodes)")
        admin, client = SimAdmin(stack.sim_url), Client(stack.settings, requested_by="demo")
        for venue, account in ACCOUNTS.items():
            listed, cancelled = symbols(venue)[:2], simulator(venue).CANCELLED
            specs = [{"symbol": listed[i % len(listed)]} for i in range(orders)]
            ids = admin.seed(venue, account, specs)
            _say(quiet, f"{venue:<9} seeded {len(ids)} open orders ({', '.join(listed)})")
            t0 = time.monotonic()
            finals = _cancel_all_orders(client, venue, ids)
            elapsed = time.monotonic() - t0
            left = [o for o in admin.orders(venue, account) if o["status"] not in cancelled]
            latencies = [int(e["latency_ms"]) for e in finals]
            report[venue] = {
                "orders": len(ids),
                "statuses": dict(Counter(e["status"] for e in finals)),
                "latency_ms": {
                    "p50": percentile(latencies, 50),
                    "p99": percentile(latencies, 99),
                    "max": max(latencies, default=0),
                },
                "seconds": round(elapsed, 3),
                "open_at_venue_after": len(left),
            }
            _say(quiet, f"{venue:<9} {len(finals)}/{len(ids)} final in {elapsed:.2f}s")
        scoped = _scoped_cancel(client, admin, quiet)
        _say(quiet, f"kill      {kill_orders} open orders per venue over 5 symbols each; kill!")
        kill = kill_round(client, admin, kill_orders, "demo kill switch")
        flat = ", ".join(f"{v} {r['flat_ms']} ms" for v, r in kill["venues"].items())
        _say(quiet, f"kill      {kill['status']} in {kill['kill_ms']} ms; verified flat: {flat}")
        client.close()
        if redis_url is not None:
            stack.stop_worker()
            stack.drop_keys()
    ok = all(
        r["statuses"] == {"canceled": r["orders"]} and r["open_at_venue_after"] == 0
        for r in report.values()
    )
    ok = ok and scoped["ok"] and kill["status"] == "completed"
    ok = ok and all(v["not_cancelled_at_venue"] == 0 for v in kill["venues"].values())
    summary = {
        "venues": report,
        "scoped": scoped,
        "kill": kill,
        "ok": ok,
        "total_seconds": round(time.monotonic() - started, 3),
    }
    if as_json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print("summary")
        for venue, r in report.items():
            lat = r["latency_ms"]
            statuses = ", ".join(f"{s} {n}" for s, n in sorted(r["statuses"].items()))
            print(f"  {venue:<8} {statuses}; open at venue {r['open_at_venue_after']}")
            p50, p99, top = lat["p50"], lat["p99"], lat["max"]
            print(f"  {'':<8} latency ms p50 {p50:.0f}  p99 {p99:.0f}  max {top:.0f}")
        cut, kept = len(scoped["cancelled_at_venue"]), len(scoped["open_at_venue"])
        print(f"  scoped   {scoped['status']}: stratA-* {cut} cancelled, {kept} others open")
        flat = ", ".join(f"{v} {r['flat_ms']} ms" for v, r in kill["venues"].items())
        print(f"  kill     {kill['status']} in {kill['kill_ms']} ms, verified flat: {flat}")
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
