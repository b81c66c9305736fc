"""ordercancel: cancel orders on crypto venues, and prove it.

Producers put requests on Redis; Celery workers execute them against the venues with retry,
idempotency and read-back; every request's one final outcome lands on a Redis result stream.
"""

from ordercancel.client import Client, Ticket
from ordercancel.config import Settings
from ordercancel.errors import (
    ConfigError,
    OrderCancelError,
    RequestError,
    VenueError,
    WaitTimeout,
)
from ordercancel.outcomes import ErrorCode, EventType, Kind, Status

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ConfigError",
    "ErrorCode",
    "EventType",
    "Kind",
    "OrderCancelError",
    "RequestError",
    "Settings",
    "Status",
    "Ticket",
    "VenueError",
    "WaitTimeout",
    "__version__",
]
