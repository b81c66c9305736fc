"""At-least-once delivery: a worker SIGKILLed mid-cancel loses nothing and duplicates nothing.

Its requests are sent again from our ledger once its lease (3 s here) runs out."""

import signal

import pytest

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import events_of, now_ms, order_status, seed, start_stack


@pytest.fixture
def short_lease_stack():
    stack = start_stack(extra_config={"worker": {"lease_s": 3}})
    yield stack
    stack.stop_worker(signal.SIGKILL)
    stack.drop_keys()
    stack.stop()


def test_sigkilled_worker_work_is_redelivered_and_finishes_once(short_lease_stack):
    stack = short_lease_stack
    admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
    # Given a cancel in flight: accepted, its venue call taking 2 s
    admin.faults(latency_ms=2000, accounts=["zebpay-slow"])
    [oid] = seed(admin, "zebpay-slow")
    ticket = client.cancel("zebpay-slow", oid)
    for event in client.events(follow=True):
        if event["request_id"] == ticket.request_id and event["event"] == "accepted":
            break
    # When the whole worker process group is SIGKILLed, and a new worker starts
    stack.stop_worker(signal.SIGKILL)
    stack.start_worker()
    # Then the request still ends, exactly once, and the order is cancelled at the venue
    final = ticket.wait(40)
    assert final["status"] == "canceled"
    assert order_status(admin, "zebpay-slow", oid) == "canceled"
    assert [e["event"] for e in events_of(client, ticket.request_id)].count("final") == 1
    client.close()


def test_dead_man_fires_though_the_worker_watching_it_was_killed(short_lease_stack):
    stack = short_lease_stack
    admin, client = SimAdmin(stack.sim_url), Client(stack.settings)
    ids = admin.seed("ajaib", "ajaib-main", [{"symbol": "BTC_USDT"}] * 3)
    # Given an armed switch, and the only worker SIGKILLed before it expires
    client.arm_deadman(1.5, ["ajaib-main"])
    request_id = f"deadman-{client.deadman()['armed_ms']}"
    stack.stop_worker(signal.SIGKILL)
    # When a new worker starts
    stack.start_worker()
    # Then the kill fires all the same, and every order is cancelled
    final = client.store.wait_final(request_id, 20)
    assert final is not None and final["status"] == "completed"
    assert {
        o["status"] for o in admin.orders("ajaib", "ajaib-main") if str(o["order_id"]) in ids
    } == {"CANCELLED"}
    client.close()


def test_a_request_whose_producer_died_before_sending_it_is_sent_from_the_ledger(
    client, admin, stack
):
    # Given a request recorded in the ledger whose message never reached the queue (its
    # producer died in between, or the broker lost it between pop and unacked record)
    [oid] = seed(admin, "zebpay-main")
    request_id = "ledger-only-" + oid
    message = {
        "kind": "cancel",
        "account": "zebpay-main",
        "order_id": oid,
        "request_id": request_id,
        "received_ms": now_ms(),
    }
    client.store.dispatch([(request_id, message, 0)])
    # Then a worker's heartbeat finds it once the queues are empty, and it runs once
    final = client.store.wait_final(request_id, 30)
    assert final is not None and final["status"] == "canceled"
    assert order_status(admin, "zebpay-main", oid) == "canceled"
    assert [e["event"] for e in events_of(client, request_id)].count("final") == 1
    assert not client.store.redis.hexists(client.keys.ledger, request_id)
