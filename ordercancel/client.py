"""The Python API (CONTRACT §6): submit requests, wait for their final events, read the stream."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis

from ordercancel.config import Settings
from ordercancel.engine import report
from ordercancel.errors import ConfigError, DeadmanNotArmed, WaitTimeout
from ordercancel.events import Event
from ordercancel.outcomes import Kind
from ordercancel.request import known_id, new_request_id
from ordercancel.scope import Scope
from ordercancel.settings import load_settings
from ordercancel.state import sentinel
from ordercancel.state.keys import Keys
from ordercancel.state.store import REDIS_DOWN, SOCKET_TIMEOUT_S, Store, redis_problem

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("ordercancel")


def _redis_errors(method: F) -> F:
    """Redis trouble leaves the API as one `RedisUnavailable` line, not a redis-py traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            client = self if isinstance(self, Client) else self.client
            raise redis_problem(exc, client.settings.broker_redis_url) from None

    return wrapper  # type: ignore[return-value]


class Ticket:
    """A submitted request. `wait()` returns its final event."""

    def __init__(self, client: Client, request_id: str):
        self.client = client
        self.request_id = request_id

    @_redis_errors
    def wait(self, timeout: float = 30.0) -> Event:
        """Block until the final event exists; raise `WaitTimeout` after `timeout` seconds."""
        event = self.client.store.wait_final(self.request_id, timeout)
        if event is None:
            raise WaitTimeout(f"no final event for request {self.request_id} within {timeout:g}s")
        return event

    def status(self) -> Event | None:
        return self.client.status(self.request_id)

    def __repr__(self) -> str:
        return f"Ticket({self.request_id!r})"


