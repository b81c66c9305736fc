"""Worker logs: one line per final outcome, a JSON format, and never a secret."""

import json
import time

from ordercancel.client import Client
from ordercancel.sim.admin import SimAdmin

from .conftest import seed, start_stack


def run_cancels(client, admin) -> list[dict]:
    """A cancel on each venue and one the venue refuses (a wrong secret)."""
    [z] = seed(admin, "zebpay-main")
    [a] = seed(admin, "ajaib-main")
    [b] = seed(admin, "zebpay-badsecret")
    tickets = [
        client.cancel("zebpay-main", z),
        client.cancel("ajaib-main", a, symbol="BTC_USDT"),
        client.cancel("zebpay-badsecret", b),
    ]
    return [t.wait(30) for t in tickets]


def log_once_it_has(path, needles: list[str], timeout: float = 10.0) -> str:
    """The log, once every needle is in it (a final is published just before it is logged)."""
    end = time.monotonic() + timeout
    while True:
        text = path.read_text()
        if all(n in text for n in needles) or time.monotonic() > end:
            return text
        time.sleep(0.05)


def assert_no_secret(text: str, settings) -> None:
    leaked = [s[:4] + "…" for s in settings.secret_values() if s in text]
    assert not leaked, f"secrets in the log: {leaked}"
    assert "x-auth-signature" not in text.lower() and "x-signature" not in text.lower()


def test_one_text_line_per_final_outcome_and_no_secret(stack, client, admin):
    finals = run_cancels(client, admin)
    assert [f["status"] for f in finals] == ["canceled", "canceled", "failed"]
    ids = [f"request_id={f['request_id']} " for f in finals]
    text = log_once_it_has(stack.workdir / "worker.log", ids)
    for final in finals:
        lines = [line for line in text.splitlines() if f"request_id={final['request_id']} " in line]
        assert len(lines) == 1, lines
        assert f"account={final['account']}" in lines[0] and f"status={final['status']}" in lines[0]
    assert_no_secret(text, stack.settings)


def test_json_log_format_gives_the_final_outcome_as_fields():
    stack = start_stack(extra_config={"worker": {"log_format": "json"}})
    client = Client(stack.settings)
    try:
        finals = run_cancels(client, SimAdmin(stack.sim_url))
        ids = [f'"request_id": "{f["request_id"]}"' for f in finals]
        text = log_once_it_has(stack.workdir / "worker.log", ids)
    finally:
        client.close()
        stack.stop_worker()
        stack.drop_keys()
        stack.stop()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    by_id = {r["request_id"]: r for r in records if r.get("event") == "final"}
    for final in finals:
        record = by_id[final["request_id"]]
        assert record["status"] == final["status"] and record["account"] == final["account"]
        assert record["venue"] == final["venue"] and record["level"] == "INFO"
        assert isinstance(record["latency_ms"], int)
    assert by_id[finals[2]["request_id"]]["error_code"] == "auth"
    assert_no_secret(text, stack.settings)
