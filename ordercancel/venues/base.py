"""What a venue must provide, and the plain types it speaks in.

A venue is a folder under `ordercancel/venues/` holding its HTTP calls, its signing (a
`requests.auth.AuthBase`), and its error mapping onto the shared error tree
(`ordercancel.errors`). The request path calls only the methods below; it never knows which
venue it serves.

=====================  ========  =======================================================
method                 required  contract
=====================  ========  =======================================================
``parse_options``      yes       venue fields of an ``[accounts.X]`` table -> frozen options
``check_order_ref``    yes       reject a malformed order id / symbol before any call
``check_symbol``       yes       reject a malformed symbol before any call
``cancel``             yes       one order -> `CancelReply`, or raise a `VenueError`
``get_order``          yes       read one order back -> `OrderState`, or raise
``resync_clock``       yes       refresh the clock offset from the venue's server time
``list_open``          yes       every open order of one symbol (all pages)
``cancel_many``        no        several orders of one symbol in one call (`max_batch` > 0)
``cancel_all``         no        the venue's cancel-all: per symbol when
                                 `cancel_all_by_symbol`, else account-wide only
``list_symbols``       no        the venue's symbols, for an account-wide cancel on a
                                 per-symbol venue whose account lists none
=====================  ========  =======================================================

Without `cancel_many`, a batch fans out to `cancel` calls; without `cancel_all`, a cancel-all
lists the open orders and cancels them one by one.

Every method gets a `Call`: the time it may take, the request it is made for (sent as the
`X-Request-Id` header, so the venue's own logs name the request), and the `Gate` of the request
(`engine/job.py`): before each HTTP call it waits for the shared rate budget, checks the node's
lease and counts the attempt; it hears of every 429. A venue never sees the budget itself.

A venue folder imports this module, `wire`, the error tree (`ordercancel.errors`), the outcome
vocabulary (`ordercancel.outcomes`) and its own files; nothing else of ours.

Errors: `RetryableError` (429, 5xx, timeouts, resets) leaves the outcome unsettled and the
caller retries inside the request's deadline; `ClockSkew` asks for `resync_clock` and one more
try; `UnexpectedAnswer` (anything the venue's docs do not define) settles nothing and is never
read as success; any other `VenueError` is final.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from ordercancel import config
from ordercancel.config import AccountConfig
from ordercancel.errors import VenueTimeout, VenueUnavailable
from ordercancel.observe.metrics import VENUE_CALLS
from ordercancel.outcomes import Status
from ordercancel.venues import wire

#: for a venue's options: its secrets, read as `env:NAME`, `file:/path` or a literal
Secret = config.Secret
resolve_secret = config.resolve_secret


def check_fields(table: Mapping[str, Any], fields: Sequence[str], *, account: str) -> None:
    """Every field of a venue's account table is one of `fields`, else a `ConfigError` naming
    it, with a did-you-mean over the venue's fields and the common ones."""
    config.check_keys(
        table, (*fields, *config.COMMON_ACCOUNT_FIELDS), account=account, what="field"
    )


#: connect timeout cap: a connect that takes longer is a dead route, retry on a fresh one
_CONNECT_TIMEOUT_S = 2.0
#: the header naming the request a call is made for
REQUEST_ID_HEADER = "X-Request-Id"


class Gate(Protocol):
    """What a request's venue calls pass through (`engine/job.py`)."""

    def enter(self, call: Call) -> float:
        """Before each HTTP call of `call`: wait for leave to send it (rate budget, lease), or
        raise to stop it; returns the seconds the HTTP call may take."""
        ...

    def rate_limited(self, retry_after: float | None) -> None:
        """The venue answered 429, with Retry-After in seconds when it said one."""
        ...


@dataclass(frozen=True)
class Call:
    """One venue operation made for a request.

    `timeout`: seconds it may take; `request_id`: whose it is (empty: nobody's, e.g. a probe);
    `gate`: what each HTTP call it sends passes through (None: unmetered, e.g. a probe);
    `start_by_ms`: the latest an HTTP call may start (waiting for budget past it is pointless).
    """

    timeout: float
    request_id: str = ""
    gate: Gate | None = None
    start_by_ms: int | None = None


@dataclass(frozen=True)
class OrderRef:
    """An order as the venue addresses it; a listing also says what a scope selects by (None
    where the venue did not say): `side` (`buy` / `sell`), `client_order_id` (the client's own
    id, on venues whose orders carry one) and `created_ms` (the venue's creation time)."""

    order_id: str
    symbol: str | None = None
    side: str | None = field(default=None, compare=False)
    client_order_id: str | None = field(default=None, compare=False)
    created_ms: int | None = field(default=None, compare=False)


