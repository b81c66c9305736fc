"""Real parts: a Redis server (embedded, or ORDERCANCEL_REDIS_URL), the venue simulator over
HTTP, and `ordercancel worker` (two Celery nodes) as a child process."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ordercancel.client import Client
from ordercancel.devtools.stack import Stack
from ordercancel.sim.admin import SimAdmin

from .simkit import Sim

REDIS_URL = os.environ.get("ORDERCANCEL_REDIS_URL")


def _ec_key(fmt: serialization.PrivateFormat) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def accounts_for(sim_url: str) -> dict:
    keys = Path(tempfile.mkdtemp(prefix="oc-keys-"))

    def key_account(**extra):
        return {
            "venue": "zebpay",
            "base_url": sim_url,
            "api_key": "zk_" + secrets.token_hex(6),
            "api_secret": secrets.token_hex(16),
            "timeout_s": 0.5,
            **extra,
        }

    def ajaib_account(fmt=serialization.PrivateFormat.PKCS8, **extra):
        path = keys / secrets.token_hex(4)
        path.write_text(_ec_key(fmt))
        return {
            "venue": "ajaib",
            "base_url": sim_url,
            "api_key": "ak_" + secrets.token_hex(6),
            "private_key": f"file:{path}",
            "timeout_s": 0.5,
            # Ajaib publishes no quota and the simulator enforces none: a roomy budget here
            "rate_limit": "1000/1s",
            **extra,
        }

    return {
        "zebpay-main": key_account(),
        # a wrong path in base_url: the simulator answers like a gateway, a bare 404
        "zebpay-gateway": key_account(base_url=sim_url + "/gateway"),
        "zebpay-jwt": {
            "venue": "zebpay",
            "base_url": sim_url,
            "jwt": "jwt." + secrets.token_hex(12),
        },
        "zebpay-sub": key_account(subaccount_id="7"),
        "zebpay-badsecret": key_account(),
        "zebpay-noscope": key_account(),
        "zebpay-slow": key_account(timeout_s=5.0),
        "ajaib-main": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        "ajaib-ssh": ajaib_account(
            serialization.PrivateFormat.OpenSSH, signature_encoding="hex-der"
        ),
        "ajaib-sec1": ajaib_account(
            serialization.PrivateFormat.TraditionalOpenSSL, signature_encoding="base64-raw"
        ),
        "ajaib-wrongkey": ajaib_account(),
        # cancel-all tests own these: nothing else leaves orders on them
        "zebpay-flat": key_account(),
        # its own egress host, so its own (tight) budget scope
        "zebpay-budget": key_account(
            base_url=sim_url.replace("127.0.0.1", "localhost"), rate_limit="10/2s"
        ),
        "ajaib-flat": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        "ajaib-flatall": ajaib_account(),
        # --- one test each (issue 21): no other test leaves orders, clock offsets or budget
        # holds on these, so no worker state carries into them from an earlier test
        # backlog and kill scope (test_queues, test_kill, test_deadman)
        "q-slow": key_account(timeout_s=5.0),
        "q-bystander": key_account(),
        "q-bystander-ajaib": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        # clock skew: every worker process starts unsynced for these
        "i-zebpay-skew": key_account(),
        "i-zebpay-skew5xx": key_account(),
        "i-ajaib-skew": ajaib_account(),
        "i-ajaib-time5xx": ajaib_account(),
        # idempotency, budget holds, pages, scope
        "i-zebpay-wide": key_account(),
        "i-zebpay-idem": key_account(),
        "i-zebpay-hold": key_account(),
        "i-ajaib-pages": ajaib_account(symbols=["BTC_USDT"]),
        # recovery (test_recovery)
        "r-zebpay-dup": key_account(timeout_s=5.0),
        "r-zebpay-restart": key_account(),
    }


#: `[worker] processes` of the test stack (routine nodes), e.g. 1 or 4 to run the suite on
#: one or several processes; unset: the worker's default (one per core).
PROCESSES = os.environ.get("ORDERCANCEL_TEST_PROCESSES")


def start_stack(**kw) -> Stack:
    if PROCESSES:
        extra = dict(kw.get("extra_config") or {})
        extra["worker"] = {"processes": int(PROCESSES), **extra.get("worker", {})}
        kw["extra_config"] = extra
    stack = Stack(
        redis_url=REDIS_URL, prefix=f"octest-{secrets.token_hex(4)}", accounts=accounts_for, **kw
    ).start()
    admin = SimAdmin(stack.sim_url)
    # Credentials the venue holds that differ from ours, and a key without the trading scope.
    bad = stack.settings.accounts["zebpay-badsecret"].options
    admin.register(
        "zebpay", name="zebpay-badsecret", api_key=bad.api_key.reveal(), api_secret="other"
    )
    noscope = stack.settings.accounts["zebpay-noscope"].options
    admin.register(
        "zebpay",
        name="zebpay-noscope",
        api_key=noscope.api_key.reveal(),
        api_secret=noscope.api_secret.reveal(),
        scopes=["fetch:details"],
    )
    # An Ajaib account whose registered public key is not ours.
    wrong = stack.settings.accounts["ajaib-wrongkey"].options
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    public = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    admin.register(
        "ajaib", name="ajaib-wrongkey", api_key=wrong.api_key.reveal(), public_key=public.decode()
    )
    return stack


@pytest.fixture(scope="session")
def stack():
    s = start_stack()
    yield s
    s.stop_worker()
    s.drop_keys()
    s.stop()


@pytest.fixture(scope="session")
def client(stack):
    c = Client(stack.settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def admin(stack):
    return SimAdmin(stack.sim_url)


@pytest.fixture(autouse=True)
def _fresh_sim(request):
    """Every test starts with no faults, full rate budgets (the venue's and ours), an empty
    request log."""
    if "stack" in request.fixturenames or "admin" in request.fixturenames:
        request.getfixturevalue("admin").reset()
        request.getfixturevalue("stack").drop_keys("budget")


def venue_of(account: str) -> str:
    return "ajaib" if "ajaib" in account else "zebpay"


def seed(admin: SimAdmin, account: str = "zebpay-main", n: int = 1, symbol: str | None = None,
         **spec):  # fmt: skip
    venue = venue_of(account)
    symbol = symbol or {"zebpay": "BTCUSDT", "ajaib": "BTC_USDT"}[venue]
    return admin.seed(venue, account, [{"symbol": symbol, **spec} for _ in range(n)])


def order_status(admin: SimAdmin, account: str, order_id: str) -> str:
    venue = venue_of(account)
    id_field = {"zebpay": "clientOrderId", "ajaib": "order_id"}[venue]
    return next(o["status"] for o in admin.orders(venue, account) if str(o[id_field]) == order_id)


def events_of(client: Client, request_id: str) -> list[dict]:
    return [e for e in client.events() if e["request_id"] == request_id]


def venue_calls(admin: SimAdmin, route: str, account: str | None = None) -> list[dict]:
    return [
        e
        for e in admin.log()
        if e["route"] == route and (account is None or e["account"] == account)
    ]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Sim]:
    """An in-process simulator for the tests of the simulator itself (no stack)."""
    s = Sim()
    yield s
    s.close()


@pytest.fixture
def sim(shared_sim: Sim) -> Sim:
    shared_sim.fresh()
    return shared_sim
