"""Redis ACL users for the three roles (`ordercancel acl ROLE --user NAME`), Redis 7 syntax.

- `producer`: submits (XADD to the intake stream, nothing else), waits and reads outcomes
  (the result stream, finals, latest events, the halt flag, the dead-man switch, the account
  names), follows the result stream with a consumer group of its own, arms and heartbeats the
  dead-man switch (HSET in `lua/deadman.lua`; no DEL or HDEL, so it cannot disarm it). It
  cannot clear a halt, disarm, write results, queues, ledger, idempotency, budget or audit keys.
- `operator`: a producer that also reads every key of the prefix, clears the halt (`resume`)
  and disarms the dead-man switch, each with its audit entry.
- `worker`: the keys and channels of the prefix (the Celery broker's keys are under it), with
  the commands the worker nodes send, and none of `@dangerous` (FLUSHALL, CONFIG, KEYS, ...).

A selector in parentheses grants its commands on its keys only: a producer may XADD to
`<prefix>:requests` and nowhere else. Scripts run with the caller's permissions, command by
command, so a producer's EVAL cannot do more than the producer could.
"""

from __future__ import annotations

import hashlib
import re

from ordercancel.state.keys import Keys

ROLES = ("producer", "operator", "worker")

#: connecting: a URL's database, health checks (redis-py sends CLIENT SETINFO too, and goes on
#: when refused: Redis 7.0 has no such command to grant)
CONNECT = ["+ping", "+select"]
#: reading outcomes
READ = ["+xread", "+xrange", "+xrevrange", "+xlen", "+get", "+hget", "+hgetall", "+smembers"]
#: a consumer group of one's own on the result stream
FOLLOW = ["+xreadgroup", "+xack", "+xgroup|create", "+xgroup|createconsumer"]
#: `lua/deadman.lua` as a producer runs it (arm, beat)
DEADMAN = ["+evalsha", "+eval", "+script|load", "+time", "+hset", "+hget"]
#: what the worker nodes send, their scripts' commands included (`lua/`), and kombu's
WORKER = [
    *CONNECT,
    # scripts
    "+evalsha", "+eval", "+script|load", "+script|exists", "+time",
    # strings, hashes, sets, sorted sets, lists, keys
    "+get", "+set", "+del", "+exists", "+expire", "+pexpire", "+pttl",
    "+hget", "+hset", "+hdel", "+hmget", "+hgetall", "+hexists", "+hincrby",
    "+sadd", "+srem", "+scard", "+smembers",
    "+zadd", "+zrem", "+zscore", "+zrange", "+zrangebyscore", "+zremrangebyscore",
    "+lpush", "+rpush", "+rpop", "+brpop", "+blpop", "+llen", "+lindex", "+ltrim",
    # streams: results, finals, audit, intake
    "+xadd", "+xread", "+xrange", "+xrevrange", "+xlen", "+xtrim", "+xack", "+xautoclaim",
    "+xpending", "+xreadgroup", "+xgroup|create", "+xinfo|groups",
    # kombu: transactions, fanout over pub/sub
    "+multi", "+exec", "+discard", "+watch", "+unwatch",
    "+publish", "+subscribe", "+psubscribe", "+unsubscribe", "+punsubscribe",
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
    out = [
        *reads,
        *CONNECT,
        *READ,
        f"(~{pattern(keys.requests)} +xadd)",
        f"({' '.join([f'~{pattern(keys.results)}', *FOLLOW])})",
        f"({' '.join([f'~{pattern(keys.deadman)}', *DEADMAN])})",
    ]
    if role == "operator":  # resume and disarm: a transaction with the audit entry
        out += [
            "+multi", "+exec", "+discard", "+watch", "+unwatch",
            f"(~{pattern(keys.halt)} ~{pattern(keys.deadman)} +del +watch +hgetall)",
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
