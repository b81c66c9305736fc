"""ZebPay signing: vectors computed independently with `openssl dgst -sha256 -hmac s3cr3t`."""

import json

import pytest
import requests

from ordercancel.venues.zebpay.auth import HmacAuth, JwtAuth, compact_json, js_numbers, sign

SECRET = "s3cr3t"
TS = 1712345678901
# echo -n 'symbol=BTCUSDT&timestamp=1712345678901' | openssl dgst -sha256 -hmac s3cr3t
GET_SIG = "4d9d5b17aae3b43cc9a4d35dcc6a37ddb960737d3cecce7b2875f8c1caf105bf"
# echo -n '{"clientOrderId":"myLimitOrder456","symbol":"BTCUSDT","timestamp":1712345678901}' | ...
DELETE_SIG = "4666a98ad93d8ee329f1450bab78c62b55c7c0c9f45a334026a0c1bd1e25cf4f"
# echo -n '{"price":65000,"qty":0.5,"timestamp":1712345678901}' | ...
FLOAT_SIG = "994c1f395d167217401613b1d008a8b9c5b4c1e5490863e0af15615abb6a8864"


def prepare(method, url, **kw):
    auth = HmacAuth("key-1", SECRET, lambda: TS)
    return requests.Request(method, url, auth=auth, **kw).prepare()


def test_sign_is_lowercase_hex_hmac_sha256():
    assert sign(SECRET, "symbol=BTCUSDT&timestamp=1712345678901") == GET_SIG


def test_get_signs_the_transmitted_query_string_with_timestamp_appended():
    r = prepare(
        "GET", "https://x.test/api/v1/trade/order/open-orders", params={"symbol": "BTCUSDT"}
    )
    assert r.url.endswith("?symbol=BTCUSDT&timestamp=1712345678901")
    assert r.headers["x-auth-signature"] == GET_SIG
    assert r.headers["x-auth-apikey"] == "key-1"
    assert r.body is None


def test_delete_signs_and_sends_the_same_compact_body():
    r = prepare(
        "DELETE",
        "https://x.test/api/v1/trade/order",
        json={"clientOrderId": "myLimitOrder456", "symbol": "BTCUSDT"},
    )
    assert (
        r.body
        == b'{"clientOrderId":"myLimitOrder456","symbol":"BTCUSDT","timestamp":1712345678901}'
    )
    assert r.headers["Content-Length"] == str(len(r.body))
    assert r.headers["x-auth-signature"] == DELETE_SIG


def test_integral_floats_are_sent_as_integers_like_json_stringify():
    r = prepare("POST", "https://x.test/p", json={"price": 65000.0, "qty": 0.5})
    assert r.body == b'{"price":65000,"qty":0.5,"timestamp":1712345678901}'
    assert r.headers["x-auth-signature"] == FLOAT_SIG


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1.0}, b'{"a":1}'),
        ({"a": [2.0, 2.5, {"b": -3.0}]}, b'{"a":[2,2.5,{"b":-3}]}'),
        ({"s": "caf\u00e9 x"}, '{"s":"caf\u00e9 x"}'.encode()),
        ({"big": 1e300}, b'{"big":1e+300}'),  # beyond 2**53 stays a float, as in JavaScript
        ({"t": True, "n": None}, b'{"t":true,"n":null}'),
    ],
)
def test_compact_json(value, expected):
    assert compact_json(value) == expected
    assert json.loads(compact_json(value)) == json.loads(expected)


def test_js_numbers_leaves_non_integral_and_ints_alone():
    assert js_numbers([1, 1.5, 2.0]) == [1, 1.5, 2]
    assert type(js_numbers(2.0)) is int


def test_jwt_is_a_bearer_header_and_nothing_signed():
    r = requests.Request(
        "DELETE", "https://x.test/p", json={"a": 1.0}, auth=JwtAuth("tok")
    ).prepare()
    assert r.headers["Authorization"] == "Bearer tok"
    assert "x-auth-signature" not in r.headers
    assert r.body == b'{"a":1}'


def test_auth_reprs_hide_secrets():
    assert SECRET not in repr(HmacAuth("k", SECRET, lambda: 0))
    assert "tok" not in repr(JwtAuth("tok"))
