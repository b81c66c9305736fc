"""Venue faults, injected by the simulator: each ends in the right outcome, retried or not, and
the venue's own record (its calls for the request, its order book) agrees."""

from .conftest import calls_for, events_of, order_status, seed, venue_order


def sequence(calls):
    """(route, status) of each venue call, in arrival order."""
    return [(c["route"], c["status"]) for c in calls]


def cancelled_by(admin, account, oid):
    """The call that cancelled the order at the venue (its last change), or None."""
    last = venue_order(admin, account, oid)["history"][-1]
    return last if last["status"] == "canceled" else None


def test_429_waits_at_least_retry_after_then_succeeds(client, admin):
    [oid] = seed(admin)
    admin.faults(burst_429=1, retry_after=1, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "2"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [e["error_code"] for e in retrying] == ["rate_limited"]
    first, second = calls_for(admin, final["request_id"])
    assert (first["route"], first["status"], second["status"]) == ("zebpay.cancel", 429, 200)
    assert second["t_ms"] - first["t_ms"] >= 1000  # Retry-After honoured
    assert cancelled_by(admin, "zebpay-main", oid)["call"] == second["seq"]


def test_5xx_is_retried_with_backoff(client, admin):
    [oid] = seed(admin)
    admin.faults(error_next=2, error_status=502, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "3"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [(e["error_code"], e["http_status"]) for e in retrying] == [
        ("venue_unavailable", "502")
    ] * 2
    calls = calls_for(admin, final["request_id"])
    assert sequence(calls) == [("zebpay.cancel", 502)] * 2 + [("zebpay.cancel", 200)]
    assert cancelled_by(admin, "zebpay-main", oid)["call"] == calls[-1]["seq"]


def test_connection_reset_is_retried(client, admin):
    [oid] = seed(admin)
    admin.faults(reset_next=1, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled" and final["attempts"] == "2"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert retrying[0]["error_code"] == "venue_unavailable" and "connection" in retrying[0]["error"]
    reset, served = calls_for(admin, final["request_id"])
    assert (reset["fault"], reset["status"], served["status"]) == ("reset", None, 200)
    assert cancelled_by(admin, "zebpay-main", oid)["call"] == served["seq"]


def test_lost_response_is_retried_and_settled(client, admin):
    # The venue cancels but its answer never arrives (the client times out after 0.5 s).
    [oid] = seed(admin)
    admin.faults(timeout_next=1, timeout_s=3, routes=["zebpay.cancel"])
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert retrying[0]["error_code"] == "timeout"
    [lost, *later] = calls_for(admin, final["request_id"])
    assert (lost["route"], lost["fault"]) == ("zebpay.cancel", "timeout")
    assert later and all(c["fault"] is None for c in later)  # retried, then settled
    # the venue's book: cancelled by the call whose answer was lost, a call of this request
    assert cancelled_by(admin, "zebpay-main", oid)["call"] == lost["seq"]


def test_unanswered_venue_ends_unknown_never_canceled(client, admin):
    # Every call's answer is lost, read-back included: nothing settles the outcome.
    [oid] = seed(admin)
    admin.faults(timeout_rate=1.0, timeout_s=3)
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 2500}
    ).wait(20)
    assert final["status"] == "unknown" and final["error_code"] == "timeout"
    calls = calls_for(admin, final["request_id"])
    assert {c["fault"] for c in calls} == {"timeout"}  # no answer ever came back
    assert "zebpay.get_order" in {c["route"] for c in calls}  # it did try to read it back
    # The venue did cancel it (a lost answer, not a refusal): `unknown` is the honest outcome.
    assert cancelled_by(admin, "zebpay-main", oid)["request_id"] == final["request_id"]


def test_exhausted_retries_read_the_order_back_before_deciding(client, admin):
    # Cancels keep failing with 503, but reads work: the order is seen open, so the cancel failed.
    [oid] = seed(admin)
    admin.faults(error_rate=1.0, routes=["zebpay.cancel"])
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 2000}
    ).wait(20)
    assert final["status"] == "failed" and final["error_code"] == "still_open"
    assert order_status(admin, "zebpay-main", oid) == "new"
    calls = sequence(calls_for(admin, final["request_id"]))
    assert len(calls) >= 2 and set(calls[:-1]) == {("zebpay.cancel", 503)}
    assert calls[-1] == ("zebpay.get_order", 200)  # read back once, at the end


