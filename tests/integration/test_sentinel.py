"""Redis Sentinel: a worker set and a producer on a `redis+sentinel://` URL follow the primary
through a failover (the primary SIGKILLed mid-load, or a manual SENTINEL FAILOVER): every
request gets its final, each order is closed once at the venue, and a kill after the failover
completes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import pytest

from ordercancel.client import Client
from ordercancel.config import Settings
from ordercancel.sim.admin import SimAdmin
from ordercancel.state.store import NoReplicas, Store, connect

from .conftest import order_status, seed, start_stack
from .redis7 import REDIS_SERVER, has_redis7, sentinel_group

pytestmark = pytest.mark.skipif(
    not has_redis7(), reason=f"needs {REDIS_SERVER} (Debian's redis-server 7, with Sentinel)"
)
ACCOUNT, SYMBOL = "ajaib-main", "BTC_USDT"


def test_a_url_names_the_sentinels_the_primary_and_the_database(tmp_path):
    with sentinel_group(tmp_path) as group:
        url = group.url(db=3)
        settings = Settings.from_mapping({"redis": {"url": url}}, None, env={})
        r = connect(settings.broker_redis_url)
        r.set("k", "v")
        assert r.connection_pool.get_master_address()[1] == group.ports["primary"]
        direct = connect(f"redis://127.0.0.1:{group.ports['primary']}/3")
        assert direct.get("k") == "v"
        r.close()
        direct.close()


def test_writes_that_must_survive_a_failover_wait_for_the_replica(tmp_path):
    with sentinel_group(tmp_path) as group:
        settings = Settings.from_mapping(
            {"redis": {"url": group.url(), "wait_timeout_ms": 300}}, None, env={}
        )
        store = Store.from_settings(settings)
        try:
            assert store.dispatch([("r1", {"_entry_id": "1-0"}, 0)]) == (True, [True])
            assert store._wait_paused_until == 0.0  # the replica acknowledged it
            replica = group.procs["replica"]
            os.kill(replica.pid, signal.SIGSTOP)  # a replica that cannot acknowledge
            try:
                with store.redis.pipeline(transaction=False) as pipe:
                    pipe.set("k", "v")
                    assert store.wait_in(pipe)
                    assert pipe.execute()[-1] == 0  # WAIT ran out: nobody has it but the primary
                store.waited(0, "a test write")
                with store.redis.pipeline(transaction=False) as pipe:
                    assert not store.wait_in(pipe)  # no more waiting for a while
            finally:
                os.kill(replica.pid, signal.SIGCONT)
        finally:
            store.redis.close()


def test_a_primary_without_replicas_is_waited_for_like_one_away(tmp_path):
    # min-replicas-to-write: with its replica stopped the primary answers NOREPLICAS; the
    # client keeps trying within its timeout, as it does while Redis is away
    with sentinel_group(tmp_path) as group:
        primary = connect(f"redis://127.0.0.1:{group.ports['primary']}/0")
        primary.config_set("min-replicas-to-write", 1)
        primary.config_set("min-replicas-max-lag", 1)
        tables = {"redis": {"url": group.url(), "wait_replicas": 0}}
        client = Client(Settings.from_mapping(tables, None, env={}), timeout=30.0)
        replica = group.procs["replica"]
        os.kill(replica.pid, signal.SIGSTOP)
        # the replica comes back a second after the refusals begin; a timer that outlives the
        # test (the write taken sooner) must not signal a process the group has ended
        resume = threading.Timer(1.0, os.kill, (replica.pid, signal.SIGCONT))
        try:
            while True:  # until the primary notices (min-replicas-max-lag)
                try:
                    primary.set("probe", "1")
                except NoReplicas:  # redis-py's ResponseError, named by ordercancel
                    break
                time.sleep(0.2)
            resume.start()
            ticket = client.cancel("zebpay-main", "o-1")  # refused, then taken
            entries = primary.xrange(client.keys.requests)
            assert any(ticket.request_id in f["request"] for _, f in entries)
        finally:
            resume.cancel()
            if resume.ident is not None:  # started
                resume.join()
            os.kill(replica.pid, signal.SIGCONT)
            client.close()
            primary.close()


@pytest.mark.timeout(300)
def test_requests_survive_a_sigkilled_primary_and_a_kill_follows(tmp_path):
    with sentinel_group(tmp_path) as group:
        stack = start_stack(redis_url=group.url())
        client = Client(stack.settings, timeout=20.0)
        admin = SimAdmin(stack.sim_url)
        try:
            assert stack.settings.wait_replicas == 1  # the default with Sentinel
            orders = seed(admin, ACCOUNT, n=60)
            tickets, done = [], threading.Event()

            def produce() -> None:  # a steady producer, through the failover
                for oid in orders:
                    tickets.append((oid, client.cancel(ACCOUNT, oid, symbol=SYMBOL)))
                    time.sleep(0.05)
                done.set()

            producer = threading.Thread(target=produce)
            producer.start()
            while len(tickets) < 15:
                time.sleep(0.05)
            old = group.primary_port()
            killed_at = time.monotonic()
            group.kill("primary")
            producer.join(120)
            assert done.is_set(), "the producer did not get through the failover"
            finals = {oid: ticket.wait(90) for oid, ticket in tickets}
            took = time.monotonic() - killed_at
            new = group.primary_port()
            assert new != old and new == group.ports["replica"]
            # the venue is the judge: every order closed, each by one cancel (a second only
            # where a final was lost with the old primary and the request ran again)
            assert {order_status(admin, ACCOUNT, oid) for oid in orders} == {"CANCELLED"}
            wanted = set(orders)
            cancels = Counter(o for c in admin.history()["calls"] if c["route"] == "ajaib.cancel"
                              for o in c["orders"] if o in wanted)  # fmt: skip
            assert max(cancels.values()) <= 2, cancels.most_common(3)
            assert {f["status"] for f in finals.values()} <= {"canceled", "already_closed"}
            # one final per request on the new primary's result stream
            counts = Counter(e["request_id"] for e in client.events() if e["event"] == "final")
            assert all(counts[t.request_id] == 1 for _, t in tickets), counts.most_common(3)
            # the workers saw the new primary, and no scope is held: each rate token was on
            # the replica before its call went out (WAIT), so no count was lost
            r = connect(stack.settings.broker_redis_url)
            assert r.get(f"{stack.prefix}:primary") == f"127.0.0.1:{new}"
            r.close()
            [oid] = seed(admin, "zebpay-flat", n=1)
            routine = client.cancel("zebpay-flat", oid).wait(60)
            assert routine["status"] == "canceled", routine
            # and a kill after it completes
            ids = seed(admin, "zebpay-flat", n=3)
            final = client.kill("after the failover", ["zebpay-flat"]).wait(60)
            assert final["status"] == "completed", final
            assert {order_status(admin, "zebpay-flat", o) for o in ids} == {"canceled"}
            print(f"failover: primary {old} -> {new}, {took:.1f}s to every final")
        finally:
            client.close()
            stack.stop()


@pytest.mark.timeout(300)
def test_a_manual_failover_under_load_is_followed(tmp_path):
    """`SENTINEL FAILOVER`: the old primary lives on and is demoted, so connections to it answer
    `READONLY` to writes; the workers and the producer take it as a reconnect, not an error."""
    with sentinel_group(tmp_path) as group:
        stack = start_stack(redis_url=group.url())
        client = Client(stack.settings, timeout=20.0)
        admin = SimAdmin(stack.sim_url)
        try:
            orders = seed(admin, ACCOUNT, n=40)
            tickets = []
            for i, oid in enumerate(orders):
                tickets.append(client.cancel(ACCOUNT, oid, symbol=SYMBOL))
                if i == 10:
                    s = connect(f"redis://127.0.0.1:{group.ports['sentinel1']}/0")
                    s.execute_command("SENTINEL", "FAILOVER", group.master)
                    s.close()
                time.sleep(0.05)
            finals = [t.wait(90) for t in tickets]
            assert group.primary_port() == group.ports["replica"]
            assert {f["status"] for f in finals} <= {"canceled", "already_closed"}, finals
            assert {order_status(admin, ACCOUNT, oid) for oid in orders} == {"CANCELLED"}
            counts = Counter(e["request_id"] for e in client.events() if e["event"] == "final")
            assert all(counts[t.request_id] == 1 for t in tickets), counts.most_common(3)
            log = (stack.workdir / "worker.log").read_text()
            assert "Traceback" not in log, log[-3000:]
        finally:
            client.close()
            stack.stop()
