"""The intake stream: any producer's XADD, read through a consumer group by the workers."""

import json
import time

import redis

from ordercancel.node.intake import GROUP, MAX_DELIVERIES
from ordercancel.state.store import connect_raw

from .conftest import order_status, seed, venue_calls


def xadd(client, value, field="request"):
    data = value if isinstance(value, bytes | str) else json.dumps(value)
    return client.store.redis.xadd(client.keys.requests, {field: data})


def final_of(client, request_id, timeout=15):
    final = client.store.wait_final(request_id, timeout)
    assert final is not None, f"no final for {request_id}"
    return final


def test_a_plain_xadd_cancels_an_order(client, admin):
    [oid] = seed(admin, "ajaib-main")
    entry = xadd(client, {"kind": "cancel", "account": "ajaib-main", "order_id": oid,
                          "symbol": "BTC_USDT", "reason": "from redis-cli"})  # fmt: skip
    final = final_of(client, entry)  # the entry id is the request id
    assert final["status"] == "canceled" and final["reason"] == "from redis-cli"
    assert final["received_ms"] == entry.split("-")[0]  # receipt is when Redis took the entry
    assert order_status(admin, "ajaib-main", oid) == "CANCELLED"


def test_an_entry_may_name_its_request_id(client, admin):
    [oid] = seed(admin)
    xadd(
        client, {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "request_id": "rq-7"}
    )
    assert final_of(client, "rq-7")["status"] == "canceled"


def test_entries_read_together_each_get_one_final(client, admin):
    """One read becomes one task: a good cancel, a repeat of its request id, an invalid one
    and an unreadable entry side by side; each ends on its own, the repeat runs once."""
    a, b = seed(admin, n=2)
    redis_ = client.store.redis
    with redis_.pipeline(transaction=False) as pipe:  # one round trip: read together
        for value in (
            {"kind": "cancel", "account": "zebpay-main", "order_id": a, "request_id": "mix-a"},
            {"kind": "cancel", "account": "zebpay-main", "order_id": a, "request_id": "mix-a"},
            {"kind": "cancel", "account": "zebpay-main", "order_id": b, "request_id": "mix-b"},
            {"kind": "cancel", "account": "nobody", "order_id": b, "request_id": "mix-c"},
            "not json",
        ):
            pipe.xadd(client.keys.requests, {"request": json.dumps(value)})
        ids = pipe.execute()
    assert final_of(client, "mix-a")["status"] == "canceled"
    assert final_of(client, "mix-b")["status"] == "canceled"
    assert final_of(client, "mix-c")["error_code"] == "unknown_account"
    assert final_of(client, ids[-1])["error_code"] == "invalid_message"
    finals = [e for e in client.events() if e["event"] == "final" and e["request_id"] == "mix-a"]
    assert len(finals) == 1
    cancelled = [c for c in venue_calls(admin, "zebpay.cancel") if c["status"] == 200]
    assert len(cancelled) == 2  # a once, b once
    assert order_status(admin, "zebpay-main", a) == order_status(admin, "zebpay-main", b)


def test_a_kill_through_the_stream(client, admin):
    [oid] = seed(admin, "zebpay-flat")
    entry = xadd(
        client, {"kind": "kill", "reason": "java risk engine", "accounts": ["zebpay-flat"]}
    )
    assert final_of(client, entry)["status"] == "completed"
    assert order_status(admin, "zebpay-flat", oid) == "canceled"
    client.resume()


def test_unreadable_entries_are_rejected_under_their_entry_id(client):
    cases = {
        "no request field": ({"kind": "cancel"}, "other"),
        "not JSON": ("{kind: cancel", "request"),
        "not an object": ('["cancel"]', "request"),
        "not UTF-8": (b"\xff\xfe\x00{", "request"),
        "NUL": ('{"kind": "cancel\\u0000", "x": "\x00"}', "request"),
        "too deep": ("[" * 500 + "]" * 500, "request"),
        "too large": (json.dumps({"kind": "cancel", "pad": "x" * 70_000}), "request"),
    }
    for name, (value, field) in cases.items():
        entry = xadd(client, value, field)
        final = final_of(client, entry)
        assert (final["status"], final["error_code"]) == ("rejected", "invalid_message"), name
        assert len(final["error"]) < 300


def test_invalid_fields_are_rejected_naming_the_field(client):
    entry = xadd(client, {"kind": "cancel", "account": "zebpay-main", "order_id": 42})
    final = final_of(client, entry)
    assert (final["status"], final["error_code"]) == ("rejected", "invalid_request")
    assert "order_id" in final["error"]
    entry = xadd(client, {"kind": "cancel", "account": "x" * 5000, "order_id": "1"})
    final = final_of(client, entry)
    assert final["status"] == "rejected" and len(final["error"]) < 300  # nothing long echoed


