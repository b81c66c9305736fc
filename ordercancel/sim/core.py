"""The simulator's HTTP core: routing, faults, admin routes, request log and call history.

Venue behaviour lives in one module per venue (`zebpay.py`); this file knows none of it.
Admin routes live under `/_sim/` and are never rate-limited or faulted. A path no venue routes
is answered like a gateway would: an HTML 404.
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ordercancel.sim.faults import (
    BARE_404,
    BEFORE_SERVING,
    FILL_RACE,
    ODD_BODY,
    ODD_STATUS,
    RESET,
    TIMEOUT,
    Faults,
)
from ordercancel.sim.history import Call, CallLog, wall_ms

JSON = "application/json"


@dataclass
class SimRequest:
    method: str
    path: str
    query: str  # raw, exactly as received
    body: bytes
    headers: Any
    client_ip: str
    call: Call = field(default_factory=Call)  # set by the core for venue calls

    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class SimResponse:
    status: int
    body: Any  # JSON, or the text itself when content_type is not JSON
    headers: dict[str, str] | None = None
    content_type: str = JSON


def gateway_404() -> SimResponse:
    """What a misconfigured gateway answers: no venue behind it, no venue envelope."""
    return SimResponse(404, "<html><body><h1>404 Not Found</h1></body></html>", None, "text/html")


Handler = Callable[[SimRequest], SimResponse]


class VenueSim(Protocol):
    name: str

    def route(self, method: str, path: str) -> tuple[str, Handler] | None: ...
    def rate_limit(self, req: SimRequest) -> SimResponse | None: ...
    def account_of(self, req: SimRequest) -> str | None: ...
    def fault_response(self, kind: str, faults: Faults) -> SimResponse: ...
    def odd_answers(self, kind: str, route: str, served: SimResponse) -> list[SimResponse]: ...
    def admin(self, req: SimRequest, action: str) -> SimResponse: ...
    def reset(self, everything: bool) -> None: ...
    def register(self, **fields: Any) -> str: ...
    def seed(self, account: str, orders: list[dict[str, Any]]) -> list[str]: ...
    def history(self, since_ms: float) -> list[dict[str, Any]]: ...
    def clear(self) -> None: ...


class Clock:
    """The venues' clock: local time plus an offset the tests can skew."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], venues: Sequence[VenueSim], clock: Clock):
        super().__init__(address, _Handler)
        self.venues = {v.name: v for v in venues}
        self.clock = clock
        self.faults = Faults()
        self.log: deque[dict[str, Any]] = deque(maxlen=20_000)  # the latest calls' records
        self.calls = CallLog()  # every call's record since the last reset or clear
        self.connections = 0  # TCP connections accepted since the last reset

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a killed worker, a timed-out call) is not news."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="ordercancel-sim", daemon=True)
        thread.start()
        return thread

    def admin(self, req: SimRequest) -> SimResponse:
        parts = req.path.strip("/").split("/")  # _sim, <venue|action>, [action]
        if len(parts) == 3 and parts[1] in self.venues:
            return self.venues[parts[1]].admin(req, parts[2])
        action = parts[1] if len(parts) == 2 else ""
        if action == "faults" and req.method == "POST":
            try:
                self.faults = Faults.from_json(req.json())
            except (ValueError, TypeError) as exc:
                return SimResponse(400, {"error": str(exc)})
            return SimResponse(200, self.faults.to_json())
        if action == "faults":
            return SimResponse(200, self.faults.to_json())
        if action == "clock":
            self.clock.offset_ms = int(req.json().get("offset_ms", 0))
            return SimResponse(200, {"offset_ms": self.clock.offset_ms})
        if action == "stats":
            return SimResponse(200, {"connections": self.connections, "requests": len(self.log)})
        if action == "log":
            since = float(req.params().get("since", 0))
            return SimResponse(200, [_copy(e) for e in list(self.log) if e["t_ms"] >= since])
        if action == "history":
            return SimResponse(200, self.history(float(req.params().get("since", 0))))
        if action == "clear" and req.method == "POST":
            self.calls.clear()
            for venue in self.venues.values():
                venue.clear()
            return SimResponse(200, {"cleared": "orders,calls"})
        if action == "reset":
            everything = req.params().get("all") == "1"
            self.faults = Faults()
            self.clock.offset_ms = 0
            self.log.clear()
            self.calls.clear()
            self.connections = 0
            for venue in self.venues.values():
                venue.reset(everything)
            return SimResponse(200, {"reset": "all" if everything else "faults,budgets,log,clock"})
        return SimResponse(404, {"error": f"no admin route {req.path}"})

    def history(self, since_ms: float) -> dict[str, Any]:
        """Orders changed and calls arrived at or after `since_ms`, complete up to `now_ms`."""
        now = wall_ms()  # taken first: whatever happened before it is in the answer
        orders = [o for venue in self.venues.values() for o in venue.history(since_ms)]
        return {"now_ms": now, "orders": orders, "calls": self.calls.since(since_ms)}


