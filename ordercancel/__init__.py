"""ordercancel: cancel orders on crypto venues, and prove it.

Producers put requests on Redis; Celery workers execute them against the venues with retry,
idempotency and read-back; every request's one final outcome lands on a Redis result stream.
"""

from typing import TYPE_CHECKING, Any

from ordercancel.config import Settings
from ordercancel.errors import (
    ConfigError,
    OrderCancelError,
    RedisUnavailable,
    RequestError,
    VenueError,
    WaitTimeout,
)
from ordercancel.outcomes import ErrorCode, EventType, Kind, Status
from ordercancel.version import __version__

if TYPE_CHECKING:
    from ordercancel.client import Client, Ticket


def __getattr__(name: str) -> Any:
    """`Client` and `Ticket` load Celery: only when asked for (the worker supervisor is not)."""
    if name in ("Client", "Ticket"):
        from ordercancel import client

        return getattr(client, name)
    raise AttributeError(f"module 'ordercancel' has no attribute {name!r}")


__all__ = [
    "Client",
    "ConfigError",
    "ErrorCode",
    "EventType",
    "Kind",
    "OrderCancelError",
    "RedisUnavailable",
    "RequestError",
    "Settings",
    "Status",
    "Ticket",
    "VenueError",
    "WaitTimeout",
    "__version__",
]
