"""A whole local stack: Redis (embedded unless given), the venue simulator and a worker.

`ordercancel demo`, `ordercancel up` and the integration tests all start it this way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ordercancel.devtools.embedded import EmbeddedRedis
from ordercancel.errors import OrderCancelError
from ordercancel.settings import load_settings
from ordercancel.sim import SimServer, make_server, simulator, simulators
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.keys import Keys
from ordercancel.state.store import BLOCK_SLICE_S, connect


class StackError(OrderCancelError):
    """A local stack's part did not start."""


def sim_accounts(
    sim_url: str, *, rate_limits: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Accounts for the simulator with fresh credentials: `<venue>-main` for every venue that
    has a simulator, with all its symbols; `rate_limits`: per venue, instead of its default."""
    accounts = {}
    for venue, module in simulators().items():
        table = module.demo_account(sim_url)
        if rate_limits and venue in rate_limits:
            table["rate_limit"] = rate_limits[venue]
        accounts[f"{venue}-main"] = table
    return accounts


def symbols(venue: str) -> tuple[str, ...]:
    """The symbols the venue's simulator lists."""
    return tuple(simulator(venue).SYMBOLS)


def toml(data: Mapping[str, Any]) -> str:
    """Just enough TOML for our config: tables of scalars and lists of strings."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)  # valid as a TOML basic string

    lines: list[str] = []

    def table(name: str, body: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
        if scalars:
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {value(v)}" for k, v in scalars.items())
            lines.append("")
        for k, v in body.items():
            if isinstance(v, Mapping):
                table(f"{name}.{k}", v)

    for name, body in data.items():
        table(name, body)
    return "\n".join(lines)


class Stack:
    """Start with `with Stack(...) as stack:`; `stack.env` is what a child process needs."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        prefix: str = "ordercancel",
        accounts: Mapping[str, Mapping[str, Any]]
        | Callable[[str], Mapping[str, Any]]
        | None = None,
        sim: bool = True,
        worker: bool = True,
        extra_config: Mapping[str, Any] | None = None,
        sim_options: Mapping[str, Any] | None = None,
        quiet: bool = True,
        appendonly: bool = False,
        env: Mapping[str, str] | None = None,
        worker_args: Sequence[str] = (),
    ):
        self.workdir = Path(tempfile.mkdtemp(prefix="oc-stack-"))
        #: keep `workdir` at `stop` (set when the worker failed to start: its log is there)
        self.keep = False
        self._redis_url = redis_url
        self.prefix = prefix
        self._accounts = accounts
        self._want_sim, self._want_worker, self.quiet = sim, worker, quiet
        self._extra = dict(extra_config or {})
        self._sim_options = dict(sim_options or {})
        self._appendonly = appendonly
        self._env = dict(env or {})
        self._worker_args = list(worker_args)
        self.embedded: EmbeddedRedis | None = None
        self.sim: SimServer | None = None
        #: worker process groups (`ordercancel worker`: a supervisor and its nodes)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.config_path = self.workdir / "ordercancel.toml"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Stack:
        if self._redis_url is None:
            self.embedded = EmbeddedRedis(
                str(self.workdir / "redis"), appendonly=self._appendonly
            ).start()
        if self._want_sim:
            self.sim = make_server(**self._sim_options)
            self.sim.serve_in_thread()
        accounts = self._accounts if self._accounts is not None else sim_accounts
        self.write_config(accounts(self.sim_url) if callable(accounts) else accounts)
        if self.sim is not None:
            admin = SimAdmin(self.sim_url)
            for account in self.settings.accounts.values():
                admin.register_account(account)
        if self._want_worker:
            self.start_worker()
        return self

    def write_config(self, accounts: Mapping[str, Mapping[str, Any]]) -> None:
        config = {
            "redis": {"url": self.redis_url},
            "ordercancel": {"prefix": self.prefix},
            **self._extra,
            "accounts": accounts,
        }
        self.config_path.write_text(toml(config))
        self.settings = load_settings(self.env)

    @property
    def redis_url(self) -> str:
        if self.embedded is not None:
            return self.embedded.url
        assert self._redis_url is not None
        return self._redis_url

    @property
    def sim_url(self) -> str:
        return self.sim.url if self.sim is not None else ""

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}
        env["ORDERCANCEL_CONFIG"] = str(self.config_path)
        return {**env, **self._env}

    @property
    def worker(self) -> subprocess.Popen[bytes] | None:
        """The most recently started worker process group."""
        return self.workers[-1] if self.workers else None

    def start_worker(self, timeout: float = 60.0, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start `ordercancel worker` (an urgent node, `[worker] processes` routine nodes); with
        `wait`, return once all consume."""
        if wait:
            client = connect(self.redis_url)
            client.delete(Keys(self.prefix).workers_ready)
            client.close()
        command = [sys.executable, "-m", "ordercancel", "worker", "--loglevel", "INFO"]
        with open(self.workdir / "worker.log", "ab") as log:  # the child keeps its own copy
            worker = subprocess.Popen(
                [*command, *self._worker_args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker, timeout)
        return worker

    def wait_ready(self, worker: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Wait until the worker's nodes (urgent and routine) announce that they consume."""
        keys, client = Keys(self.prefix), connect(self.redis_url)
        try:
            end, ready = time.monotonic() + timeout, 0
            while ready < 1 + self.settings.routine_processes:
                if time.monotonic() > end or worker.poll() is not None:
                    self.keep = True  # for the log
                    raise StackError(
                        f"the worker did not start; its log: {self.workdir}/worker.log"
                    )
                ready += client.blpop([keys.workers_ready], timeout=BLOCK_SLICE_S) is not None
        finally:
            client.close()

    def stop_worker(
        self,
        sig: int = signal.SIGTERM,
        timeout: float = 30.0,
        worker: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """Signal a worker's whole process group (every worker when none is named); wait for it."""
        for proc in [worker] if worker else list(self.workers):
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            self.workers.remove(proc)

    def drop_keys(self, under: str = "") -> None:
        """Delete every key under our prefix (and `under`): leaves a shared Redis as we found it."""
        client = connect(self.redis_url)
        try:
            for key in client.scan_iter(match=f"{self.prefix}:{under}*", count=1000):
                client.delete(key)
        finally:
            client.close()

    def stop(self) -> None:
        self.stop_worker()
        if self.sim is not None:
            self.sim.shutdown()
            self.sim.server_close()
        if self.embedded is not None:
            self.embedded.stop()
        if not self.keep:  # config (with secrets), logs, socket
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_forever(self) -> None:
        while self.worker is None or self.worker.poll() is None:
            time.sleep(0.5)
