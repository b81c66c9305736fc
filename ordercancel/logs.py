"""Log output: Celery's text lines, or one JSON object per line (`[worker] log_format`).

Every final outcome is logged once, by the worker that published it (`log_final`): request_id,
kind, venue, account, status, error_code, latency_ms. Nothing logged carries a secret: log
lines are built from request fields and outcomes, never from account configuration, headers or
request bodies.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("ordercancel")
FORMATS = ("text", "json")
#: the structured fields of a final outcome's log line
FINAL_FIELDS = ("request_id", "kind", "venue", "account", "status", "error_code", "latency_ms")


def log_final(**fields: Any) -> None:
    """One line per final outcome; in JSON, its fields are the object's keys."""
    text = " ".join(
        f"{k}={fields[k] if fields[k] not in (None, '') else '-'}" for k in FINAL_FIELDS
    )
    log.info("final %s", text, extra={"final": {k: fields[k] for k in FINAL_FIELDS}})


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
