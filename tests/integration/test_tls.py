"""TLS: a `rediss://` URL with redis-py's options (ssl_cert_reqs, ssl_ca_certs, ssl_certfile,
ssl_keyfile) carries our connections and the Celery broker's to a TLS-only Redis, with a CA
and certificates made here; verification is on unless the URL turns it off."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kombu.exceptions import OperationalError

from ordercancel.client import Client
from ordercancel.config import Settings
from ordercancel.node.celery_app import make_celery
from ordercancel.sim.admin import SimAdmin

from .conftest import order_status, seed, start_stack
from .redis7 import REDIS_SERVER, free_port, has_redis7, redis7

pytestmark = pytest.mark.skipif(
    not has_redis7(tls=True), reason=f"needs {REDIS_SERVER} built with TLS (Debian's redis-server)"
)
BASE = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCANCEL_")}


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _issue(name: str, key, ca_key, ca_name: str, *, ca: bool = False, **ext) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        unused = ("content_commitment", "key_encipherment", "data_encipherment")
        usage = dict.fromkeys((*unused, "key_agreement", "encipher_only", "decipher_only"), False)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    for extension in ext.values():
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    """A CA; a server certificate for 127.0.0.1 and localhost; a client certificate."""
    d = tmp_path_factory.mktemp("tls")
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "client")}
    ca = _issue("ordercancel test CA", keys["ca"], keys["ca"], "ordercancel test CA", ca=True)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = _issue("localhost", keys["server"], keys["ca"], "ordercancel test CA",
                    san=x509.SubjectAlternativeName(names),
                    eku=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]))  # fmt: skip
    client = _issue("ordercancel", keys["client"], keys["ca"], "ordercancel test CA",
                    eku=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]))  # fmt: skip
    for name, cert in (("ca", ca), ("server", server), ("client", client)):
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for name in ("server", "client"):
        path = d / f"{name}.key"
        pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        path.write_bytes(keys[name].private_bytes(*pem, serialization.NoEncryption()))
        path.chmod(0o600)
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                 d / "client.key")  # fmt: skip


def tls_url(port: int, certs: Certs | None = None, *, client_cert: bool = False, **extra) -> str:
    """`rediss://` to the test server; with `certs`, verified against its CA (and presenting
    the client certificate)."""
    query = dict(extra)
    if certs is not None:
        query.update(ssl_cert_reqs="required", ssl_ca_certs=str(certs.ca))
    if certs is not None and client_cert:
        query.update(ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key))
    return f"rediss://127.0.0.1:{port}/0" + (f"?{urlencode(query, safe='/')}" if query else "")


@contextmanager
def tls_redis(certs: Certs, *, auth_clients: bool) -> Iterator[int]:
    """A Redis that speaks TLS only (no plain port), on a private port; yields the port."""
    port = free_port()
    args = ["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(certs.server_cert), "--tls-key-file", str(certs.server_key),
            "--tls-ca-cert-file", str(certs.ca),
            "--tls-auth-clients", "yes" if auth_clients else "no"]  # fmt: skip
    probe = functools.partial(  # redis-py itself, not the code under test
        redis.Redis, "127.0.0.1", port, ssl=True, ssl_ca_certs=str(certs.ca), socket_timeout=2,
        ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key),
    )  # fmt: skip
    with redis7(certs.ca.parent, args, probe):
        yield port


def oc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordercancel", *args],
        env={**BASE, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.mark.parametrize("client_cert", [False, True], ids=["ca-only", "client-certificate"])
def test_a_cancel_and_a_kill_run_through_a_tls_only_redis(certs, client_cert):
    with tls_redis(certs, auth_clients=client_cert) as port:
        url = tls_url(port, certs, client_cert=client_cert)
        if client_cert:  # the server does require one: without it, refused
            out = oc("status", "x", env={"ORDERCANCEL_REDIS_URL": tls_url(port, certs)})
            line = one_line(out)
            assert out.returncode == 4 and "TLS" in line and "ssl_certfile" in line, line
        stack = start_stack(redis_url=url)  # the worker reads the URL from its config file
        client = None
        try:
            assert stack.settings.redis_url == url
            client, admin = Client(stack.settings), SimAdmin(stack.sim_url)
            [oid] = seed(admin, "zebpay-main")
            final = client.cancel("zebpay-main", oid).wait(30)
            assert final["status"] == "canceled", final
            assert order_status(admin, "zebpay-main", oid) == "canceled"
            ids = seed(admin, "zebpay-flat", n=2)
            final = client.kill("tls", ["zebpay-flat"]).wait(60)
            assert final["status"] == "completed", final
            assert {order_status(admin, "zebpay-flat", o) for o in ids} == {"canceled"}
            assert client.halted() is not None and client.resume() is True
        finally:
            if client is not None:
                client.close()
            stack.stop()


def test_a_server_not_verified_is_refused_unless_the_url_turns_verification_off(certs, tmp_path):
    with tls_redis(certs, auth_clients=False) as port:
        # no CA named: verified against the system's CAs, which did not sign it
        out = oc("status", "x", env={"ORDERCANCEL_REDIS_URL": tls_url(port)})
        line = one_line(out)
        assert out.returncode == 4, out
        assert "certificate that could not be verified" in line and "ssl_ca_certs" in line, line
        # the broker too (kombu alone does not verify a rediss:// URL without ssl_* options)
        settings = Settings.from_mapping({"redis": {"url": tls_url(port)}}, None, env={})
        refused = pytest.raises(OperationalError, match="CERTIFICATE_VERIFY_FAILED")
        with make_celery(settings).connection_for_write() as conn, refused:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=10)
        # turned off in the URL: it connects, and `config check` warns
        path = tmp_path / "oc.toml"
        path.write_text(f'[redis]\nurl = "{tls_url(port, ssl_cert_reqs="none")}"\n')
        out = oc("config", "check", env={"ORDERCANCEL_CONFIG": str(path)})
        assert out.returncode == 0, out.stderr
        assert "redis: connected, Redis " in out.stdout
        warnings = [ln for ln in out.stdout.splitlines() if ln.startswith("warning: ")]
        assert len(warnings) == 1 and "ssl_cert_reqs=none" in warnings[0], out.stdout
