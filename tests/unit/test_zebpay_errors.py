"""ZebPay answers -> the shared error tree (venues/zebpay-futures.md, errors table)."""

import pytest

from ordercancel.errors import (
    AuthError,
    ClockSkew,
    InvalidRequest,
    PermanentError,
    RateLimited,
    RetryableError,
    VenueUnavailable,
)
from ordercancel.outcomes import ErrorCode
from ordercancel.venues.zebpay.errors import DEFAULT_RETRY_AFTER_S, error_for


def env(text):
    return {"statusDescription": text, "data": {}, "statusCode": 0, "customMessage": []}


@pytest.mark.parametrize(
    ("status", "text", "cls", "code"),
    [
        (400, "Invalid or expired timestamp", ClockSkew, ErrorCode.CLOCK_SKEW),
        (400, "Invalid signature", AuthError, ErrorCode.AUTH),
        (400, "clientOrderId is required", InvalidRequest, ErrorCode.INVALID_REQUEST),
        (401, "Invalid API key", AuthError, ErrorCode.AUTH),
        (403, "You do not have the required scope...", AuthError, ErrorCode.AUTH),
        (403, "You are not allowed API access from this ip", AuthError, ErrorCode.AUTH),
        (403, "Forbidden request", AuthError, ErrorCode.AUTH),
        (500, "Internal", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
        (502, "", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
        (503, "", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
        (504, "", VenueUnavailable, ErrorCode.VENUE_UNAVAILABLE),
    ],
)
def test_documented_statuses(status, text, cls, code):
    err = error_for(status, env(text), {})
    assert type(err) is cls
    assert err.code == code
    assert err.http_status == status
    assert (err.venue_status or "") == text


def test_retry_classes():
    assert isinstance(error_for(503, env(""), {}), RetryableError)
    assert isinstance(error_for(429, env(""), {}), RetryableError)
    assert isinstance(error_for(401, env(""), {}), PermanentError)
    assert not isinstance(error_for(400, env("Invalid or expired timestamp"), {}), RetryableError)


def test_429_carries_retry_after_seconds():
    err = error_for(
        429, env("Too many requests. Limit 180 requests per 60 seconds."), {"Retry-After": "17"}
    )
    assert isinstance(err, RateLimited)
    assert err.retry_after == 17.0
    assert error_for(429, env(""), {}).retry_after == DEFAULT_RETRY_AFTER_S
    assert error_for(429, env(""), {"Retry-After": "soon"}).retry_after == DEFAULT_RETRY_AFTER_S


def test_non_envelope_bodies_are_trimmed():
    err = error_for(502, "<html>" + "x" * 5000, {})
    assert len(str(err)) <= 300
