"""`ordercancel drill truth`: many seeded chaos runs on one stack, each held against the venue.

One stack (embedded Redis with appendonly unless a Redis URL is given, the simulator, two
workers with a 2 s lease). Per seed (`chaos.make_plan`): clear the simulator, seed orders on
four accounts (ZebPay and Ajaib, each with and without `symbols`), set the seed's fault
schedule, send its requests (Python client and raw intake entries, a few malformed), let orders
fill on their own meanwhile, maybe SIGKILL a worker or stop Redis for longer than the lease;
wait for the finals, read the result stream and the simulator's history, and run the truth
checker (`truth.check`). One table row per seed; exit 1 on any contradiction.
"""

from __future__ import annotations

import functools
import json
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ordercancel.client import Client
from ordercancel.devtools.drill.chaos import (
    CLIENT_TIMEOUT_S,
    AccountSpec,
    Plan,
    RequestSpec,
    make_plan,
)
from ordercancel.devtools.drill.harness import say, shut
from ordercancel.devtools.drill.truth import INVARIANTS, Sent, check
from ordercancel.devtools.stack import Stack, sim_accounts, symbols
from ordercancel.events import Event
from ordercancel.request import now_ms
from ordercancel.sim import simulator
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.store import REDIS_DOWN

FULL_SEEDS = 200
SHORT_SEEDS = (0, 1, 2, 3, 7)  # 3: a worker SIGKILLed mid-run; 7: Redis down (if embedded)
LEASE_S = 2
#: after the last final: calls still on their way, and a worker's late ones, land in the history
SETTLE_S = 0.5

ACCOUNTS = [
    AccountSpec("zebpay-main", "zebpay", None, symbols("zebpay")),
    AccountSpec("zebpay-sym", "zebpay", ("BTCUSDT", "ETHUSDT"), ("BTCUSDT", "ETHUSDT")),
    AccountSpec(
        "ajaib-main", "ajaib", ("BTC_USDT", "ETH_USDT"), ("BTC_USDT", "ETH_USDT", "SOL_USDT")
    ),
    AccountSpec("ajaib-all", "ajaib", None, symbols("ajaib")),
]
#: what an account-wide cancel_all covers: ZebPay's cancel-all is account-wide whatever its
#: `symbols` (they only say what to list); an Ajaib account's `symbols` bound it
COVERED: dict[str, tuple[str, ...] | None] = {
    a.name: a.symbols if a.venue == "ajaib" else None for a in ACCOUNTS
}


def truth_accounts(sim_url: str) -> dict[str, dict[str, Any]]:
    """The four accounts, fresh credentials each, budgets that keep rate limits out of it."""
    accounts = {}
    for spec in ACCOUNTS:
        template = sim_accounts(sim_url, rate_limits={"ajaib": "2000/1s"})[f"{spec.venue}-main"]
        template.pop("symbols")
        if spec.symbols is not None:
            template["symbols"] = list(spec.symbols)
        if spec.venue == "zebpay":
            template["rate_limit"] = "100000/60s"
        accounts[spec.name] = dict(template, timeout_s=CLIENT_TIMEOUT_S)
    return accounts


@dataclass
class SeedRow:
    seed: int
    requests: int = 0
    finals: int = 0
    events: int = 0  # finals of the seed's requests, children included
    contradictions: dict[str, int] = field(default_factory=dict)
    unknowns: dict[str, int] = field(default_factory=dict)
    faults: str = ""
    seconds: float = 0.0
    #: every contradiction: invariant, request id, why, the final, the family's venue calls
    details: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.contradictions.values())


@dataclass
class _Seeded:
    account: str
    venue: str
    order_id: str
    symbol: str


