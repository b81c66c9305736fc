"""The simulator's fault kinds over real HTTP, each held against the ground truth it records:
bare gateway 404s, undocumented status words, unexpected bodies, fills racing cancels, late
Ajaib cancels, and the lost answer and reset the call log must show as unanswered."""

from __future__ import annotations

import time

import pytest
import requests

from ordercancel.sim.faults import Faults

from .simkit import AJA, GATEWAY_404, ZEB

NEW_FIELDS = {
    "bare_404_rate": 0.1,
    "bare_404_next": 2,
    "odd_status_rate": 0.2,
    "odd_body_rate": 0.3,
    "fill_race_rate": 0.4,
    "late_cancel_ms": 250.0,
}


def test_the_new_fault_fields_round_trip(sim):
    faults = Faults(**NEW_FIELDS, seed=9, routes=["zebpay.cancel"], accounts=[ZEB])
    assert Faults.from_json(faults.to_json()).to_json() == faults.to_json()
    assert sim.admin.faults(**faults.to_json()) == faults.to_json()


def test_the_new_faults_are_reproducible_from_the_seed_and_honour_the_filters():
    def run(faults: Faults) -> list:
        return [
            (faults.decide("r", "a"), faults.fill_race("r", "a"), faults.late_cancel("r", "a"))
            for _ in range(50)
        ]

    assert run(Faults(**NEW_FIELDS, seed=4)) == run(Faults(**NEW_FIELDS, seed=4))
    kinds = {d for d, _, _ in run(Faults(**NEW_FIELDS, seed=4))}
    assert {"bare_404", "odd_status", "odd_body", None} <= kinds
    other = Faults(**NEW_FIELDS, seed=4, routes=["x"])
    assert run(other) == [(None, False, 0.0)] * 50
    assert Faults(fill_race_rate=1.0, accounts=["b"]).fill_race("r", "a") is False


def test_bare_404_answers_like_a_gateway_without_serving_the_call(sim):
    [oid] = sim.admin.seed("zebpay", ZEB, [{}])
    sim.admin.faults(bare_404_next=1, routes=["zebpay.cancel"])
    resp = sim.zeb.cancel(oid, rid="b-1")
    assert (resp.status_code, resp.headers["Content-Type"], resp.text) == (
        404,
        "text/html",
        GATEWAY_404,
    )
    assert sim.order("zebpay", oid)["status"] == "new"
    [call] = sim.calls("zebpay.cancel")
    assert (call["fault"], call["status"], call["orders"], call["request_id"]) == (
        "bare_404",
        404,
        [],
        "b-1",
    )
    assert call["answered_ms"] is not None
    assert sim.zeb.cancel(oid).status_code == 200  # the count is used up
    sim.admin.faults(bare_404_rate=1.0, accounts=["someone-else"])
    assert sim.aja.get("1").json() == {"error": "not_found"}


def test_odd_status_garbles_the_status_word_after_the_venue_acted(sim):
    sim.admin.faults(odd_status_rate=1.0, seed=5)
    zeb = sim.admin.seed("zebpay", ZEB, [{} for _ in range(8)])
    seen = {sim.zeb.get(oid).json()["data"].get("status") for oid in zeb}
    assert seen == {"pending_cancel", None}
    cancel = sim.zeb.cancel(zeb[0]).json()["data"]
    assert cancel.get("status") in {"pending_cancel", None}
    assert cancel["clientOrderId"] == zeb[0]
    assert sim.order("zebpay", zeb[0])["status"] == "canceled"  # the truth
    assert sim.calls("zebpay.cancel")[0]["fault"] == "odd_status"
    listing = sim.zeb.open_orders().json()["data"]["items"]
    assert all(o["status"] == "new" for o in listing)  # not a get-order or single cancel
    assert sim.calls("zebpay.open_orders")[0]["fault"] is None

    aja = sim.admin.seed("ajaib", AJA, [{} for _ in range(8)])
    seen = {sim.aja.get(oid).json().get("status") for oid in aja}
    assert seen == {"PENDING_CANCEL", None}
    assert sim.aja.cancel(aja[0]).json() == {"status": "QUEUED"}
    time.sleep(0.1)
    assert sim.order("ajaib", aja[0])["status"] == "CANCELLED"
    assert sim.aja.cancel_batch(aja[1:3]).json()["success"] == [int(i) for i in aja[1:3]]


