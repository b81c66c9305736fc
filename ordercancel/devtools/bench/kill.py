"""`bench kill`: time to verified flat for a kill on a venue-realistic budget.

Open orders spread over both venues and five symbols each, the venue answering after
`latency_ms`; one kill; time from the request to the kill's final (every account verified flat
by listing), per venue the time to flat, and 429s from any venue (target: none). Target from
issue 4: 2,000 orders, 20 ms, all verified cancelled within 0.5 s.

Then the same kill fired behind a backlog (issue 20): `backlog` routine cancels of another
account (`BACKLOG_ACCOUNT`, its own budget out of the way, so they all run) sent through the
intake stream at once, the kill right after them: it is read after them, and runs while they
take the routine nodes, the simulator and Redis.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
from collections import Counter
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
#: the account of the routine cancels a kill is fired behind; the kill does not name it
BACKLOG_ACCOUNT = "ajaib-backlog"


def _accounts(sim_url: str) -> dict[str, dict[str, Any]]:
    accounts = sim_accounts(sim_url, rate_limits={"ajaib": AJAIB_RATE})
    accounts[BACKLOG_ACCOUNT] = {**simulator("ajaib").demo_account(sim_url),
                                 "rate_limit": "1000000/1s"}  # fmt: skip
    return accounts


def _send_backlog(client: Client, admin: SimAdmin, n: int) -> list[str]:
    """Seed `n` orders on the backlog account and send a routine cancel for each, in one
    pipeline of intake entries (as a busy producer would); their request ids."""
    symbol = symbols("ajaib")[0]
    ids = admin.seed("ajaib", BACKLOG_ACCOUNT, [{"symbol": symbol}] * n)
    r, stream = client.store.redis, client.keys.requests
    with r.pipeline(transaction=False) as pipe:
        for oid in ids:
            request = {"kind": "cancel", "account": BACKLOG_ACCOUNT, "order_id": oid,
                       "symbol": symbol, "deadline_ms": 60_000}  # fmt: skip
            pipe.xadd(stream, {"request": json.dumps(request)})
        return [str(entry_id) for entry_id in pipe.execute()]


def kill_round(
    client: Client, admin: SimAdmin, per_venue: int, reason: str, backlog: int = 0
) -> dict[str, Any]:
    """Seed `per_venue` open orders on each venue (over its five symbols), kill, verify; with a
    `backlog`, the kill is sent right behind that many routine cancels of another account."""
    seeded = {}
    for venue, account in ACCOUNTS.items():
        listed = symbols(venue)
        specs = [{"symbol": listed[i % len(listed)]} for i in range(per_venue)]
        seeded[venue] = set(admin.seed(venue, account, specs))
    since = time.time() * 1000
    queued = _send_backlog(client, admin, backlog) if backlog else []
    ticket = client.kill(reason, list(ACCOUNTS.values()))
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
    give_up = time.monotonic() + 120  # for the whole backlog
    backlog_statuses = Counter(
        str(
            (client.store.wait_final(rid, max(0.1, give_up - time.monotonic())) or {}).get("status")
        )
        for rid in queued
    )
    rate_limited = [e for e in admin.log(since) if e["status"] == 429]
    client.resume()
    return {
        "backlog": backlog,
        "backlog_statuses": dict(backlog_statuses),
        "status": final["status"],
        "kill_ms": int(final["latency_ms"]),
        "venues": venues,
        "venue_429": len(rate_limited),
    }


def bench_kill(
    *,
    orders: int,
    backlog: int,
    latency_ms: float,
    runs: int,
    redis_url: str | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    per_venue = orders // len(ACCOUNTS)
    prefix = "ordercancel" if redis_url is None else f"ordercancel-bench-{secrets.token_hex(4)}"
    results: dict[int, list[dict[str, Any]]] = {0: [], **({backlog: []} if backlog else {})}
    with Stack(redis_url=redis_url, prefix=prefix, accounts=_accounts) as stack:
        admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
        admin.faults(latency_ms=latency_ms)
        say(f"bench kill: {orders} orders, 2 venues x 5 symbols, venue latency {latency_ms:g} ms, "
            f"budgets ZebPay 180/60s (the venue's), Ajaib {AJAIB_RATE}")  # fmt: skip
        kill_round(client, admin, 10, "bench warm-up")  # connections and threads, not counted
        for ahead, runs_of in results.items():
            label = f" behind {ahead} routine cancels" if ahead else ""
            for n in range(1, runs + 1):
                result = kill_round(client, admin, per_venue, f"bench run {n}{label}", ahead)
                flat = ", ".join(f"{v} {r['flat_ms']} ms" for v, r in result["venues"].items())
                say(f"  run {n}/{runs}{label}: kill {result['status']} in {result['kill_ms']} "
                    f"ms ({flat}); 429s {result['venue_429']}")  # fmt: skip
                runs_of.append(result)
        rss = worker_rss_mb(stack)
        client.close()
        if redis_url is not None:
            stack.stop_worker()
            stack.drop_keys()
    plain, behind = results[0], results.get(backlog) if backlog else None
    return {
        "scenario": "kill",
        "orders": orders,
        "venue_latency_ms": latency_ms,
        "runs": plain,
        **_summary(plain),
        "behind_backlog": (
            {"backlog": backlog, "runs": behind, **_summary(behind)} if behind else None
        ),
        "target_ms": KILL_TARGET_MS,
        "worker_rss_mb": rss,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    kill_ms = [r["kill_ms"] for r in runs]
    ok = all(
        r["status"] == "completed"
        and r["kill_ms"] <= KILL_TARGET_MS
        and r["venue_429"] == 0
        and all(v["not_cancelled_at_venue"] == 0 for v in r["venues"].values())
        for r in runs
    )
    return {
        "kill_ms": {"median": statistics.median(kill_ms), "max": max(kill_ms)},
        "flat_ms": {
            venue: statistics.median(r["venues"][venue]["flat_ms"] for r in runs)
            for venue in ACCOUNTS
        },
        "meets_target": ok,
    }
