"""Real parts: a Redis server (embedded, or ORDERCANCEL_REDIS_URL), the venue simulator over
HTTP, and `ordercancel worker` (two Celery nodes) as a child process."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    atexit.register(shutil.rmtree, keys, ignore_errors=True)  # private keys: not left behind

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
        path.chmod(0o600)
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
        # backlog and kill scope (test_queues, test_kill, test_deadman, test_deadman_watcher)
        # q-slow: the venue holds each call SLOW_MS (< timeout_s), see `routine_backlog`
        "q-slow": key_account(timeout_s=10.0),
        "q-urgent": key_account(),
        "q-deadman": key_account(),
        "q-bystander": key_account(),
        "q-bystander-ajaib": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        # clock skew: every worker process starts unsynced for these
        "i-zebpay-skew": key_account(),
        "i-zebpay-skew5xx": key_account(),
        "i-ajaib-skew": ajaib_account(),
        "i-ajaib-time5xx": ajaib_account(),
        # idempotency, budget holds, pages, scope
        "i-zebpay-wide": key_account(timeout_s=5.0),  # its listings are slowed down
        "i-zebpay-idem": key_account(),
        "i-zebpay-hold": key_account(),
        "idem-zebpay-scope": key_account(),  # the same key as i-zebpay-idem, another account
        "idem-zebpay-replay": key_account(),  # a failed / unknown first outcome, replayed
        "idem-zebpay-inflight": key_account(),  # a conflict while the first runs
        "idem-zebpay-samerid": key_account(),  # a request id reused in flight
        "idem-zebpay-forge": key_account(),  # an invalid request reusing a running one's id
        "i-ajaib-pages": ajaib_account(symbols=["BTC_USDT"]),
        # scope selectors (test_scope)
        "s-zebpay": key_account(),
        "s-ajaib": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        "s-zebpay-kill": key_account(),
        "s-ajaib-kill": ajaib_account(symbols=["BTC_USDT", "ETH_USDT"]),
        "s-report": key_account(),  # test_report
        "s-beat": key_account(),  # test_beat
        # recovery (test_recovery)
        "r-zebpay-dup": key_account(timeout_s=5.0),
        "r-zebpay-restart": key_account(),
        "r-zebpay-dead": key_account(timeout_s=10.0),
        "r-zebpay-idem": key_account(timeout_s=5.0),
    }


#: `[worker] processes` of the test stack (routine nodes), e.g. 1 or 4 to run the suite on
#: one or several processes; unset: the worker's default (one per core).
PROCESSES = os.environ.get("ORDERCANCEL_TEST_PROCESSES")


def start_stack(**kw) -> Stack:
    if PROCESSES:
        extra = dict(kw.get("extra_config") or {})
        extra["worker"] = {"processes": int(PROCESSES), **extra.get("worker", {})}
        kw["extra_config"] = extra
    kw.setdefault("redis_url", REDIS_URL)
    kw.setdefault("prefix", f"octest-{secrets.token_hex(4)}")
    stack = Stack(accounts=accounts_for, **kw)
    try:
        stack.start()
    except BaseException:  # e.g. the worker did not start: stop what did (its log is kept)
        stack.stop()
        raise
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


# --- issue 21: the simulator's record of one request, and the result stream from a point


def calls_for(admin: SimAdmin, request_id: str, *, children: bool = False) -> list[dict]:
    """The venue calls made for a request (they carry its id as X-Request-Id), in arrival
    order; with `children`, those of its per-order children (`<request_id>:<order_id>`) too."""

    def mine(rid: str | None) -> bool:
        return rid == request_id or (children and (rid or "").startswith(request_id + ":"))

    calls = [c for c in admin.history()["calls"] if mine(c["request_id"])]
    return sorted(calls, key=lambda c: c["seq"])


def venue_order(admin: SimAdmin, account: str, order_id: str) -> dict:
    """An order as the simulator recorded it: its status and every change, with its cause (the
    route, call `seq` and request id that changed it)."""
    orders = admin.history()["orders"]
    return next(o for o in orders if o["account"] == account and o["order_id"] == str(order_id))


def stream_end(client: Client) -> str:
    """The result stream's last id now: reading after it, no later event is missed."""
    last = client.store.redis.xrevrange(client.keys.results, count=1)
    return str(last[0][0]) if last else "0-0"


def await_event(client: Client, start: str, match, timeout: float = 30.0) -> dict:
    """The first result-stream event after `start` that `match` accepts; fails (never hangs)
    after `timeout` seconds."""
    redis_, last = client.store.redis, start
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        block = max(1, int(min(left, 1.0) * 1000))
        reply = redis_.xread({client.keys.results: last}, count=500, block=block)
        for entry_id, event in reply[0][1] if reply else []:
            last = entry_id
            if match(event):
                return event
    raise AssertionError(f"no matching event after {start} within {timeout:g}s")


# --- issue 21: a routine backlog (test_queues, test_kill)

#: how long the venue holds each call of q-slow (its timeout_s is longer): one backlog round
SLOW_MS = 4000


def routine_capacity(stack: Stack) -> int:
    """Routine requests the worker runs at most at once: per routine node (`[worker]
    processes`), `[worker] concurrency` Celery threads for single requests and as many request
    threads for those of intake batches (`tasks.execute_many`), where every producer's
    requests now arrive."""
    return 2 * stack.settings.worker_concurrency * stack.settings.routine_processes


@contextmanager
def routine_backlog(client: Client, admin: SimAdmin, stack: Stack) -> Iterator[Callable]:
    """2 * capacity + 4 routine cancels on q-slow, each held SLOW_MS by the venue: `capacity`
    of them reach it at once, the next ones only as threads free up, a round (SLOW_MS) later.
    Yields `reached(t_ms)`: how many had reached the venue before `t_ms`. On leaving, the
    latency is lifted, and every one must end cancelled at the venue."""
    since = now_ms()
    admin.faults(latency_ms=SLOW_MS, accounts=["q-slow"])
    ids = seed(admin, "q-slow", n=2 * routine_capacity(stack) + 4)
    tickets = [client.cancel("q-slow", oid) for oid in ids]

    def reached(t_ms: float) -> int:
        calls = admin.history(since)["calls"]
        return sum(
            c["route"] == "zebpay.cancel" and c["account"] == "q-slow" and c["t_ms"] < t_ms
            for c in calls
        )

    try:
        yield reached
    finally:
        admin.faults()  # the calls held now finish their wait, the rest go through at once
        finals = [t.wait(60) for t in tickets]
    assert {f["status"] for f in finals} == {"canceled"}
    assert {order_status(admin, "q-slow", oid) for oid in ids} == {"canceled"}


def closed_ms(admin: SimAdmin, account: str, order_id: str) -> float:
    """When the venue closed an order: its first change after it was seeded."""
    return next(e["t_ms"] for e in venue_order(admin, account, order_id)["history"]
                if e["cause"] != "seed")  # fmt: skip
