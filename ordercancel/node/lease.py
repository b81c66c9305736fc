"""This node's lease on the requests it runs: the fence that keeps one request on one node.

Every node renews its lease in Redis each `recovery.BEAT_S` (`lua/beat.lua`). Another node takes
a request over only after the owner's lease has run out in Redis, and in the same script it
removes the owner from the live nodes. So the node must stop acting on its requests before its
lease can run out in Redis, and never act on them again once it was removed:

- venue calls are made only while the local lease holds (it is counted from before the renewal
  was sent, so it ends no later than the lease in Redis), each with a timeout that ends inside
  it; while the lease has lapsed, a call waits for the next renewal;
- the node is known in Redis by an identity with an epoch (`host:pid:token.epoch`); a renewal
  that finds the identity removed (another node took its requests over) starts a new epoch,
  and every request begun under the old one is fenced: no more venue calls (`Fenced`), and
  `finish.lua` refuses its final (the old identity is gone from the live nodes);
- after a Redis outage longer than a lease, nodes get a grace period to renew before any is
  declared dead (`lua/beat.lua`), so a node that was only waiting for Redis keeps its work.
"""

from __future__ import annotations

import threading
import time

from ordercancel.errors import Fenced


class Lease:
    def __init__(self, base: str, lease_s: float):
        self.base, self.lease_s = base, lease_s
        self.epoch = 0
        self._until = 0.0  # time.monotonic() when the lease ends
        self._fresh = True  # the identity has never been renewed (Redis does not know it yet)
        self._changed = threading.Condition()

    @property
    def node(self) -> str:
        """The identity this node renews and begins requests under now."""
        return f"{self.base}.{self.epoch}"

    def renewed(self, node: str, sent_at: float, *, intact: bool) -> None:
        """A renewal of `node` sent at `sent_at` (monotonic) succeeded. Not `intact`: the
        identity had been removed (its requests taken over), unless this was its first renewal:
        start a new epoch, which the caller renews at once."""
        with self._changed:
            if node != self.node:
                return
            if intact or self._fresh:
                self._until = max(self._until, sent_at + self.lease_s)
                self._fresh = False
            else:
                self.epoch += 1
                self._until = 0.0
                self._fresh = True
            self._changed.notify_all()

    def hold(self, node: str, wait_s: float) -> float:
        """Seconds the lease of `node` still holds, waiting up to `wait_s` for a renewal while
        it has lapsed (0.0 when it has not come); `Fenced` once `node` is not ours any more."""
        end = time.monotonic() + wait_s
        with self._changed:
            while True:
                if node != self.node:
                    raise Fenced(f"this node's lease {node} was taken over")
                now = time.monotonic()
                if now < self._until:
                    return self._until - now
                if now >= end:
                    return 0.0
                self._changed.wait(end - now)
