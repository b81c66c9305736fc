"""Result-stream events (CONTRACT §5): every field present, every value a string."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ordercancel.observe import sentry
from ordercancel.outcomes import ErrorCode, EventType, Status
from ordercancel.request import Request, now_ms

Event = dict[str, str]

FIELDS = (
    "event",
    "request_id",
    "kind",
    "account",
    "venue",
    "symbol",
    "order_id",
    "idempotency_key",
    "parent_id",
    "status",
    "error_code",
    "error",
    "attempts",
    "http_status",
    "venue_status",
    "ts",
    "received_ms",
    "latency_ms",
    "detail",
    "reason",
    "requested_by",
)
#: The longest text copied from input or a venue answer into an event.
MAX_TEXT = 300


@dataclass(frozen=True)
class Outcome:
    """How a request ended."""

    status: Status
    error_code: str = ""
    error: str = ""
    attempts: int = 0
    http_status: int | None = None
    venue_status: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Mapping[str, str], **detail: Any) -> Outcome:
        """Another request's final outcome, as this one's (no venue call of its own)."""
        earlier = json.loads(event["detail"]) if event.get("detail") else {}
        return cls(
            Status(event["status"]),
            event["error_code"],
            event["error"],
            http_status=int(event["http_status"]) if event.get("http_status") else None,
            venue_status=event.get("venue_status") or None,
            detail={**earlier, **detail},
        )

    @classmethod
    def of_parts(
        cls, done: int, total: int, code: str, error: str, *, attempts: int, detail: Any
    ) -> Outcome:
        """An aggregate request's outcome: `completed` when all `total` parts are done, else
        `partial` (some were) or `failed` (none), with `code` and `error`."""
        if done == total:
            return cls(Status.COMPLETED, attempts=attempts, detail=detail)
        status = Status.FAILED if done == 0 else Status.PARTIAL
        return cls(status, code, error, attempts=attempts, detail=detail)

    @classmethod
    def internal(cls, exc: Exception, fields: Mapping[str, str]) -> Outcome:
        """A bug, survived: the request still ends (`failed`, `internal`); the exception is
        logged and sent to Sentry."""
        sentry.unexpected(exc, f"{fields.get('kind')} {fields.get('request_id')}", fields)
        return cls(Status.FAILED, ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}")


def _text(value: Any) -> str:
    return "" if value is None else encodable(str(value)[:MAX_TEXT])


def encodable(text: str) -> str:
    """`text`, with what UTF-8 cannot encode (lone surrogates) replaced: it goes to Redis."""
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        return text.encode(errors="replace").decode()


def request_fields(req: Request) -> Event:
    return {
        "request_id": req.request_id,
        "kind": req.kind.value,
        "account": req.account,
        "venue": req.venue,
        "symbol": req.symbol or "",
        "order_id": req.order_id or "",
        "idempotency_key": req.idempotency_key or "",
        "parent_id": req.parent_id,
        "received_ms": str(req.received_ms),
        "reason": req.reason,
        "requested_by": req.requested_by,
    }


def make_event(base: Mapping[str, str], kind: EventType, **values: Any) -> Event:
    """An event with every field of FIELDS; `values` may hold any of them."""
    ts = now_ms()
    event = dict.fromkeys(FIELDS, "")
    event.update(base)
    event["event"] = kind.value
    event["ts"] = str(ts)
    for key, value in values.items():
        event[key] = (
            json.dumps(value, separators=(",", ":")) if key == "detail" and value else _text(value)
        )
    if kind is EventType.FINAL and event["received_ms"]:
        event["latency_ms"] = str(ts - int(event["received_ms"]))
    return event


def final_event(base: Mapping[str, str], outcome: Outcome) -> Event:
    return make_event(
        base,
        EventType.FINAL,
        status=outcome.status.value,
        error_code=outcome.error_code,
        error=outcome.error,
        attempts=outcome.attempts,
        http_status=outcome.http_status,
        venue_status=outcome.venue_status,
        detail=dict(outcome.detail),
    )


def unparsed_fields(raw: Mapping[str, Any], request_id: str, received_ms: int) -> Event:
    """Identifying fields of a request that could not be parsed: only short plain strings."""

    def pick(name: str) -> str:
        value = raw.get(name)
        return encodable(value[:128]) if isinstance(value, str) else ""

    return {
        "request_id": request_id,
        "kind": pick("kind"),
        "account": pick("account"),
        "symbol": pick("symbol"),
        "order_id": pick("order_id"),
        "idempotency_key": pick("idempotency_key"),
        "received_ms": str(received_ms),
        "requested_by": pick("requested_by"),
    }
