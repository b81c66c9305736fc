"""The urgent queue has workers of its own: routine work never delays it."""

from ordercancel.node.celery_app import TASK, URGENT

from .conftest import now_ms, seed


def test_urgent_work_passes_a_full_routine_backlog(client, admin, stack):
    # Given more slow routine cancels than the routine node has threads (each takes 3 s)
    admin.faults(latency_ms=3000, accounts=["zebpay-slow"])
    slow = seed(admin, "zebpay-slow", n=stack.settings.worker_concurrency + 4)
    routine = [client.cancel("zebpay-slow", oid) for oid in slow]
    # When an urgent request arrives after them
    [oid] = seed(admin)
    message = {
        "kind": "cancel",
        "account": "zebpay-main",
        "order_id": oid,
        "request_id": f"urgent-{oid}",
        "received_ms": now_ms(),
    }
    client._celery.send_task(TASK, args=[message], queue=URGENT)
    urgent = client.store.wait_final(message["request_id"], 20)
    # Then it is final while every routine request is still running
    assert urgent is not None and urgent["status"] == "canceled"
    assert all(client.store.redis.llen(client.keys.final(t.request_id)) == 0 for t in routine)
    assert all(t.wait(30)["status"] == "canceled" for t in routine)
