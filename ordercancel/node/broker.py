"""How the worker's kombu Redis channel tracks delivered messages: in memory only.

kombu's Redis transport keeps a copy of every delivered message in Redis (a hash and an index:
a round trip on delivery and another on ack) so that it can hand the message to another worker
after the visibility timeout. Here that copy protects nothing: a task is acknowledged as it
starts (`celery_app.py`) and every request is in our ledger until its final is published, so
recovery sends a lost one again (`recovery.py`). Dropping the copy saves those two round trips
per message, and the ack can no longer fail: Celery 5.7 acknowledges messages received on a
broker connection that has since been replaced, and kombu's Redis ack on it raised
AttributeError inside the event loop ("Unrecoverable error", the node exited).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual


class QoS(kombu_redis.QoS):
    restore_at_shutdown = False

    def append(self, message: Any, delivery_tag: str) -> None:
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        # nothing to requeue from: the ledger sends a rejected request again (tasks.py)
        virtual.QoS.ack(self, delivery_tag)

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        return None  # nothing is kept to restore

    def restore_unacked(self, client: Any = None) -> None:
        if self._delivered is not None:
            self._delivered.clear()


def install() -> None:
    kombu_redis.Channel.QoS = QoS
