"""Debian's `redis-server` 7 on a private port, for what the embedded Redis 6.2 cannot do (TLS,
ACL selectors): started and stopped by the test that needs it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
