"""Debian's `redis-server` 7 on a private port, for what the embedded Redis 6.2 cannot do (TLS,
ACL selectors): started and stopped by the test that needs it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

REDIS_SERVER = Path("/usr/bin/redis-server")


def has_redis7(*, tls: bool = False) -> bool:
    """The binary is here (and, with `tls`, built with TLS: only then do the tls-* directives
    exist in it)."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return False
    return not tls or b"tls-auth-clients" in REDIS_SERVER.read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis7(workdir: Path, args: list[str], probe: Callable[[], redis.Redis]) -> Iterator[None]:
    """Run `redis-server` with `args` (besides no persistence, its `dir` and log in `workdir`)
    until `probe()`'s client answers PING; stop it on the way out, whatever happened."""
    log = workdir / f"redis-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [str(REDIS_SERVER), *args, "--save", "", "--appendonly", "no", "--dir", str(workdir),
         "--logfile", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        client = probe()
        end = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > end:
                    pytest.fail(f"{REDIS_SERVER} did not start:\n{log.read_text()}")
                time.sleep(0.05)
        client.close()
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class SentinelGroup:
    """A primary, a replica and three sentinels on private ports (quorum 2)."""

    workdir: Path
    master: str
    ports: dict[str, int]  # primary, replica, sentinel1..3
    procs: dict[str, subprocess.Popen[bytes]]

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[f'sentinel{i}']}" for i in (1, 2, 3))
        return f"redis+sentinel://{hosts}/{self.master}/{db}"

    def primary_port(self) -> int:
        """The port the sentinels name as the primary now."""
        s = redis.Redis(port=self.ports["sentinel1"], decode_responses=True, socket_timeout=2)
        try:
            return int(s.sentinel_get_master_addr_by_name(self.master)[1])
        finally:
            s.close()

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.wait(10)


def _start(workdir: Path, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    log = str(workdir / f"{name}.log")
    return subprocess.Popen(
        [str(REDIS_SERVER), *args, "--dir", str(workdir), "--logfile", log],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout:g}s")
        time.sleep(0.1)


@contextmanager
def sentinel_group(workdir: Path, master: str = "oc-test") -> Iterator[SentinelGroup]:
    """Start it, wait until the sentinels agree on the primary and see the replica and each
    other; stop every process on the way out."""
    ports = {name: free_port() for name in ("primary", "replica", "sentinel1", "sentinel2",
                                             "sentinel3")}  # fmt: skip
    group = SentinelGroup(workdir, master, ports, {})
    plain = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    try:
        primary, replica = str(ports["primary"]), str(ports["replica"])
        group.procs["primary"] = _start(workdir, "primary", ["--port", primary, *plain])
        replicaof = ["--replicaof", "127.0.0.1", primary]
        group.procs["replica"] = _start(workdir, "replica", ["--port", replica, *plain, *replicaof])
        for i in (1, 2, 3):
            conf = workdir / f"sentinel{i}.conf"
            conf.write_text(
                f"port {ports[f'sentinel{i}']}\nbind 127.0.0.1\n"
                f"sentinel monitor {master} 127.0.0.1 {ports['primary']} 2\n"
                f"sentinel down-after-milliseconds {master} 1000\n"
                f"sentinel failover-timeout {master} 3000\n"
                f"sentinel parallel-syncs {master} 1\n"
            )
            group.procs[f"sentinel{i}"] = _start(workdir, f"sentinel{i}", [str(conf), "--sentinel"])

        def ready() -> bool:
            r = redis.Redis(port=ports["replica"], decode_responses=True, socket_timeout=2)
            try:  # synced: it acknowledges writes (WAIT)
                if r.info("replication").get("master_link_status") != "up":
                    return False
            finally:
                r.close()
            for i in (1, 2, 3):
                s = redis.Redis(port=ports[f"sentinel{i}"], decode_responses=True, socket_timeout=2)
                try:
                    info = s.sentinel_master(master)
                    if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                        return False
                finally:
                    s.close()
            return True

        _until("the replica synced, the sentinels seeing it and each other", ready, 60)
        yield group
    finally:
        for proc in group.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in group.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
