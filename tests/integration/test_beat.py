"""`ordercancel beat`: `[[schedule]]` runs sent by real Celery beat processes, each run one
request (two beats at once send every run twice: the worker runs it once), held against the
simulator's record."""

import json
import signal
import subprocess
import sys
import time
from collections import Counter

from .conftest import calls_for, seed, venue_order
from .test_first_day import oc

NAME = "b-stale"


def beat(env):
    return subprocess.Popen(
        [sys.executable, "-m", "ordercancel", "beat"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_final(event):
    """The final of a run itself (not of one of its orders: `<run>:<order>`)."""
    rid = event["request_id"]
    return event["event"] == "final" and rid.startswith(f"sched-{NAME}-") and ":" not in rid


def test_a_scheduled_cancel_of_one_strategys_stale_orders(stack, client, admin, tmp_path):
    account = "s-beat"
    config = tmp_path / "beat.toml"
    config.write_text(f"""
[redis]
url = "{stack.redis_url}"
[ordercancel]
prefix = "{stack.prefix}"
[[schedule]]
name = "{NAME}"
every = 2
older_than = "30s"
request = {{ kind = "cancel_all", account = "{account}", symbols = ["BTCUSDT"], \
client_order_id_prefix = "stratA-" }}
""")
    env = {**stack.env, "ORDERCANCEL_CONFIG": str(config)}
    check = oc("config", "check", "--offline", env=env)
    assert check.returncode == 0 and f"[schedule {NAME}] every 2s" in check.stdout, check
    old = int(time.time() * 1000) - 120_000
    [stale] = seed(admin, account, client_order_id="stratA-stale", created_ms=old)
    [young] = seed(admin, account, client_order_id="stratA-young")
    [other] = seed(admin, account, client_order_id="stratB-stale", created_ms=old)

    beats = [beat(env), beat(env)]  # a second beat, as during a restart gone wrong
    try:
        runs: Counter[str] = Counter()
        end = time.monotonic() + 60
        while len(runs) < 3:
            assert time.monotonic() < end, f"runs seen: {runs}"
            assert all(b.poll() is None for b in beats), beats[0].stderr.read()
            runs = Counter(e["request_id"] for e in client.events() if run_final(e))
            time.sleep(0.2)
    finally:
        for b in beats:
            b.send_signal(signal.SIGTERM)
        codes = [b.wait(30) for b in beats]
        logs = [b.stderr.read() for b in beats]
        for b in beats:
            b.stderr.close()
    assert codes == [0, 0]
    # one final per run, though both beats sent runs
    assert any(all(f"sent {rid}" in log for log in logs) for rid in runs), logs
    assert set(runs.values()) == {1}, runs
    finals = {rid: client.status(rid) for rid in runs}
    assert {f["status"] for f in finals.values()} == {"completed"}
    for rid in runs:  # the run's time names it: a multiple of the interval
        assert int(rid.rsplit("-", 1)[1]) % 2000 == 0
        assert json.loads(finals[rid]["detail"])["scope"]["client_order_id_prefix"] == "stratA-"
    # the venue: the stale order of strategy A cancelled once, by one run; the others untouched
    last = venue_order(admin, account, stale)["history"][-1]
    assert last["status"] == "canceled" and last["request_id"].split(":")[0] in runs
    cancels = [c for rid in runs for c in calls_for(admin, rid, children=True)
               if c["route"] == "zebpay.cancel"]  # fmt: skip
    assert len(cancels) == 1
    for oid in (young, other):
        assert [h["status"] for h in venue_order(admin, account, oid)["history"]] == ["new"]
    client.cancel_all(account).wait(30)


def test_beat_and_config_check_name_a_bad_schedule(stack, tmp_path):
    config = tmp_path / "bad.toml"
    env = {**stack.env, "ORDERCANCEL_CONFIG": str(config)}
    config.write_text(f'[redis]\nurl = "{stack.redis_url}"\n')
    out = oc("beat", env=env)
    assert out.returncode == 2 and "schedule" in out.stderr and len(out.stderr.splitlines()) == 1
    for body, where in [
        ('name = "x"\ncron = "0 25 * * *"\nrequest = { kind = "kill" }', "schedule.x.cron"),
        ('name = "x"\nevry = 5\nrequest = { kind = "kill" }', "did you mean every?"),
        ('name = "x"\nevery = 5\nrequest = { kind = "kil" }', "did you mean kill?"),
        ('name = "x"\nevery = 5\nrequest = { kind = "cancel", request_id = "r" }',
         "schedule.x.request.request_id"),
    ]:  # fmt: skip
        config.write_text(f'[redis]\nurl = "{stack.redis_url}"\n[[schedule]]\n{body}\n')
        out = oc("config", "check", "--offline", env=env)
        assert out.returncode == 2 and where in out.stderr, (body, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
