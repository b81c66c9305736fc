"""Flower shows the worker's tasks: `ordercancel worker -E` and `celery -A ordercancel.worker
flower`, as the README says."""

import subprocess
import sys
import time

import requests

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import seed, start_stack
from .test_metrics import free_port

AUTH = ("ops", "flower-test")


def get(url: str, timeout: float = 30.0) -> requests.Response:
    """`url` once Flower answers it (it takes a few seconds to start)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, auth=AUTH, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_flower_lists_the_cancels_the_worker_ran():
    stack = start_stack(worker_args=["-E"])
    client = Client(stack.settings)
    port = free_port()
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ordercancel.worker", "flower",
         f"--port={port}", "--address=127.0.0.1", f"--basic-auth={AUTH[0]}:{AUTH[1]}"],
        env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert get(f"{base}/healthcheck").text == "OK"
        admin = SimAdmin(stack.sim_url)

        def shown(timeout: float) -> str:
            """The arguments of the finished tasks Flower lists (their events arrive a little
            after each final), once it lists any or `timeout` passed."""
            end = time.monotonic() + timeout
            while True:
                tasks = get(f"{base}/api/tasks").json().values()
                done = [str(t["args"]) for t in tasks if t["state"] == "SUCCESS"]
                if done or time.monotonic() > end:
                    return " ".join(done)
                time.sleep(0.2)

        # Flower hears events only once its receiver has subscribed, a moment after it
        # answers: cancel until it shows one.
        for oid in seed(admin, "zebpay-main", n=30):
            client.cancel("zebpay-main", oid).wait(30)
            if shown(timeout=1.0):
                break
        ids = seed(admin, "zebpay-main", n=3)
        finals = [client.cancel("zebpay-main", oid).wait(30) for oid in ids]
        assert {f["status"] for f in finals} == {"canceled"}
        end = time.monotonic() + 30
        while not all(oid in (text := shown(timeout=0)) for oid in ids):
            assert time.monotonic() < end, text
            time.sleep(0.2)
        assert requests.get(f"{base}/api/tasks", timeout=5).status_code == 401  # no password
    finally:
        flower.terminate()
        flower.wait(30)
        client.close()
        stack.stop_worker()
        stack.drop_keys()
        stack.stop()
