"""The two Celery queues, named apart from the Celery app so the worker supervisor (which
only starts nodes) does not load Celery."""

from __future__ import annotations

ROUTINE, URGENT = "routine", "urgent"


def queue_for(kind: object) -> str:
    """Kills go to the urgent queue, everything else to the routine one."""
    return URGENT if kind == "kill" else ROUTINE