def ghost_read(client, value):
    """XADD an entry and have a reader that then 'crashes' take it, before any worker sees it."""
    raw = connect_raw(client.settings.broker_redis_url)
    with raw.pipeline(transaction=True) as pipe:
        pipe.xadd(client.keys.requests, {"request": json.dumps(value)})
        pipe.xreadgroup(GROUP, "ghost", {client.keys.requests: ">"}, count=1)
        entry, read = pipe.execute()
    assert read[0][1][0][0] == entry
    return raw, entry.decode()


def test_entries_of_a_crashed_reader_are_claimed_back(client, admin):
    [oid] = seed(admin)
    raw, entry = ghost_read(client, {"kind": "cancel", "account": "zebpay-main", "order_id": oid})
    assert final_of(client, entry)["status"] == "canceled"  # after the claim idle time
    assert raw.xpending_range(client.keys.requests, GROUP, "-", "+", 10, consumername="ghost") == []


def test_an_entry_that_keeps_failing_is_dead_lettered(client, admin):
    [oid] = seed(admin)
    raw, entry = ghost_read(client, {"kind": "cancel", "account": "zebpay-main", "order_id": oid})
    for _ in range(MAX_DELIVERIES):  # delivered and lost again and again
        raw.xclaim(client.keys.requests, GROUP, "ghost", 0, [entry])
    final = final_of(client, entry)
    assert (final["status"], final["error_code"]) == ("failed", "dead_letter")
    dead = raw.xrange(client.keys.dead)
    assert any(f[b"entry_id"].decode() == entry for _, f in dead)
    assert order_status(admin, "zebpay-main", oid) == "new"  # never executed


def test_backpressure_rejects_beyond_the_pending_limit_but_never_a_kill(client, admin, stack):
    limit = stack.settings.max_pending_per_account
    key = client.keys.pending("zebpay-flat")
    client.store.redis.sadd(key, *[f"fake-{i}" for i in range(limit)])
    try:
        [oid] = seed(admin, "zebpay-flat")
        final = client.cancel("zebpay-flat", oid).wait(10)
        assert (final["status"], final["error_code"]) == ("rejected", "overloaded")
        assert client.kill("overloaded", ["zebpay-flat"]).wait(15)["status"] == "completed"
        assert order_status(admin, "zebpay-flat", oid) == "canceled"
    finally:
        client.store.redis.delete(key)
        client.resume()


def drained(client, timeout=10.0) -> bool:
    """Whether the group's pending list empties within `timeout` (an entry is acknowledged just
    after its final is published, so the two are not one event)."""
    raw: redis.Redis = connect_raw(client.settings.broker_redis_url)
    end = time.monotonic() + timeout
    while raw.xpending(client.keys.requests, GROUP)["pending"]:
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_the_group_is_left_with_nothing_pending(client):
    final_of(client, xadd(client, "junk"))
    assert drained(client)


def test_the_intake_queues_the_message_celery_would_send(stack):
    """The intake pushes its broker messages itself, in the script that records them: each is
    the message `send_task` would push (checked here against Celery's own, on a queue no
    worker reads), and the workers run them (every test above)."""
    from dataclasses import replace

    from ordercancel.node.celery_app import TASK_MANY, make_celery, task_message
    from ordercancel.state.keys import Keys

    settings = replace(stack.settings, prefix=f"scratch-{time.time_ns()}")
    app = make_celery(settings)
    r = redis.Redis.from_url(stack.settings.broker_redis_url, decode_responses=True)
    queue = Keys(settings.prefix).celery + "routine"
    arg = [{"kind": "cancel", "request_id": "a"}, {"kind": "cancel", "_entry_id": "1-0"}]
    try:
        app.send_task(TASK_MANY, args=[arg], queue="routine")
        theirs = json.loads(r.rpop(queue))
        ours = json.loads(task_message(app, TASK_MANY, arg, "routine"))
    finally:
        r.delete(*r.keys(f"{settings.prefix}:*") or ["-"])
        app.close()
    assert ours.keys() == theirs.keys() and ours["body"] == theirs["body"]
    assert ours["properties"].keys() == theirs["properties"].keys()
    for name in ("delivery_info", "priority", "body_encoding", "delivery_mode"):
        assert ours["properties"][name] == theirs["properties"][name]
    assert ours["headers"].keys() == theirs["headers"].keys()
    differ = {"id", "root_id", "argsrepr", "origin"}  # a new id each; shown in short
    assert {k: v for k, v in ours["headers"].items() if k not in differ} == {
        k: v for k, v in theirs["headers"].items() if k not in differ
    }
    assert ours["headers"]["argsrepr"] == "[a: cancel, 1-0: cancel]"