class Phase(enum.Enum):
    """Where an order is, as read back from the venue."""

    OPEN = "open"
    CANCELED = "canceled"
    FILLED = "filled"
    CLOSED = "closed"  # terminal for another reason (rejected, expired)
    NOT_FOUND = "not_found"

    @property
    def final_status(self) -> Status | None:
        """The cancel outcome this phase settles, or None while the order is open."""
        return {
            Phase.CANCELED: Status.CANCELED,
            Phase.FILLED: Status.ALREADY_CLOSED,
            Phase.CLOSED: Status.ALREADY_CLOSED,
            Phase.NOT_FOUND: Status.NOT_FOUND,
        }.get(self)


@dataclass(frozen=True)
class CancelReply:
    """A venue's answer to a cancel.

    `status` is set when the answer settles the outcome. `acknowledged` means the venue took
    the instruction without saying what became of it: the caller reads the order back.
    """

    status: Status | None
    http_status: int | None = None
    venue_status: str | None = None
    detail: Mapping[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is None


@dataclass(frozen=True)
class BatchReply:
    """A batch cancel's answer: the ids the venue took (each read back or settled later); any
    other id of the batch it did not take."""

    accepted: tuple[str, ...]
    http_status: int | None = None


@dataclass(frozen=True)
class CancelAllReply:
    """A cancel-all's answer: the orders the venue names as cancelled (or being cancelled);
    verification lists the scope again either way."""

    cancelled: tuple[OrderRef, ...]
    http_status: int | None = None


@dataclass(frozen=True)
class OrderState:
    phase: Phase
    http_status: int | None = None
    venue_status: str | None = None


class Venue(ABC):
    """One account's connection to one venue. Thread-safe: one HTTP session per thread."""

    name: ClassVar[str]
    #: Used when the account sets no `rate_limit` (the venue's published limit).
    default_rate_limit: ClassVar[str]
    #: Orders per `cancel_many` call; 0 when the venue has no batch cancel.
    max_batch: ClassVar[int] = 0
    #: None: no cancel-all endpoint; True: one symbol per call; False: account-wide only.
    cancel_all_by_symbol: ClassVar[bool | None] = None
    #: whether its orders carry the client's own id (a `client_order_id_prefix` scope)
    client_order_ids: ClassVar[bool] = False
    #: what the venue's rate limit applies to: "ip" (every account via one host) or "account"
    rate_scope: ClassVar[str] = "account"
    #: the symbol `probe` lists when the account names none and the venue lists none
    probe_symbol: ClassVar[str] = "BTCUSDT"
    #: request headers that carry a credential or a signature: never in a Sentry event
    secret_headers: ClassVar[tuple[str, ...]] = ()
    #: the module of the venue's simulator (`ordercancel.sim`), for tests and dev tools; a
    #: worker never imports it
    simulator: ClassVar[str | None] = None

    def __init__(self, account: AccountConfig):
        self.account = account
        self.options = account.options
        self._local = threading.local()
        #: venue clock minus local clock, in ms; shared by this account's threads
        self.clock_offset_ms = 0
        #: whether `clock_offset_ms` was read from the venue in this process
        self.clock_synced = False

    @classmethod
    def budget_scope(cls, account: AccountConfig) -> str:
        """Who shares the account's rate budget: every account of the venue reached at the same
        hostname (a limit per client IP), or the account alone."""
        if cls.rate_scope == "ip":
            return f"{cls.name}@{urlsplit(account.base_url).hostname}"
        return f"{cls.name}:{account.name}"

    @classmethod
    @abstractmethod
    def parse_options(cls, account: str, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
        """Validate the venue's own account fields; raise `ConfigError` naming the field."""

    @abstractmethod
    def check_order_ref(self, ref: OrderRef) -> None:
        """Raise `RequestError` when `ref` cannot name an order on this venue."""

    @abstractmethod
    def check_symbol(self, symbol: str) -> None:
        """Raise `RequestError` when `symbol` cannot be a symbol of this venue."""

    @abstractmethod
    def cancel(self, ref: OrderRef, call: Call) -> CancelReply:
        """Cancel one order."""

    @abstractmethod
    def get_order(self, ref: OrderRef, call: Call) -> OrderState:
        """Read one order back."""

    @abstractmethod
    def server_time(self, call: Call) -> int:
        """The venue's clock, ms since the epoch."""

    def resync_clock(self, call: Call) -> None:
        """Set `clock_offset_ms`: the venue's time minus the local midpoint of the call."""
        sent = time.time() * 1000
        server_ms = self.server_time(call)
        received = time.time() * 1000
        self.clock_offset_ms = int(server_ms - (sent + received) / 2)
        self.clock_synced = True

    def now_ms(self) -> int:
        """The venue's clock as we last synced it, in ms since the epoch."""
        return int(time.time() * 1000) + self.clock_offset_ms

    @abstractmethod
    def list_open(self, symbol: str, call: Call) -> list[OrderRef]:
        """Every open order of `symbol`, following the venue's pagination."""

    def cancel_many(self, symbol: str, refs: Sequence[OrderRef], call: Call) -> BatchReply:
        """Cancel up to `max_batch` orders of one symbol in one call (optional)."""
        raise NotImplementedError

    def cancel_all(self, symbol: str | None, call: Call) -> CancelAllReply:
        """The venue's cancel-all (optional): `symbol` per `cancel_all_by_symbol`."""
        raise NotImplementedError

    def list_symbols(self, call: Call) -> list[str]:
        """The venue's tradable symbols (optional)."""
        raise NotImplementedError

    def probe(self, call: Call) -> str:
        """What `config check --probe` does: read the server time, then one signed read-only
        call (the open orders of one symbol), placing and cancelling nothing; a summary."""
        self.resync_clock(call)
        symbols = self.symbols()
        if not symbols:
            try:
                symbols = tuple(self.list_symbols(call))
            except NotImplementedError:
                symbols = ()
        symbol = symbols[0] if symbols else self.probe_symbol
        orders = self.list_open(symbol, call)
        return f"clock offset {self.clock_offset_ms} ms, {len(orders)} open order(s) on {symbol}"

    def symbols(self) -> tuple[str, ...]:
        """The symbols an account-wide cancel covers, as configured (may be empty)."""
        return tuple(getattr(self.options, "symbols", ()) or ())

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session: kept-alive connections, no hidden retries, TLS verified."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.verify = True  # never configurable
            session.proxies = get_environ_proxies(self.account.base_url)
            self._local.session = session
        return session

    def send(self, method: str, path: str, call: Call, **kwargs: Any) -> requests.Response:
        """One HTTP call, with transport failures mapped onto the error tree.

        The prepared request goes straight to the session's connection adapter: no redirects
        followed, no cookies kept, the environment's proxies read once per thread (most of
        `Session.request`'s CPU time, for nothing a venue call uses). Messages name the
        failure's type only: request URLs and headers stay out of errors.
        """
        url = self.account.base_url + path
        timeout = call.gate.enter(call) if call.gate is not None else call.timeout
        session = self.session
        if call.request_id:
            kwargs["headers"] = {**kwargs.get("headers", {}), REQUEST_ID_HEADER: call.request_id}
        try:
            prepared = _prepare(method, url, **kwargs)
            resp = session.get_adapter(url).send(
                prepared,
                timeout=(min(timeout, _CONNECT_TIMEOUT_S), timeout),
                verify=True,  # never configurable
                proxies=session.proxies,
            )
        except requests.ConnectTimeout:
            VENUE_CALLS.labels(self.name, "unavailable").inc()
            raise VenueUnavailable(f"{method} {path}: connect timeout") from None
        except requests.Timeout:
            VENUE_CALLS.labels(self.name, "timeout").inc()
            raise VenueTimeout(f"{method} {path}: no answer within {timeout:.2f}s") from None
        except requests.ConnectionError as exc:
            VENUE_CALLS.labels(self.name, "unavailable").inc()
            cause = type(exc.__context__ or exc).__name__
            raise VenueUnavailable(f"{method} {path}: connection failed ({cause})") from None
        VENUE_CALLS.labels(self.name, str(resp.status_code)).inc()
        if resp.status_code == 429 and call.gate is not None:
            call.gate.rate_limited(retry_after(resp.headers))
        return resp


def body_of(resp: requests.Response) -> Any:
    """An answer's JSON, or the start of its text when it is not JSON. The bytes are parsed
    as they are (JSON is UTF-8): `Response.json` decodes them to text first."""
    try:
        return json.loads(resp.content)
    except ValueError:
        return resp.text[:200]


def _prepare(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    auth: AuthBase | None = None,
) -> requests.PreparedRequest:
    """The request as sent: what `requests.Request.prepare` makes of these arguments, minus
    its URL re-parsing, cookie jar and hooks (a sixth of a cancel's CPU time). The body is
    compact JSON; `auth` signs last."""
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = f"{url}?{urlencode(params, doseq=True)}" if params else url
    prepared.headers = CaseInsensitiveDict(headers or {})
    prepared.body = None
    if json is not None:
        prepared.body = wire.compact_json(json)
        prepared.headers["Content-Type"] = "application/json"
        prepared.headers["Content-Length"] = str(len(prepared.body))
    elif method not in ("GET", "HEAD"):
        prepared.headers["Content-Length"] = "0"
    prepared.hooks = {"response": []}
    return auth(prepared) if auth is not None else prepared


def retry_after(headers: Mapping[str, str]) -> float | None:
    """An answer's Retry-After in seconds, None when absent or unreadable (the HTTP-date form
    is not used by our venues)."""
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
