"""ZebPay Futures request signing (venues/zebpay-futures.md, "Authentication").

API key + secret: `timestamp` (Unix ms) goes into the query string of a GET, or at the root of
the JSON body of any other method; the signed string is exactly what is transmitted (the query
string, or the compact JSON body); signature = lower-case hex HMAC-SHA256 keyed by the secret.
JWT: a bearer header, nothing signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import PreparedRequest
from requests.auth import AuthBase

from ordercancel.venues import wire

_MAX_SAFE_INT = 2**53


def js_numbers(value: Any) -> Any:
    """Write integral floats as integers, as JavaScript's JSON.stringify does (65000.0 -> 65000)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_SAFE_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: js_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [js_numbers(v) for v in value]
    return value


def compact_json(payload: Any) -> bytes:
    """The body bytes that are both signed and sent: no whitespace, UTF-8, JS number style."""
    return wire.compact_json(js_numbers(payload))


def sign(secret: str, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class HmacAuth(AuthBase):
    """Adds `timestamp`, then signs the transmitted bytes; callers never sign by hand."""

    def __init__(self, api_key: str, secret: str, now_ms: Callable[[], int]):
        self._api_key = api_key
        self._secret = secret
        self._now_ms = now_ms

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        ts = self._now_ms()
        if r.method == "GET":
            parts = urlsplit(r.url or "")
            query = f"{parts.query}&timestamp={ts}" if parts.query else f"timestamp={ts}"
            r.url = urlunsplit(parts._replace(query=query))
            message: bytes | str = query
        else:
            body = json.loads(r.body) if r.body else {}
            body["timestamp"] = ts
            r.body = message = compact_json(body)
            r.headers["Content-Length"] = str(len(message))
            r.headers["Content-Type"] = "application/json"
        r.headers["x-auth-apikey"] = self._api_key
        r.headers["x-auth-signature"] = sign(self._secret, message)
        return r

    def __repr__(self) -> str:
        return "HmacAuth(****)"


class JwtAuth(AuthBase):
    def __init__(self, token: str):
        self._token = token

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        if r.body:  # send the same compact bytes either way
            r.body = compact_json(json.loads(r.body))
            r.headers["Content-Length"] = str(len(r.body))
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "JwtAuth(****)"
