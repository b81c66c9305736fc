"""`bench kill`: time to verified flat for a kill on a venue-realistic budget.

Open orders spread over both venues and five symbols each, the venue answering after
`latency_ms`; one kill; time from the request to the kill's final (every account verified flat
by listing), per venue the time to flat, and 429s from any venue (target: none). Target from
issue 4: 2,000 orders, 20 ms, all verified cancelled within 0.5 s.
"""

from __future__ import annotations

import functools
import json
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

from ordercancel.client import Client
from ordercancel.devtools.bench.rig import worker_rss_mb
from ordercancel.devtools.stack import Stack, sim_accounts, symbols
from ordercancel.sim import simulator, simulators
from ordercancel.sim.admin import SimAdmin

#: per venue: the account the default stack gives it (`sim_accounts`)
ACCOUNTS = {venue: f"{venue}-main" for venue in simulators()}
KILL_TARGET_MS = 500
#: Ajaib publishes no quota (the default budget is a conservative 20/1s); the bench sets what a
#: user would set for an agreed quota.
AJAIB_RATE = "100/1s"


def kill_round(client: Client, admin: SimAdmin, per_venue: int, reason: str) -> dict[str, Any]:
    """Seed `per_venue` open orders on each venue (over its five symbols), kill, verify."""
    seeded = {}
    for venue, account in ACCOUNTS.items():
        listed = symbols(venue)
        specs = [{"symbol": listed[i % len(listed)]} for i in range(per_venue)]
        seeded[venue] = set(admin.seed(venue, account, specs))
    since = time.time() * 1000
    ticket = client.kill(reason)
    final = ticket.wait(60)
    detail = json.loads(final["detail"])
    venues = {}
    for venue, account in ACCOUNTS.items():
        sim = simulator(venue)
        left = [
            o for o in admin.orders(venue, account)
            if str(o[sim.ID_FIELD]) in seeded[venue] and o["status"] not in sim.CANCELLED
        ]  # fmt: skip
        child = client.status(f"{ticket.request_id}:{account}") or {}
        venues[venue] = {
            "orders": per_venue,
            "status": detail["accounts"][account]["status"],
            "flat_ms": int(child.get("latency_ms") or 0),
            "not_cancelled_at_venue": len(left),
        }
    rate_limited = [e for e in admin.log(since) if e["status"] == 429]
    client.resume()
    return {
        "status": final["status"],
        "kill_ms": int(final["latency_ms"]),
        "venues": venues,
        "venue_429": len(rate_limited),
    }


def bench_kill(
    *, orders: int, latency_ms: float, runs: int, redis_url: str | None, say: Callable[[str], None]
) -> dict[str, Any]:
    per_venue = orders // len(ACCOUNTS)
    prefix = "ordercancel" if redis_url is None else f"ordercancel-bench-{secrets.token_hex(4)}"
    results = []
    accounts = functools.partial(sim_accounts, rate_limits={"ajaib": AJAIB_RATE})
    with Stack(redis_url=redis_url, prefix=prefix, accounts=accounts) as stack:
        admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
        admin.faults(latency_ms=latency_ms)
        say(f"bench kill: {orders} orders, 2 venues x 5 symbols, venue latency {latency_ms:g} ms, "
            f"budgets ZebPay 180/60s (the venue's), Ajaib {AJAIB_RATE}")  # fmt: skip
        kill_round(client, admin, 10, "bench warm-up")  # connections and threads, not counted
        for n in range(1, runs + 1):
            result = kill_round(client, admin, per_venue, f"bench run {n}")
            flat = ", ".join(f"{v} {r['flat_ms']} ms" for v, r in result["venues"].items())
            say(f"  run {n}/{runs}: kill {result['status']} in {result['kill_ms']} ms ({flat}); "
                f"429s {result['venue_429']}")  # fmt: skip
            results.append(result)
        rss = worker_rss_mb(stack)
        client.close()
        if redis_url is not None:
            stack.stop_worker()
            stack.drop_keys()
    kill_ms = [r["kill_ms"] for r in results]
    ok = all(
        r["status"] == "completed"
        and r["kill_ms"] <= KILL_TARGET_MS
        and r["venue_429"] == 0
        and all(v["not_cancelled_at_venue"] == 0 for v in r["venues"].values())
        for r in results
    )
    return {
        "scenario": "kill",
        "orders": orders,
        "venue_latency_ms": latency_ms,
        "runs": results,
        "kill_ms": {"median": statistics.median(kill_ms), "max": max(kill_ms)},
        "flat_ms": {
            venue: statistics.median(r["venues"][venue]["flat_ms"] for r in results)
            for venue in ACCOUNTS
        },
        "target_ms": KILL_TARGET_MS,
        "meets_target": ok,
        "worker_rss_mb": rss,
    }
