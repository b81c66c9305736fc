"""Ajaib signing, checked by independent tools: keys made by `openssl` and `ssh-keygen`,
signatures verified by `openssl dgst -sha256 -verify` on the exact payload."""

import base64
import subprocess

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ordercancel.venues.ajaib.auth import EcdsaAuth, load_private_key, payload, sign

TS = 1712345678901


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


@pytest.fixture(params=["sec1", "pkcs8", "openssh"])
def key_files(request, tmp_path):
    """(private key text, public key PEM path), made by the reference tools."""
    key, pub = tmp_path / "key", tmp_path / "pub.pem"
    if request.param == "sec1":
        sh("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        sh("openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub))
    elif request.param == "pkcs8":
        sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-out", str(key))  # fmt: skip
        sh("openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub))
    else:
        sh("ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", str(key))
        pub.write_bytes(sh("ssh-keygen", "-e", "-m", "PKCS8", "-f", f"{key}.pub").stdout)
    text = key.read_text()
    assert ("OPENSSH" in text) == (request.param == "openssh")
    return text, pub


def openssl_verifies(pub, message: bytes, der: bytes, tmp_path) -> bool:
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(der)
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(tmp_path / "sig"),
         str(tmp_path / "msg")],
        capture_output=True, text=True,
    )  # fmt: skip
    return out.returncode == 0 and "Verified OK" in out.stdout


def test_payload_is_timestamp_method_path_query_body():
    assert payload(TS, "delete", "/coin/internal/v1/order", "order_id=1&symbol=BTC_USDT", b"") == (
        b"1712345678901DELETE/coin/internal/v1/orderorder_id=1&symbol=BTC_USDT"
    )


def test_signature_verifies_with_openssl_for_every_key_format(key_files, tmp_path):
    text, pub = key_files
    message = payload(TS, "DELETE", "/coin/internal/v1/order/batch", "", b'{"order_ids":[1,2]}')
    signature = sign(load_private_key(text), message)  # default: base64 of DER
    assert openssl_verifies(pub, message, base64.b64decode(signature), tmp_path)
    assert not openssl_verifies(pub, message + b"x", base64.b64decode(signature), tmp_path)


def test_auth_hook_signs_exactly_what_is_sent(key_files, tmp_path):
    text, pub = key_files
    auth = EcdsaAuth("api-1", load_private_key(text), "base64-der", lambda: TS)
    r = requests.Request(
        "DELETE", "https://api.ajaib.test/coin/internal/v1/order/batch",
        json={"order_ids": [11, 12], "symbol": "BTC_USDT"}, auth=auth,
    ).prepare()  # fmt: skip
    assert r.body == b'{"order_ids":[11,12],"symbol":"BTC_USDT"}'
    assert r.headers["X-API-KEY"] == "api-1" and r.headers["X-TIMESTAMP"] == str(TS)
    message = f"{TS}DELETE/coin/internal/v1/order/batch".encode() + r.body
    assert openssl_verifies(pub, message, base64.b64decode(r.headers["X-SIGNATURE"]), tmp_path)

    g = requests.Request(
        "GET", "https://api.ajaib.test/coin/internal/v1/order",
        params={"order_id": "11", "symbol": "BTC_USDT"}, auth=auth,
    ).prepare()  # fmt: skip
    message = f"{TS}GET/coin/internal/v1/orderorder_id=11&symbol=BTC_USDT".encode()
    assert openssl_verifies(pub, message, base64.b64decode(g.headers["X-SIGNATURE"]), tmp_path)


def test_other_encodings():
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"1712345678901GET/coin/internal/v1/order"
    public = key.public_key()
    public.verify(bytes.fromhex(sign(key, message, "hex-der")), message, ec.ECDSA(hashes.SHA256()))
    raw = base64.b64decode(sign(key, message, "base64-raw"))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    public.verify(der, message, ec.ECDSA(hashes.SHA256()))


def test_keys_from_env_with_escaped_newlines():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    loaded = load_private_key(pem.replace("\n", "\\n"))
    assert loaded.private_numbers() == key.private_numbers()


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
)
def test_only_p256_keys_are_accepted(make):
    pem = (
        make()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="P-256"):
        load_private_key(pem)
    with pytest.raises(ValueError):
        load_private_key("not a key")
