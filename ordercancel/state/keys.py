"""Every Redis key ordercancel uses, in one place (CONTRACT §3): the budget's too."""

from __future__ import annotations

from dataclasses import dataclass

#: the consumer group every worker node reads the intake stream in
INTAKE_GROUP = "ordercancel"


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def requests(self) -> str:
        """Intake stream: any producer XADDs `request=<json>`."""
        return f"{self.prefix}:requests"

    @property
    def results(self) -> str:
        """Result stream: every event."""
        return f"{self.prefix}:results"

    @property
    def dead(self) -> str:
        """Dead-letter stream: intake entries that kept failing, with their error."""
        return f"{self.prefix}:dead"

    @property
    def celery(self) -> str:
        """Prefix of the Celery broker's own keys (queues, unacked set)."""
        return f"{self.prefix}:celery:"

    @property
    def workers_ready(self) -> str:
        """List a worker pushes its node name onto once it consumes."""
        return f"{self.prefix}:workers:ready"

    @property
    def accounts(self) -> str:
        """Set of the account names the workers are configured with (each node adds its own at
        start): producers, who read no account, check names against it."""
        return f"{self.prefix}:accounts"

    @property
    def audit(self) -> str:
        """Audit stream: every kill, resume, dead-man arm/fire/disarm and cancel_all (who, when,
        why, scope); trimmed by age only, never inside `[audit] retention_s`."""
        return f"{self.prefix}:audit"

    @property
    def halt(self) -> str:
        """Hash set by a kill (reason, since_ms, request_id, accounts); cleared by resume."""
        return f"{self.prefix}:halt"

    @property
    def kill_running(self) -> str:
        """The running kill's claim: JSON {request_id, accounts}."""
        return f"{self.prefix}:kill:running"

    @property
    def deadman(self) -> str:
        """The dead-man switch (hash; see lua/deadman.lua)."""
        return f"{self.prefix}:deadman"

    @property
    def deadman_beats(self) -> str:
        """Stream of the producers' dead-man arms and heartbeats, applied by the watchers."""
        return f"{self.prefix}:deadman:beats"

    @property
    def ledger(self) -> str:
        """Hash: request_id -> the message of every request enqueued and not yet final."""
        return f"{self.prefix}:ledger"

    @property
    def ledger_since(self) -> str:
        """Sorted set: request_id -> when it was (re)enqueued (ms, Redis server clock)."""
        return f"{self.prefix}:ledger:since"

    @property
    def ledger_due(self) -> str:
        """Sorted set: request_id -> its deadline (ms since epoch)."""
        return f"{self.prefix}:ledger:due"

    @property
    def ledger_resends(self) -> str:
        """Hash: request_id -> how often recovery has sent it again."""
        return f"{self.prefix}:ledger:resends"

    @property
    def owners(self) -> str:
        """Hash: request_id -> the worker node running it."""
        return f"{self.prefix}:owners"

    @property
    def nodes(self) -> str:
        """Sorted set: worker node -> end of its lease (ms, Redis server clock)."""
        return f"{self.prefix}:nodes"

    @property
    def nodes_beat(self) -> str:
        """When any node last renewed its lease (ms, Redis server clock)."""
        return f"{self.prefix}:nodes:beat"

    @property
    def nodes_grace(self) -> str:
        """Set, with a lease's TTL, after an outage in which no node could renew: until it
        expires no node is declared dead (`lua/beat.lua`)."""
        return f"{self.prefix}:nodes:grace"

    @property
    def last_prefix(self) -> str:
        return f"{self.prefix}:last:"

    @property
    def final_prefix(self) -> str:
        return f"{self.prefix}:finals:"  # 0.1 kept lists under `:final:`; streams now

    def final(self, request_id: str) -> str:
        """Stream holding the request's one final event (JSON in the field `final`)."""
        return f"{self.final_prefix}{request_id}"

    def budget(self, scope: str) -> list[str]:
        """A rate budget scope's keys: its window, its routine window, its hold (a venue's
        Retry-After) (`budget.lua`)."""
        base = f"{self.prefix}:budget:{scope}"
        return [base, f"{base}:routine", f"{self.prefix}:budget:hold:{scope}"]

    @property
    def primary(self) -> str:
        """The Redis primary the workers last saw (`host:port`, Sentinel URLs only): a worker
        that sees another one knows there was a failover (`recovery.py`)."""
        return f"{self.prefix}:primary"

    def last(self, request_id: str) -> str:
        """The latest non-final event of a begun request (JSON): it was begun at least once."""
        return f"{self.last_prefix}{request_id}"

    def pending(self, account: str) -> str:
        """Set of the account's requests begun and not yet final (backpressure)."""
        return f"{self.prefix}:pending:{account or '-'}"

    def idempotency(self, account: str, key: str) -> str:
        return f"{self.prefix}:idem:{account}:{key}"
