"""Wire helpers shared by venues."""

from __future__ import annotations

import json
from typing import Any


def compact_json(payload: Any) -> bytes:
    """JSON with no whitespace between tokens, UTF-8: the bytes both signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
