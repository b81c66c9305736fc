"""Settings: one TOML file plus `ORDERCANCEL_*` environment overrides, loaded once, frozen.

Secrets are written `env:NAME`, `file:/path` or as a literal, and are held in `Secret`, whose
`repr`/`str` never show the value. Every error names the account and the field (CONTRACT §2).
Venue-specific account fields are parsed by the venue itself (`Venue.parse_options`), found in
a `VenueCatalog` the caller hands in: this module knows no venue. `ordercancel.settings` loads
settings with the venue registry.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from ordercancel.errors import ConfigError
from ordercancel.state import sentinel

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CONFIG_FILE = "ordercancel.toml"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s\s*$")
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
COMMON_ACCOUNT_FIELDS = (
    "venue",
    "base_url",
    "rate_limit",
    "timeout_s",
    "allow_http",
    "allow_shared_key_file",
)
#: hosts an `http://` base_url may name without `allow_http` (this machine)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
#: every table of the config file and its keys (`accounts` holds one table per account)
TABLES: dict[str, tuple[str, ...]] = {
    "redis": ("url", "password", "wait_replicas", "wait_timeout_ms"),
    "ordercancel": ("prefix",),
    "results": ("maxlen",),
    "idempotency": ("retention_s",),
    "audit": ("retention_s",),
    "requests": (
        "default_deadline_ms",
        "max_deadline_ms",
        "max_pending_per_account",
        "max_entry_bytes",
        "max_batch_orders",
    ),
    "worker": ("concurrency", "urgent_concurrency", "processes", "lease_s", "log_format"),
    "accounts": (),
    "schedule": (),  # [[schedule]]: an array of tables (`ordercancel/schedule.py`)
}
#: routine nodes per worker: one per core, up to 4 (a Python process uses one core at most)
DEFAULT_PROCESSES = min(4, os.cpu_count() or 1)


class VenueSpec(Protocol):
    """What loading an account needs of its venue (a `Venue` class)."""

    @property
    def default_rate_limit(self) -> str: ...

    def parse_options(
        self, account: str, table: Mapping[str, Any], env: Mapping[str, str]
    ) -> Any: ...


class VenueCatalog(Protocol):
    """The venues an account may name (the registry, `ordercancel.venues`)."""

    def names(self) -> list[str]: ...

    def venue_class(self, name: str) -> VenueSpec:
        """KeyError when there is no such venue."""
        ...


@dataclass(frozen=True, repr=False, eq=False)
class Secret:
    """A secret value. Only `reveal()` gives it; everything else prints `****`."""

    _value: str
    source: str = "literal"

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source}, ****)"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # keep secrets out of pickles (e.g. Celery error payloads)
        raise TypeError("Secret cannot be pickled")


def resolve_secret(raw: object, *, account: str, field: str, env: Mapping[str, str]) -> Secret:
    """Resolve `env:NAME`, `file:/path` or a literal into a `Secret`."""
    if not isinstance(raw, str) or not raw:
        raise ConfigError("must be a non-empty string", account=account, field=field)
    if raw.startswith("env:"):
        name = raw[4:]
        value = env.get(name)
        if not value:
            raise ConfigError(
                f"environment variable {name} is not set", account=account, field=field
            )
        return Secret(value, f"env:{name}")
    if raw.startswith("file:"):
        path = raw[5:]
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read file {path}: {exc.strerror}", account=account, field=field
            ) from None
        if not value:
            raise ConfigError(f"file {path} is empty", account=account, field=field)
        return Secret(value, f"file:{path}")
    return Secret(raw, "literal")


@dataclass(frozen=True)
class RateLimit:
    """`N` requests per `seconds`, written `"N/Ts"`."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str, *, account: str) -> RateLimit:
        m = _RATE.match(text) if isinstance(text, str) else None
        if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
            raise ConfigError('must look like "180/60s"', account=account, field="rate_limit")
        return cls(int(m.group(1)), float(m.group(2)))

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s"


