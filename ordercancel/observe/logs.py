"""Log output: Celery's text lines, or one JSON object per line (`[worker] log_format`).

Every final outcome is logged once, by the process that published it (`final_published`):
request_id, kind, venue, account, status, error_code, latency_ms. Nothing logged carries a
secret: log lines are built from request fields and outcomes, never from account
configuration, headers or request bodies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Mapping
from datetime import UTC, datetime
from typing import Any

from ordercancel.observe import metrics

log = logging.getLogger("ordercancel")
#: the structured fields of a final outcome's log line
FINAL_FIELDS = ("request_id", "kind", "venue", "account", "status", "error_code", "latency_ms")


def final_published(
    event: Mapping[str, str], accounts: Container[str], venues: Container[str]
) -> None:
    """A final event was just published (`Store.on_final`): one log line, and its metrics
    (`accounts`, `venues`: the configured ones, the only label values they take)."""
    fields: dict[str, Any] = {k: event.get(k) or "" for k in FINAL_FIELDS}
    latency = str(fields["latency_ms"])
    fields["latency_ms"] = int(latency) if latency.lstrip("-").isdigit() else 0
    text = " ".join(f"{k}={fields[k] if fields[k] != '' else '-'}" for k in FINAL_FIELDS)
    log.info("final %s", text, extra={"final": fields})
    metrics.record_final(fields, bool(event.get("parent_id")), accounts, venues)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        final = getattr(record, "final", None)
        if isinstance(final, dict):
            out["event"] = "final"
            out.update(final)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def use_json(logger: logging.Logger) -> None:
    """Switch every handler of `logger` to one JSON object per line."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
