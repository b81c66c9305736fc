"""Wire helpers shared by venues."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def compact_json(payload: Any) -> bytes:
    """JSON with no whitespace between tokens, UTF-8: the bytes both signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def side_of(value: Any) -> str | None:
    """An order's side as `buy` / `sell`, whatever the venue's case; None when it is neither."""
    side = str(value).lower() if isinstance(value, str) else None
    return side if side in ("buy", "sell") else None


#: below this, an epoch time is in seconds (1e11 s is in the year 5138; 1e11 ms in 1973)
_SECONDS_BELOW = 10**11


def ms_of(value: Any) -> int | None:
    """A time as ms since the epoch: from an epoch number (or its digits) in ms, or in seconds
    when it is too small to be ms (a venue that does not say its unit), or ISO 8601 text;
    None when it is none of these."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1000 if value < _SECONDS_BELOW else value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:  # a venue's time without a zone is UTC
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    return None
