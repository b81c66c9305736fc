"""How the worker's kombu Redis channel acknowledges: never fatally.

When the broker connection drops, Celery 5.7 collects the connection and reconnects, and
messages received on the old connection are still acknowledged on it once their task starts.
kombu then looks for the dead connection's client and raises AttributeError inside the event
loop: "Unrecoverable error", and the node exits. Here such an ack is left undone (kombu hands
the message back after the visibility timeout, and the request path drops it as done or
running); and the restore of unacknowledged messages when a channel closes, which fails the same
way, is off: the ledger sends those requests again (`recovery.py`).
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

log = logging.getLogger("ordercancel")


class QoS(kombu_redis.QoS):
    restore_at_shutdown = False

    def ack(self, delivery_tag: str) -> None:
        try:
            super().ack(delivery_tag)
        except AttributeError:  # acknowledged on a connection that is gone
            log.warning("ack of %s left undone: its broker connection is gone", delivery_tag)


def install() -> None:
    kombu_redis.Channel.QoS = QoS
