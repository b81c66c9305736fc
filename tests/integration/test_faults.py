"""Venue faults, injected by the simulator: each ends in the right outcome, retried or not."""

from .conftest import events_of, order_status, seed, venue_calls


def test_429_waits_at_least_retry_after_then_succeeds(client, admin):
    [oid] = seed(admin)
    admin.faults(burst_429=1, retry_after=1, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "2"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [e["error_code"] for e in retrying] == ["rate_limited"]
    first, second = venue_calls(admin, "zebpay.cancel")
    assert first["status"] == 429
    assert second["t_ms"] - first["t_ms"] >= 1000  # Retry-After honoured


def test_5xx_is_retried_with_backoff(client, admin):
    [oid] = seed(admin)
    admin.faults(error_next=2, error_status=502, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "3"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [(e["error_code"], e["http_status"]) for e in retrying] == [
        ("venue_unavailable", "502")
    ] * 2


def test_connection_reset_is_retried(client, admin):
    [oid] = seed(admin)
    admin.faults(reset_next=1, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "2"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert retrying[0]["error_code"] == "venue_unavailable" and "connection" in retrying[0]["error"]


def test_lost_response_is_retried_and_settled(client, admin):
    # The venue cancels but its answer never arrives (the client times out after 0.5 s).
    [oid] = seed(admin)
    admin.faults(timeout_next=1, timeout_s=3, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert retrying[0]["error_code"] == "timeout"


def test_unanswered_venue_ends_unknown_never_canceled(client, admin):
    # Every call's answer is lost, read-back included: nothing settles the outcome.
    [oid] = seed(admin)
    admin.faults(timeout_rate=1.0, timeout_s=3)
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 2500}
    ).wait(20)
    assert final["status"] == "unknown" and final["error_code"] == "timeout"
    assert len(venue_calls(admin, "zebpay.get_order")) >= 1  # it did try to read the order back


def test_exhausted_retries_read_the_order_back_before_deciding(client, admin):
    # Cancels keep failing with 503, but reads work: the order is seen open, so the cancel failed.
    [oid] = seed(admin)
    admin.faults(error_rate=1.0, routes=["zebpay.cancel"])
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 2000}
    ).wait(20)
    assert final["status"] == "failed" and final["error_code"] == "still_open"
    assert order_status(admin, "zebpay-main", oid) == "new"
    assert len(venue_calls(admin, "zebpay.get_order")) == 1


def test_5xx_everywhere_ends_unknown(client, admin):
    [oid] = seed(admin)
    admin.faults(error_rate=1.0)
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 1500}
    ).wait(20)
    assert final["status"] == "unknown" and final["error_code"] == "venue_unavailable"


def test_rejected_timestamp_resyncs_the_clock_and_retries(client, admin):
    [oid] = seed(admin)
    admin.clock(offset_ms=120_000)  # the venue's clock runs two minutes ahead of ours
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert retrying[0]["error_code"] == "clock_skew"
    assert len(venue_calls(admin, "zebpay.time")) == 1


def test_a_5xx_from_the_time_endpoint_is_retried_like_any_other(client, admin):
    [oid] = seed(admin)
    admin.clock(offset_ms=120_000)
    admin.faults(error_next=1, routes=["zebpay.time"])  # the first re-sync gets a 503
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    assert len(venue_calls(admin, "zebpay.time")) == 2


def test_added_latency_below_the_timeout_still_cancels(client, admin):
    [oid] = seed(admin)
    admin.faults(latency_ms=200)
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert "timeout" not in {e["error_code"] for e in retrying}


def test_the_venue_budget_answers_429_past_180_per_window(admin, stack):
    # The simulator itself: the documented per-IP budget (one test of the venue contract).
    import requests

    url = stack.sim_url + "/api/v1/system/time"
    statuses = [requests.get(url, timeout=5).status_code for _ in range(181)]
    assert statuses[:180] == [200] * 180
    last = requests.get(url, timeout=5)
    assert last.status_code == 429 and 1 <= int(last.headers["Retry-After"]) <= 60
    assert "Limit 180 requests per 60 seconds" in last.json()["statusDescription"]
