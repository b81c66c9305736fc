"""One error tree for ordercancel.

::

    OrderCancelError
    ├── ConfigError            bad configuration; names the account and the field, never a value
    ├── RequestError           a request that cannot be executed (becomes a `rejected` event)
    ├── WaitTimeout            no final event within the wait (also a builtin TimeoutError)
    └── VenueError             a venue call did not succeed; carries a stable `code`
        ├── RetryableError     the call may succeed if repeated; the outcome is not settled
        │   ├── RateLimited    429; `retry_after` seconds when the venue said so
        │   ├── VenueUnavailable   5xx, connection refused or reset
        │   └── VenueTimeout   no answer in time: the venue may or may not have acted
        ├── ClockSkew          the venue refused our timestamp; re-sync the clock, then retry
        └── PermanentError     retrying cannot help (auth, invalid request, ...)

Messages never contain secrets: venue errors carry the venue's own message, trimmed.
"""

from __future__ import annotations

from ordercancel.outcomes import ErrorCode


class OrderCancelError(Exception):
    """Base of every error ordercancel raises on purpose."""


class ConfigError(OrderCancelError):
    """The configuration cannot be used. Names the account and field, never a secret's value."""

    def __init__(self, message: str, *, account: str | None = None, field: str | None = None):
        self.account = account
        self.field = field
        where = ".".join(p for p in (f"accounts.{account}" if account else None, field) if p)
        super().__init__(
            f"config error at {where}: {message}" if where else f"config error: {message}"
        )


class RequestError(OrderCancelError):
    """A request that cannot be executed; ends in a `rejected` final event."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None):
        self.code = code
        self.field = field
        super().__init__(message)


class WaitTimeout(OrderCancelError, TimeoutError):
    """No final event arrived within the wait."""


class VenueError(OrderCancelError):
    """A venue call that did not succeed."""

    code: ErrorCode = ErrorCode.VENUE_ERROR

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        venue_status: str | None = None,
        code: ErrorCode | None = None,
    ):
        super().__init__(message[:300])
        self.http_status = http_status
        self.venue_status = venue_status
        if code is not None:
            self.code = code


class RetryableError(VenueError):
    """Repeating the call may succeed; until then the outcome is not settled."""


class RateLimited(RetryableError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class VenueUnavailable(RetryableError):
    code = ErrorCode.VENUE_UNAVAILABLE


class VenueTimeout(RetryableError):
    code = ErrorCode.TIMEOUT


class ClockSkew(VenueError):
    code = ErrorCode.CLOCK_SKEW


class PermanentError(VenueError):
    """Retrying cannot help; the request ends at once."""


class AuthError(PermanentError):
    code = ErrorCode.AUTH


class InvalidRequest(PermanentError):
    code = ErrorCode.INVALID_REQUEST