@dataclass(frozen=True, kw_only=True)
class AccountConfig:
    """One named set of credentials on one venue."""

    name: str
    venue: str
    base_url: str
    rate_limit: RateLimit
    timeout_s: float
    #: The venue's own parsed options (credentials among them), see `Venue.parse_options`.
    options: Any

    def masked(self) -> dict[str, str]:
        """A printable view: every secret shows its source only."""
        out = {
            "venue": self.venue,
            "base_url": self.base_url,
            "rate_limit": str(self.rate_limit),
            "timeout_s": f"{self.timeout_s:g}",
        }
        for key, value in vars(self.options).items():
            if isinstance(value, Secret):
                out[key] = repr(value)
            elif isinstance(value, str | int | float | tuple):
                out[key] = str(value)
        return out

    def secret_values(self) -> list[str]:
        """Every secret's value, and a multi-line one (a PEM key) also line by line: what a
        scrubber must never let through."""
        out = []
        for value in vars(self.options).values():
            if isinstance(value, Secret):
                out.append(value.reveal())
                out += [line for line in value.reveal().splitlines() if len(line) >= 16]
        return out


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a client or a worker needs, resolved and validated."""

    redis_url: str | None = None
    #: replicas a write that would lose a request or a halt waits for (WAIT), and how long at
    #: most; default 1 with a Sentinel URL, 0 (no WAIT) otherwise (docs/guarantees.md)
    wait_replicas: int = 0
    wait_timeout_ms: int = 500
    prefix: str = "ordercancel"
    results_maxlen: int = 1_000_000
    idempotency_retention_s: int = 24 * 3600
    #: the audit stream keeps every entry at least this long (kills, resumes, dead-man, ...)
    audit_retention_s: int = 90 * 86_400
    default_deadline_ms: int = 30_000
    max_deadline_ms: int = 300_000
    #: backpressure: beyond this many requests begun and not final, new ones are `overloaded`
    max_pending_per_account: int = 10_000
    #: the largest intake entry read as a request (bytes of its `request` field)
    max_entry_bytes: int = 65_536
    #: the most order ids one cancel_batch may name
    max_batch_orders: int = 1_000
    worker_concurrency: int = 8
    urgent_concurrency: int = 4
    #: routine nodes `ordercancel worker` runs: one Python process each, so one core each
    routine_processes: int = DEFAULT_PROCESSES
    #: A worker node that has not renewed its lease this long is dead: its requests run again.
    lease_s: int = 10
    #: worker log lines: Celery's text, or one JSON object per line
    log_format: str = "text"
    accounts: Mapping[str, AccountConfig] = field(default_factory=dict)
    #: the `[[schedule]]` tables as read (`ordercancel.schedule.parse` checks them)
    schedule: tuple[Any, ...] = ()
    #: False for a producer: the accounts (and their secrets) were not read
    accounts_read: bool = True
    #: the config file read, if any
    source: str | None = None
    #: where `redis_url` came from: the environment, the config file, or "not set"
    redis_source: str = "not set"
    #: the config file's `[redis] url` carries a password (used: no env override)
    redis_password_in_file: bool = False

    @property
    def broker_redis_url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    def warnings(self) -> list[str]:
        """What `config check` warns about: secrets written in the file itself."""
        out = [
            f"accounts.{name}.{key} is written in the config file: prefer env:NAME or file:/path"
            for name, account in self.accounts.items()
            for key, value in vars(account.options).items()
            if isinstance(value, Secret) and value.source == "literal"
        ]
        if self.redis_password_in_file:
            out.append(
                "redis.url carries its password in the config file: prefer "
                '[redis] password = "env:NAME" (or ORDERCANCEL_REDIS_URL)'
            )
        return out + _tls_warnings(self.redis_url or "")

    def secret_values(self) -> list[str]:
        """Every configured secret's value: the accounts', the Redis and sentinel passwords."""
        out = [v for account in self.accounts.values() for v in account.secret_values()]
        parts = urlsplit(self.broker_redis_url)
        query = parse_qs(parts.query, True)
        passwords = [parts.password, *query.get("sentinel_password", [])]
        passwords += query.get("ssl_password", [])
        return out + sorted({v for p in passwords if p for v in (p, unquote(p))})

    @classmethod
    def from_env(
        cls, venues: VenueCatalog | None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Load `ORDERCANCEL_CONFIG` (or ./ordercancel.toml when present) and env overrides."""
        env = os.environ if env is None else env
        path = env.get("ORDERCANCEL_CONFIG")
        if not path and Path(DEFAULT_CONFIG_FILE).is_file():
            path = DEFAULT_CONFIG_FILE
        data: dict[str, Any] = {}
        if path:
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except OSError as exc:
                raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, venues, env=env, source=path)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        venues: VenueCatalog | None,
        *,
        env: Mapping[str, str],
        source: str | None = None,
    ) -> Settings:
        """`venues` None: a producer's settings, the accounts not read (their secrets are the
        worker's); every table and key is still checked."""
        check_keys(data, TABLES, what="table")
        for name, keys in TABLES.items():
            if name not in ("accounts", "schedule"):
                check_keys(_table(data, name), keys, section=name)
        redis = _table(data, "redis")
        url = env.get("ORDERCANCEL_REDIS_URL") or redis.get("url")
        if env.get("ORDERCANCEL_REDIS_URL"):
            redis_source = "environment variable ORDERCANCEL_REDIS_URL"
        elif url is not None:
            redis_source = f"[redis] url in {source or 'the config'}"
        else:
            redis_source = "not set"
        if url is not None:
            _check_redis_url(url)
            if "password" in redis:
                url = _with_password(url, redis["password"], env)
        prefix = env.get("ORDERCANCEL_PREFIX") or _table(data, "ordercancel").get(
            "prefix", "ordercancel"
        )
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", prefix):
            raise ConfigError("must be 1..64 chars of [A-Za-z0-9._-]", field="ordercancel.prefix")
        results, idem, requests, worker = (
            _table(data, name) for name in ("results", "idempotency", "requests", "worker")
        )
        default_deadline = _int(requests, "default_deadline_ms", 30_000, 100, 3_600_000, "requests")
        max_deadline = _int(
            requests, "max_deadline_ms", 300_000, default_deadline, 3_600_000, "requests"
        )
        accounts_table = _table(data, "accounts")
        accounts = (
            {}
            if venues is None
            else {name: _account(name, t, env, venues) for name, t in accounts_table.items()}
        )
        schedule = data.get("schedule", [])
        if not isinstance(schedule, list):
            raise ConfigError("must be an array of tables: [[schedule]]", field="schedule")
        ha = url is not None and sentinel.is_sentinel(str(url))
        return cls(
            redis_url=url,
            wait_replicas=_int(redis, "wait_replicas", 1 if ha else 0, 0, 16, "redis"),
            # below the socket timeout (10 s): a WAIT cut by it would be sent again
            wait_timeout_ms=_int(redis, "wait_timeout_ms", 500, 1, 5_000, "redis"),
            prefix=prefix,
            results_maxlen=_int(results, "maxlen", 1_000_000, 1_000, 10**9, "results"),
            idempotency_retention_s=_int(
                idem, "retention_s", 86_400, 60, 30 * 86_400, "idempotency"
            ),
            audit_retention_s=_int(
                _table(data, "audit"), "retention_s", 90 * 86_400, 3600, 10 * 365 * 86_400, "audit"
            ),
            default_deadline_ms=default_deadline,
            max_deadline_ms=max_deadline,
            max_pending_per_account=_int(
                requests, "max_pending_per_account", 10_000, 1, 10**7, "requests"
            ),
            max_entry_bytes=_int(requests, "max_entry_bytes", 65_536, 1024, 2**24, "requests"),
            max_batch_orders=_int(requests, "max_batch_orders", 1_000, 1, 100_000, "requests"),
            worker_concurrency=_int(worker, "concurrency", 8, 1, 256, "worker"),
            urgent_concurrency=_int(worker, "urgent_concurrency", 4, 1, 256, "worker"),
            routine_processes=_int(worker, "processes", DEFAULT_PROCESSES, 1, 64, "worker"),
            lease_s=_int(worker, "lease_s", 10, 2, 300, "worker"),
            log_format=_log_format(env.get("ORDERCANCEL_LOG_FORMAT") or worker.get("log_format")),
            accounts=accounts,
            accounts_read=venues is not None,
            schedule=tuple(schedule),
            source=source,
            redis_source=redis_source,
            redis_password_in_file=redis_source.startswith("[redis]")
            and bool(urlsplit(str(redis.get("url"))).password),
        )

    def account(self, name: str) -> AccountConfig | None:
        """The account called `name`; a venue name resolves when exactly one account uses it."""
        if name in self.accounts:
            return self.accounts[name]
        matches = [a for a in self.accounts.values() if a.venue == name]
        return matches[0] if len(matches) == 1 else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ " (did you mean X?)" when a known word is close to `word`, else ""."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_keys(
    table: Mapping[str, Any],
    known: Iterable[str],
    *,
    section: str | None = None,
    account: str | None = None,
    what: str = "key",
) -> None:
    """Every key of `table` is known, else a `ConfigError` naming it, with a did-you-mean."""
    known = tuple(known)
    for key in table:
        if key not in known:
            field = f"{section}.{key}" if section else key
            hint = did_you_mean(key, known)
            raise ConfigError(f"unknown {what}{hint}", account=account, field=field)


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError("must be a table", field=name)
    return value


