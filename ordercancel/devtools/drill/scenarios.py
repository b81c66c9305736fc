"""The four drills. Each starts its own stack, does its damage while cancels are in flight, and
returns a `Row`: requests, finals, duplicate finals, lost, recovery time, and what else failed."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ordercancel.devtools.drill.harness import (
    DENIED,
    Harness,
    Row,
    latest_final_ms,
    owned_by,
    say,
)
from ordercancel.events import Event
from ordercancel.request import now_ms


@dataclass(frozen=True)
class Size:
    orders: int  # per venue
    seconds: float  # over which requests are sent
    kills: int
    lease_s: int
    denied: int


FULL = Size(orders=400, seconds=4.0, kills=4, lease_s=10, denied=20)
SHORT = Size(orders=50, seconds=2.0, kills=1, lease_s=3, denied=4)
#: A killed worker's in-flight requests must be final within this long (issue 6).
RECOVERY_TARGET_S = 30.0


def crash(size: Size, redis_url: str | None) -> Row:
    """SIGKILL whole worker process groups while cancels are in flight; start replacements."""
    row = Row("crash")
    with Harness(redis_url=redis_url, workers=2, worker_config={"lease_s": size.lease_s}) as h:
        orders = h.seed(size.orders)
        say(f"crash: {len(orders)} cancels over {size.seconds:g}s, 50 ms venue latency, "
            f"{size.kills} SIGKILLs, lease {size.lease_s}s")  # fmt: skip
        producer = h.submit_over(orders, size.seconds)
        kills: list[tuple[int, set[str]]] = []
        gap = size.seconds / (size.kills + 1)
        for k in range(size.kills):
            time.sleep(gap if k == 0 else max(0.0, gap - 3.0))
            victim = h.stack.workers[0]
            owned = owned_by(h, victim)
            sent = list(h.rids)
            killed_ms = now_ms()
            h.stack.stop_worker(signal.SIGKILL, worker=victim)
            kills.append((killed_ms, owned))
            done = sum(f is not None for f in h.client.store.finals(sent).values())
            say(f"  SIGKILL worker group {victim.pid}: {len(sent) - done} requests in flight, "
                f"{len(owned)} of them running on it")  # fmt: skip
            h.stack.start_worker()
        producer.join()
        finals = h.wait_finals(h.rids, 120, "crash")
        h.count(row, h.rids, finals)
        row.recovery_s, slow = recovery(kills, finals, RECOVERY_TARGET_S)
        row.violations[f"killed worker's work not final within {RECOVERY_TARGET_S:g}s"] = slow
        row.violations["orders left open at the venue"] = h.still_open(orders)
        row.notes.append(f"{sum(len(o) for _, o in kills)} requests running on killed workers")
    return row


def recovery(
    kills: list[tuple[int, set[str]]], finals: Mapping[str, Event | None], target_s: float
) -> tuple[float | None, int]:
    """After each kill (when, the requests the killed worker owned): the longest time from a
    kill to the last final of what it owned, in seconds; and how many requests ended more than
    `target_s` after a kill of a worker that owned them, each counted once. A request with no
    final is `lost`, counted there alone."""
    recovery_s: float | None = None
    slow: set[str] = set()
    for killed_ms, owned in kills:
        last = latest_final_ms(finals, owned)
        took = (last - killed_ms) / 1000 if last else None
        recovery_s = max(recovery_s or 0.0, took or 0.0)
        slow.update(
            r for r in owned if (f := finals.get(r)) and int(f["ts"]) - killed_ms > target_s * 1e3
        )
    return recovery_s, len(slow)


def faults(size: Size, redis_url: str | None) -> Row:
    """A storm of venue faults: 20% 5xx, 10% lost answers (longer than the client timeout),
    5% connection resets, 429 bursts with Retry-After; and a key the venue refuses."""
    row = Row("faults")
    deadline_ms, retry_after_s, latency_ms = 15_000, 1, 20.0
    storm = {"error_rate": 0.2, "timeout_rate": 0.1, "reset_rate": 0.05, "timeout_s": 2.0,
             "retry_after": retry_after_s, "latency_ms": latency_ms}  # fmt: skip
    with Harness(
        redis_url=redis_url,
        account_options={"timeout_s": 1.0},
        latency_ms=latency_ms,
        worker_config={"concurrency": 32},
    ) as h:
        orders = h.seed(size.orders)
        denied_rids = _deny(h, size.denied)
        h.admin.faults(**storm)
        say(f"faults: {len(orders)} cancels + {size.denied} with a refused key; 5xx 20%, lost "
            f"answers 10% (2 s > client timeout 1 s), resets 5%, 429 bursts (Retry-After "
            f"{retry_after_s}s); deadline {deadline_ms} ms")  # fmt: skip
        bursts = _Bursts(h, storm)
        bursts.start()
        since = time.time() * 1000
        for order in orders:
            h.submit(order, deadline_ms=deadline_ms)
        for rid in denied_rids:
            h.rids.append(rid)
        finals = h.wait_finals(h.rids, deadline_ms / 1000 + 30, "faults")
        bursts.stop.set()
        bursts.join()
        h.admin.faults()
        h.count(row, h.rids, finals)
        overrun = [int(f["latency_ms"]) - deadline_ms for f in finals.values() if f]
        row.violations["final after its deadline"] = sum(1 for ms in overrun if ms > 0)
        row.notes.append(f"latest final {max(overrun, default=0)} ms from its deadline")
        log = h.admin.log(since)
        refusals = sum(1 for e in log if e["account"] == DENIED and e["status"] == 401)
        row.violations["permanent error retried"] = max(0, refusals - len(denied_rids))
        wrong_code = sum(
            1 for r in denied_rids if (f := finals.get(r)) and f.get("error_code") != "auth"
        )
        row.violations["refused key not reported as auth"] = wrong_code
        row.violations["call inside a Retry-After"] = _inside_retry_after(log, retry_after_s * 1000)
        faults_seen = sum(1 for e in log if e["fault"])
        row.notes.append(f"{faults_seen} faults injected, {bursts.count} 429 bursts")
        row.recovery_s = None
    return row


def _deny(h: Harness, n: int) -> list[str]:
    """Requests on an account whose key the venue refuses (401): a permanent error."""
    rids = []
    for i in range(n):
        rids.append(
            h.client.submit(
                {"kind": "cancel", "account": DENIED, "order_id": f"denied-{i}"}
            ).request_id
        )
    return rids


class _Bursts(threading.Thread):
    """Every 1.5 s, the venue answers the next 3 calls with 429 and Retry-After."""

    def __init__(self, h: Harness, storm: dict[str, Any]):
        super().__init__(name="drill-429", daemon=True)
        self.h, self.storm, self.count = h, storm, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.5):
            self.h.admin.faults(**self.storm, burst_429=3, routes=[])
            self.count += 1


def _inside_retry_after(log: list[dict[str, Any]], hold_ms: float) -> int:
    """ZebPay calls from an IP that arrived while a Retry-After it was given still ran.

    Calls already on their way when the 429 was answered (arriving within 100 ms) are not
    counted."""
    grace_ms = 100.0
    zebpay = [e for e in log if e["venue"] == "zebpay"]
    holds = [(e["ip"], e["answered_ms"]) for e in zebpay if e["status"] == 429]
    return sum(
        1
        for e in zebpay
        if any(
            e["ip"] == ip and answered + grace_ms < e["t_ms"] < answered + hold_ms
            for ip, answered in holds
        )
    )


def outage(size: Size, redis_url: str | None) -> Row:
    """Restart Redis (appendonly) mid-run; then start a worker while Redis is down. Always on an
    embedded Redis (`redis_url` is not used): the drill stops and starts the server."""
    row = Row("redis")
    with Harness(redis_url=None, appendonly=True) as h:
        assert h.stack.embedded is not None
        orders = h.seed(size.orders)
        say(f"redis: {len(orders)} cancels over {size.seconds:g}s; Redis restarted mid-run")
        producer = h.submit_over(orders, size.seconds)
        waiters = [_Waiter(h, len(orders), i, 8) for i in range(8)]
        for w in waiters:
            w.start()
        time.sleep(size.seconds / 3)
        h.stack.embedded.shut_down()
        say(f"  Redis shut down with {len(h.rids)} requests sent; down for 2 s")
        time.sleep(2.0)
        h.stack.embedded.start()
        up_ms = now_ms()
        say("  Redis is back")
        producer.join()
        finals = h.wait_finals(h.rids, 120, "redis")
        for w in waiters:
            w.join(60)
        h.count(row, h.rids, finals)
        last = latest_final_ms(finals, h.rids)
        row.recovery_s = (last - up_ms) / 1000 if last else None
        missed = [rid for w in waiters for rid in w.missed]
        row.violations["producer waits that got no result"] = missed_waits(missed, finals)
        row.violations["orders left open at the venue"] = h.still_open(orders)
        row.notes.append(f"producers retried {h.send_retries} sends while Redis was down")
        _start_while_down(h, row)
    return row


class _Waiter(threading.Thread):
    """A producer waiting on results: Ticket.wait for every n-th request as it is sent."""

    def __init__(self, h: Harness, total: int, index: int, every: int):
        super().__init__(name="drill-waiter", daemon=True)
        self.h, self.total, self.index, self.every = h, total, index, every
        #: the requests whose wait got no result
        self.missed: list[str] = []
        self.end = time.monotonic() + 90

    def run(self) -> None:
        for i in range(self.index, self.total, self.every):
            while len(self.h.rids) <= i:  # not sent yet
                if time.monotonic() > self.end:
                    self.missed.append(f"unsent-{i}")
                    return
                time.sleep(0.01)
            left = max(0.0, self.end - time.monotonic())
            if self.h.client.store.wait_final(self.h.rids[i], left) is None:
                self.missed.append(self.h.rids[i])


def missed_waits(missed: Iterable[str], finals: Mapping[str, Event | None]) -> int:
    """Producer waits (`Ticket.wait`) that got no result though the request has its final
    (`missed`: the requests whose waits got none). One with no final is `lost`, counted there."""
    return sum(1 for rid in missed if finals.get(rid) is not None)


def _start_while_down(h: Harness, row: Row) -> None:
    """A worker started while Redis is unreachable says so in one line per try, and serves
    once Redis answers."""
    assert h.stack.embedded is not None
    log_path = h.stack.workdir / "worker.log"
    h.stack.stop_worker()
    h.stack.embedded.shut_down()
    offset = log_path.stat().st_size
    worker = h.stack.start_worker(wait=False)
    time.sleep(3.0)
    h.stack.embedded.start()
    h.stack.wait_ready(worker)
    said = log_path.read_bytes()[offset:].decode(errors="replace")
    lines = [ln for ln in said.splitlines() if "is unreachable" in ln]
    say(
        f"  worker started with Redis down: {len(lines)} line(s) like: {lines[0] if lines else '-'}"
    )
    row.violations["start with Redis down: no one-line message"] = 0 if lines else 1
    row.violations["start with Redis down: traceback"] = said.count("Traceback")
    orders = h.seed(5)
    rids = [h.submit(o) for o in orders]
    finals = h.wait_finals(rids, 30)
    row.violations["start with Redis down: cancels not served"] = sum(
        1 for f in finals.values() if f is None or f["status"] != "canceled"
    )


def shutdown(size: Size, redis_url: str | None) -> Row:
    """SIGTERM a worker while cancels are in flight: its requests finish or are handed back."""
    row = Row("shutdown")
    with Harness(redis_url=redis_url, workers=2, latency_ms=200.0) as h:
        orders = h.seed(size.orders)
        say(f"shutdown: {len(orders)} cancels over {size.seconds:g}s, 200 ms venue latency; "
            "SIGTERM one worker mid-run")  # fmt: skip
        producer = h.submit_over(orders, size.seconds)
        time.sleep(size.seconds / 3)
        victim = h.stack.workers[0]
        owned = owned_by(h, victim)
        term_ms = now_ms()
        h.stack.stop_worker(signal.SIGTERM, worker=victim)
        took = (now_ms() - term_ms) / 1000
        say(f"  SIGTERM worker group {victim.pid}: {len(owned)} requests running on it; "
            f"it exited {victim.returncode} after {took:.1f}s")  # fmt: skip
        row.violations["worker exit status not 0 after SIGTERM"] = int(victim.returncode != 0)
        h.stack.start_worker()
        producer.join()
        finals = h.wait_finals(h.rids, 120, "shutdown")
        h.count(row, h.rids, finals)
        last = latest_final_ms(finals, owned)
        row.recovery_s = (last - term_ms) / 1000 if last else took
        row.violations["orders left open at the venue"] = h.still_open(orders)
        row.notes.append(f"{len(owned)} running at SIGTERM; worker stopped in {took:.1f}s")
    return row


SCENARIOS = {"crash": crash, "faults": faults, "redis": outage, "shutdown": shutdown}
