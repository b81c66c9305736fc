"""What the throughput and latency benchmarks run on.

The simulator runs in a process of its own (in the benchmark's process it would share one GIL
with the producers and waiters being timed), with ZebPay's per-IP quota and our budgets raised
out of the way: these scenarios measure ordercancel, not the venue's quota (`kill` measures
the quota). Redis is the embedded one unless `ORDERCANCEL_REDIS_URL` names another; the worker
is `ordercancel worker`, as a user runs it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from ordercancel.devtools.procs import cpu_s, group_pids, rss_mb
from ordercancel.devtools.stack import Stack, sim_accounts
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.keys import Keys
from ordercancel.state.store import connect

ACCOUNT, SYMBOL = "zebpay-main", "BTCUSDT"
#: far above anything a 2-core machine reaches, so no budget or venue quota is ever in play
UNLIMITED = "100000000/60s"


class SimProcess:
    """`ordercancel sim` on a free port, in its own process."""

    def __init__(self, zebpay_limit: str = UNLIMITED):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ordercancel", "sim", "--port", "0",
             "--zebpay-limit", zebpay_limit],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the simulator did not start: {line.strip()!r}")
        self.url = line.rsplit(" ", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def bench_accounts(sim_url: str) -> dict[str, dict[str, Any]]:
    accounts = sim_accounts(sim_url, rate_limits={"ajaib": "1000000/1s"})
    accounts[ACCOUNT]["rate_limit"] = UNLIMITED
    return accounts


class Rig:
    """`with Rig(...) as rig:` a simulator process, Redis and a worker; `rig.stack`."""

    def __init__(self, redis_url: str | None, worker_config: Mapping[str, Any] | None = None):
        self.redis_url, self.worker_config = redis_url, dict(worker_config or {})
        self.prefix = f"ocbench-{secrets.token_hex(4)}"

    def __enter__(self) -> Rig:
        self.sim = SimProcess()
        try:
            self.stack = Stack(
                redis_url=self.redis_url,
                prefix=self.prefix,
                accounts=lambda _: bench_accounts(self.sim.url),
                sim=False,
                extra_config={"worker": self.worker_config} if self.worker_config else None,
            ).start()
        except BaseException:
            self.sim.stop()
            raise
        self.redis: Any = connect(self.stack.redis_url)
        self.keys = Keys(self.prefix)
        self.admin = SimAdmin(self.sim.url)
        for account in self.stack.settings.accounts.values():
            self.admin.register_account(account)
        return self

    def __exit__(self, *exc: object) -> None:
        self.redis.close()
        try:
            if self.redis_url is not None:  # a shared Redis: leave it as we found it
                self.stack.stop_worker()
                self.stack.drop_keys()
            self.stack.stop()
        finally:
            self.sim.stop()

    def seed(self, count: int) -> list[str]:
        """`count` open ZebPay orders; their ids."""
        ids: list[str] = []
        while len(ids) < count:
            n = min(5000, count - len(ids))
            ids += self.admin.seed("zebpay", ACCOUNT, [{"symbol": SYMBOL}] * n)
        return ids

    def worker_rss_mb(self) -> dict[str, float]:
        return worker_rss_mb(self.stack)

    def worker_cpu_s(self) -> float:
        return sum(cpu_s(pid) for pid in worker_pids(self.stack))


def worker_pids(stack: Stack) -> set[int]:
    return group_pids(stack.worker.pid) if stack.worker is not None else set()


def worker_rss_mb(stack: Stack) -> dict[str, float]:
    """The worker's resident memory: the whole process group, and its largest process."""
    sizes = [rss_mb(pid) for pid in worker_pids(stack)]
    return {"total": round(sum(sizes), 1), "largest": round(max(sizes, default=0.0), 1)}