def _copy(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in entry.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle holds the body back
    # until the client's delayed ACK (~40 ms on Linux) on every kept-alive call.
    disable_nagle_algorithm = True
    server: SimServer

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the request log is /_sim/log
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        req = SimRequest(
            self.command, parts.path, parts.query, body, self.headers, self.client_address[0]
        )
        if parts.path.startswith("/_sim/"):
            self._send(self.server.admin(req))
            if req.method == "POST" and parts.path.endswith("/orders"):
                # seeded orders live long: out of the cyclic collector's full passes, which
                # would otherwise pause every answer for tens of ms
                gc.freeze()
            return
        for venue in self.server.venues.values():
            found = venue.route(req.method, req.path)
            if found:
                self._serve(venue, *found, req)
                return
        self._send(gateway_404())

    def _serve(self, venue: VenueSim, route: str, handler: Handler, req: SimRequest) -> None:
        server = self.server
        faults = server.faults
        account = venue.account_of(req)
        entry = server.calls.open(
            venue=venue.name,
            route=route,
            account=account,
            request_id=req.headers.get("X-Request-Id"),
            ip=req.client_ip,
        )
        server.log.append(entry)
        req.call = Call(entry["seq"], route, account, entry["request_id"], faults)
        limited = venue.rate_limit(req)
        if limited is not None:
            self._answer(entry, limited)
            return
        if faults.latency_ms and faults.applies(route, account):
            time.sleep(faults.latency_ms / 1000)
        fault = faults.decide(route, account)
        if fault == RESET:
            entry["fault"] = fault
            self._reset()
            return
        if fault in BEFORE_SERVING:
            entry["fault"] = fault
            answer = gateway_404() if fault == BARE_404 else venue.fault_response(fault, faults)
            self._answer(entry, answer)
            return
        try:
            response = handler(req)
        except (ValueError, KeyError, TypeError) as exc:
            response = SimResponse(400, {"error": f"malformed request: {type(exc).__name__}"})
        entry["orders"] = req.call.orders
        if fault in (ODD_STATUS, ODD_BODY):
            odd = venue.odd_answers(fault, route, response)
            response, fault = (faults.pick(odd), fault) if odd else (response, None)
        entry["fault"] = fault or (FILL_RACE if req.call.raced else None)
        if fault == TIMEOUT:  # the venue acted, the answer is lost
            entry["status"] = response.status
            time.sleep(faults.timeout_s)
            self.close_connection = True
            return
        self._answer(entry, response)

    def _answer(self, entry: dict[str, Any], response: SimResponse) -> None:
        # recorded before the bytes go out: a client that reads the record as soon as it has
        # the answer finds it complete (it was set after, and a test read it unset on CI)
        entry["status"], entry["answered_ms"] = response.status, wall_ms()
        try:
            self._send(response)
        except OSError:  # the client went away: not answered
            entry["answered_ms"] = None
            raise

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _send(self, response: SimResponse) -> None:
        if response.content_type == JSON:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
        else:
            payload = str(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (response.headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
