"""Redis ACL users for the three roles (`ordercancel acl ROLE --user NAME`), Redis 7 syntax.

- `producer`: submits (XADD to the intake stream), arms and heartbeats the dead-man switch
  (XADD to its entry stream, which the workers apply), and reads outcomes: the result stream,
  finals, latest events, the halt flag, the switch's state, the account names. No script, no
  other write: it cannot clear a halt, disarm, or write results, finals, queues, ledger,
  idempotency, budget or audit keys.
- `operator`: a producer that also reads every key of the prefix, clears the halt (`resume`)
  and disarms the dead-man switch, each with its audit entry.
- `worker`: the keys and channels of the prefix (the Celery broker's keys are under it), with
  the commands the worker nodes send, and none of `@dangerous` (FLUSHALL, CONFIG, KEYS, ...).

A selector in parentheses grants its commands on its keys only: a producer may XADD to
`<prefix>:requests` and `<prefix>:deadman:beats`, and nowhere else.
"""

from __future__ import annotations

import hashlib
import re

from ordercancel.state.keys import Keys

ROLES = ("producer", "operator", "worker")

#: connecting: a URL's database, health checks, WAIT for replicas (redis-py sends CLIENT SETINFO
#: too, and goes on when refused: Redis 7.0 has no such command to grant)
CONNECT = ["+ping", "+select", "+wait"]
#: reading outcomes
READ = ["+xread", "+xrange", "+xrevrange", "+xlen", "+get", "+hget", "+hgetall", "+smembers"]
#: what the worker nodes send, their scripts' commands included (`lua/`), and kombu's
WORKER = [
    *CONNECT,
    # scripts
    "+evalsha", "+script|load", "+script|exists", "+time",
    # strings, hashes, sets, sorted sets, lists, keys
    "+get", "+set", "+del", "+exists", "+expire", "+pexpire", "+pttl",
    "+hget", "+hset", "+hdel", "+hmget", "+hgetall", "+hexists", "+hincrby",
    "+sadd", "+srem", "+scard", "+smembers",
    "+zadd", "+zrem", "+zscore", "+zrange", "+zrangebyscore", "+zremrangebyscore",
    "+lpush", "+rpush", "+rpop", "+brpop", "+blpop", "+llen", "+lindex", "+ltrim",
    # streams: results, finals, audit, intake
    "+xadd", "+xdel", "+xread", "+xrange", "+xrevrange", "+xlen", "+xtrim", "+xack", "+xautoclaim",
    "+xpending", "+xreadgroup", "+xgroup|create", "+xinfo|groups",
    # kombu: transactions, fanout over pub/sub
    "+multi", "+exec", "+discard", "+watch", "+unwatch",
    "+publish", "+psubscribe", "+punsubscribe",
]  # fmt: skip


def pattern(text: str) -> str:
    """`text` as a literal in a Redis glob pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def rules(role: str, prefix: str, db: int = 0) -> list[str]:
    """The ACL rules of `role` for keys under `prefix` in database `db`, after `reset` (no
    password)."""
    keys, p = Keys(prefix), pattern(prefix)
    if role == "worker":
        # Celery's remote control (`celery inspect`, Flower) PSUBSCRIBEs to its channel, and a
        # pattern subscription is allowed only when the ACL names that very pattern
        pidbox = f"&{keys.celery}/{db}.celery.pidbox"
        return [f"~{p}:*", f"&{p}:*", pidbox, *WORKER]
    if role not in ("producer", "operator"):
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "producer":
        readable = [keys.results, keys.halt, keys.deadman, keys.accounts]
        reads = [f"%R~{pattern(k)}" for k in readable]
        reads += [f"%R~{pattern(keys.final_prefix)}*", f"%R~{pattern(keys.last_prefix)}*"]
    else:
        reads = [f"%R~{p}:*", "+@read", "-@dangerous"]
    out = [*reads, *CONNECT, *READ,
           f"(~{pattern(keys.requests)} ~{pattern(keys.deadman_beats)} +xadd)"]  # fmt: skip
    if role == "operator":  # resume and disarm: a transaction with the audit entry
        switch = f"~{pattern(keys.deadman)} ~{pattern(keys.deadman_beats)}"
        out += [
            "+multi", "+exec", "+discard", "+watch", "+unwatch",
            f"(~{pattern(keys.halt)} {switch} +del)",
            f"(~{pattern(keys.halt)} +hdel)",  # resume one scope
            f"(~{pattern(keys.audit)} +xadd)",
        ]  # fmt: skip
    return out


def setuser(role: str, user: str, prefix: str, password: str | None, db: int = 0) -> str:
    """The `ACL SETUSER` command for `user` in `role`. The password goes in as its SHA-256
    (`#<hex>`), never as text; without one the user cannot log in until one is added."""
    if not user or any(c.isspace() for c in user):
        raise ValueError("the user name must be non-empty, without spaces")
    secret = f"#{hashlib.sha256(password.encode()).hexdigest()}" if password else "resetpass"
    return " ".join(["ACL", "SETUSER", user, "reset", "on", secret, *rules(role, prefix, db)])
