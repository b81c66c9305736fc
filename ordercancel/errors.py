"""One error tree for ordercancel.

::

    OrderCancelError
    ├── ConfigError            bad configuration; names the account and the field, never a value
    ├── RequestError           a request that cannot be executed (becomes a `rejected` event)
    ├── WaitTimeout            no final event within the wait (also a builtin TimeoutError)
    ├── DeadmanNotArmed        an arming sent that no worker applied in time (none runs?)
    ├── Fenced                 this node lost its lease: it must not call a venue or publish a
    │                          final for the request any more (another node may run it)
    ├── RedisUnavailable       Redis unreachable, refused the credentials or the command
    │                          (ACL), or not a Redis server: one line, CLI exit code 4
    └── VenueError             a venue call did not succeed; carries a stable `code`
        ├── RetryableError     the call may succeed if repeated; the outcome is not settled
        │   ├── UnexpectedAnswer   an answer the venue's docs do not define: settles nothing
        │   ├── RateLimited    429; `retry_after` seconds when the venue said so
        │   ├── VenueUnavailable   5xx, connection refused or reset
        │   ├── VenueTimeout   no answer in time: the venue may or may not have acted
        │   └── Conflict       409: a concurrent change; retried once
        ├── ClockSkew          the venue refused our timestamp; re-sync the clock, then retry
        └── PermanentError     retrying cannot help (auth, invalid request, ...)

Messages never contain secrets: venue errors carry the venue's own message, trimmed.
"""

from __future__ import annotations

from typing import Any

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


class RedisUnavailable(OrderCancelError):
    """Redis could not be used: unreachable, TLS mismatch, credentials or a command refused,
    or not a Redis server at all. The message is one line and names the URL without its
    password."""


class WaitTimeout(OrderCancelError, TimeoutError):
    """No final event arrived within the wait."""


class DeadmanNotArmed(OrderCancelError):
    """The dead-man arming was sent, but no worker applied it in time: the switch is not armed
    yet (it arms when a worker runs)."""


class Fenced(OrderCancelError):
    """This node's lease on the request ended (`lease.py`): it is not an outcome. The request
    is dropped here; recovery sends it again to a node that holds a lease."""


class VenueError(OrderCancelError):
    """A venue call that did not succeed. `sent`: whether the attempt reached the venue, or
    may have (False: it was never made)."""

    code: ErrorCode = ErrorCode.VENUE_ERROR
    sent = True

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
    """Repeating the call may succeed; until then the outcome is not settled.

    `retry_after`: the least wait before repeating, when the venue says so (seconds).
    `max_retries`: how often this kind of failure may be retried (None: until the deadline).
    """

    max_retries: int | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    code = ErrorCode.RATE_LIMITED


class VenueUnavailable(RetryableError):
    code = ErrorCode.VENUE_UNAVAILABLE


class VenueTimeout(RetryableError):
    code = ErrorCode.TIMEOUT


class UnexpectedAnswer(RetryableError):
    """An answer outside the venue's documented vocabulary: an unknown status word, a missing
    field, a 2xx without the expected body, a 404 that is not the venue's own error body. It
    settles nothing: it is asked again (twice at most), then the caller reads the order back,
    or the outcome is `unknown`."""

    code = ErrorCode.UNEXPECTED_ANSWER
    max_retries = 2


class NotSent(VenueTimeout):
    """The deadline came before the call could be made: the venue was not asked."""

    sent = False


class Conflict(RetryableError):
    """The venue reports a conflicting concurrent change; worth one more try."""

    code = ErrorCode.CONFLICT
    max_retries = 1


class ClockSkew(VenueError):
    code = ErrorCode.CLOCK_SKEW


class PermanentError(VenueError):
    """Retrying cannot help; the request ends at once."""


class AuthError(PermanentError):
    code = ErrorCode.AUTH


class InvalidRequest(PermanentError):
    code = ErrorCode.INVALID_REQUEST
