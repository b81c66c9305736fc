"""Ajaib answers mapped onto the shared error tree (venues/ajaib-spot.md, "Errors")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ordercancel.errors import (
    AuthError,
    Conflict,
    InvalidRequest,
    PermanentError,
    RateLimited,
    UnexpectedAnswer,
    VenueError,
    VenueUnavailable,
)

ALREADY_CLOSED = "order_already_closed"
#: "retry once after a short pause" (409)
CONFLICT_PAUSE_S = 0.2


def error_code(body: Any, *, strict: bool = False) -> str:
    """The `error` of the venue's error body; with `strict`, "" for anything else (else the
    start of whatever came back)."""
    if isinstance(body, Mapping):
        return str(body.get("error") or "")[:200]
    return str(body)[:200] if body and not strict else ""


def error_for(status: int, body: Any) -> VenueError:
    """The error a non-2xx answer means. 404 and `order_already_closed` settle a cancel instead."""
    code = error_code(body)
    kw: dict[str, Any] = {"http_status": status, "venue_status": code or None}
    if status == 400:
        return InvalidRequest(f"invalid request: {code or 'bad request'}", **kw)
    if status in (401, 403):
        return AuthError(f"not authorised ({status}): {code or 'invalid_client'}", **kw)
    if status == 402:
        return PermanentError(f"request failed (402): {code}", **kw)
    if status == 409:
        return Conflict(f"conflict: {code}", retry_after=CONFLICT_PAUSE_S, **kw)
    if status == 429:
        return RateLimited(f"rate limited: {code or 'too many requests'}", **kw)
    if status >= 500:
        return VenueUnavailable(f"venue error {status}: {code or 'api_error'}", **kw)
    return UnexpectedAnswer(f"unexpected answer {status}: {code}", **kw)
