"""Redis-side steps of a request, each one atomic (a Lua script) and one round trip.

`begin` claims the idempotency key and publishes `accepted`; `emit` publishes progress;
`finish` publishes the one final event; `wait_final` blocks until a final exists.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import redis
from redis._parsers.base import BaseParser

from ordercancel.config import Settings, safe_url
from ordercancel.errors import Fenced, RedisUnavailable
from ordercancel.events import Event
from ordercancel.state import halts, sentinel
from ordercancel.state.keys import INTAKE_GROUP, Keys

log = logging.getLogger("ordercancel")


class NoReplicas(redis.ResponseError, redis.ConnectionError):
    """`NOREPLICAS`: a primary under `min-replicas-to-write` has no replica in time (one
    restarting, or right after a failover): Redis is away for writes, not an answer."""


# redis-py names its errors by their first word; this one it leaves a plain ResponseError
BaseParser.EXCEPTION_CLASSES.setdefault("NOREPLICAS", NoReplicas)

#: Redis is away (restarting, failing over, unreachable): worth waiting for, not an outcome.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
#: Not an outcome: the request is left to run again (Redis away, or this node's lease lost).
ABANDON = (Fenced, *REDIS_DOWN)
#: Socket timeout of every Redis connection; blocking commands wait in slices shorter than this.
SOCKET_TIMEOUT_S = 10.0
#: after a WAIT that timed out short of its replicas, writes are not waited on for this long
WAIT_PAUSE_S = 10.0
BLOCK_SLICE_S = 5.0


def _options(url: str, timeout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": 15,
        "socket_timeout": timeout,
        "protocol": 2,  # reply shapes as documented for RESP2
        "socket_connect_timeout": min(5.0, timeout),
    }
    if urlsplit(url).scheme != "unix":
        kwargs["socket_keepalive"] = True
    return kwargs


def connect(url: str, timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for `redis://`, `rediss://` (TLS, verified), `unix://` or `redis+sentinel://`
    URLs; no call (a TLS handshake included) takes longer than `timeout` seconds."""
    if sentinel.is_sentinel(url):  # the primary the sentinels name, followed through failovers
        return sentinel.client(url, _options(url, timeout))
    return redis.Redis.from_url(url, **_options(url, timeout))


def connect_raw(url: str) -> redis.Redis:
    """Like `connect`, but replies stay bytes (for input that may not be UTF-8)."""
    if sentinel.is_sentinel(url):
        return sentinel.client(url, {**_options(url, SOCKET_TIMEOUT_S), "decode_responses": False})
    client = connect(url)
    kwargs = dict(client.connection_pool.connection_kwargs, decode_responses=False)
    client.close()
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=client.connection_pool.connection_class, **kwargs
        )
    )


def _script(client: redis.Redis, name: str) -> Any:
    return client.register_script(script_text(name))


#: scripts that call the rate budget's window functions (`lua/budget_lib.lua`), put first
BUDGET_LIB_USERS = frozenset({"begin", "budget"})


def script_text(name: str) -> str:
    """The text of `lua/<name>.lua`, after the window functions where it uses them."""
    folder = files("ordercancel.state.lua")
    text = folder.joinpath(f"{name}.lua").read_text()
    if name in BUDGET_LIB_USERS:
        return folder.joinpath("budget_lib.lua").read_text() + text
    return text


def _flat(event: Mapping[str, str]) -> list[str]:
    return [part for item in event.items() for part in item]


@dataclass(frozen=True)
class Begin:
    state: str  # new | rerun | done | conflict | replay | wait
    arg: str = ""


