"""Prometheus metrics (`ORDERCANCEL_METRICS_PORT`, CONTRACT §2): names start `ordercancel_`.

Correct with several worker processes: `ordercancel worker` gives its nodes a shared
`PROMETHEUS_MULTIPROC_DIR` and serves `/metrics` itself, summing every node's files
(prometheus_client's multiprocess mode; the directory is fresh each start and removed at the
end). A node started on its own (`celery -A ordercancel.worker worker`) serves its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Container, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from ordercancel.outcomes import Kind

PORT_ENV, DIR_ENV = "ORDERCANCEL_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter(
    "ordercancel_requests_total", "Requests by final outcome", ["kind", "account", "status"]
)
LATENCY = Histogram(
    "ordercancel_request_latency_seconds",
    "Receipt to final event, per request",
    ["kind", "venue"],
    buckets=_SECONDS,
)
KILL = Histogram(
    "ordercancel_kill_duration_seconds", "Kill request to its final (accounts verified flat)",
    buckets=_SECONDS,
)  # fmt: skip
IN_FLIGHT = Gauge(
    "ordercancel_requests_in_flight", "Requests begun and not final", ["kind"],
    multiprocess_mode="livesum",
)  # fmt: skip
VENUE_CALLS = Counter(
    "ordercancel_venue_calls_total",
    "HTTP calls to venues by outcome (status code, or timeout / unavailable)",
    ["venue", "status"],
)
RETRIES = Counter("ordercancel_retries_total", "Venue calls retried", ["venue", "error_code"])
BUDGET_WAITS = Counter(
    "ordercancel_budget_waits_total", "Venue calls that waited for rate budget", ["scope"]
)
BUDGET_WAIT_SECONDS = Counter(
    "ordercancel_budget_wait_seconds_total", "Time spent waiting for rate budget", ["scope"]
)


KINDS = frozenset(kind.value for kind in Kind)


def known(value: object, allowed: Container[str]) -> str:
    """A label value: `value` when it is one we know, else "-". A label never takes a
    producer's free text (a rejected request may name any kind or account): each new value
    would be a new time series."""
    return value if isinstance(value, str) and value in allowed else "-"


def record_final(
    final: Mapping[str, Any], child: bool, accounts: Container[str], venues: Container[str]
) -> None:
    """Count a final outcome and its latency (`logs.final_published`'s fields; `child`: a
    batch order's or a kill's account); `accounts` and `venues` are the configured ones, the
    only label values they take."""
    kind = known(final["kind"], KINDS)
    REQUESTS.labels(kind, known(final["account"], accounts), final["status"]).inc()
    latency = max(0, final["latency_ms"]) / 1000
    LATENCY.labels(kind, known(final["venue"], venues)).observe(latency)
    if kind == "kill" and not child:
        KILL.observe(latency)


def port(env: Mapping[str, str] | None = None) -> int | None:
    raw = (env if env is not None else os.environ).get(PORT_ENV)
    return int(raw) if raw else None


def prepare_shared_dir() -> str:
    """A fresh directory for the nodes' metric files; set in our environment, so the nodes we
    start inherit it."""
    path = tempfile.mkdtemp(prefix="ordercancel-metrics-")
    os.environ[DIR_ENV] = path
    return path


def serve_shared(metrics_port: int) -> None:
    """Serve the sum of every node's metrics (the `ordercancel worker` supervisor)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(metrics_port, registry=registry)


def serve_alone(metrics_port: int) -> None:
    """Serve this process's metrics (a node started without the supervisor)."""
    start_http_server(metrics_port)
