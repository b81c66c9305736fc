"""Ajaib request signing (venues/ajaib-spot.md, "Authentication").

payload = timestamp + METHOD + requestPath + queryParam + requestBody, exactly as transmitted;
signature = ECDSA P-256 with SHA-256, encoded per account (default base64 of DER, what
`openssl dgst -sha256 -sign key.pem | base64 -w0` gives). Headers X-API-KEY, X-TIMESTAMP,
X-SIGNATURE.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from requests import PreparedRequest
from requests.auth import AuthBase

from ordercancel.venues.wire import compact_json

ENCODINGS = ("base64-der", "hex-der", "base64-raw")


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key from PEM (SEC1 or PKCS#8) or OpenSSH text; ValueError says what is wrong."""
    data = text.replace("\\n", "\n").strip().encode()  # env vars often carry "\n" escapes
    key: object
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        key = serialization.load_ssh_private_key(data, password=None)
    elif b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, password=None)
    else:
        raise ValueError("not a PEM or OpenSSH private key")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("must be an ECDSA P-256 (secp256r1) key")
    return key


def payload(timestamp: int, method: str, path: str, query: str, body: bytes) -> bytes:
    return f"{timestamp}{method.upper()}{path}{query}".encode() + body


def sign(key: ec.EllipticCurvePrivateKey, message: bytes, encoding: str = "base64-der") -> str:
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    if encoding == "base64-der":
        return base64.b64encode(der).decode()
    if encoding == "hex-der":
        return der.hex()
    if encoding == "base64-raw":
        r, s = decode_dss_signature(der)
        return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    raise ValueError(f"unknown signature encoding {encoding!r}")


class EcdsaAuth(AuthBase):
    """Signs every request as transmitted; callers never sign by hand."""

    def __init__(
        self,
        api_key: str,
        key: ec.EllipticCurvePrivateKey,
        encoding: str,
        now_ms: Callable[[], int],
    ):
        self._api_key = api_key
        self._key = key
        self._encoding = encoding
        self._now_ms = now_ms

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        parts = urlsplit(r.url or "")
        body = b""
        if r.body:
            body = compact_json(json.loads(r.body))
            r.body = body
            r.headers["Content-Length"] = str(len(body))
            r.headers["Content-Type"] = "application/json"
        ts = self._now_ms()
        message = payload(ts, r.method or "GET", parts.path, parts.query, body)
        r.headers["X-API-KEY"] = self._api_key
        r.headers["X-TIMESTAMP"] = str(ts)
        r.headers["X-SIGNATURE"] = sign(self._key, message, self._encoding)
        return r

    def __repr__(self) -> str:
        return "EcdsaAuth(****)"