class Store:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        maxlen: int,
        retention_s: int,
        audit_retention_s: int = 90 * 86_400,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ):
        self.redis = client
        self.keys = keys
        self.maxlen = maxlen
        self.ttl = retention_s
        self.audit_retention_ms = audit_retention_s * 1000
        self.wait_replicas, self.wait_timeout_ms = wait_replicas, wait_timeout_ms
        self._wait_paused_until = 0.0
        #: called with every final event this store publishes (not one already published)
        self.on_final: Callable[[Event], None] | None = None
        self._begin = _script(client, "begin")
        self._emit = _script(client, "emit")
        self._finish = _script(client, "finish")
        self._release = _script(client, "release")
        self._deadman = _script(client, "deadman")
        self._dispatch = _script(client, "dispatch")
        self._beat = _script(client, "beat")

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float = SOCKET_TIMEOUT_S) -> Store:
        return cls(
            connect(settings.broker_redis_url, timeout),
            Keys(settings.prefix),
            maxlen=settings.results_maxlen,
            retention_s=settings.idempotency_retention_s,
            audit_retention_s=settings.audit_retention_s,
            wait_replicas=settings.wait_replicas,
            # a WAIT longer than the socket's timeout would be cut, and its writes sent again
            wait_timeout_ms=min(settings.wait_timeout_ms, int(timeout * 500)),
        )

    def wait_in(self, pipe: Any) -> bool:
        """Queue a WAIT for `wait_replicas` replicas (at most `wait_timeout_ms`) at the end of
        `pipe`, after the writes whose loss in a failover would lose a request or a halt: WAIT
        counts the writes of its own connection, so it must travel with them. False when none
        is due (none configured, or paused after one fell short)."""
        if not self.wait_replicas or time.monotonic() < self._wait_paused_until:
            return False
        pipe.wait(self.wait_replicas, self.wait_timeout_ms)
        return True

    def waited(self, acked: int, what: str) -> None:
        """After a WAIT: fewer replicas than wanted (none connected, e.g. right after a
        failover) leaves the write on the primary alone; then no write waits for
        `WAIT_PAUSE_S` (waiting out the timeout on every write would stall the request path)."""
        if acked < self.wait_replicas:
            self._wait_paused_until = time.monotonic() + WAIT_PAUSE_S
            log.warning("%s: on %d of %d replica(s) after %d ms; not waiting for %d s",
                        what, acked, self.wait_replicas, self.wait_timeout_ms,
                        WAIT_PAUSE_S)  # fmt: skip

    def execute_replicated(self, pipe: Any, what: str) -> tuple[list[Any], bool | None]:
        """Run `pipe`, its writes followed by a WAIT when one is due (`wait_in`, `waited`);
        the replies of its own commands, and whether the writes may be on the primary alone:
        True when a WAIT fell short, None when none was made while paused after one that did
        (False: on a replica, or no replica wanted)."""
        waits = self.wait_in(pipe)
        replies: list[Any] = pipe.execute()
        if not waits:
            return replies, (None if self.wait_replicas else False)
        acked = int(replies.pop())
        self.waited(acked, what)
        return replies, acked < self.wait_replicas

    def moved_after(self, short: bool | None, before: tuple[str, int] | None) -> bool:
        """After a write that may be on the primary alone (`short`): whether the sentinels now
        name another primary than `before` (the one the write was sent to), asking for up to
        `sentinel.MOVED_CHECK_S` after a WAIT that fell short, once while WAIT is paused."""
        if short is False or before is None:
            return False
        return sentinel.moved(self.redis, before, sentinel.MOVED_CHECK_S if short else 0.0)

    def _keys(self, request_id: str, account: str) -> list[str]:
        return [
            self.keys.final(request_id),
            self.keys.last(request_id),
            self.keys.results,
            self.keys.pending(account),
        ]

    def _finish_keys(self, request_id: str, account: str, idem: str | None) -> list[str]:
        k = self.keys
        ks = [*self._keys(request_id, account), k.owners, k.ledger, k.ledger_since]
        ks += [k.ledger_resends, k.ledger_due, k.nodes]
        return [*ks, idem] if idem else ks

    def _finish_args(self, event: Event, node: str) -> list[Any]:
        return [self.maxlen, self.ttl, event["request_id"], json.dumps(event), node, *_flat(event)]

    def begin(
        self,
        request_id: str,
        accepted: Event,
        *,
        idem: str | None,
        fingerprint: str,
        node: str,
        max_pending: int = 0,
        token: tuple[Sequence[str], Sequence[int]] | None = None,
    ) -> Begin:
        """Start the request (`lua/begin.lua`). With `token` (a budget's keys and its
        (window_ms, limit, routine limit), `Budget.token`), a new request also takes the rate
        token of its first call: `Begin.arg` is then "token"."""
        k = self.keys
        keys = [*self._keys(request_id, accepted["account"]), k.owners, k.nodes, k.nodes_grace]
        budget_keys, budget_args = token or ((), (0, 0, 0))
        args = [self.maxlen, self.ttl, request_id, fingerprint, max_pending, json.dumps(accepted),
                node, len(budget_keys), *budget_args, *_flat(accepted)]  # fmt: skip
        keys += budget_keys
        return Begin(*self._begin(keys=[*keys, idem] if idem else keys, args=args))

    def emit(self, event: Event) -> bool:
        rid = event["request_id"]
        return bool(
            self._emit(
                keys=self._keys(rid, event["account"]),
                args=[self.maxlen, self.ttl, json.dumps(event), *_flat(event)],
            )
        )

    def finish(self, event: Event, *, idem: str | None = None, node: str = "") -> bool:
        """Publish the final event; False when the request already had one. With `node`, only
        while that lease identity is live: `Fenced` once it was taken over (`lease.py`)."""
        rid = event["request_id"]
        new = self._finish(
            keys=self._finish_keys(rid, event["account"], idem), args=self._finish_args(event, node)
        )
        if new == -1:
            raise Fenced(f"final of {rid} refused: lease {node} was taken over")
        if new and self.on_final is not None:
            self.on_final(event)
        return bool(new)

    def finish_many(self, events: list[Event], *, node: str = "") -> int:
        """Publish many final events in one round trip; returns how many were new."""
        with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                self._finish(
                    keys=self._finish_keys(event["request_id"], event["account"], None),
                    args=self._finish_args(event, node),
                    client=pipe,
                )
            results = pipe.execute()
        if -1 in results:
            raise Fenced(f"finals refused: lease {node} was taken over")
        published = [e for e, new in zip(events, results, strict=True) if new]
        if self.on_final is not None:
            for event in published:
                self.on_final(event)
        return len(published)

    def dispatch(
        self,
        items: Sequence[tuple[str, Mapping[str, Any], int]],
        messages: Sequence[tuple[str, str]] = (),
        entries: Sequence[str] = (),
    ) -> tuple[bool, list[bool]]:
        """Put requests to send (request_id, message, due_ms) in the ledger: recovery sends each
        again should it get lost, and expires it at `due_ms` (its deadline) if no worker has
        begun it by then. When every one is new, in the same atomic step, push the broker
        `messages` ((queue key, message)) and acknowledge the intake `entries` they came from
        (`lua/dispatch.lua`): one round trip. Returns (whether that was done, [whether each
        request is new]); a request is not new where its id is already recorded for another
        intake entry: a duplicate, not to be sent."""
        queues = list(dict.fromkeys(queue for queue, _ in messages))
        keys = [self.keys.ledger, self.keys.ledger_since, self.keys.ledger_due]
        keys += [self.keys.requests, *queues]
        args: list[Any] = [INTAKE_GROUP, len(items), len(messages), len(entries)]
        for request_id, message, due_ms in items:
            args += [request_id, json.dumps(message), due_ms, message.get("_entry_id") or ""]
        for queue, payload in messages:
            args += [5 + queues.index(queue), payload]
        args += list(entries)
        if self.wait_replicas:  # on a replica before the intake goes on (`begin` waits too)
            with self.redis.pipeline(transaction=False) as pipe:
                self._dispatch(keys=keys, args=args, client=pipe)
                replies, _ = self.execute_replicated(pipe, f"{len(items)} ledger record(s)")
            reply = replies[0]
        else:
            reply = self._dispatch(keys=keys, args=args)
        return bool(reply[0]), [bool(flag) for flag in reply[1:]]

    def ack(self, entries: Sequence[str]) -> None:
        """Acknowledge intake entries (read in the intake's group) whose requests were sent."""
        self.redis.xack(self.keys.requests, INTAKE_GROUP, *entries)

    def beat(
        self,
        node: str,
        *,
        lease_ms: int,
        unowned_after_ms: int,
        queues: list[str],
        disown: list[str],
        limit: int = 500,
        expire_margin_ms: int = 0,
    ) -> tuple[bool, list[tuple[str, str, int, dict[str, Any]]]]:
        """Renew `node`'s lease; take the requests of dead nodes, and those lost on the way to a
        worker, to send again, and those past their deadline before any worker began them, to
        expire. Returns (intact: `node` was still live, nobody took its requests over;
        [("resend" | "expire", request_id, times sent again, message)]). With `limit` 0 the
        lease is only renewed."""
        k = self.keys
        reply: Any = self._beat(
            keys=[k.nodes, k.owners, k.ledger, k.ledger_since, k.ledger_resends, k.ledger_due,
                  k.nodes_beat, k.nodes_grace, *queues],
            args=[node, lease_ms, k.final_prefix, unowned_after_ms, limit, expire_margin_ms,
                  k.last_prefix, *disown],
        )  # fmt: skip
        orphans = [
            (str(reply[i]), str(reply[i + 1]), int(reply[i + 2]), json.loads(reply[i + 3]))
            for i in range(1, len(reply), 4)
        ]
        return bool(int(reply[0])), orphans

    def next_due_ms(self) -> int | None:
        """The earliest deadline of a request in the ledger."""
        first: Any = self.redis.zrange(self.keys.ledger_due, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    def wait_final(self, request_id: str, timeout: float) -> Event | None:
        """Block until the request's final event exists; None after `timeout` seconds. Only
        reads (XREAD on the request's final stream): a producer may wait without writing."""
        key = self.keys.final(request_id)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            block_ms = max(1, int(min(left, BLOCK_SLICE_S) * 1000))
            try:
                reply: Any = self.redis.xread({key: "0-0"}, count=1, block=block_ms)
            except REDIS_DOWN:  # e.g. restarting: keep waiting, within the timeout
                time.sleep(min(0.5, max(left, 0.0)))
                reply = None
            if reply:
                return _final_of(reply[0][1])
            if left <= BLOCK_SLICE_S:
                return None

    def finals(self, request_ids: list[str]) -> dict[str, Event | None]:
        """The final events of several requests (None where there is none), in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in request_ids:
                pipe.xrange(self.keys.final(rid), count=1)
            replies = pipe.execute()
        return {rid: _final_of(r) for rid, r in zip(request_ids, replies, strict=True)}

    def set_halt(self, key: str, record: Mapping[str, str]) -> None:
        """Raise the halt of one scope (`key`: `Scope.key()`), on a replica too when one is
        configured (WAIT). A later kill over the same scope replaces its record; a halt 0.1
        raised (its fields in the hash itself) becomes a field of its own first."""
        for _ in range(2):  # again on the new primary, when a demoted one took it (no replica)
            before = sentinel.primary_of(self.redis)
            raw: Any = self.redis.hgetall(self.keys.halt)
            with self.redis.pipeline(transaction=False) as pipe:
                if old := halts.legacy_fields(raw):  # only its own fields: not another's halt
                    legacy = {k: str(raw[k]) for k in old}
                    pipe.hdel(self.keys.halt, *old)
                    pipe.hset(self.keys.halt, halts.key_of(legacy), json.dumps(legacy))
                pipe.hset(self.keys.halt, key, json.dumps(dict(record), sort_keys=True))
                _, short = self.execute_replicated(pipe, f"the halt of {record.get('request_id')}")
            if not self.moved_after(short, before):
                return

    def halts(self) -> dict[str, dict[str, str]]:
        """Every halt raised and not resumed: scope key -> its record (`reason`, `since_ms`,
        `request_id`, `requested_by` and the scope's fields as strings)."""
        raw: Any = self.redis.hgetall(self.keys.halt)
        return halts.parse(raw)

    def resume(self, reason: str, requested_by: str, request_id: str | None = None) -> list[str]:
        """Clear every halt, or the one `request_id` raised, and say so in the audit stream
        (which halts it cleared, perhaps none), in one transaction that fails if a halt is
        raised meanwhile (then read again): a halt raised during a resume stays. The request
        ids of the halts cleared."""
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self.keys.halt)
                    raw: Any = pipe.hgetall(self.keys.halt)
                    gone = {k: h for k, h in halts.parse(raw).items()
                            if request_id in (None, h.get("request_id"))}  # fmt: skip
                    fields = [k for k in gone if k in raw]
                    if any(k not in raw for k in gone):  # the 0.1 halt is among them
                        fields += halts.legacy_fields(raw)
                    pipe.multi()
                    if fields:
                        pipe.hdel(self.keys.halt, *fields)
                    only = next(iter(gone.values())) if len(gone) == 1 else {}
                    ids = sorted({h.get("request_id", "") for h in gone.values()})
                    self._audit(
                        pipe,
                        "resume",
                        False,
                        reason=reason,
                        requested_by=requested_by,
                        request_id=",".join(ids),
                        cleared=halts.cleared(gone),
                        all="1" if request_id is None else "",
                        accounts=only.get("accounts", ""),
                        symbols=only.get("symbols", ""),
                    )
                    pipe.execute()
                    return ids
                except redis.WatchError:
                    continue

    def release_unrun(self, base: str, running: set[str]) -> int:
        """Drop the owner of every request owned by this process (`base`, any epoch) that it
        does not run: its final went to a demoted primary and is lost. Recovery then sends it
        again (`beat.lua`, step 3). How many."""
        owners: Any = self.redis.hgetall(self.keys.owners)
        lost = [rid for rid, node in owners.items()
                if node.rsplit(".", 1)[0] == base and rid not in running]  # fmt: skip
        if lost:
            self.redis.hdel(self.keys.owners, *lost)
        return len(lost)

    def swap_primary(self, address: str) -> str | None:
        """Record the primary's address; the one recorded before (None: none was)."""
        before = self.redis.set(self.keys.primary, address, get=True)
        return str(before) if before is not None else None

    def reassert_halt(self) -> bool:
        """Raise again every halt that the audit stream says stands and that is gone (lost in
        a failover): read back from the newest entry to the newest resume of every halt
        (`halts.history`); True when one was raised."""
        standing = halts.replay(halts.history(self._audit_newest_first()))
        held = self.halts()
        lost = {k: e for k, e in standing.items() if k not in held}
        for key, kill in lost.items():
            self.set_halt(key, halts.record_of(key, kill))
        return bool(lost)

    def _audit_newest_first(self) -> Iterator[dict[str, str]]:
        """The audit stream, newest entry first, read in pages as it is consumed."""
        top = "+"
        while True:
            page: Any = self.redis.xrevrange(self.keys.audit, max=top, count=1000)
            for _, entry in page:
                yield entry
            if len(page) < 1000:
                return
            top = "(" + page[-1][0]

    def audit(self, event: str, **fields: str) -> None:
        """Append to the audit stream (`Keys.audit`), trimming it to the retention (workers)."""
        self._audit(self.redis, event, True, **fields)

    def _audit(self, client: Any, event: str, trim: bool, **fields: str) -> None:
        """Append an entry; with `trim` (the workers, who hold `[audit] retention_s`), drop
        those older than the retention. An operator's entry trims nothing."""
        ts = int(time.time() * 1000)
        entry: Any = {"event": event, "ts": str(ts), **{k: v or "" for k, v in fields.items()}}
        minid = str(ts - self.audit_retention_ms) if trim else None
        client.xadd(self.keys.audit, entry, minid=minid, approximate=True)

    def audit_entries(self, since_ms: int = 0) -> list[dict[str, str]]:
        raw: Any = self.redis.xrange(self.keys.audit, min=f"{since_ms}-0" if since_ms else "-")
        return [{"id": str(entry_id), **fields} for entry_id, fields in raw]

    def claim_kill(self, claim: str, *, ttl_ms: int) -> str | None:
        """Claim the kill run; None when claimed, else the running kill's claim."""
        if self.redis.set(self.keys.kill_running, claim, nx=True, px=ttl_ms):
            return None
        running = self.redis.get(self.keys.kill_running)
        return str(running) if running else None

    def owner_alive(self, request_id: str) -> bool:
        """Whether a node with a live lease owns the request (is running it)."""
        owner = self.redis.hget(self.keys.owners, request_id)
        if not owner:
            return False
        lease: Any = self.redis.zscore(self.keys.nodes, str(owner))
        return lease is not None and lease > time.time() * 1000

    def release_kill(self, claim: str) -> None:
        self._release(keys=[self.keys.kill_running], args=[claim])

    def deadman_check(self) -> dict[str, str] | None:
        """Apply the producers' arm and beat entries, then claim the firing if the switch
        expired (`lua/deadman.lua`): its fields when claimed, else None."""
        reply: Any = self._deadman_run("check", self.audit_retention_ms)
        return dict(zip(reply[::2], reply[1::2], strict=True)) or None

    def deadman_sent(self, request_id: str) -> None:
        self._deadman_run("sent", request_id)

    def _deadman_run(self, op: str, arg: str | int) -> Any:
        k = self.keys
        return self._deadman(keys=[k.deadman, k.deadman_beats, k.audit], args=[op, arg])

    def deadman_send(self, fields: Mapping[str, str]) -> int:
        """A producer's arm or beat (`op`), as an entry the watchers apply; returns its time
        (ms, Redis's clock)."""
        entry: Any = dict(fields)
        entry_id = self.redis.xadd(self.keys.deadman_beats, entry)
        return int(str(entry_id).split("-")[0])

    def disarm(self, requested_by: str) -> bool:
        """Delete the dead-man switch and the entries not yet applied, and say so in the audit
        stream, in one transaction; True when it was armed (else nothing is written)."""

        def disarm(pipe: Any) -> bool:
            if not pipe.exists(self.keys.deadman):  # WATCHed: a watcher's change retries it
                return False
            pipe.multi()
            pipe.delete(self.keys.deadman, self.keys.deadman_beats)
            self._audit(pipe, "deadman_disarm", False, requested_by=requested_by)
            return True

        watched: Any = self.redis.transaction
        return bool(watched(disarm, self.keys.deadman, value_from_callable=True))

    def deadman_state(self) -> dict[str, str] | None:
        """The switch's fields, those not set (empty) left out; None when disarmed (or armed
        by an entry no watcher has applied yet)."""
        raw: Any = self.redis.hgetall(self.keys.deadman)
        return {str(k): str(v) for k, v in raw.items() if v != ""} or None

    def status(self, request_id: str) -> Event | None:
        """The final event, else the latest event of a running request, else None."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(self.keys.final(request_id), count=1)
            pipe.get(self.keys.last(request_id))
            final, last = pipe.execute()
        return _final_of(final) or (json.loads(last) if last else None)


def _final_of(entries: list[Any]) -> Event | None:
    """The final event held by a request's final stream (XRANGE / XREAD entries), or None."""
    return dict(json.loads(entries[0][1]["final"])) if entries else None


def redis_problem(exc: BaseException, url: str) -> RedisUnavailable:
    """What went wrong talking to Redis at `url`, in one line (no traceback, no password)."""
    where = safe_url(url)
    text = " ".join(str(exc).split())[:200]
    if isinstance(exc, NoReplicas):
        why = f"Redis at {where} refuses writes: no replica answered in time (NOREPLICAS)"
    elif isinstance(exc, redis.AuthenticationError):
        why = f"Redis at {where} refused the credentials ({text})"
    elif isinstance(exc, redis.exceptions.NoPermissionError):
        why = (
            f"Redis at {where} refused the command (NOPERM, the user lacks the permission: {text})"
        )
    elif isinstance(exc, redis.exceptions.InvalidResponse | redis.exceptions.DataError):
        why = f"{where} does not answer like a Redis server ({text})"
    elif "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.partition("certificate verify failed: ")[2].partition(" (_ssl.c")[0]
        why = (
            f"Redis at {where} presented a TLS certificate that could not be verified "
            f"({reason or text}): name the CA that signed it (ssl_ca_certs=/path/to/ca.pem) "
            "and a host name the certificate holds"
        )
    elif _tls_error(exc) or "SSL" in text or "TLS" in text:
        why = (
            f"TLS with Redis at {where} failed ({text}): check rediss:// and its ssl_* options "
            "against the server (a client certificate, if it requires one: ssl_certfile=, "
            "ssl_keyfile=)"
        )
    elif isinstance(exc, redis.TimeoutError) and url.startswith("rediss:"):
        why = f"Redis at {where} did not answer the TLS handshake in time: is it a TLS port?"
    elif isinstance(exc, redis.TimeoutError):
        why = f"Redis at {where} did not answer in time"
    elif isinstance(exc, redis.ConnectionError):
        why = f"cannot reach Redis at {where} ({text})"
    else:
        why = f"Redis at {where}: {type(exc).__name__}: {text}"
    return RedisUnavailable(why)


def _tls_error(exc: BaseException | None) -> bool:
    """An `ssl.SSLError` is the exception or its cause (redis-py and kombu wrap it)."""
    for _ in range(8):  # a chain may loop
        if exc is None or isinstance(exc, ssl.SSLError):
            return exc is not None
        exc = exc.__cause__ or exc.__context__
    return False
