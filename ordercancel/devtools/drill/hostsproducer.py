"""The hosts drill's producer, run on a host of its own: steady cancels from a list of orders,
each recorded in a file (not in Redis) once Redis took it.

    python -m ordercancel.devtools.drill.hostsproducer URL PREFIX ORDERS.json RECORD.jsonl RATE

`ORDERS.json`: [[account, order_id, symbol], ...], sent in order, RATE per second. A send that
meets Redis away is sent again with the same request_id until it is taken; a line per request:
{"request_id", "account", "order_id", "symbol", "sent_ms", "taken_ms", "tries"}. It stops at
the end of the list or on SIGTERM (the line of a request in flight is written first).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

from ordercancel.client import Client
from ordercancel.errors import RedisUnavailable
from ordercancel.request import new_request_id

stopping = False


def _stop(*_: Any) -> None:
    global stopping
    stopping = True


def main(argv: list[str]) -> int:
    url, prefix, orders_path, record_path, rate = argv
    signal.signal(signal.SIGTERM, _stop)
    with open(orders_path) as f:
        orders = json.load(f)
    client = Client(url=url, prefix=prefix, requested_by="drill-producer", timeout=2.0)
    start = time.monotonic()
    with open(record_path, "a", buffering=1) as record:
        for i, (account, order_id, symbol) in enumerate(orders):
            pause = start + i / float(rate) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if stopping:
                break
            rid, tries, sent_ms = new_request_id(), 0, int(time.time() * 1000)
            while True:
                tries += 1
                try:
                    client.cancel(account, order_id, symbol=symbol, request_id=rid)
                    break
                except RedisUnavailable:
                    time.sleep(0.2)
            line = {"request_id": rid, "account": account, "order_id": order_id,
                    "symbol": symbol, "sent_ms": sent_ms, "taken_ms": int(time.time() * 1000),
                    "tries": tries}  # fmt: skip
            record.write(json.dumps(line) + "\n")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
