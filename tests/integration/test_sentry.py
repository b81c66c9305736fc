"""Sentry (SENTRY_DSN): what a local ingest endpoint receives from a real worker."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ordercancel.client import Client
from ordercancel.node.celery_app import TASK, make_celery
from ordercancel.node.queues import ROUTINE
from ordercancel.sim.admin import SimAdmin

from .conftest import seed, start_stack
from .test_logs import assert_no_secret


class Ingest:
    """A Sentry ingest endpoint on 127.0.0.1: keeps every envelope it is sent, decoded."""

    def __init__(self) -> None:
        self.raw: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                ingest.receive(body.decode())
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"

    def receive(self, text: str) -> None:
        with self.arrived:
            self.raw.append(text)
            self.events += [p for kind, p in envelope_items(text) if kind == "event"]
            self.arrived.notify_all()

    def wait_for(self, match, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The events `match` accepts, once there is one (or the timeout passed)."""
        end = time.monotonic() + timeout
        with self.arrived:
            while not (found := [e for e in self.events if match(e)]):
                if not self.arrived.wait(max(0.0, end - time.monotonic())):
                    break
            return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def envelope_items(text: str) -> list[tuple[str, Any]]:
    """(item type, payload) of a Sentry envelope: a header line, then per item a header line
    and a payload of `length` bytes (or one line)."""
    data = text.encode()
    _, _, rest = data.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        try:
            items.append((header.get("type", ""), json.loads(payload)))
        except ValueError:
            items.append((header.get("type", ""), payload.decode(errors="replace")))
    return items


@pytest.fixture(scope="module")
def sentried():
    ingest = Ingest()
    stack = start_stack(env={"SENTRY_DSN": ingest.dsn})
    client = Client(stack.settings)
    yield stack, client, SimAdmin(stack.sim_url), ingest
    client.close()
    stack.stop_worker()
    stack.drop_keys()
    stack.stop()
    ingest.close()


def tags_of(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {k: v for k, v in tags}


def test_auth_failures_become_tagged_events_and_successes_do_not(sentried):
    stack, client, admin, ingest = sentried
    [ok] = seed(admin, "zebpay-main")
    [z] = seed(admin, "zebpay-badsecret")
    [a] = seed(admin, "ajaib-wrongkey")
    fine = client.cancel("zebpay-main", ok).wait(30)
    finals = [
        client.cancel("zebpay-badsecret", z).wait(30),
        client.cancel("ajaib-wrongkey", a, symbol="BTC_USDT").wait(30),
    ]
    assert fine["status"] == "canceled"
    assert [(f["status"], f["error_code"]) for f in finals] == [("failed", "auth")] * 2
    for final in finals:
        [event] = ingest.wait_for(
            lambda e, f=final: tags_of(e).get("request_id") == f["request_id"]
        )
        tags = tags_of(event)
        assert tags["venue"] == final["venue"] and tags["account"] == final["account"]
        assert tags["error_code"] == "auth" and tags["status"] == "failed", event
        assert event["level"] == "error" and final["account"] in event["message"]
    assert not [e for e in ingest.events if tags_of(e).get("request_id") == fine["request_id"]]
    assert_no_secret("\n".join(ingest.raw), stack.settings)


def test_an_unexpected_exception_arrives_without_the_request_or_any_secret(sentried):
    stack, _, _, ingest = sentried
    app = make_celery(stack.settings)
    # A task the worker cannot run (one argument too many), whose request carries a secret.
    secret = stack.settings.accounts["zebpay-main"].options.api_secret.reveal()
    planted = {"kind": "cancel", "account": "zebpay-main", "order_id": "x", "note": secret}
    try:
        app.send_task(TASK, args=[planted, "one too many"], queue=ROUTINE)
    finally:
        app.close()
    [event] = ingest.wait_for(
        lambda e: any(
            x.get("type") == "TypeError" for x in e.get("exception", {}).get("values", [])
        )
    )
    job = event.get("extra", {}).get("celery-job", {})
    assert job.get("task_name") == TASK and job.get("args") == "[Filtered]"
    frames = [f for x in event["exception"]["values"] for f in x["stacktrace"]["frames"]]
    assert frames and not any("vars" in f for f in frames)  # no local variables
    assert "request" not in event and "user" not in event
    text = "\n".join(ingest.raw)
    assert secret not in text and "one too many" not in text
    assert_no_secret(text, stack.settings)