class TruthRig:
    """One stack for every seed."""

    def __init__(self, redis_url: str | None):
        self.stack = Stack(
            redis_url=redis_url,
            prefix=f"octruth-{secrets.token_hex(4)}",
            accounts=truth_accounts,
            worker=False,
            extra_config={
                "worker": {"lease_s": LEASE_S, "processes": 1, "concurrency": 16},
            },
            sim_options={"zebpay_limit": 1_000_000},
            appendonly=redis_url is None,
        )
        self.retired: set[str] = set()

    def __enter__(self) -> TruthRig:
        self.stack.start()
        self.admin = SimAdmin(self.stack.sim_url)
        self.client = Client(self.stack.settings)
        self.known_faults = set(self.admin.faults())  # no faults; what it can inject
        for _ in range(2):
            self.stack.start_worker()
        return self

    def __exit__(self, *exc: object) -> None:
        shut(self.stack, self.client)

    # -- one seed ----------------------------------------------------------------------------

    def run_seed(self, seed: int) -> SeedRow:
        started = time.monotonic()
        plan = make_plan(seed, ACCOUNTS, outage=self.stack.embedded is not None)
        row = SeedRow(seed, faults=plan.describe())
        say(f"  seed {seed}: {row.faults}")
        self.admin.faults()
        self.admin.clear()
        self.client.resume()
        since_ms = time.time() * 1000
        start_id = self._last_result_id()
        orders = self._seed_orders(plan)
        for i in plan.prefills:
            self._fill(orders[i])
        faults = {k: v for k, v in plan.faults.items() if k in self.known_faults}
        skipped = sorted(set(plan.faults) - set(faults))
        if skipped:
            row.notes.append(f"the simulator has no {', '.join(skipped)}")
        self.admin.faults(**faults)
        t0 = time.monotonic()
        chaos = self._chaos(plan, orders, faults, t0)
        sent = self._send(plan, orders, t0)
        rids = [s.request_id for s in sent]
        timeout = max(r.deadline_ms for r in plan.requests) / 1000 + LEASE_S + 20
        timeout += plan.outage[1] if plan.outage else 0
        self._wait(rids, timeout)
        for thread in chaos:
            thread.join()
        self.admin.faults()
        time.sleep(SETTLE_S)
        finals = self._finals_since(start_id)
        history = self.admin.history(since_ms)
        verdict = check(sent, finals, history, accounts=COVERED, retired=self.retired)
        self.retired.update(rids)
        row.requests, row.finals, row.events = verdict.requests, verdict.finals, verdict.events
        row.contradictions = verdict.counts
        row.unknowns = dict(verdict.unknowns)
        row.details = _evidence(verdict.contradictions, finals, history)
        row.seconds = time.monotonic() - started
        return row

    def _seed_orders(self, plan: Plan) -> list[_Seeded]:
        venue = {a.name: a.venue for a in ACCOUNTS}
        orders: list[_Seeded] = []
        for account in [a.name for a in ACCOUNTS]:
            mine = [o for o in plan.orders if o.account == account]
            specs = [{"symbol": o.symbol, **o.options} for o in mine]
            ids = self.admin.seed(venue[account], account, specs)
            orders += [
                _Seeded(account, venue[account], oid, o.symbol)
                for oid, o in zip(ids, mine, strict=True)
            ]
        # back in plan order
        by_account: dict[str, list[_Seeded]] = {}
        for o in orders:
            by_account.setdefault(o.account, []).append(o)
        return [by_account[o.account].pop(0) for o in plan.orders]

    def _fill(self, order: _Seeded) -> None:
        oid: Any = order.order_id if order.venue == "zebpay" else int(order.order_id)
        self.admin.action(
            order.venue, "fill", account=order.account, **{simulator(order.venue).ID_FIELD: oid}
        )

    def _chaos(
        self, plan: Plan, orders: list[_Seeded], faults: Mapping[str, Any], t0: float
    ) -> list[threading.Thread]:
        """Timed events in threads: fills, re-armed 429 bursts, a SIGKILL, a Redis outage."""
        events: list[tuple[float, Callable[[], object]]] = [
            (ms, functools.partial(self._fill, orders[i])) for ms, i in plan.fills
        ]
        if faults.get("burst_429"):  # the bursts are used up: arm them again
            rearm = functools.partial(self.admin.faults, **faults)
            events += [(ms, rearm) for ms in (700.0, 1400.0)]
        if plan.sigkill_ms is not None:
            events.append((plan.sigkill_ms, self._sigkill))
        if plan.outage is not None:
            start_ms, seconds = plan.outage
            events.append((start_ms, functools.partial(self._outage, seconds)))
        threads = [
            threading.Thread(target=_at, args=(t0 + ms / 1000, fn), daemon=True)
            for ms, fn in events
        ]
        for thread in threads:
            thread.start()
        return threads

    def _sigkill(self) -> None:
        victim = self.stack.workers[0]
        self.stack.stop_worker(signal.SIGKILL, worker=victim)
        say(f"    SIGKILL worker group {victim.pid}")
        self.stack.start_worker()

    def _outage(self, seconds: float) -> None:
        assert self.stack.embedded is not None
        self.stack.embedded.shut_down()
        say(f"    Redis down for {seconds:.1f}s (lease {LEASE_S}s)")
        time.sleep(seconds)
        self.stack.embedded.start()

    def _send(self, plan: Plan, orders: list[_Seeded], t0: float) -> list[Sent]:
        sent = []
        for i, spec in enumerate(plan.requests):
            pause = t0 + spec.send_ms / 1000 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent.append(self._send_one(plan.seed, i, spec, orders))
        return sent

    def _send_one(self, seed: int, i: int, spec: RequestSpec, orders: list[_Seeded]) -> Sent:
        targets = [orders[j].order_id for j in spec.orders] + list(spec.ghosts)
        message: dict[str, Any] = {"kind": spec.kind, "deadline_ms": spec.deadline_ms}
        if spec.account:
            message["account"] = spec.account
        if spec.symbol:
            message["symbol"] = spec.symbol
        if spec.kind == "cancel":
            message["order_id"] = targets[0]
        if spec.kind == "cancel_batch":
            message["order_ids"] = targets
        if spec.accounts:
            message["accounts"] = list(spec.accounts)
        rid = f"s{seed}-{i}-{secrets.token_hex(3)}"
        sent = Sent(
            rid,
            spec.kind,
            now_ms(),
            account=spec.account,
            accounts=spec.accounts,
            symbol=spec.symbol,
            order_id=targets[0] if spec.kind == "cancel" else None,
            order_ids=tuple(targets) if spec.kind == "cancel_batch" else (),
            intake=spec.via == "intake",
        )
        if spec.via == "client":
            self.client.submit(dict(message, request_id=rid))
            return sent
        if spec.named:
            message["request_id"] = rid
        fields = spec.raw or {"request": json.dumps(message)}
        redis: Any = self.client.store.redis
        entry = str(redis.xadd(self.client.keys.requests, fields))
        received = float(entry.split("-")[0])
        if spec.named and not spec.raw:
            return replace(sent, received_ms=received)
        return replace(sent, request_id=entry, received_ms=received)

    # -- reading results ---------------------------------------------------------------------

    def _wait(self, rids: list[str], timeout: float) -> None:
        end, shown = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < end:
            try:
                finals = self.client.store.finals(rids)
            except REDIS_DOWN:
                time.sleep(0.2)
                continue
            done = sum(f is not None for f in finals.values())
            if done == len(rids):
                return
            if time.monotonic() - shown > 5:
                say(f"    {done}/{len(rids)} final")
                shown = time.monotonic()
            time.sleep(0.1)

    def _last_result_id(self) -> str:
        redis: Any = self.client.store.redis
        last = redis.xrevrange(self.client.keys.results, count=1)
        return str(last[0][0]) if last else "0-0"

    def _finals_since(self, start_id: str) -> list[Event]:
        redis: Any = self.client.store.redis
        finals: list[Event] = []
        cursor = start_id
        while True:
            page = redis.xrange(self.client.keys.results, min=f"({cursor}", count=2000)
            if not page:
                return finals
            finals += [dict(fields) for _, fields in page if fields.get("event") == "final"]
            cursor = page[-1][0]


