"""Request validation (CONTRACT §4)."""

import pytest

from ordercancel.config import Settings
from ordercancel.errors import RequestError
from ordercancel.outcomes import ErrorCode, Kind
from ordercancel.request import parse

SETTINGS = Settings.from_mapping(
    {
        "accounts": {
            "zebpay-main": {
                "venue": "zebpay",
                "base_url": "https://x",
                "api_key": "k",
                "api_secret": "s",
            }
        }
    },
    env={},
)


def ok(**fields):
    return parse({"kind": "cancel", "account": "zebpay-main", "order_id": "o1", **fields}, SETTINGS)


def test_valid_cancel_resolves_account_and_defaults():
    req = ok(unknown_field="ignored")
    assert req.kind is Kind.CANCEL and req.venue == "zebpay" and req.deadline_ms == 30_000
    assert len(req.request_id) == 32
    assert ok(account="zebpay").account == "zebpay-main"  # a venue name, one account of it


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
