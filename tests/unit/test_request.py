"""Request validation (CONTRACT §4)."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.errors import RequestError
from ordercancel.outcomes import ErrorCode, Kind
from ordercancel.request import known_id, parse
from ordercancel.settings import settings_from

SETTINGS = settings_from(
    {
        "accounts": {
            "zebpay-main": {
                "venue": "zebpay",
                "base_url": "https://x",
                "api_key": "k",
                "api_secret": "s",
            },
            "ajaib-main": {
                "venue": "ajaib",
                "base_url": "https://y",
                "api_key": "k",
                "private_key": "env:AJAIB_KEY",
            },
        }
    },
    env={
        "AJAIB_KEY": ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    },
)


def ok(**fields):
    return parse({"kind": "cancel", "account": "zebpay-main", "order_id": "o1", **fields}, SETTINGS)


def test_valid_cancel_resolves_account_and_defaults():
    req = ok(requested_by="risk@host")
    assert req.kind is Kind.CANCEL and req.venue == "zebpay" and req.deadline_ms == 30_000
    assert len(req.request_id) == 32 and req.requested_by == "risk@host"
    assert ok(account="zebpay").account == "zebpay-main"  # a venue name, one account of it


def kill(**fields):
    return parse({"kind": "kill", **fields}, SETTINGS)


@pytest.mark.parametrize(
    ("make", "fields", "field"),
    [
        # a kill naming one `account` was widened to every account
        (kill, {"account": "zebpay-main"}, "account"),
        (ok, {"unknown_field": "x"}, "unknown_field"),
        (ok, {"order_ids": ["o2"]}, "order_ids"),  # a cancel takes one order_id
        (ok, {"accounts": ["zebpay-main"]}, "accounts"),
        (kill, {"order_id": "o1"}, "order_id"),
        (ok, {"parent_id": "someone-else"}, "parent_id"),  # set by the worker, never by producers
        # a scope selector on a kind that takes none: refused, never ignored
        (ok, {"side": "buy"}, "side"),
        (ok, {"client_order_id_prefix": "strat-"}, "client_order_id_prefix"),
        (ok, {"placed_before_ms": 1}, "placed_before_ms"),
    ],
)
def test_a_field_the_kind_does_not_take_is_refused(make, fields, field):
    with pytest.raises(RequestError) as info:
        make(**fields)
    assert info.value.field == field and info.value.code == ErrorCode.INVALID_REQUEST


def test_one_request_id_whatever_the_message_holds():
    """The id is the valid `request_id`, else the intake entry id: never a third one."""
    for rid in ("", None):
        assert ok(request_id=rid, _entry_id="1700000000000-0").request_id == "1700000000000-0"
    assert ok(request_id="r1", _entry_id="1700000000000-0").request_id == "r1"
    for bad in ("bad id", 12):  # named but invalid: refused, under the entry id
        with pytest.raises(RequestError):
            ok(request_id=bad, _entry_id="1700000000000-0")
    assert known_id({"request_id": "bad id", "_entry_id": "e-1"}) == "e-1"


def test_strings_that_cannot_reach_redis_are_refused():
    with pytest.raises(RequestError) as info:
        ok(reason="\ud800")
    assert info.value.field == "reason"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"kind": "explode"}, "kind", ErrorCode.INVALID_REQUEST),
        ({"account": "nope"}, "account", ErrorCode.UNKNOWN_ACCOUNT),
        ({"account": None}, "account", ErrorCode.INVALID_REQUEST),
        ({"order_id": None}, "order_id", ErrorCode.INVALID_REQUEST),
        ({"order_id": 12}, "order_id", ErrorCode.INVALID_REQUEST),
        ({"idempotency_key": "has space"}, "idempotency_key", ErrorCode.INVALID_REQUEST),
        ({"idempotency_key": "k" * 129}, "idempotency_key", ErrorCode.INVALID_REQUEST),
        ({"deadline_ms": 0}, "deadline_ms", ErrorCode.INVALID_REQUEST),
        ({"deadline_ms": "30"}, "deadline_ms", ErrorCode.INVALID_REQUEST),
        ({"reason": "r" * 257}, "reason", ErrorCode.INVALID_REQUEST),
        ({"request_id": "bad id"}, "request_id", ErrorCode.INVALID_REQUEST),
    ],
)
def test_invalid_fields_are_named(fields, field, code):
    with pytest.raises(RequestError) as info:
        ok(**fields)
    assert info.value.field == field and info.value.code == code
    assert field in str(info.value)


def test_fingerprint_ignores_metadata_but_not_the_instruction():
    a = ok(request_id="r1", reason="x", deadline_ms=1000, idempotency_key="k")
    b = ok(request_id="r2", reason="y", deadline_ms=9000, idempotency_key="k")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != ok(order_id="o2").fingerprint()


def cancel_all(**fields):
    return parse({"kind": "cancel_all", "account": "zebpay-main", **fields}, SETTINGS)


def test_scope_selectors_are_taken_and_checked():
    req = cancel_all(side="SELL", client_order_id_prefix="strat-", placed_before_ms=1_700_000)
    assert (req.side, req.client_order_id_prefix, req.placed_before_ms) == (
        "sell",
        "strat-",
        1_700_000,
    )
    assert req.scope.selective and req.scope.accounts == ("zebpay-main",)
    assert kill(symbols=["BTCUSDT"], side="buy").scope.side == "buy"
    assert req.fingerprint() != cancel_all(side="buy").fingerprint()
    for fields, field in [
        ({"side": "both"}, "side"),
        ({"placed_before_ms": "1"}, "placed_before_ms"),
        ({"placed_before_ms": True}, "placed_before_ms"),
        ({"placed_before_ms": 0}, "placed_before_ms"),
        ({"client_order_id_prefix": "p" * 65}, "client_order_id_prefix"),
        # empty: refused, never read as absent (the scope would widen to the whole account)
        ({"client_order_id_prefix": ""}, "client_order_id_prefix"),
        ({"side": ""}, "side"),
        ({"placed_before_ms": ""}, "placed_before_ms"),
        ({"symbols": []}, "symbols"),
        ({"symbol": ""}, "symbol"),
    ]:
        with pytest.raises(RequestError) as info:
            cancel_all(**fields)
        assert info.value.field == field and info.value.code == ErrorCode.INVALID_REQUEST


def test_a_client_id_prefix_is_refused_where_orders_carry_no_client_id():
    for make in (
        lambda: cancel_all(account="ajaib-main", client_order_id_prefix="s-"),
        lambda: kill(accounts=["zebpay-main", "ajaib-main"], client_order_id_prefix="s-"),
    ):
        with pytest.raises(RequestError) as info:
            make()
        assert info.value.field == "client_order_id_prefix" and "ajaib" in str(info.value)
    assert kill(client_order_id_prefix="s-").client_order_id_prefix == "s-"  # every account


def test_a_kill_naming_no_account_in_an_empty_list_is_refused():
    with pytest.raises(RequestError) as info:
        kill(accounts=[])
    assert info.value.field == "accounts" and "empty" in str(info.value)