def _log_format(value: object) -> str:
    if value is None:
        return "text"
    if value not in ("text", "json"):
        raise ConfigError('must be "text" or "json"', field="worker.log_format")
    return str(value)


def _int(table: Mapping[str, Any], key: str, default: int, lo: int, hi: int, section: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"must be an integer in {lo}..{hi}", field=f"{section}.{key}")
    return value


def _check_redis_url(url: object) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is not None and isinstance(url, str) and parts.scheme == sentinel.SCHEME:
        try:
            sentinel.parse(url)
        except ValueError as exc:
            raise ConfigError(str(exc), field="redis.url") from None
        return
    if parts is None or parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "must be a redis://, rediss://, unix:// or redis+sentinel:// URL", field="redis.url"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError("has no host", field="redis.url")
    if parts.scheme == "unix" and not parts.path:
        raise ConfigError("has no socket path", field="redis.url")
    # the spellings redis-py knows (kombu, the broker's, knows more): one for both
    reqs = parse_qs(parts.query, True).get("ssl_cert_reqs", [])
    if set(reqs) - {"none", "optional", "required"}:
        raise ConfigError("ssl_cert_reqs must be none, optional or required", field="redis.url")


def _tls_warnings(url: str) -> list[str]:
    """A `rediss://` or Sentinel URL that turns certificate verification (or its host name
    check) off."""
    parts = urlsplit(url)
    if parts.scheme not in ("rediss", sentinel.SCHEME):
        return []
    query = {k: v[0] for k, v in parse_qs(parts.query, True).items()}  # redis-py: the first
    if query.get("ssl_cert_reqs") == "none":
        return [
            "redis.url turns TLS certificate verification off (ssl_cert_reqs=none): any server "
            "can pose as Redis; name its CA instead (ssl_ca_certs=/path/to/ca.pem)"
        ]
    if query.get("ssl_check_hostname", "").upper() in ("0", "F", "FALSE", "N", "NO"):
        return [
            "redis.url turns the TLS host name check off (ssl_check_hostname=false): any "
            "certificate its CA signed is taken for Redis"
        ]
    return []


