"""Fault injection: what the simulator does to a venue call instead of (or after) serving it."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: What `Faults.decide` may return.
ERROR, TIMEOUT, RESET, RATE_LIMIT = "error", "timeout", "reset", "rate_limit"


@dataclass
class Faults:
    """Counts (`*_next`) hit the next N matching calls; rates hit each call with a probability.

    `timeout` serves the call (the venue acts) and then never answers: a lost response.
    `reset` drops the connection with a TCP RST before serving. `error` answers `error_status`
    before serving. `burst_429` answers 429 with `Retry-After: retry_after`.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    reset_rate: float = 0.0
    error_next: int = 0
    timeout_next: int = 0
    reset_next: int = 0
    burst_429: int = 0
    retry_after: int = 1
    error_status: int = 503
    timeout_s: float = 10.0
    #: route names (e.g. "zebpay.cancel") the faults apply to; empty = every venue route
    routes: list[str] = field(default_factory=list)
    #: account names the faults apply to; empty = every caller
    accounts: list[str] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rand = random.Random(self.seed)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def applies(self, route: str, account: str | None) -> bool:
        return (not self.routes or route in self.routes) and (
            not self.accounts or account in self.accounts
        )

    def decide(self, route: str, account: str | None) -> str | None:
        """The fault for this call, if any; counts are used up first, in a fixed order."""
        if not self.applies(route, account):
            return None
        with self._lock:
            for name, kind in (
                ("burst_429", RATE_LIMIT),
                ("error_next", ERROR),
                ("timeout_next", TIMEOUT),
                ("reset_next", RESET),
            ):
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return kind
            roll = self._rand.random()
            for rate, kind in (
                (self.error_rate, ERROR),
                (self.timeout_rate, TIMEOUT),
                (self.reset_rate, RESET),
            ):
                if roll < rate:
                    return kind
                roll -= rate
        return None
