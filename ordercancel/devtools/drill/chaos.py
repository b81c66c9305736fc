"""Seeded chaos for the truth drill: what one seed does, drawn from `random.Random(seed)` alone.

A `Plan` holds the venue fault schedule (the simulator's `Faults` fields), the orders to seed on
each account, orders that fill on their own (before the requests, or racing them), the requests
(their kind, target, channel, deadline and send time) with a few malformed intake entries, and
whether a worker is SIGKILLed mid-run or Redis is down for longer than the lease. The same seed
gives the same plan; the run itself (thread timing) is not replayed exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

ROUTES = (
    "zebpay.cancel",
    "zebpay.cancel_all",
    "zebpay.get_order",
    "zebpay.open_orders",
    "zebpay.time",
    "zebpay.pairs",
    "ajaib.cancel",
    "ajaib.cancel_batch",
    "ajaib.cancel_open",
    "ajaib.get_order",
    "ajaib.open_orders",
    "ajaib.exchange_info",
    "ajaib.time",
)
#: a lost answer is held this long: longer than the accounts' client timeout
LOST_ANSWER_S = 1.5
CLIENT_TIMEOUT_S = 1.0
#: per seed: SIGKILL a worker when `seed % 10 == CRASH`, Redis down when `== OUTAGE`
CRASH, OUTAGE = 3, 7


@dataclass(frozen=True)
class AccountSpec:
    name: str
    venue: str
    #: `symbols` of the account's config (what an account-wide cancel_all covers), or None
    symbols: tuple[str, ...] | None
    #: where its orders are seeded
    trades: tuple[str, ...]


@dataclass(frozen=True)
class OrderSpec:
    account: str
    symbol: str
    #: simulator seed options (Ajaib: fill_on_cancel, batch_fail, stuck, executed_quantity)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestSpec:
    kind: str  # cancel, cancel_batch, cancel_all, kill; "" for a malformed intake entry
    via: str  # "client" or "intake"
    send_ms: float  # from the start of the requests
    deadline_ms: int = 10_000
    account: str = ""
    symbol: str | None = None
    orders: tuple[int, ...] = ()  # indexes into Plan.orders
    ghosts: tuple[str, ...] = ()  # order ids the venue never had
    accounts: tuple[str, ...] = ()
    #: intake: carries its own request_id (else the entry id is used)
    named: bool = False
    #: a malformed entry's raw fields
    raw: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    seed: int
    faults: dict[str, Any]
    orders: list[OrderSpec]
    requests: list[RequestSpec]
    prefills: list[int]  # orders filled before any request
    fills: list[tuple[float, int]]  # (ms from the start of the requests, order) filling mid-run
    sigkill_ms: float | None = None
    outage: tuple[float, float] | None = None  # (ms from the start of the requests, seconds)

    def describe(self) -> str:
        """The fault schedule in one line."""
        f = self.faults
        parts = [
            f"{name.removesuffix('_rate')} {f[name]:.0%}"
            for name in sorted(f)
            if name.endswith("_rate") and f[name]
        ]
        if f.get("burst_429"):
            parts.append(f"429x{f['burst_429']}")
        if f.get("late_cancel_ms"):
            parts.append(f"late cancel {f['late_cancel_ms']:.0f} ms")
        if f.get("routes"):
            parts.append("on " + ",".join(f["routes"]))
        if f.get("accounts"):
            parts.append("for " + ",".join(f["accounts"]))
        if self.sigkill_ms is not None:
            parts.append("SIGKILL")
        if self.outage is not None:
            parts.append(f"Redis down {self.outage[1]:.1f}s")
        return "; ".join(parts) or "no faults"


MALFORMED = (
    {"request": '{"kind": "cancel", "account": '},  # not JSON
    {"request": "[1, 2, 3]"},  # not an object
    {"req": "{}"},  # no field `request`
    {"request": json.dumps({"kind": "cancel_everything", "account": "zebpay-main"})},
    {"request": json.dumps({"kind": "kill", "account": "zebpay-main"})},  # kill takes `accounts`
)


def faults(rng: random.Random, seed: int, accounts: list[AccountSpec]) -> dict[str, Any]:
    """One to four fault kinds at random intensities, sometimes only on some routes or accounts."""
    drawn: dict[str, Any] = {
        "seed": seed,
        "timeout_s": LOST_ANSWER_S,
        "retry_after": 1,
        "latency_ms": rng.choice((0.0, 0.0, 5.0, 20.0)),
    }
    kinds = {
        "error_rate": (0.05, 0.25),
        "timeout_rate": (0.03, 0.12),
        "reset_rate": (0.02, 0.08),
        "bare_404_rate": (0.02, 0.08),
        "odd_status_rate": (0.03, 0.15),
        "odd_body_rate": (0.02, 0.10),
        "fill_race_rate": (0.05, 0.30),
        "late_cancel_ms": (200.0, 2500.0),
        "burst_429": (2, 6),
    }
    for name in rng.sample(sorted(kinds), rng.randint(1, 4)):
        low, high = kinds[name]
        drawn[name] = (
            rng.randint(int(low), int(high))
            if name == "burst_429"
            else round(rng.uniform(low, high), 3)
        )
    if rng.random() < 0.3:
        drawn["routes"] = sorted(rng.sample(ROUTES, rng.randint(2, 5)))
    if rng.random() < 0.2:
        drawn["accounts"] = sorted(rng.sample([a.name for a in accounts], rng.randint(1, 2)))
    return drawn


def make_plan(
    seed: int, accounts: list[AccountSpec], *, crash: bool = True, outage: bool = True
) -> Plan:
    rng = random.Random(seed)
    orders = _orders(rng, accounts)
    prefills = rng.sample(range(len(orders)), rng.randint(0, 2))
    fills = sorted(
        (rng.uniform(0, 600), rng.randrange(len(orders))) for _ in range(rng.randint(0, 3))
    )
    requests = _requests(rng, seed, accounts, orders, prefills)
    last_send = max(r.send_ms for r in requests)
    plan = Plan(seed, faults(rng, seed, accounts), orders, requests, prefills, fills)
    if crash and seed % 10 == CRASH:
        plan.sigkill_ms = rng.uniform(50, last_send + 200)
        plan.faults["latency_ms"] = 50.0  # calls in flight when the worker dies
    if outage and seed % 10 == OUTAGE:
        plan.outage = (last_send + rng.uniform(50, 300), rng.uniform(2.5, 4.0))
    return plan


def _orders(rng: random.Random, accounts: list[AccountSpec]) -> list[OrderSpec]:
    stuck = rng.random() < 0.1
    orders = []
    for account in accounts:
        for _ in range(rng.randint(3, 8)):
            options: dict[str, Any] = {}
            if account.venue == "ajaib":
                roll = rng.random()
                if roll < 0.08:
                    options["fill_on_cancel"] = True
                elif roll < 0.16:
                    options["batch_fail"] = True
                elif roll < 0.26:
                    options["executed_quantity"] = "0.004"
                elif stuck:
                    options["stuck"], stuck = True, False
            orders.append(OrderSpec(account.name, rng.choice(account.trades), options))
    return orders


def _requests(
    rng: random.Random,
    seed: int,
    accounts: list[AccountSpec],
    orders: list[OrderSpec],
    prefills: list[int],
) -> list[RequestSpec]:
    kinds = ["cancel"] * 10 + ["cancel_batch"] * 3 + ["cancel_all"] * 4
    chosen = [rng.choice(kinds) for _ in range(rng.randint(6, 14))]
    if rng.random() < 0.35:
        chosen.append("kill")
    chosen += [""] * (1 if rng.random() < 0.5 else 0)
    draw = _Draw(rng, seed, accounts, orders, prefills)
    specs = []
    for i, kind in enumerate(chosen):
        common: dict[str, Any] = {
            "via": "intake" if rng.random() < 0.4 else "client",
            "send_ms": rng.uniform(0, 400),
            "deadline_ms": rng.choice((5_000, 6_000, 8_000, 10_000)),
            "named": rng.random() < 0.5,
        }
        specs.append(getattr(draw, kind or "malformed")(i, common))
    return sorted(specs, key=lambda r: r.send_ms)


@dataclass
class _Draw:
    rng: random.Random
    seed: int
    accounts: list[AccountSpec]
    orders: list[OrderSpec]
    prefills: list[int]

    def account_of(self, order: int) -> AccountSpec:
        return next(a for a in self.accounts if a.name == self.orders[order].account)

    def cancel(self, i: int, common: dict[str, Any]) -> RequestSpec:
        """A seeded order (sometimes one that already filled), or one the venue never had."""
        rng = self.rng
        target = rng.randrange(len(self.orders))
        if self.prefills and rng.random() < 0.15:
            target = rng.choice(self.prefills)
        account = self.account_of(target)
        if rng.random() < 0.1:
            ghost = _ghost(rng, self.seed, i, account.venue)
            symbol = rng.choice(account.trades)
            return RequestSpec(
                "cancel", account=account.name, symbol=symbol, ghosts=(ghost,), **common
            )
        symbol_or_none: str | None = self.orders[target].symbol
        if account.venue == "zebpay" and rng.random() < 0.5:
            symbol_or_none = None  # optional on ZebPay
        return RequestSpec(
            "cancel", account=account.name, symbol=symbol_or_none, orders=(target,), **common
        )

    def cancel_batch(self, i: int, common: dict[str, Any]) -> RequestSpec:
        """One to four orders of one account and symbol, sometimes with one the venue never had."""
        rng = self.rng
        target = rng.randrange(len(self.orders))
        account, symbol = self.account_of(target), self.orders[target].symbol
        same = [
            j for j, o in enumerate(self.orders) if (o.account, o.symbol) == (account.name, symbol)
        ]
        picked = tuple(sorted(rng.sample(same, rng.randint(1, min(4, len(same))))))
        ghosts = (_ghost(rng, self.seed, i, account.venue),) if rng.random() < 0.2 else ()
        return RequestSpec(
            "cancel_batch",
            account=account.name,
            symbol=symbol,
            orders=picked,
            ghosts=ghosts,
            **common,
        )

    def cancel_all(self, i: int, common: dict[str, Any]) -> RequestSpec:
        account = self.rng.choice(self.accounts)
        symbol = self.rng.choice(account.trades) if self.rng.random() < 0.5 else None
        return RequestSpec("cancel_all", account=account.name, symbol=symbol, **common)

    def kill(self, i: int, common: dict[str, Any]) -> RequestSpec:
        names = [a.name for a in self.accounts]
        subset: tuple[str, ...] = ()
        if self.rng.random() < 0.5:
            subset = tuple(sorted(self.rng.sample(names, self.rng.randint(1, 3))))
        return RequestSpec("kill", accounts=subset, **common)

    def malformed(self, i: int, common: dict[str, Any]) -> RequestSpec:
        common["via"] = "intake"
        return RequestSpec("", raw=dict(self.rng.choice(MALFORMED)), **common)


def _ghost(rng: random.Random, seed: int, i: int, venue: str) -> str:
    """An order id the venue never issued."""
    if venue == "ajaib":
        return str(9_000_000_000 + seed * 1000 + i)
    return f"ghost{seed}x{i}x{rng.randrange(1000)}"
