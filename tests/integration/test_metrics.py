"""Prometheus metrics at ORDERCANCEL_METRICS_PORT, summed over every worker process."""

import json
import socket
import time

import requests

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import seed, start_stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    """`name{labels}` -> value, from /metrics."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    total = 0.0
    for key, v in samples.items():
        if key.split("{")[0] == name and all(f'{k}="{w}"' in key for k, w in labels.items()):
            total += v
    return total


def test_metrics_count_real_cancels_across_every_worker_process():
    port = free_port()
    stack = start_stack(env={"ORDERCANCEL_METRICS_PORT": str(port)})
    client = Client(stack.settings)
    admin = SimAdmin(stack.sim_url)
    try:
        ids = seed(admin, "zebpay-main", n=40)
        # one intake read per pipeline: both routine processes get some of them
        for chunk in (ids[:20], ids[20:]):
            with client.store.redis.pipeline(transaction=False) as pipe:
                for oid in chunk:
                    request = {"kind": "cancel", "account": "zebpay-main", "order_id": oid,
                               "request_id": f"m-{oid}"}  # fmt: skip
                    pipe.xadd(client.keys.requests, {"request": json.dumps(request)})
                pipe.execute()
        finals = [client.store.wait_final(f"m-{oid}", 30) for oid in ids]
        assert all(f and f["status"] == "canceled" for f in finals)
        [b] = seed(admin, "zebpay-badsecret")
        assert client.cancel("zebpay-badsecret", b).wait(30)["error_code"] == "auth"
        kill = client.kill("metrics test", ["zebpay-flat"]).wait(30)
        assert kill["status"] == "completed"
        client.resume()
        end = time.monotonic() + 10  # the kill's final is counted just after it is published
        while True:
            m = scrape(port)
            if value(m, "ordercancel_kill_duration_seconds_count") or time.monotonic() > end:
                break
            time.sleep(0.1)
    finally:
        client.close()
        stack.stop_worker()
        stack.drop_keys()
        stack.stop()
    done = value(m, "ordercancel_requests_total", kind="cancel", account="zebpay-main",
                 status="canceled")  # fmt: skip
    assert done == 40
    assert value(m, "ordercancel_requests_total", account="zebpay-badsecret", status="failed") == 1
    assert value(m, "ordercancel_request_latency_seconds_count", kind="cancel") >= 41
    assert value(m, "ordercancel_venue_calls_total", venue="zebpay", status="200") >= 40
    assert (
        value(m, "ordercancel_venue_calls_total", venue="zebpay", status="400") >= 1
    )  # the bad secret
    assert value(m, "ordercancel_kill_duration_seconds_count") == 1
    assert value(m, "ordercancel_requests_in_flight") == 0
    processes = {k.split('pid="')[1].split('"')[0] for k in m if 'pid="' in k}
    assert not processes  # summed over processes, not one series each