def test_5xx_everywhere_ends_unknown(client, admin):
    [oid] = seed(admin)
    admin.faults(error_rate=1.0)
    final = client.submit(
        {"kind": "cancel", "account": "zebpay-main", "order_id": oid, "deadline_ms": 1500}
    ).wait(20)
    assert final["status"] == "unknown" and final["error_code"] == "venue_unavailable"
    calls = calls_for(admin, final["request_id"])
    assert {c["status"] for c in calls} == {503}
    assert {c["route"] for c in calls} == {"zebpay.cancel", "zebpay.get_order"}
    assert order_status(admin, "zebpay-main", oid) == "new"  # nothing reached the order


def test_rejected_timestamp_resyncs_the_clock_and_retries(client, admin):
    # An account no worker process has synced its clock for: whichever process takes it starts
    # from its local clock, so the venue refuses the first cancel for its timestamp.
    account = "i-zebpay-skew"
    [oid] = seed(admin, account)
    admin.clock(offset_ms=120_000)  # the venue's clock runs two minutes ahead of ours
    final = client.cancel(account, oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert [e["error_code"] for e in retrying] == ["clock_skew"]
    calls = calls_for(admin, final["request_id"])
    # refused for its timestamp -> the venue's time read -> the same cancel, accepted
    assert sequence(calls) == [("zebpay.cancel", 400), ("zebpay.time", 200), ("zebpay.cancel", 200)]
    assert cancelled_by(admin, account, oid)["call"] == calls[-1]["seq"]


def test_a_5xx_from_the_time_endpoint_is_retried_like_any_other(client, admin):
    account = "i-zebpay-skew5xx"
    [oid] = seed(admin, account)
    admin.clock(offset_ms=120_000)
    admin.faults(error_next=1, routes=["zebpay.time"])  # the first re-sync gets a 503
    final = client.cancel(account, oid).wait(20)
    assert final["status"] == "canceled"
    calls = calls_for(admin, final["request_id"])
    assert sequence(calls) == [
        ("zebpay.cancel", 400),  # timestamp refused
        ("zebpay.time", 503),  # the re-sync fails: not fatal
        ("zebpay.cancel", 400),  # still skewed, refused again
        ("zebpay.time", 200),  # re-synced
        ("zebpay.cancel", 200),
    ]
    assert cancelled_by(admin, account, oid)["call"] == calls[-1]["seq"]


def test_added_latency_below_the_timeout_still_cancels(client, admin):
    [oid] = seed(admin)
    admin.faults(latency_ms=200)
    final = client.cancel("zebpay-main", oid).wait(20)
    assert final["status"] == "canceled"
    retrying = [e for e in events_of(client, final["request_id"]) if e["event"] == "retrying"]
    assert "timeout" not in {e["error_code"] for e in retrying}
    calls = calls_for(admin, final["request_id"])
    assert sequence(calls)[-1] == ("zebpay.cancel", 200)
    assert all(c["fault"] is None for c in calls)
    assert cancelled_by(admin, "zebpay-main", oid)["call"] == calls[-1]["seq"]


def test_the_venue_budget_answers_429_past_180_per_window(admin, stack):
    # The simulator itself: the documented per-IP budget (one test of the venue contract).
    import requests

    url = stack.sim_url + "/api/v1/system/time"
    statuses = [requests.get(url, timeout=5).status_code for _ in range(181)]
    assert statuses[:180] == [200] * 180
    last = requests.get(url, timeout=5)
    assert last.status_code == 429 and 1 <= int(last.headers["Retry-After"]) <= 60
    assert "Limit 180 requests per 60 seconds" in last.json()["statusDescription"]