def test_odd_body_answers_200_with_an_unexpected_body_after_the_venue_acted(sim):
    sim.admin.faults(odd_body_rate=1.0, seed=2)
    zeb = sim.admin.seed("zebpay", ZEB, [{} for _ in range(12)])
    answers = [sim.zeb.cancel(oid) for oid in zeb]
    assert {r.status_code for r in answers} == {200}
    bodies = {
        r.text if "text/plain" in r.headers["Content-Type"] else repr(r.json()) for r in answers
    }
    assert bodies == {"OK", "{}", "{'data': None}"}
    assert all(sim.order("zebpay", oid)["status"] == "canceled" for oid in zeb)
    assert {c["fault"] for c in sim.calls("zebpay.cancel")} == {"odd_body"}
    assert sim.zeb.http.get(sim.server.url + "/api/v1/system/time").json()["data"]["timestamp"]

    aja = sim.admin.seed("ajaib", AJA, [{} for _ in range(12)])
    answers = [sim.aja.cancel(oid) for oid in aja]
    bodies = {
        r.text if "text/plain" in r.headers["Content-Type"] else repr(r.json()) for r in answers
    }
    assert bodies == {"OK", "{}", "None"}
    assert sim.aja.get("42").json() == {"error": "not_found"}  # an error answer stays as it is
    assert sim.calls("ajaib.get_order")[0]["fault"] is None
    time.sleep(0.1)
    assert all(sim.order("ajaib", oid)["status"] == "CANCELLED" for oid in aja)


def test_a_fill_race_fills_the_order_before_the_cancel_reaches_it(sim):
    sim.admin.faults(fill_race_rate=1.0)
    [z1, z2, z3] = sim.admin.seed("zebpay", ZEB, [{}, {}, {}])
    resp = sim.zeb.cancel(z1, rid="race")
    assert (resp.status_code, resp.json()["statusDescription"]) == (400, "Order is already filled")
    assert sim.zeb.cancel_all().json()["data"] == []
    for oid in (z1, z2, z3):
        history = sim.order("zebpay", oid)["history"]
        assert [(e["status"], e["cause"], e["call"]) for e in history] == [
            ("new", "seed", None),
            ("filled", "fill", None),
        ]
    [call] = sim.calls("zebpay.cancel")
    assert (call["fault"], call["orders"], call["status"]) == ("fill_race", [z1], 400)
    assert sorted(sim.calls("zebpay.cancel_all")[0]["orders"]) == sorted([z2, z3])

    [a1, a2, a3] = sim.admin.seed("ajaib", AJA, [{}, {}, {"symbol": "ETH_USDT"}])
    assert sim.aja.cancel(a1).json() == {"error": "order_already_closed"}
    assert sim.aja.cancel_batch([a2]).json() == {"success": [], "fail": [int(a2)]}
    assert sim.aja.cancel_open("ETH_USDT").json() == {"success": [], "fail": [int(a3)]}
    for oid in (a1, a2, a3):
        order = sim.order("ajaib", oid)
        assert order["status"] == "FILLED" and order["history"][-1]["cause"] == "fill"
    assert {c["fault"] for c in sim.calls() if c["venue"] == "ajaib"} == {"fill_race"}

    sim.admin.faults(fill_race_rate=1.0, routes=["ajaib.cancel"])
    [z4] = sim.admin.seed("zebpay", ZEB, [{}])
    assert sim.zeb.cancel(z4).status_code == 200


def test_late_cancels_complete_spread_over_the_extra_delay(sim):
    sim.admin.action("ajaib", "config", cancel_delay_ms=20)
    sim.admin.faults(late_cancel_ms=200, seed=11)
    ids = sim.admin.seed("ajaib", AJA, [{} for _ in range(10)])
    assert sim.aja.cancel_batch(ids).json()["fail"] == []
    time.sleep(0.3)
    # the server records `answered_ms` just after it writes the answer: read it once it is there
    end = time.monotonic() + 10
    while (call := sim.calls("ajaib.cancel_batch")[0])["answered_ms"] is None:
        assert time.monotonic() < end, call
        time.sleep(0.05)
    waited = [sim.order("ajaib", oid)["history"][-1]["t_ms"] - call["t_ms"] for oid in ids]
    assert all(20 <= ms <= 220 + (call["answered_ms"] - call["t_ms"]) for ms in waited)
    assert max(waited) - min(waited) > 20


def test_a_lost_answer_is_logged_with_the_venues_status_and_no_answer_time(sim):
    [oid, kept] = sim.admin.seed("zebpay", ZEB, [{}, {}])
    sim.admin.faults(timeout_next=1, timeout_s=0.2)
    with pytest.raises(requests.ConnectionError):
        sim.zeb.cancel(oid, rid="lost")
    sim.admin.faults(reset_next=1)
    with pytest.raises(requests.ConnectionError):
        sim.zeb.cancel(kept, rid="reset")
    lost, reset = sim.calls("zebpay.cancel")
    assert (lost["fault"], lost["status"], lost["answered_ms"], lost["orders"]) == (
        "timeout",
        200,
        None,
        [oid],
    )
    assert sim.order("zebpay", oid)["history"][-1]["call"] == lost["seq"]
    assert (reset["fault"], reset["status"], reset["answered_ms"]) == ("reset", None, None)
    assert sim.order("zebpay", kept)["status"] == "new"
