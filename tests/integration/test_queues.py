"""The urgent queue has workers of its own: routine work never delays it."""

from ordercancel.node.celery_app import TASK, URGENT, make_celery

from .conftest import (
    closed_ms,
    now_ms,
    order_status,
    routine_backlog,
    routine_capacity,
    seed,
)


def test_urgent_work_passes_a_full_routine_backlog(client, admin, stack):
    capacity = routine_capacity(stack)
    # Given a routine backlog: 2 * capacity + 4 cancels the venue holds a round each
    with routine_backlog(client, admin, stack) as reached:
        # When an urgent request arrives after all of them
        [oid] = seed(admin, "q-urgent")
        message = {
            "kind": "cancel",
            "account": "q-urgent",
            "order_id": oid,
            "request_id": f"urgent-{oid}",
            "received_ms": now_ms(),
        }
        make_celery(stack.settings).send_task(TASK, args=[message], queue=URGENT)
        urgent = client.store.wait_final(message["request_id"], 60)
        assert urgent is not None and urgent["status"] == "canceled", urgent
        assert order_status(admin, "q-urgent", oid) == "canceled"
        # Then the venue closed it before the backlog's second round reached the venue: it
        # waited for no routine thread to free up (queued behind the backlog, it would come
        # after 2 * capacity of them, or capacity + 4 with the urgent node's threads on it)
        before = reached(closed_ms(admin, "q-urgent", oid))
        assert before <= capacity, (
            f"{before} routine cancels reached the venue before the urgent one was done "
            f"(routine capacity {capacity})"
        )