def check_base_url(url: object, *, account: str) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError("must be an http:// or https:// URL", account=account, field="base_url")
    if not urlsplit(url).hostname:
        raise ConfigError("has no host", account=account, field="base_url")
    return url.rstrip("/")


def _account(name: str, table: Any, env: Mapping[str, str], venues: VenueCatalog) -> AccountConfig:
    if not _ACCOUNT_NAME.match(name):
        raise ConfigError("account names are 1..64 chars of [A-Za-z0-9._-]", account=name)
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table", account=name)
    venue_name = table.get("venue")
    if not isinstance(venue_name, str) or not venue_name:
        raise ConfigError("is required", account=name, field="venue")
    try:
        venue = venues.venue_class(venue_name)
    except KeyError:
        raise ConfigError(
            f"unknown venue {venue_name!r} (known: {', '.join(venues.names())})",
            account=name,
            field="venue",
        ) from None
    if "base_url" not in table:
        raise ConfigError("is required", account=name, field="base_url")
    base_url = check_base_url(table["base_url"], account=name)
    rate = RateLimit.parse(table.get("rate_limit", venue.default_rate_limit), account=name)
    timeout = table.get("timeout_s", 5.0)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 0.05 <= timeout <= 120
    ):
        raise ConfigError(
            "must be a number of seconds in 0.05..120", account=name, field="timeout_s"
        )
    allow_http, shared = (_flag(table, key, name) for key in COMMON_ACCOUNT_FIELDS[-2:])
    host = urlsplit(base_url).hostname or ""
    if base_url.startswith("http://") and not (allow_http or host in _LOOPBACK or _loop(host)):
        raise ConfigError(
            "http:// to another machine sends signed requests in the clear: use https://, or "
            "set allow_http = true (e.g. for a simulator on another host)",
            account=name,
            field="base_url",
        )
    venue_table = {k: v for k, v in table.items() if k not in COMMON_ACCOUNT_FIELDS}
    options = venue.parse_options(name, venue_table, env)
    if not shared:
        _check_secret_files(name, options)
    return AccountConfig(
        name=name,
        venue=venue_name,
        base_url=base_url,
        rate_limit=rate,
        timeout_s=float(timeout),
        options=options,
    )


