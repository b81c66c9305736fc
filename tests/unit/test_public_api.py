import ordercancel


def test_all_names_exist_and_cover_the_contract():
    for name in ordercancel.__all__:
        assert hasattr(ordercancel, name), name
    assert {"Client", "Ticket", "Status", "ErrorCode", "WaitTimeout"} <= set(ordercancel.__all__)
    assert issubclass(ordercancel.WaitTimeout, TimeoutError)


def test_event_fields_match_the_contract():
    from ordercancel.events import FIELDS

    contract = {
        "event",
        "request_id",
        "kind",
        "account",
        "venue",
        "symbol",
        "order_id",
        "idempotency_key",
        "parent_id",
        "status",
        "error_code",
        "error",
        "attempts",
        "http_status",
        "venue_status",
        "ts",
        "received_ms",
        "latency_ms",
        "detail",
    }
    assert contract <= set(FIELDS)


def test_celery_app_leaves_at_least_once_to_the_ledger():
    from ordercancel.node.celery_app import ROUTINE, URGENT, make_celery
    from ordercancel.settings import settings_from

    settings = settings_from({"requests": {"default_deadline_ms": 40_000}}, env={})
    conf = make_celery(settings).conf
    assert not conf.task_acks_late  # acked on start: the ledger carries the request
    assert conf.worker_prefetch_multiplier == 1
    from ordercancel.node.broker import QoS  # kombu's Redis copy of delivered messages: none

    assert QoS.restore_visible(None) is None and QoS.restore_at_shutdown is False
    assert {q.name for q in conf.task_queues} == {ROUTINE, URGENT}


def test_metric_labels_take_only_values_we_know():
    from ordercancel.observe.metrics import KINDS, known
    from ordercancel.outcomes import Kind

    assert {k.value for k in Kind} == KINDS
    assert known("cancel", KINDS) == "cancel"
    assert known(["cancel"], KINDS) == known("x" * 500, KINDS) == known(None, KINDS) == "-"
