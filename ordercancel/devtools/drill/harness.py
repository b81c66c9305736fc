"""What every drill scenario does: a stack, orders to cancel, requests, and the count at the end.

The count reads the result stream itself (every `final` event of every request, so a duplicate
would show), and holds every final against the simulator's history (`truth.check`: what the
venue did, whatever we reported).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ordercancel.client import Client
from ordercancel.devtools.drill.truth import Sent, check
from ordercancel.devtools.procs import group_pids
from ordercancel.devtools.stack import Stack, sim_accounts, symbols
from ordercancel.events import Event
from ordercancel.request import new_request_id
from ordercancel.sim import simulator, simulators
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.store import REDIS_DOWN

#: the drill's accounts (`sim_accounts`): one per simulated venue
VENUES = {f"{venue}-main": venue for venue in simulators()}


def say(line: str) -> None:
    """Progress, on stderr: stdout holds the table (or the JSON)."""
    print(line, file=sys.stderr, flush=True)


@dataclass
class Row:
    """One scenario's result: the drill's table row."""

    scenario: str
    requests: int = 0
    finals: int = 0
    duplicates: int = 0
    lost: int = 0
    recovery_s: float | None = None
    #: named checks beyond loss and duplicates -> how many times each was violated
    violations: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicates and not any(self.violations.values())


@dataclass(frozen=True)
class Order:
    account: str
    order_id: str
    symbol: str

    @property
    def venue(self) -> str:
        return VENUES[self.account]


#: an account whose key the venue refuses (401): a permanent error
DENIED = "zebpay-denied"


def drill_accounts(sim_url: str, **overrides: Any) -> dict[str, dict[str, Any]]:
    """The two simulator accounts, with budgets that keep rate limits out of the drill, and
    `DENIED`."""
    accounts = sim_accounts(sim_url, rate_limits={"zebpay": "100000/60s", "ajaib": "2000/1s"})
    accounts[DENIED] = dict(accounts["zebpay-main"], api_key="zk_" + secrets.token_hex(8))
    for account in accounts.values():
        account.update(overrides)
    return accounts


class Harness:
    def __init__(
        self,
        *,
        redis_url: str | None,
        workers: int = 1,
        worker_config: dict[str, Any] | None = None,
        account_options: dict[str, Any] | None = None,
        appendonly: bool = False,
        latency_ms: float = 50.0,
    ):
        self.stack = Stack(
            redis_url=redis_url,
            prefix=f"ocdrill-{secrets.token_hex(4)}",
            accounts=lambda url: drill_accounts(url, **(account_options or {})),
            worker=False,
            extra_config={"worker": worker_config} if worker_config else None,
            sim_options={"zebpay_limit": 1_000_000},
            appendonly=appendonly,
        )
        self.n_workers = workers
        self.latency_ms = latency_ms
        self.rids: list[str] = []
        self.send_retries = 0
        self.orders: dict[str, Order] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Harness:
        self.stack.start()
        self.admin = SimAdmin(self.stack.sim_url)
        self.admin.faults(latency_ms=self.latency_ms)
        denied = self.stack.settings.accounts[DENIED].options
        self.admin.register(
            "zebpay", name=DENIED, api_key=denied.api_key.reveal(), api_secret="not-ours"
        )
        self.client = Client(self.stack.settings)
        for _ in range(self.n_workers):
            self.stack.start_worker()
        return self

    def __exit__(self, *exc: object) -> None:
        shut(self.stack, self.client)

    # -- orders and requests -----------------------------------------------------------------

    def seed(self, per_venue: int) -> list[Order]:
        orders: list[Order] = []
        for account, venue in VENUES.items():
            listed = symbols(venue)
            specs = [{"symbol": listed[i % len(listed)]} for i in range(per_venue)]
            ids = self.admin.seed(venue, account, specs)
            orders += [Order(account, oid, s["symbol"]) for oid, s in zip(ids, specs, strict=True)]
        return orders

    def submit(self, order: Order, **request: Any) -> str:
        ticket = self.client.cancel(order.account, order.order_id, symbol=order.symbol, **request)
        with self._lock:
            self.rids.append(ticket.request_id)
            self.orders[ticket.request_id] = order
        return ticket.request_id

    def submit_over(self, orders: list[Order], seconds: float, **request: Any) -> threading.Thread:
        """Submit `orders` evenly over `seconds`, in a thread (started). Like a careful producer,
        a send that meets Redis down is sent again with the same request_id."""

        def run() -> None:
            start = time.monotonic()
            for i, order in enumerate(orders):
                pause = start + seconds * i / max(1, len(orders)) - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                rid = new_request_id()
                while True:
                    try:
                        self.submit(order, request_id=rid, **request)
                        break
                    except REDIS_DOWN:
                        self.send_retries += 1
                        time.sleep(0.2)

        thread = threading.Thread(target=run, name="drill-producer", daemon=True)
        thread.start()
        return thread

    # -- waiting and counting ----------------------------------------------------------------

    def wait_finals(
        self, rids: list[str], timeout: float, progress: str = ""
    ) -> dict[str, Event | None]:
        """Poll until every request has its final (or `timeout`); prints progress each second."""
        end, shown = time.monotonic() + timeout, 0.0
        while True:
            finals = self.client.store.finals(rids)
            done = sum(f is not None for f in finals.values())
            if done == len(rids) or time.monotonic() > end:
                return finals
            if progress and time.monotonic() - shown >= 1.0:
                say(f"  {progress}: {done}/{len(rids)} final")
                shown = time.monotonic()
            time.sleep(0.2)

    def final_counts(self) -> Counter[str]:
        """How many `final` events each request has on the result stream."""
        counts: Counter[str] = Counter()
        for event in self.client.events():
            if event.get("event") == "final" and not event.get("parent_id"):
                counts[event["request_id"]] += 1
        return counts

    def venue_orders(self) -> dict[tuple[str, str], str]:
        """(account, order id) -> the order's state at the venue."""
        states: dict[tuple[str, str], str] = {}
        for account, venue in VENUES.items():
            for o in self.admin.orders(venue, account):
                states[(account, str(o[simulator(venue).ID_FIELD]))] = str(o["status"])
        return states

    def count(self, row: Row, rids: list[str], finals: dict[str, Event | None]) -> None:
        """Requests, finals, duplicate finals, lost; and outcomes the venue contradicts."""
        counts = self.final_counts()
        row.requests = len(rids)
        row.finals = sum(1 for r in rids if counts[r] >= 1)
        row.duplicates = sum(counts[r] - 1 for r in rids if counts[r] > 1)
        row.lost = sum(1 for r in rids if finals.get(r) is None)
        wanted = set(rids)
        verdict = check(
            [
                Sent(rid, "cancel", account=o.account, order_id=o.order_id, symbol=o.symbol)
                for rid, o in self.orders.items()
                if rid in wanted
            ],
            [f for f in finals.values() if f],
            self.admin.history(),
        )
        row.violations["outcome contradicted by the venue's history"] = sum(verdict.counts.values())
        found = [c for cs in verdict.contradictions.values() for c in cs]
        row.notes += [f"{c.invariant} {c.request_id}: {c.why}" for c in found[:3]]
        statuses = Counter(
            "/".join(filter(None, (f["status"], f.get("error_code")))) for f in finals.values() if f
        )
        row.notes.append(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
        # the commonest errors, to read (the faults drill's refused key aside)
        errors = Counter(
            f"{f['status']}/{f['error_code']}: {f['error'][:100]}"
            for f in finals.values()
            if f and f.get("error_code") not in ("", "auth")
        )
        if errors:
            row.notes.append("; ".join(f"{n}x {e}" for e, n in errors.most_common(3)))

    def still_open(self, orders: Iterable[Order]) -> int:
        states = self.venue_orders()
        return sum(
            1
            for o in orders
            if states.get((o.account, o.order_id), "") in simulator(o.venue).OPEN | {""}
        )


def shut(stack: Stack, client: Client) -> None:
    """Stop a drill's stack: its client, workers, keys (on a shared Redis) and servers."""
    client.close()
    stack.stop_worker()
    if stack.embedded is None:
        stack.drop_keys()
    stack.stop()


def owned_by(harness: Harness, worker: subprocess.Popen[bytes]) -> set[str]:
    """The requests the nodes of this worker own right now."""
    pids = group_pids(worker.pid)
    owners: Any = harness.client.store.redis.hgetall(harness.client.keys.owners)
    return {rid for rid, node in owners.items() if int(node.rsplit(":", 2)[1]) in pids}


def latest_final_ms(finals: dict[str, Event | None], rids: Iterable[str]) -> int | None:
    stamps = [int(f["ts"]) for r in rids if (f := finals.get(r))]
    return max(stamps) if stamps else None
