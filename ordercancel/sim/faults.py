"""Fault injection: what the simulator does to a venue call instead of (or after) serving it."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

#: What `Faults.decide` may return.
ERROR, TIMEOUT, RESET, RATE_LIMIT = "error", "timeout", "reset", "rate_limit"
BARE_404, ODD_STATUS, ODD_BODY = "bare_404", "odd_status", "odd_body"
#: Not decided per call: what the call log says when a cancel found an order filling first.
FILL_RACE = "fill_race"
#: Answered instead of serving the call.
BEFORE_SERVING = (ERROR, RATE_LIMIT, RESET, BARE_404)


@dataclass
class Faults:
    """Counts (`*_next`) hit the next N matching calls; rates hit each call with a probability.

    `timeout` serves the call (the venue acts) and then never answers: a lost response.
    `reset` drops the connection with a TCP RST before serving. `error` answers `error_status`
    before serving. `burst_429` answers 429 with `Retry-After: retry_after`. `bare_404` answers
    a gateway's HTML 404 before serving. `odd_status` and `odd_body` serve the call, then answer
    with an undocumented status word or an unexpected body. `fill_race` fills an open order just
    before a cancel reaches it; `late_cancel_ms` spreads Ajaib's cancel completion over
    [cancel_delay_ms, cancel_delay_ms + late_cancel_ms].
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
    bare_404_rate: float = 0.0
    bare_404_next: int = 0
    odd_status_rate: float = 0.0
    odd_body_rate: float = 0.0
    fill_race_rate: float = 0.0
    late_cancel_ms: float = 0.0
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
        """The fault for this call, if any; counts are used up first, in a fixed order.

        One roll per call picks among the rates; a venue may find a kind does not apply to the
        route or the answer (`odd_status` on a listing), and then the call goes unfaulted."""
        if not self.applies(route, account):
            return None
        with self._lock:
            for name, kind in (
                ("burst_429", RATE_LIMIT),
                ("error_next", ERROR),
                ("timeout_next", TIMEOUT),
                ("reset_next", RESET),
                ("bare_404_next", BARE_404),
            ):
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return kind
            roll = self._rand.random()
            for rate, kind in (
                (self.error_rate, ERROR),
                (self.timeout_rate, TIMEOUT),
                (self.reset_rate, RESET),
                (self.bare_404_rate, BARE_404),
                (self.odd_status_rate, ODD_STATUS),
                (self.odd_body_rate, ODD_BODY),
            ):
                if roll < rate:
                    return kind
                roll -= rate
        return None

    def fill_race(self, route: str, account: str | None) -> bool:
        """Whether an open order a cancel reaches fills first (decided per order)."""
        if not self.fill_race_rate or not self.applies(route, account):
            return False
        with self._lock:
            return self._rand.random() < self.fill_race_rate

    def late_cancel(self, route: str, account: str | None) -> float:
        """Extra ms before a cancel this call requested completes (Ajaib)."""
        if not self.late_cancel_ms or not self.applies(route, account):
            return 0.0
        with self._lock:
            return self._rand.uniform(0.0, self.late_cancel_ms)

    def pick(self, options: Sequence[T]) -> T:
        with self._lock:
            return self._rand.choice(options)
