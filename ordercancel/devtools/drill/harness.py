"""What every drill scenario does: a stack, orders to cancel, requests, and the count at the end.

The count reads the result stream itself (every `final` event of every request, so a duplicate
would show), and holds every final against the simulator's history (`truth.check`: what the
venue did, whatever we reported). Each failure is counted once, in its own column: a lost
request is `lost`, not also an outcome the venue contradicts (`tally`, pure, unit-tested).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ordercancel.client import Client
from ordercancel.devtools.drill.truth import Sent, check
from ordercancel.devtools.procs import group_pids
from ordercancel.devtools.stack import Stack, sim_accounts, symbols
from ordercancel.errors import RedisUnavailable
from ordercancel.events import Event
from ordercancel.request import new_request_id
from ordercancel.sim import simulator, simulators
from ordercancel.sim.admin import SimAdmin

#: the drill's accounts (`sim_accounts`): one per simulated venue
VENUES = {f"{venue}-main": venue for venue in simulators()}
#: per venue, the simulator's states of an order that is no longer open (Ajaib's cancel of a
#: partly filled order ends `PARTIAL_CANCELLED`), and the field naming an order
CLOSED = {venue: simulator(venue).CLOSED for venue in simulators()}
ID_FIELD = {venue: simulator(venue).ID_FIELD for venue in simulators()}
CONTRADICTED = "outcome contradicted by the venue's history"
#: the truth checker's invariants the row counts in columns of their own (`lost`, `duplicates`):
#: not counted a second time as contradicted outcomes (a lost request has no outcome)
OWN_COLUMNS = frozenset({"lost", "duplicate_final"})


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
                    except RedisUnavailable:  # what the Client says of Redis down
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

    def venue_orders(self) -> dict[tuple[str, str], str]:
        """(account, order id) -> the order's state at the venue."""
        return venue_states({a: self.admin.orders(v, a) for a, v in VENUES.items()})

    def count(self, row: Row, rids: list[str], finals: dict[str, Event | None]) -> None:
        """Requests, finals, duplicate finals, lost; and outcomes the venue contradicts."""
        tally(row, rids, self.client.events(), finals, self.orders, self.admin.history())

    def still_open(self, orders: Iterable[Order]) -> int:
        return open_count(orders, self.venue_orders())


# -- the count, pure: what the stream, the store and the simulator said ------------------------


def final_counts(events: Iterable[Mapping[str, str]]) -> Counter[str]:
    """How many `final` events each request has among `events` (per-order children aside)."""
    counts: Counter[str] = Counter()
    for event in events:
        if event.get("event") == "final" and not event.get("parent_id"):
            counts[event["request_id"]] += 1
    return counts


def tally(
    row: Row,
    rids: list[str],
    events: Iterable[Mapping[str, str]],
    finals: Mapping[str, Event | None],
    orders: Mapping[str, Order],
    history: Mapping[str, Any],
) -> None:
    """Fill `row` in: requests, finals and duplicate finals (on the result stream, `events`),
    lost (no final in the store, `finals`), and the outcomes the simulator's `history`
    contradicts (`truth.check`; `orders`: request id -> the order it cancels)."""
    counts = final_counts(events)
    row.requests = len(rids)
    row.finals = sum(1 for r in rids if counts[r] >= 1)
    row.duplicates = sum(counts[r] - 1 for r in rids if counts[r] > 1)
    row.lost = sum(1 for r in rids if finals.get(r) is None)
    wanted = set(rids)
    verdict = check(
        [
            Sent(rid, "cancel", account=o.account, order_id=o.order_id, symbol=o.symbol)
            for rid, o in orders.items()
            if rid in wanted
        ],
        [f for f in finals.values() if f],
        history,
    )
    found = [
        c for name, cs in verdict.contradictions.items() if name not in OWN_COLUMNS for c in cs
    ]
    row.violations[CONTRADICTED] = len(found)
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


def venue_states(books: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[tuple[str, str], str]:
    """(account, order id) -> the order's state, from each account's order book at the
    simulator (`SimAdmin.orders`)."""
    states: dict[tuple[str, str], str] = {}
    for account, book in books.items():
        venue = VENUES[account]
        for o in book:
            states[(account, str(o[ID_FIELD[venue]]))] = str(o["status"])
    return states


def open_count(orders: Iterable[Order], states: Mapping[tuple[str, str], str]) -> int:
    """How many of `orders` are not closed (or unknown) in `states`."""
    return sum(1 for o in orders if states.get((o.account, o.order_id)) not in CLOSED[o.venue])


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


def latest_final_ms(finals: Mapping[str, Event | None], rids: Iterable[str]) -> int | None:
    stamps = [int(f["ts"]) for r in rids if (f := finals.get(r))]
    return max(stamps) if stamps else None


HEADER = ("scenario", "requests", "finals", "duplicate finals", "lost", "recovery", "result")


def table(rows: list[Row]) -> str:
    cells = [HEADER] + [
        (
            r.scenario,
            str(r.requests),
            str(r.finals),
            str(r.duplicates),
            str(r.lost),
            f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "-",
            "ok" if r.ok else "FAILED",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        failed = [f"{name}: {n}" for name, n in r.violations.items() if n]
        checks = ", ".join(name for name, n in r.violations.items() if not n)
        lines.append(f"\n{r.scenario}: {'; '.join(r.notes)}")
        lines.append(f"  checked: {checks or '-'}")
        if failed:
            lines.append(f"  FAILED: {'; '.join(failed)}")
    return "\n".join(lines)