def _flag(table: Mapping[str, Any], key: str, account: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError("must be true or false", account=account, field=key)
    return value


def _loop(host: str) -> bool:
    return host.startswith("127.")


def _check_secret_files(account: str, options: Any) -> None:
    """A secret read from a file that group or others may read is refused, as ssh refuses such
    a private key (`allow_shared_key_file = true` lets it be)."""
    for key, value in vars(options).items():
        if isinstance(value, Secret) and value.source.startswith("file:"):
            path = value.source[5:]
            mode = os.stat(path).st_mode & 0o777
            if mode & 0o077:
                raise ConfigError(
                    f"file {path} is readable by group or others (mode {mode:04o}): "
                    f"chmod 600 it, or set allow_shared_key_file = true",
                    account=account,
                    field=key,
                )


def _with_password(url: str, raw: object, env: Mapping[str, str]) -> str:
    """`url` with the password of `[redis] password` (`env:NAME`, `file:/path` or literal)."""
    parts = urlsplit(url)
    if parts.password:
        raise ConfigError(
            "the url has a password already: keep one of them", field="redis.password"
        )
    try:
        secret = resolve_secret(raw, account="", field="password", env=env)
    except ConfigError as exc:
        raise ConfigError(str(exc).partition(": ")[2], field="redis.password") from None
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(secret.reveal(), safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def safe_url(url: str) -> str:
    """A URL with its passwords masked (the server's, the sentinels', a key file's)."""
    parts = urlsplit(url)
    masked = parts._replace(
        netloc=parts.netloc.replace(f":{parts.password}@", ":****@")
        if parts.password
        else parts.netloc,
        query=re.sub(r"((?:^|&)(?:sentinel_password|ssl_password)=)[^&]*", r"\1****", parts.query),
    )
    return url if masked == parts else urlunsplit(masked)  # (unix:/// would lose a slash)
