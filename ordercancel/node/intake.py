"""The any-language intake: `<prefix>:requests`, read through the consumer group `ordercancel`.

Any producer `XADD`s one field, `request`, holding the JSON object of CONTRACT §4. Every worker
node runs an `Intake` thread, a consumer of the group. An entry is decoded (size, UTF-8, JSON,
nesting), then sent down the same path as the Python client (the worker validates), and
acknowledged in the atomic step that records and queues it (`celery_app.enqueue_many`). The
entries of one read are dispatched together: the worker runs them as one Celery task. An
entry's stream id is its `request_id` when it names no valid one (`request.known_id`), so an
entry read twice is one request; its timestamp is `received_ms`.
An entry that cannot be read still gets its final event (`rejected`, `invalid_message`).
Entries a crashed reader held are claimed back (XAUTOCLAIM, looked for every second) after
`CLAIM_IDLE_MS`; one delivered more than `MAX_DELIVERIES` times goes to `<prefix>:dead` with
its error, gets a `failed` / `dead_letter` final, and is never retried again. Acknowledged
entries are trimmed away every second.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from ordercancel.config import Settings
from ordercancel.events import Outcome, final_event, unparsed_fields
from ordercancel.observe import sentry
from ordercancel.outcomes import ErrorCode, Status
from ordercancel.request import known_id
from ordercancel.state.keys import INTAKE_GROUP as GROUP
from ordercancel.state.keys import Keys
from ordercancel.state.store import BLOCK_SLICE_S, Store, connect_raw

log = logging.getLogger("ordercancel")
BATCH = 100
CLAIM_IDLE_MS = 2_000
MAX_DELIVERIES = 5
#: deepest JSON nesting read; deeper input is refused before the parser sees it
MAX_DEPTH = 32


class EntryError(ValueError):
    """An entry that is not a request."""


def decode(fields: dict[bytes, bytes], max_bytes: int) -> dict[str, Any]:
    """The request object of an entry; EntryError says why there is none."""
    raw = fields.get(b"request")
    if raw is None:
        raise EntryError("the entry has no field `request`")
    if len(raw) > max_bytes:
        raise EntryError(f"`request` is {len(raw)} bytes, more than {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EntryError("`request` is not UTF-8") from None
    if "\x00" in text:
        raise EntryError("`request` contains a NUL character")
    depth = deepest = 0
    for ch in text:  # cheap bound on nesting: brackets, strings included (over-counting is safe)
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise EntryError(f"`request` nests deeper than {MAX_DEPTH}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise EntryError(
            f"`request` is not JSON ({type(exc).__name__} at {getattr(exc, 'pos', '?')})"
        ) from None
    if not isinstance(value, dict):
        raise EntryError("`request` is not a JSON object")
    try:  # a `\\ud800` escape decodes to a lone surrogate, which no Redis reply can carry
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise EntryError("`request` holds a lone surrogate escape (not valid Unicode)") from None
    return value


class Intake(threading.Thread):
    def __init__(self, settings: Settings, store: Store, consumer: str,
                 dispatch: Callable[[list[dict[str, Any]], list[str]], None]):  # fmt: skip
        super().__init__(name="ordercancel-intake", daemon=True)
        self.settings, self.store, self.consumer, self.dispatch = (
            settings,
            store,
            consumer,
            dispatch,
        )
        self.keys = Keys(settings.prefix)
        self.raw = connect_raw(settings.broker_redis_url)  # entries may hold any bytes
        self.stopped = threading.Event()
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def run(self) -> None:
        self._ensure_group()
        while not self.stopped.is_set():
            try:
                if time.monotonic() >= self._next_claim:
                    self._next_claim = time.monotonic() + CLAIM_IDLE_MS / 2000
                    self._claim()
                    self._trim()
                reply: Any = self.raw.xreadgroup(
                    GROUP, self.consumer, {self.keys.requests: ">"}, count=BATCH,
                    block=int(BLOCK_SLICE_S * 1000 / 5),
                )  # fmt: skip
                for _stream, entries in reply or []:
                    self.handle([(entry_id.decode(), fields) for entry_id, fields in entries])
            except redis.RedisError as exc:
                log.warning("intake: %s; retrying", type(exc).__name__)
                self.stopped.wait(1.0)
                self._ensure_group(quiet=True)
            except Exception as exc:  # a bug must not stop this node's intake
                sentry.unexpected(exc, "intake")
                self.stopped.wait(1.0)

    def _ensure_group(self, quiet: bool = False) -> None:
        try:
            self.raw.xgroup_create(self.keys.requests, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        except redis.RedisError:
            if not quiet:
                raise

    def _claim(self) -> None:
        """Take back entries a crashed reader held for longer than CLAIM_IDLE_MS."""
        reply: Any = self.raw.xautoclaim(
            self.keys.requests, GROUP, self.consumer, CLAIM_IDLE_MS, self._claim_cursor, count=BATCH
        )
        self._claim_cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        claimed = [(eid, fields) for eid, fields in reply[1] if fields]
        if not claimed:
            return
        pending: Any = self.raw.xpending_range(
            self.keys.requests, GROUP, min=claimed[0][0], max=claimed[-1][0], count=len(claimed)
        )
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        retry = []
        for entry_id, fields in claimed:
            if deliveries.get(entry_id, 0) > MAX_DELIVERIES:
                self.bury(entry_id.decode(), fields, f"delivered {deliveries[entry_id]} times")
            else:
                retry.append((entry_id.decode(), fields))
        self.handle(retry)

    def _trim(self) -> None:
        """Drop the entries the group has acknowledged (the stream would otherwise keep every
        request ever sent): those older than both the last one delivered and the oldest
        pending one, read in that order (an entry delivered in between is newer than the
        first). Approximate (whole nodes of the stream), so it costs next to nothing."""
        groups: Any = self.raw.xinfo_groups(self.keys.requests)
        delivered = [g["last-delivered-id"] for g in groups if g["name"] == GROUP.encode()]
        if not delivered:
            return
        pending: Any = self.raw.xpending(self.keys.requests, GROUP)
        ids = [delivered[0], pending["min"]] if pending["pending"] else [delivered[0]]
        texts = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        keep_from = min(texts, key=lambda i: tuple(map(int, i.split("-"))))
        self.raw.xtrim(self.keys.requests, minid=keep_from, approximate=True)

    def handle(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> None:
        """Dispatch the requests of these entries together, acknowledging the entries in the
        same step; an entry that is no request gets its final event (`rejected`) instead."""
        requests = []
        for entry_id, fields in entries:
            received_ms = int(entry_id.split("-")[0])
            try:
                request = decode(fields, self.settings.max_entry_bytes)
            except EntryError as exc:
                base = unparsed_fields({}, entry_id, received_ms)
                self.store.finish(
                    final_event(base, Outcome(Status.REJECTED, ErrorCode.INVALID_MESSAGE, str(exc)))
                )
                continue
            request["received_ms"] = received_ms
            request["_entry_id"] = entry_id
            requests.append(request)
        ids = [entry_id for entry_id, _ in entries]
        if requests:
            # acknowledged in the step that records and queues the requests: a failure leaves
            # the entries pending, to be claimed later (`Store.dispatch`)
            self.dispatch(requests, ids)
        elif ids:
            self.raw.xack(self.keys.requests, GROUP, *ids)

    def bury(self, entry_id: str, fields: dict[bytes, bytes], why: str) -> None:
        """Dead-letter an entry that keeps failing, give it its final, never retry it."""
        raw = fields.get(b"request", b"")[:2048]
        self.raw.xadd(self.keys.dead, {"entry_id": entry_id, "error": why, "request": raw},
                      maxlen=100_000, approximate=True)  # fmt: skip
        try:
            request = decode(fields, self.settings.max_entry_bytes)
        except EntryError:
            request = {}
        rid = known_id({**request, "_entry_id": entry_id}) or entry_id
        base = unparsed_fields(request, rid, int(entry_id.split("-")[0]))
        self.store.finish(
            final_event(
                base, Outcome(Status.FAILED, ErrorCode.DEAD_LETTER, f"dead-lettered: {why}")
            )
        )
        self.raw.xack(self.keys.requests, GROUP, entry_id)
        log.error("intake: entry %s dead-lettered (%s)", entry_id, why)
