"""What a worker process holds: settings, one Redis client, one `Venue` per account, a pool."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ordercancel.config import Settings
from ordercancel.engine.budget import Budget
from ordercancel.events import Event
from ordercancel.node.lease import Lease
from ordercancel.observe import sentry
from ordercancel.observe.logs import final_published
from ordercancel.state.keys import Keys
from ordercancel.state.store import Store
from ordercancel.venues import Venue, venue_class

log = logging.getLogger("ordercancel")
#: A request nobody runs this long after it was sent, with the queues empty, is sent again.
UNOWNED_AFTER_MS = 5_000
#: A request nobody has begun this close to its deadline is expired: there is no time left to
#: send a cancel and hear back (and the final must come inside the deadline).
EXPIRE_MARGIN_MS = 100


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.keys = Keys(settings.prefix)
        self.store = Store.from_settings(settings)
        # one log line and the metrics of each final this process publishes; auth failures
        # also go to Sentry
        venues = frozenset(a.venue for a in settings.accounts.values())

        def published(event: Event) -> None:
            final_published(event, settings.accounts, venues)
            sentry.report_final(event)

        self.store.on_final = published
        self._venues: dict[str, Venue] = {}
        self._budgets: dict[str, Budget] = {}  # by scope
        self._budget_of: dict[str, Budget] = {}  # by account
        self._lock = threading.Lock()
        #: this process's lease: who owns the requests it runs in Redis (`lease.py`)
        self.lease = Lease(
            f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}", settings.lease_s
        )
        #: requests running in this process; a duplicate delivery of one of them is dropped
        self.running: set[str] = set()
        #: held to add to `running`, and while owners of requests not in it are released
        self.running_lock = threading.Lock()
        #: requests this process gave up on without a final: the next heartbeat disowns them
        self.disowned: list[str] = []
        self.renew_lease()
        #: the requests of `execute_many` tasks, side by side
        self.requests = ThreadPoolExecutor(
            max_workers=settings.worker_concurrency, thread_name_prefix="ordercancel-request"
        )
        #: per-order work of batches; threads (and their HTTP sessions) live as long as we do
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ordercancel-order")
        #: one thread per account of a kill; never waits on itself, only on `pool`
        self.accounts_pool = ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="ordercancel-acct"
        )

    @property
    def node(self) -> str:
        """This process's lease identity now."""
        return self.lease.node

    def renew_lease(
        self, queues: list[str] | None = None, disown: list[str] | None = None, limit: int = 0
    ) -> list[tuple[str, str, int, dict[str, Any]]]:
        """Hold this node's lease for `lease_s`, under a new epoch if the old one was taken
        over; with `queues` and a `limit`, also recover requests (`Store.beat`)."""
        for _ in range(2):  # a new epoch is renewed at once
            node, sent_at = self.lease.node, time.monotonic()
            intact, orphans = self.store.beat(
                node,
                lease_ms=self.settings.lease_s * 1000,
                unowned_after_ms=UNOWNED_AFTER_MS,
                queues=queues or [],
                disown=disown or [],
                limit=limit,
                expire_margin_ms=EXPIRE_MARGIN_MS,
            )
            self.lease.renewed(node, sent_at, intact=intact)
            if node == self.lease.node:
                return orphans
            log.warning("lease %s was taken over; this node goes on as %s", node, self.node)
        return orphans

    def budget(self, venue: Venue) -> Budget:
        """The budget of the venue's scope: the smallest rate_limit of the accounts in it."""
        budget = self._budget_of.get(venue.account.name)
        if budget is None:
            with self._lock:
                scope = venue.budget_scope(venue.account)
                budget = self._budgets.get(scope)
                if budget is None:
                    peers = [
                        c.rate_limit
                        for c in self.settings.accounts.values()
                        if c.venue == venue.name and venue.budget_scope(c) == scope
                    ]
                    limit = min(peers, key=lambda r: r.count / r.seconds)
                    budget = self._budgets[scope] = Budget(
                        self.store.redis, self.settings.prefix, scope, limit, store=self.store
                    )
                self._budget_of[venue.account.name] = budget
        return budget

    def after_failover(self, *, first: bool) -> None:
        """This process sees a new Redis primary. The requests it owns there but does not run
        lost their final with the old one (a demoted primary took it): released, to run again.
        The rate tokens it took whose WAIT fell short are put back (`Budget.after_failover`).
        The `first` process to see it also raises the halt again if the newest kill in the
        audit stream has no resume after it (the halt may not have reached the replica)."""
        if first and self.store.reassert_halt():
            log.warning("after a failover: the halt of the last kill was raised again")
        with self.running_lock:  # none begins meanwhile: each owner read is of one it runs
            lost = self.store.release_unrun(self.lease.base, self.running)
        if lost:
            log.warning("after a failover: %d request(s) this node finished lost their final "
                        "and will run again", lost)  # fmt: skip
        for budget in list(self._budgets.values()):
            lost = budget.after_failover()
            if lost:
                log.warning("after a failover: %d rate token(s) put back (%s)", lost, budget.scope)

    def venue(self, account: str) -> Venue:
        """The account's venue connection, made once per process."""
        venue = self._venues.get(account)
        if venue is None:
            with self._lock:
                venue = self._venues.get(account)
                if venue is None:
                    config = self.settings.accounts[account]
                    venue = venue_class(config.venue)(config)
                    self._venues[account] = venue
        return venue
