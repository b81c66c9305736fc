"""Redis Sentinel: `redis+sentinel://[user:password@]host:port[,host:port...]/MASTER[/DB]`.

The user and password are the primary's (as in `redis://`); the sentinels' own come as the
query options `sentinel_username` / `sentinel_password`. The `ssl_*` options of `rediss://`
(with `ssl=true`) turn TLS on towards the primary and the sentinels alike.

Our connections are redis-py's `Sentinel(...).master_for(MASTER)`: a connection asks the
sentinels where the primary is whenever it connects, so after a failover the next command
(each of our loops retries) reaches the new one; a demoted primary's `READONLY` comes out as a
`ConnectionError` ("The previous master is now a slave"), a reconnect. The Celery broker uses
kombu's `sentinel://` transport with the same hosts, credentials and `master_name`
(`broker_params`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379
#: the sentinels answer fast or not at all: one that does not is skipped for the next
SENTINEL_TIMEOUT_S = 0.5
#: after a WAIT no replica answered: how long to ask the sentinels whether the primary moved
MOVED_CHECK_S = 1.5
TRUE = ("1", "t", "true", "y", "yes", "on")
SSL_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_password",
               "ssl_check_hostname", "ssl_ca_path")  # fmt: skip


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme == SCHEME


@dataclass(frozen=True)
class Target:
    hosts: list[tuple[str, int]]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    ssl: dict[str, Any] = field(default_factory=dict)

    def sentinel_kwargs(self) -> dict[str, Any]:
        """The options of a connection to a sentinel (for redis-py and kombu alike)."""
        auth = {"username": self.sentinel_username, "password": self.sentinel_password}
        return {"socket_timeout": SENTINEL_TIMEOUT_S,
                "socket_connect_timeout": SENTINEL_TIMEOUT_S,
                **{k: v for k, v in auth.items() if v}, **self.ssl}  # fmt: skip


def parse(url: str) -> Target:
    """The parts of a sentinel URL; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URL")
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, sep, port = item.strip().rpartition(":")
        host = (host if sep else port).strip("[]")
        if not host:
            raise ValueError("a sentinel host is empty")
        if sep and not port.isdigit():
            raise ValueError(f"sentinel {item!r}: the port is not a number")
        hosts.append((host, int(port) if sep else DEFAULT_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /MASTER or /MASTER/DB (the name sentinels know)")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"the database {path[1]!r} is not a number")
    query = {k: v[0] for k, v in parse_qs(parts.query, True).items()}
    unknown = set(query) - {*SSL_OPTIONS, "ssl", "sentinel_username", "sentinel_password"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
    tls = query.get("ssl", "").lower() in TRUE or any(k in query for k in SSL_OPTIONS)
    ssl: dict[str, Any] = {k: v for k, v in query.items() if k in SSL_OPTIONS}
    if "ssl_check_hostname" in ssl:
        ssl["ssl_check_hostname"] = ssl["ssl_check_hostname"].lower() in TRUE
    if tls:
        ssl = {"ssl": True, "ssl_cert_reqs": "required", **ssl}
    return Target(
        hosts=hosts,
        master=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sentinel_username=query.get("sentinel_username"),
        sentinel_password=query.get("sentinel_password"),
        ssl=ssl,
    )


def client(url: str, kwargs: dict[str, Any]) -> redis.Redis:
    """A client of the current primary, with `kwargs` (socket timeouts, decoding, ...) for its
    connections."""
    target = parse(url)
    sentinel = Sentinel(target.hosts, sentinel_kwargs=target.sentinel_kwargs(), **kwargs)
    return sentinel.master_for(
        target.master,
        db=target.db,
        username=target.username,
        password=target.password,
        **target.ssl,
    )


def broker_params(url: str) -> tuple[str, dict[str, Any]]:
    """kombu's `sentinel://` broker URL (one per sentinel, `;`-joined, each with the primary's
    credentials and database) and the transport options it needs."""
    target = parse(url)
    auth = ""
    if target.username or target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in target.ssl.items() if k != "ssl")
    urls = [f"sentinel://{auth}{f'[{host}]' if ':' in host else host}:{port}/{target.db}"
            + (f"?{query}" if query else "") for host, port in target.hosts]  # fmt: skip
    options = {"master_name": target.master, "sentinel_kwargs": target.sentinel_kwargs()}
    return ";".join(urls), options


def primary_of(client: redis.Redis) -> tuple[str, int] | None:
    """The primary a Sentinel-managed client last connected to (None for any other client)."""
    address = getattr(client.connection_pool, "master_address", None)
    return (str(address[0]), int(address[1])) if address else None


def moved(client: redis.Redis, before: tuple[str, int], within_s: float) -> bool:
    """Whether the sentinels name another primary than `before`, asking for up to `within_s`
    (they name the new one a moment after promoting it); if so, the client's idle connections
    are dropped, so that its next command reaches the new one."""
    pool: Any = client.connection_pool
    end = time.monotonic() + within_s
    while True:
        try:
            address = pool.get_master_address()
            if (str(address[0]), int(address[1])) != before:
                return True
        except redis.RedisError:  # no sentinel answers, or none knows a primary yet
            pass
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)