def _at(when: float, fn: Callable[[], object]) -> None:
    pause = when - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    try:
        fn()
    except Exception as exc:  # a chaos step that failed is news, not a crash of the drill
        say(f"    chaos step failed: {type(exc).__name__}: {exc}")


def _evidence(
    found: Mapping[str, list[Any]], finals: list[Event], history: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each contradiction with the request's final and the venue calls made on its behalf."""
    by_id: dict[str, Event] = {}
    for event in finals:
        by_id.setdefault(event["request_id"], event)
    details = []
    for contradictions in found.values():
        for c in contradictions:
            final = by_id.get(c.request_id, {})
            calls = [
                call
                for call in history.get("calls", [])
                if (rid := call.get("request_id"))
                and (rid == c.request_id or rid.startswith(c.request_id + ":"))
            ]
            origin = float(final.get("received_ms") or 0)
            details.append(
                {
                    "invariant": c.invariant,
                    "request_id": c.request_id,
                    "why": c.why,
                    "final": {k: v for k, v in final.items() if v and k not in ("event",)},
                    "calls": [_call_line(call, origin) for call in calls[:20]],
                }
            )
    return details


def _call_line(call: Mapping[str, Any], origin: float) -> str:
    at = float(call["t_ms"]) - origin if origin else float(call["t_ms"])
    answer = call.get("fault") or call.get("status")
    return (
        f"#{call['seq']} {call['route']} {call.get('request_id')} @{at:+.0f}ms -> {answer} "
        f"{','.join(call.get('orders') or [])}"
    )


# -- the command ------------------------------------------------------------------------------


def seeds_to_run(short: bool, seeds: int | None, seed: int | None) -> list[int]:
    """`--seed S`: that seed; `--seeds N`: seeds 0..N-1 (from S with both); else the default."""
    if seed is not None:
        return list(range(seed, seed + (seeds or 1)))
    if seeds is not None:
        return list(range(seeds))
    return list(SHORT_SEEDS) if short else list(range(FULL_SEEDS))


def run(
    *,
    short: bool = False,
    seeds: int | None = None,
    seed: int | None = None,
    as_json: bool = False,
    redis_url: str | None = None,
) -> int:
    chosen = seeds_to_run(short, seeds, seed)
    rows = run_seeds(chosen, redis_url)
    if as_json:
        print(json.dumps([dict(asdict(r), ok=r.ok) for r in rows], indent=2))
    else:
        print(table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1


def run_seeds(seeds: Sequence[int], redis_url: str | None) -> list[SeedRow]:
    rows: list[SeedRow] = []
    started = time.monotonic()
    say(f"truth: {len(seeds)} seeds on one stack")
    with TruthRig(redis_url) as rig:
        if rig.stack.embedded is None:
            say("  (a Redis URL was given: no Redis outages)")
        for seed in seeds:
            row = rig.run_seed(seed)
            rows.append(row)
            bad = {k: n for k, n in row.contradictions.items() if n}
            say(
                f"  seed {seed}: {row.finals}/{row.requests} final, {row.events} finals in all, "
                f"{sum(row.unknowns.values())} unknown, {row.seconds:.1f}s"
                + (f"; CONTRADICTED {bad}" if bad else "")
            )
    say(f"truth: {len(seeds)} seeds in {time.monotonic() - started:.0f}s")
    return rows


COLUMNS = ("seed", "requests", "finals", *INVARIANTS, "unknown", "s", "faults")


def table(rows: list[SeedRow]) -> str:
    cells = [COLUMNS] + [
        (
            str(r.seed),
            str(r.requests),
            str(r.finals),
            *(str(r.contradictions.get(name, 0)) for name in INVARIANTS),
            str(sum(r.unknowns.values())),
            f"{r.seconds:.1f}",
            r.faults,
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(c.rjust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total: Counter[str] = Counter()
    unknowns: Counter[str] = Counter()
    for r in rows:
        total.update(r.contradictions)
        unknowns.update(r.unknowns)
    contradicted = sum(total.values())
    which = ", ".join(f"{k} {n}" for k, n in sorted(total.items()) if n)
    lines.append("")
    lines.append(
        f"{len(rows)} seeds, {sum(r.requests for r in rows)} requests, "
        f"{sum(r.finals for r in rows)} finals ({sum(r.events for r in rows)} with children), "
        f"{contradicted} contradictions" + (f": {which}" if which else "")
    )
    lines.append(
        "unknown outcomes by error_code: "
        + (", ".join(f"{k} {n}" for k, n in unknowns.most_common()) or "none")
    )
    for r in rows:
        for note in r.notes:
            lines.append(f"seed {r.seed}: {note}")
        for d in r.details:
            lines.append(f"\nseed {r.seed} {d['invariant']} {d['request_id']}: {d['why']}")
            final = d["final"]
            keys = ("kind", "status", "error_code", "error", "attempts", "venue_status", "detail")
            lines.append("  final: " + json.dumps({k: final[k] for k in keys if k in final}))
            lines.extend(f"  call {line}" for line in d["calls"])
    lines.append("OK: no contradiction" if not contradicted else "FAILED: contradictions above")
    return "\n".join(lines)
