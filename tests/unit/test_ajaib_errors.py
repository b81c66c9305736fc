"""Ajaib answers -> the shared error tree (venues/ajaib-spot.md, errors table)."""

import pytest

from ordercancel.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidRequest,
    PermanentError,
    RateLimited,
    RetryableError,
    VenueUnavailable,
)
from ordercancel.outcomes import ErrorCode
from ordercancel.settings import settings_from
from ordercancel.venues.ajaib.errors import error_for


@pytest.mark.parametrize(
    ("status", "code", "cls", "error_code"),
    [
        (400, "invalid_request", InvalidRequest, ErrorCode.INVALID_REQUEST),
        (401, "invalid_client", AuthError, ErrorCode.AUTH),
        (403, "invalid_client", AuthError, ErrorCode.AUTH),
        (402, "request_failed", PermanentError, ErrorCode.VENUE_ERROR),
        (409, "conflict", Conflict, ErrorCode.CONFLICT),
        (429, "", RateLimited, ErrorCode.RATE_LIMITED),
        (500, "api_error", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
        (503, "api_error", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
    ],
)
def test_documented_statuses(status, code, cls, error_code):
    err = error_for(status, {"error": code})
    assert type(err) is cls and err.code == error_code and err.http_status == status


def test_retry_policy_per_doc():
    assert error_for(409, {}).max_retries == 1 and error_for(409, {}).retry_after > 0
    assert error_for(429, {}).retry_after is None  # no headers: exponential backoff
    assert not isinstance(error_for(401, {}), RetryableError)
    assert not isinstance(error_for(402, {}), RetryableError)


def ajaib(**fields):
    return {"venue": "ajaib", "base_url": "https://api.ajaib.co.id", "api_key": "k", **fields}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"private_key": "file:/nonexistent/key.pem"}, "private_key", "cannot read"),
        ({"private_key": "SECRETSTUFF"}, "private_key", "not a PEM or OpenSSH"),
        ({}, "private_key", "required"),
        ({"private_key": "x", "signature_encoding": "rot13"}, "signature_encoding", "base64-der"),
        ({"private_key": "x", "symbols": ["btcusdt"]}, "symbols", "BTC_USDT"),
    ],
)
def test_config_errors_name_the_field(fields, field, words):
    if "signature_encoding" in fields or "symbols" in fields:
        from ordercancel.sim.ajaib import demo_account

        fields = {**fields, "private_key": demo_account("http://sim")["private_key"]}
    with pytest.raises(ConfigError) as info:
        settings_from({"accounts": {"ajaib-main": ajaib(**fields)}}, env={})
    assert info.value.field == field and words in str(info.value)
    assert "SECRETSTUFF" not in str(info.value)
