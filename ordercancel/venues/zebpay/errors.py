"""ZebPay Futures answers mapped onto the shared error tree (venues/zebpay-futures.md,
"Errors and retry guidance" and "Auth failures")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ordercancel.errors import (
    AuthError,
    ClockSkew,
    InvalidRequest,
    RateLimited,
    UnexpectedAnswer,
    VenueError,
    VenueUnavailable,
)
from ordercancel.venues.base import retry_after

TIMESTAMP_REJECTED = "Invalid or expired timestamp"
BAD_SIGNATURE = "Invalid signature"
#: Retry-After when a 429 carries none: the venue's window is 60 s.
DEFAULT_RETRY_AFTER_S = 60.0


def description(body: Any) -> str:
    """The envelope's `statusDescription`, or a trimmed text of whatever came back."""
    if isinstance(body, Mapping):
        text = body.get("statusDescription") or body.get("message") or ""
        return str(text)[:200]
    return str(body)[:200] if body else ""


def error_for(status: int, body: Any, headers: Mapping[str, str]) -> VenueError:
    """The error a non-2xx answer means. 404 is not here: it settles a cancel as `not_found`."""
    text = description(body)
    kw: dict[str, Any] = {"http_status": status, "venue_status": text or None}
    if status == 400 and text.startswith(TIMESTAMP_REJECTED):
        return ClockSkew(f"timestamp rejected: {text}", **kw)
    if status == 400 and text.startswith(BAD_SIGNATURE):
        return AuthError(f"signature rejected: {text}", **kw)
    if status == 400:
        return InvalidRequest(f"invalid request: {text or 'bad request'}", **kw)
    if status in (401, 403):
        return AuthError(f"not authorised ({status}): {text or 'no message'}", **kw)
    if status == 429:
        wait = retry_after(headers)
        wait = DEFAULT_RETRY_AFTER_S if wait is None else wait
        return RateLimited(f"rate limited: {text}", retry_after=wait, **kw)
    if status >= 500:
        return VenueUnavailable(f"venue error {status}: {text}", **kw)
    return UnexpectedAnswer(f"unexpected answer {status}: {text}", **kw)
