"""The shared outcome vocabulary: final statuses and stable error codes (CONTRACT §5)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A `final` event's status."""

    # per order
    CANCELED = "canceled"
    ALREADY_CLOSED = "already_closed"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    # aggregate kinds
    COMPLETED = "completed"
    PARTIAL = "partial"


#: Final statuses that mean "the order is not open any more" (CLI exit code 0).
SUCCESS = frozenset({Status.CANCELED, Status.ALREADY_CLOSED, Status.NOT_FOUND, Status.COMPLETED})


class ErrorCode(StrEnum):
    """Stable `error_code` values."""

    AUTH = "auth"
    INVALID_REQUEST = "invalid_request"
    RATE_LIMITED = "rate_limited"
    VENUE_UNAVAILABLE = "venue_unavailable"
    TIMEOUT = "timeout"
    CLOCK_SKEW = "clock_skew"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    UNKNOWN_ACCOUNT = "unknown_account"
    INVALID_MESSAGE = "invalid_message"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    STILL_OPEN = "still_open"
    CONFLICT = "conflict"
    OVERLOADED = "overloaded"
    DEAD_LETTER = "dead_letter"
    VENUE_ERROR = "venue_error"
    UNEXPECTED_ANSWER = "unexpected_answer"
    NOT_READ_BACK = "not_read_back"
    INTERNAL = "internal"


class EventType(StrEnum):
    ACCEPTED = "accepted"
    ACKNOWLEDGED = "acknowledged"
    RETRYING = "retrying"
    FINAL = "final"


class Kind(StrEnum):
    CANCEL = "cancel"
    CANCEL_BATCH = "cancel_batch"
    CANCEL_ALL = "cancel_all"
    KILL = "kill"