class Client:
    """Submits requests to the workers through Redis and reads their outcomes."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        prefix: str | None = None,
        requested_by: str | None = None,
        timeout: float = SOCKET_TIMEOUT_S,
    ):
        """`settings`, or just the Redis `url` and `prefix`: a producer needs nothing else (no
        venue secret; the worker checks account names). `requested_by`: who asks (CONTRACT §4),
        put on every request this client sends that names no one. `timeout`: the longest one
        Redis call may take, connecting included."""
        if settings is None:
            tables = {"redis": {"url": url}, "ordercancel": {"prefix": prefix or "ordercancel"}}
            settings = Settings.from_mapping(tables, None, env={})
        if settings.redis_url is None:
            raise ConfigError(
                "not set: give a config file with [redis] url, ORDERCANCEL_REDIS_URL, or url=",
                field="redis.url",
            )
        self.settings = settings
        self.requested_by = requested_by
        self.keys = Keys(settings.prefix)
        self.store = Store.from_settings(settings, timeout)
        self.timeout = timeout

    @classmethod
    def from_env(cls) -> Client:
        """Redis URL and prefix from `ORDERCANCEL_CONFIG` and the `ORDERCANCEL_*` variables
        (the accounts are not read: a producer holds no venue secret)."""
        return cls(load_settings(accounts=False))

    @_redis_errors
    def submit(self, request: dict[str, Any]) -> Ticket:
        """Send one request (CONTRACT §4) through the intake stream, like any producer: one
        XADD, the only write a producer makes. Validation happens in the worker: an invalid
        request still gets its final event (`rejected`)."""
        message = {k: v for k, v in request.items() if v is not None}
        if self.requested_by:
            message.setdefault("requested_by", self.requested_by)
        message.setdefault("request_id", new_request_id())
        fields: Any = {"request": json.dumps(message)}
        entry_id = self._xadd_retrying(fields, str(message["request_id"]))
        return Ticket(self, known_id({**message, "_entry_id": str(entry_id)}) or str(entry_id))

    def _xadd_retrying(self, fields: Any, request_id: str) -> Any:
        """XADD the request, and WAIT (on the same connection) until a replica has it when
        one is configured; while Redis is away (restarting, or failing over to a replica) try
        again for up to `timeout` seconds. An entry that landed before its answer was lost is
        then sent twice under one request id: the workers drop the second."""
        end = time.monotonic() + self.timeout
        while True:
            before = sentinel.primary_of(self.store.redis)
            try:
                if self.store.wait_replicas:
                    with self.store.redis.pipeline(transaction=False) as pipe:
                        pipe.xadd(self.keys.requests, fields)
                        replies, short = self.store.execute_replicated(
                            pipe, f"request {request_id}"
                        )
                else:  # a pipeline costs more Python than the XADD's own round trip
                    replies, short = [self.store.redis.xadd(self.keys.requests, fields)], False
            except REDIS_DOWN:
                if time.monotonic() + 0.2 > end:
                    raise
                time.sleep(0.2)
                continue
            # on no replica: a primary being demoted (a manual failover) takes writes that the
            # new one never gets; once the sentinels name the new one, send it there too
            if time.monotonic() < end and self.store.moved_after(short, before):
                log.warning("request %s: the primary changed under it; sent again", request_id)
                continue
            return replies[0]

    def cancel(
        self,
        account: str,
        order_id: str,
        *,
        symbol: str | None = None,
        idempotency_key: str | None = None,
        deadline_ms: int | None = None,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> Ticket:
        """Cancel one order."""
        return self.submit(
            {
                "kind": Kind.CANCEL.value,
                "account": account,
                "order_id": order_id,
                "symbol": symbol,
                "idempotency_key": idempotency_key,
                "deadline_ms": deadline_ms,
                "reason": reason,
                "request_id": request_id,
            }
        )

    def cancel_batch(
        self,
        account: str,
        order_ids: list[str],
        *,
        symbol: str,
        idempotency_key: str | None = None,
        deadline_ms: int | None = None,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> Ticket:
        """Cancel several orders of one symbol; each gets its own final event (`parent_id`)."""
        return self.submit(
            {
                "kind": Kind.CANCEL_BATCH.value,
                "account": account,
                "order_ids": list(order_ids),
                "symbol": symbol,
                "idempotency_key": idempotency_key,
                "deadline_ms": deadline_ms,
                "reason": reason,
                "request_id": request_id,
            }
        )

    def cancel_all(
        self,
        account: str,
        symbol: str | None = None,
        *,
        symbols: list[str] | None = None,
        side: str | None = None,
        client_order_id_prefix: str | None = None,
        placed_before_ms: int | None = None,
        idempotency_key: str | None = None,
        deadline_ms: int | None = None,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> Ticket:
        """Cancel every open order of the account in scope (a symbol or `symbols`, a `side`,
        a `client_order_id_prefix`, orders `placed_before_ms`), verified by listing."""
        return self.submit(
            {
                "kind": Kind.CANCEL_ALL.value,
                "account": account,
                "symbol": symbol,
                **_selectors(symbols, side, client_order_id_prefix, placed_before_ms),
                "idempotency_key": idempotency_key,
                "deadline_ms": deadline_ms,
                "reason": reason,
                "request_id": request_id,
            }
        )

    def kill(
        self,
        reason: str | None = None,
        accounts: list[str] | None = None,
        *,
        symbols: list[str] | None = None,
        side: str | None = None,
        client_order_id_prefix: str | None = None,
        placed_before_ms: int | None = None,
        deadline_ms: int | None = None,
        request_id: str | None = None,
    ) -> Ticket:
        """The kill switch: a halt for its scope, then cancel_all on every configured account
        (or the listed ones) in parallel, on the urgent queue, within the same selectors as
        `cancel_all`. A kill while one runs over a scope that holds this one's joins it."""
        return self.submit(
            {
                "kind": Kind.KILL.value,
                "reason": reason,
                "accounts": list(accounts) if accounts else None,
                **_selectors(symbols, side, client_order_id_prefix, placed_before_ms),
                "deadline_ms": deadline_ms,
                "request_id": request_id,
            }
        )

    @_redis_errors
    def halts(
        self,
        account: str | None = None,
        *,
        symbol: str | None = None,
        side: str | None = None,
        client_order_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The halts raised by kills and not resumed, newest first, that may stop an order
        placed on `account` (`symbol`, `side`, with `client_order_id`): a halt of strategy A's
        prefix does not stop an order whose client id is strategy B's, but does stop one whose
        client id is not given (it may be A's). With nothing given: every halt. Give the account
        by its name (a venue name is not resolved here). Each: `reason`, `since_ms`,
        `request_id`, `requested_by`, and its scope (`accounts`, `symbols` as lists, empty for
        all; `side`, `client_order_id_prefix`, None for any)."""
        halts = sorted(
            (_halt(h) for h in self.store.halts().values()),
            key=lambda h: -int(h.get("since_ms") or 0),
        )
        where = (account, symbol, side, client_order_id)
        if all(v is None for v in where):
            return halts
        return [h for h in halts if Scope.from_fields(h).holds(*where)]

    def halted(
        self,
        account: str | None = None,
        *,
        symbol: str | None = None,
        side: str | None = None,
        client_order_id: str | None = None,
    ) -> dict[str, Any] | None:
        """The newest of `halts(...)`, or None: order-placing components check it before
        sending an order."""
        halts = self.halts(account, symbol=symbol, side=side, client_order_id=client_order_id)
        return halts[0] if halts else None

    @_redis_errors
    def resume(self, reason: str = "", request_id: str | None = None) -> bool:
        """Clear every halt, or only the one the kill `request_id` raised; True when one was
        cleared. The resume, its `reason`, who asked (`requested_by`) and the scopes cleared go
        to the audit stream with it (the CLI requires a reason)."""
        return bool(self.store.resume(reason, self.requested_by or "", request_id))

    @_redis_errors
    def arm_deadman(
        self, timeout_s: float, accounts: list[str] | None = None, *, confirm_s: float = 5.0
    ) -> None:
        """Arm the dead-man switch: without `heartbeat()` for `timeout_s`, a kill fires (reason
        `deadman`) on `accounts`, or on every account. A name the workers did not announce
        (`<prefix>:accounts`) is refused here: a switch that would fire a rejected kill
        protects nothing. The arming is an entry the workers apply (and audit): this waits up
        to `confirm_s` for one to do so, and raises `DeadmanNotArmed` if none did (it arms
        when a worker runs)."""
        if not 0.1 <= timeout_s <= 86_400:
            raise ValueError("timeout_s must be in 0.1..86400")
        known = set(self.settings.accounts)
        if accounts and not self.settings.accounts_read:  # the names the workers announced
            known = {str(a) for a in self.store.redis.smembers(self.keys.accounts)}
        for account in accounts or []:
            if not account or "," in account or (known and account not in known):
                raise ValueError(f"account {account!r} is not configured on the workers")
        sent_ms = self.store.deadman_send(
            {
                "op": "arm",
                "timeout_ms": str(int(timeout_s * 1000)),
                "accounts": ",".join(accounts or []),
                "requested_by": self.requested_by or "",
            }
        )
        end = time.monotonic() + confirm_s
        while time.monotonic() < end:
            if int((self.store.deadman_state() or {}).get("armed_ms", 0)) >= sent_ms:
                return
            time.sleep(0.05)
        if confirm_s > 0:
            raise DeadmanNotArmed(
                f"the arming was sent, but no worker applied it within {confirm_s:g}s: "
                "workers watch the switch, and it arms when one runs"
            )

    @_redis_errors
    def heartbeat(self) -> bool:
        """Push the dead-man deadline out by its timeout, from now (Redis's clock); False when
        it is not armed (never armed, disarmed, or already fired)."""
        with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.keys.deadman_beats, {"op": "beat"})
            pipe.hget(self.keys.deadman, "state")
            _, state = pipe.execute()
        return bool(state == "armed")

    @_redis_errors
    def disarm(self) -> bool:
        """Disarm the dead-man switch (an operator's act: a producer's role cannot); True when
        it was armed, then said in the audit stream."""
        return self.store.disarm(self.requested_by or "")

    @_redis_errors
    def audit(self, since_ms: int = 0) -> list[dict[str, str]]:
        """The audit stream from `since_ms`: kills, resumes, dead-man arm/fire/disarm and
        cancel_alls, each with `event`, `ts`, `requested_by`, `reason`, scope, `request_id`."""
        return self.store.audit_entries(since_ms)

    @_redis_errors
    def report(self, request_id: str) -> dict[str, Any] | None:
        """The report of a `cancel_batch`, `cancel_all` or `kill`: `final` (its final event,
        whose `detail` is the report) and `children` (every child's final still retained, in
        order), or None before the request has a final."""
        final = self.store.finals([request_id])[request_id]
        if final is None:
            return None
        ids = report.child_ids(final)
        children = [e for e in self.store.finals(ids).values() if e is not None]
        return {"final": final, "children": children}

    @_redis_errors
    def deadman(self) -> dict[str, str] | None:
        """The switch's state: `state` (armed / fired / sent), `timeout_ms`, `expires_ms`, ..."""
        return self.store.deadman_state()

    @_redis_errors
    def status(self, request_id: str) -> Event | None:
        """The request's final event, else its latest event, else None."""
        return self.store.status(request_id)

    def events(
        self, follow: bool = False, *, start: str = "-", block_ms: int = 1000
    ) -> Iterator[Event]:
        """Result-stream events from `start` (oldest by default); with `follow`, wait for more."""
        last = "0-0" if start == "-" else start  # XREAD returns entries after `last`
        while True:
            reply = self._read(last, block_ms if follow else None)
            entries = reply[0][1] if reply else []
            for entry_id, fields in entries:
                last = entry_id
                yield fields
            if len(entries) < 500 and not follow:
                return

    @_redis_errors
    def _read(self, last: str, block_ms: int | None) -> Any:
        return self.store.redis.xread({self.keys.results: last}, count=500, block=block_ms)

    @_redis_errors
    def tail_start(self, count: int) -> str:
        """The stream id after which the last `count` events follow."""
        redis: Any = self.store.redis
        entries = redis.xrevrange(self.keys.results, count=count + 1)
        return str(entries[-1][0]) if len(entries) > count else "-"

    def close(self) -> None:
        self.store.redis.close()


def _selectors(
    symbols: list[str] | None,
    side: str | None,
    client_order_id_prefix: str | None,
    placed_before_ms: int | None,
) -> dict[str, Any]:
    """A mass cancel's scope fields (CONTRACT §4); None is left out by `submit`."""
    return {
        "symbols": list(symbols) if symbols else None,
        "side": side,
        "client_order_id_prefix": client_order_id_prefix,
        "placed_before_ms": placed_before_ms,
    }


def _halt(record: dict[str, str]) -> dict[str, Any]:
    """A halt record as `halts()` gives it: lists as lists, an absent selector None."""
    halt: dict[str, Any] = dict(record)
    for key in ("accounts", "symbols"):
        halt[key] = json.loads(halt[key]) if halt.get(key) else []
    for key in ("side", "client_order_id_prefix"):
        halt[key] = halt.get(key) or None
    halt.pop("placed_before_ms", None)
    return halt
