"""The `ordercancel` command (CONTRACT §7).

Exit codes with `--wait`: 0 final status canceled / already_closed / not_found / completed;
1 any other final status; 2 usage or configuration error; 3 no final event within the wait;
4 Redis unreachable, refused the credentials or the command, or is not a Redis server.

Producer commands read only the Redis URL and the prefix: no account, no venue secret.
Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from kombu.exceptions import OperationalError

from ordercancel import request, schedule
from ordercancel.config import Settings, safe_url
from ordercancel.engine.report import COLUMNS, render
from ordercancel.errors import (
    ConfigError,
    OrderCancelError,
    RedisUnavailable,
    RequestError,
    WaitTimeout,
)
from ordercancel.events import Event
from ordercancel.outcomes import SUCCESS
from ordercancel.settings import load_settings
from ordercancel.state import sentinel
from ordercancel.state.store import SOCKET_TIMEOUT_S, redis_problem
from ordercancel.version import __version__

if TYPE_CHECKING:
    from ordercancel.client import Client, Ticket

EXIT_OK, EXIT_STATUS, EXIT_USAGE, EXIT_NO_FINAL, EXIT_REDIS = 0, 1, 2, 3, 4


def _print_event(event: Event, as_json: bool) -> None:
    if as_json:
        print(json.dumps(event, sort_keys=True))
        return
    shown = (
        "request_id",
        "kind",
        "account",
        "symbol",
        "order_id",
        "status",
        "error_code",
        "attempts",
        "latency_ms",
        "error",
    )
    body = " ".join(f"{k}={event[k]}" for k in shown if event.get(k))
    print(f"{event['event']} {body}")


def _exit_for(event: Event) -> int:
    return EXIT_OK if event.get("status") in SUCCESS else EXIT_STATUS


def _client(settings: Settings, wait: float | None = None) -> Client:
    """A client whose requests say who asked: `user@host`; with `wait`, no Redis call (a
    connect included) takes longer than the wait."""
    import getpass
    import socket

    from ordercancel.client import Client

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = str(os.getuid())
    timeout = min(SOCKET_TIMEOUT_S, max(0.5, wait)) if wait else SOCKET_TIMEOUT_S
    return Client(settings, requested_by=f"{user}@{socket.gethostname()}"[:128], timeout=timeout)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _client(settings, args.wait).cancel(
        args.account,
        args.order_id,
        symbol=args.symbol,
        idempotency_key=args.key,
        deadline_ms=args.deadline_ms,
        reason=args.reason,
    )
    return _finish(ticket, args)


def _finish(ticket: Ticket, args: argparse.Namespace) -> int:
    """Print the request id, or with --wait the final event; the exit code per CONTRACT §7."""
    if args.wait is None:
        print(json.dumps({"request_id": ticket.request_id}) if args.json else ticket.request_id)
        return EXIT_OK
    try:
        event = ticket.wait(args.wait)
    except WaitTimeout as exc:
        print(f"ordercancel: {exc}", file=sys.stderr)
        return EXIT_NO_FINAL
    _print_event(event, args.json)
    return _exit_for(event)


def cmd_cancel_batch(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _client(settings, args.wait).cancel_batch(
        args.account,
        args.order_ids,
        symbol=args.symbol,
        idempotency_key=args.key,
        deadline_ms=args.deadline_ms,
        reason=args.reason,
    )
    return _finish(ticket, args)


def _scope(args: argparse.Namespace) -> dict[str, Any]:
    """The scope options of `cancel-all` and `kill` as request fields."""
    return {
        "symbols": args.symbol,
        "side": args.side,
        "client_order_id_prefix": args.prefix,
        "placed_before_ms": _time_ms(args.placed_before, "--placed-before")
        if args.placed_before is not None
        else None,
    }


def cmd_cancel_all(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _client(settings, args.wait).cancel_all(
        args.account,
        idempotency_key=args.key,
        deadline_ms=args.deadline_ms,
        reason=args.reason,
        **_scope(args),
    )
    return _finish(ticket, args)


def cmd_kill(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _client(settings, args.wait).kill(
        args.reason, args.account, deadline_ms=args.deadline_ms, **_scope(args)
    )
    return _finish(ticket, args)


def cmd_halted(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when nothing halts the scope asked about (or anything, when none is given), 1
    when a halt does; each such halt is printed, newest first."""
    halts = _client(settings).halts(
        args.account, symbol=args.symbol, side=args.side, client_order_id=args.client_order_id
    )
    if args.json:
        newest = halts[0] if halts else {}
        print(json.dumps({"halted": bool(halts), **newest, "halts": halts}, sort_keys=True))
    elif not halts:
        print("not halted")
    for halt in [] if args.json else halts:
        since = int(halt.get("since_ms") or 0) / 1000
        print(
            f"halted since {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(since))} "
            f"by {halt.get('requested_by') or 'unknown'}: {halt.get('reason') or 'no reason'}; "
            f"scope {_halt_scope(halt)}; request {halt.get('request_id')}"
        )
    return EXIT_STATUS if halts else EXIT_OK


def _halt_scope(halt: dict[str, Any]) -> str:
    scope = ", ".join(halt["accounts"]) or "every account"
    if halt["symbols"]:
        scope += f" ({', '.join(halt['symbols'])})"
    if halt.get("side"):
        scope += f", {halt['side']} side"
    if halt.get("client_order_id_prefix"):
        scope += f", client order ids {halt['client_order_id_prefix']}*"
    return scope


def _time_ms(text: str, option: str) -> int:
    """A time option: ms since the epoch, or an age (`30m`, `12h`, `7d`, `90s`) before now."""
    try:
        if text[-1] in schedule.UNITS:
            return int((time.time() - float(text[:-1]) * schedule.UNITS[text[-1]]) * 1000)
        return int(text)
    except (ValueError, IndexError):
        raise ConfigError(f"{option} {text!r}: ms since the epoch, or an age like 12h") from None


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """The report of an aggregate request with its children's finals; exit 1 when the request
    has no final (unknown, running, or past the retention)."""
    found = _client(settings).report(args.request_id)
    if found is None:
        print(f"ordercancel: no final for {args.request_id} (unknown, running, or expired)",
              file=sys.stderr)  # fmt: skip
        return EXIT_STATUS
    final, children = found["final"], found["children"]
    orders = [c for c in children if c.get("order_id")]
    if args.json:
        detail = json.loads(final.get("detail") or "{}")
        print(json.dumps({**found, "report": detail}, sort_keys=True))
    elif args.csv:
        import csv

        out = csv.writer(sys.stdout)
        out.writerow(COLUMNS)
        out.writerows([c.get(k, "") for k in COLUMNS] for c in orders)
    else:
        print(render(final, orders))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    for entry in _client(settings).audit(_time_ms(args.since, "--since") if args.since else 0):
        if args.json:
            print(json.dumps(entry, sort_keys=True))
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(entry["ts"]) / 1000))
        rest = " ".join(
            f"{k}={entry[k]}"
            for k in ("requested_by", "reason", "accounts", "symbols", "request_id", "timeout_ms")
            if entry.get(k)
        )
        print(f"{when} {entry['event']} {rest}")
    return EXIT_OK


def _redis_db(settings: Settings) -> int:
    """The database number of the configured Redis URL (0 when none is configured)."""
    if settings.redis_url is None:
        return 0
    if sentinel.is_sentinel(settings.redis_url):
        return sentinel.parse(settings.redis_url).db
    return int(redis.connection.parse_url(settings.redis_url).get("db") or 0)


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    """Celery beat for the `[[schedule]]` tables: each run goes to the intake stream."""
    import logging

    from ordercancel.node.beat import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return run(_client(settings))


def cmd_acl(args: argparse.Namespace, settings: Settings) -> int:
    """Print the `ACL SETUSER` command of a role, for the configured prefix (`state/acl.py`)."""
    from ordercancel.state.acl import setuser

    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise ConfigError(f"--password-env {args.password_env}: that variable is not set")
    try:
        print(setuser(args.role, args.user, settings.prefix, password, _redis_db(settings)))
    except ValueError as exc:
        raise ConfigError(f"--user: {exc}") from None
    if password is None:
        why = "it cannot log in until one is added (--password-env VAR, or ACL SETUSER NAME >pw)"
        print(f"ordercancel: {args.user} has no password yet: {why}", file=sys.stderr)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings)
    halts = [h for h in client.halts() if args.halt in (None, h.get("request_id"))]
    if client.resume(args.reason, args.halt) and halts:
        for halt in halts:
            print(f"resumed: cleared the halt of {halt.get('request_id')} ({halt.get('reason')};"
                  f" scope {_halt_scope(halt)})")  # fmt: skip
    else:
        print(f"no halt of {args.halt}" if args.halt else "not halted")
    return EXIT_OK


def cmd_deadman(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings)
    if args.action == "arm":
        if args.timeout is None:
            print("ordercancel: deadman arm needs --timeout SEC", file=sys.stderr)
            return EXIT_USAGE
        try:
            client.arm_deadman(args.timeout, args.account)
        except ValueError as exc:
            print(f"ordercancel: {exc}", file=sys.stderr)
            return EXIT_USAGE
        scope = ", ".join(args.account) if args.account else "every account"
        print(f"armed: a kill fires on {scope} without a heartbeat for {args.timeout:g}s")
        return EXIT_OK
    if args.action == "heartbeat":
        if client.heartbeat():
            return EXIT_OK
        print("ordercancel: the dead-man switch is not armed", file=sys.stderr)
        return EXIT_STATUS
    if args.action == "disarm":
        print("disarmed" if client.disarm() else "not armed")
        return EXIT_OK
    state = client.deadman() or {"state": "disarmed"}
    if args.json:
        print(json.dumps(state, sort_keys=True))
    else:
        print(" ".join(f"{k}={v}" for k, v in sorted(state.items())))
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    event = _client(settings).status(args.request_id)
    if event is None:
        print(f"ordercancel: no record of request {args.request_id}", file=sys.stderr)
        return EXIT_STATUS
    _print_event(event, args.json)
    return EXIT_OK


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings)
    try:
        for event in client.events(follow=args.follow, start=client.tail_start(args.n)):
            _print_event(event, args.json)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    """Validate (already done by loading), show what is used and where it came from, connect
    to Redis unless --offline, and with --probe make one signed read-only call per account."""
    print(f"config: {settings.source}")
    if settings.redis_url is None:
        print("redis: not set ([redis] url in the config file, or ORDERCANCEL_REDIS_URL)")
    else:
        print(f"redis: {safe_url(settings.redis_url)} (from the {settings.redis_source})")
    if not args.offline and settings.redis_url is not None:
        from ordercancel.state.store import connect

        r = connect(settings.broker_redis_url)
        try:
            r.ping()
            try:
                version = r.info("server").get("redis_version", "?")
            except redis.exceptions.NoPermissionError:  # INFO is @dangerous: no role has it
                version = "(version not shown: this user may not run INFO)"
        except REDIS_TROUBLE as exc:
            raise redis_problem(exc, settings.broker_redis_url) from None
        finally:
            r.close()
        print(f"redis: connected, Redis {version}")
    print(f"prefix: {settings.prefix}")
    for name, account in settings.accounts.items():
        print(f"[accounts.{name}]")
        for key, value in account.masked().items():
            print(f"  {key} = {value}")
    for job in schedule.parse(settings.schedule):
        print(f"[schedule {job.name}] {job.when}: {json.dumps(job.request, sort_keys=True)}")
        if settings.accounts:  # the worker's view: the request as a worker would read it
            try:
                request.parse(job.message(request.now_ms(), "config check"), settings)
            except RequestError as exc:
                where = f"schedule.{job.name}.request" + (f".{exc.field}" if exc.field else "")
                raise ConfigError(str(exc), field=where) from None
    for warning in settings.warnings():
        print(f"warning: {warning}")
    failed = 0
    if args.probe:
        from ordercancel.venues import venue_class
        from ordercancel.venues.base import Call

        for name, account in settings.accounts.items():
            venue = venue_class(account.venue)(account)
            try:
                seen = venue.probe(Call(account.timeout_s))
            except Exception as exc:  # every failure is a line of the report
                failed += 1
                code = getattr(getattr(exc, "code", None), "value", type(exc).__name__)
                print(f"probe {name}: FAILED {code}: {' '.join(str(exc).split())[:200]}")
            else:
                print(f"probe {name}: ok ({seen})")
    print(f"ok: {len(settings.accounts)} account(s)" if not failed else f"{failed} probe(s) failed")
    return EXIT_STATUS if failed else EXIT_OK


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.node import supervisor as workers

    return workers.run(args.celery_args, settings)


def cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.sim.cli import serve

    return serve(args, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.devtools.demo import run

    return run(
        orders=args.orders,
        kill_orders=args.kill_orders,
        as_json=args.json,
        redis_url=settings.redis_url,
    )


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.devtools.bench import SCENARIOS, run

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    return run(names, as_json=args.json, plot_path=args.plot, redis_url=settings.redis_url,
               orders=args.orders, large_orders=args.large_orders, kill_orders=args.kill_orders,
               kill_backlog=args.kill_backlog, samples=args.samples, runs=args.runs)  # fmt: skip


def cmd_drill(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.devtools.drill import SCENARIOS, run

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    return run(
        names,
        short=args.short,
        as_json=args.json,
        redis_url=settings.redis_url,
        seeds=args.seeds,
        seed=args.seed,
    )


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from ordercancel.devtools.demo import up

    return up(settings, with_sim=args.sim)


def _scope_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", action="append", help="only this symbol (repeatable)")
    parser.add_argument("--side", choices=("buy", "sell"), help="only orders of this side")
    parser.add_argument("--prefix", help="only orders whose client order id starts with it")
    parser.add_argument(
        "--placed-before",
        metavar="T",
        help="only orders created before T: ms since the epoch, or an age such as 10m",
    )


def _request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", help="idempotency key")
    p.add_argument("--deadline-ms", type=int)
    p.add_argument("--reason")
    p.add_argument("--wait", type=float, metavar="SEC", help="wait for the final event")
    p.add_argument("--json", action="store_true")


def parser(*, venue_options: bool = False) -> argparse.ArgumentParser:
    """The command line; `venue_options`: with each venue simulator's `sim` options."""
    p = argparse.ArgumentParser(
        prog="ordercancel", description="Cancel orders on crypto venues, verified."
    )
    p.add_argument("--version", action="version", version=f"ordercancel {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded Redis + simulator + worker: cancel seeded orders")
    demo.add_argument(
        "--orders", type=int, default=60, help="orders per venue cancelled one by one"
    )
    demo.add_argument("--kill-orders", type=int, default=300, help="orders per venue for the kill")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks against the simulator on this machine")
    bench.add_argument(
        "scenario", nargs="?", default="all", choices=["throughput", "latency", "kill", "all"]
    )
    bench.add_argument("--orders", type=int, default=5000, help="throughput: cancels")
    bench.add_argument("--large-orders", type=int, default=20000,
                       help="throughput: cancels of the second, longer run (0: none)")  # fmt: skip
    bench.add_argument("--samples", type=int, default=500, help="latency: cancels per series")
    bench.add_argument(
        "--kill-orders", type=int, default=2000, help="kill: open orders, both venues"
    )
    bench.add_argument("--runs", type=int, default=3, help="kill: runs")
    bench.add_argument("--kill-backlog", type=int, default=3000,
                       help="kill: routine cancels queued ahead of the second series")  # fmt: skip
    bench.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    bench.add_argument("--plot", metavar="FILE.png", help="plot latency and throughput")
    bench.set_defaults(func=cmd_bench)

    drill = sub.add_parser(
        "drill", help="reliability drills: worker crashes, venue faults, Redis restarts, SIGTERM"
    )
    drill.add_argument(
        "scenario",
        nargs="?",
        default="all",
        choices=["crash", "faults", "redis", "shutdown", "truth", "hosts", "all"],
    )
    drill.add_argument("--short", action="store_true", help="the short form the tests run")
    drill.add_argument(
        "--seeds", type=int, metavar="N", help="truth: run N seeds (default 200; --short: 5)"
    )
    drill.add_argument(
        "--seed", type=int, metavar="S", help="truth: run seed S (with --seeds: S..S+N-1)"
    )
    drill.add_argument("--json", action="store_true")
    drill.set_defaults(func=cmd_drill)

    up = sub.add_parser("up", help="local stack in the foreground: embedded Redis and a worker")
    up.add_argument("--sim", action="store_true", help="also run the venue simulator")
    up.set_defaults(func=cmd_up)

    sub.add_parser("worker", help="the Celery worker (celery -A ordercancel.worker worker [ARGS])")

    sim = sub.add_parser(
        "sim", help="the venue simulator (every registered venue), with fault injection"
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument(
        "--register",
        action="store_true",
        help="register the configured accounts' credentials with the simulator",
    )
    sim.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed N open orders per account"
    )
    if venue_options:  # each venue simulator's own (imports every simulator: only for `sim`)
        from ordercancel.sim.cli import add_arguments

        add_arguments(sim)
    for name in ("latency-ms", "error-rate", "timeout-rate", "reset-rate"):
        sim.add_argument(f"--{name}", type=float, default=0.0)
    sim.set_defaults(func=cmd_sim)

    cancel = sub.add_parser("cancel", help="cancel one order")
    cancel.add_argument("account")
    cancel.add_argument("order_id")
    cancel.add_argument("--symbol")
    _request_options(cancel)
    cancel.set_defaults(func=cmd_cancel)

    batch = sub.add_parser("cancel-batch", help="cancel several orders of one symbol")
    batch.add_argument("account")
    batch.add_argument("order_ids", nargs="+", metavar="ORDER_ID")
    batch.add_argument("--symbol", required=True)
    _request_options(batch)
    batch.set_defaults(func=cmd_cancel_batch)

    every = sub.add_parser("cancel-all", help="cancel every open order in scope, verified")
    every.add_argument("account")
    _scope_options(every)
    _request_options(every)
    every.set_defaults(func=cmd_cancel_all)

    kill = sub.add_parser("kill", help="kill switch: halt, cancel everything in scope, verify")
    kill.add_argument("--reason")
    kill.add_argument("--account", action="append", help="only these accounts (repeatable)")
    _scope_options(kill)
    kill.add_argument("--deadline-ms", type=int)
    kill.add_argument("--wait", type=float, metavar="SEC", help="wait for the final event")
    kill.add_argument("--json", action="store_true")
    kill.set_defaults(func=cmd_kill)

    resume = sub.add_parser("resume", help="clear the halts kills raised, or one of them")
    resume.add_argument("--reason", required=True, help="why (recorded in the audit stream)")
    resume.add_argument(
        "--halt", metavar="REQUEST_ID", help="only the halt this kill raised (see `halted`)"
    )
    resume.set_defaults(func=cmd_resume)

    audit = sub.add_parser(
        "audit", help="kills, resumes, dead-man events and cancel-alls: who, when, why, scope"
    )
    audit.add_argument(
        "--since", metavar="T", help="from T: ms since the epoch, or an age such as 30m, 12h, 7d"
    )
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)

    rep = sub.add_parser(
        "report", help="what a cancel-batch, cancel-all or kill did, with every order's final"
    )
    rep.add_argument("request_id")
    shape = rep.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true")
    shape.add_argument("--csv", action="store_true", help="one row per order")
    rep.set_defaults(func=cmd_report)

    beat = sub.add_parser(
        "beat", help="send the [[schedule]] runs of the config (Celery beat; run one)"
    )
    beat.set_defaults(func=cmd_beat)

    acl = sub.add_parser(
        "acl", help="print the Redis ACL SETUSER command of a role for the configured prefix"
    )
    acl.add_argument("role", choices=["producer", "operator", "worker"])
    acl.add_argument("--user", required=True, help="the Redis user name")
    acl.add_argument(
        "--password-env",
        metavar="VAR",
        help="the password is in this environment variable (printed only as its SHA-256)",
    )
    acl.set_defaults(func=cmd_acl)

    halted = sub.add_parser("halted", help="is trading halted (exit 1), since when, by whom")
    halted.add_argument("--account", help="for an order of this account")
    halted.add_argument("--symbol", help="... of this symbol")
    halted.add_argument("--side", choices=("buy", "sell"), help="... of this side")
    halted.add_argument("--client-order-id", metavar="ID", help="... with this client order id")
    halted.add_argument("--json", action="store_true")
    halted.set_defaults(func=cmd_halted)

    deadman = sub.add_parser("deadman", help="dead-man switch: a kill unless heartbeats arrive")
    deadman.add_argument("action", choices=["arm", "heartbeat", "disarm", "status"])
    deadman.add_argument("--timeout", type=float, metavar="SEC", help="arm: heartbeat interval")
    deadman.add_argument("--account", action="append", help="arm: only these accounts")
    deadman.add_argument("--json", action="store_true", help="status: as JSON")
    deadman.set_defaults(func=cmd_deadman)

    status = sub.add_parser("status", help="latest known state of a request")
    status.add_argument("request_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    tail = sub.add_parser("tail", help="result-stream events")
    tail.add_argument("--follow", "-f", action="store_true")
    tail.add_argument("-n", type=int, default=20, help="how many recent events to show first")
    tail.add_argument("--json", action="store_true")
    tail.set_defaults(func=cmd_tail)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate the config; secrets are masked")
    check.add_argument("--offline", action="store_true", help="do not connect to Redis")
    check.add_argument("--probe", action="store_true", help="one signed read-only call per account")
    check.set_defaults(func=cmd_config_check)
    return p


WORKER_HELP = """usage: ordercancel worker [CELERY WORKER OPTIONS]

The worker: reads the config (ORDERCANCEL_CONFIG or ./ordercancel.toml), waits for Redis, then
runs one Celery node on the urgent queue ([worker] urgent_concurrency threads) and
[worker] processes nodes on the routine queue ([worker] concurrency threads each), and stops
them together on SIGTERM or Ctrl-C. Venue secrets are read here, and only here.

Options after `worker` go to every node, e.g. --loglevel INFO, -E (task events, for Flower).
With -Q/--queues it is exactly `celery -A ordercancel.worker worker ...` (one node); see
`celery -A ordercancel.worker worker --help` for Celery's options."""

#: commands that only submit requests or read outcomes: Redis URL and prefix, no account
PRODUCER = {cmd_cancel, cmd_cancel_batch, cmd_cancel_all, cmd_kill, cmd_resume, cmd_halted,
            cmd_report, cmd_beat, cmd_audit, cmd_deadman, cmd_status, cmd_tail,
            cmd_acl}  # fmt: skip
#: commands that start their own (embedded) Redis when none is configured
EMBEDDED = {cmd_demo, cmd_up, cmd_bench, cmd_drill}
#: what talking to Redis can raise, through redis-py or kombu (the Celery producer)
REDIS_TROUBLE = (redis.RedisError, OperationalError)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings a command needs; a config error names the table and key."""
    settings = load_settings(accounts=args.func not in PRODUCER)
    if args.func in EMBEDDED or args.func in (cmd_sim, cmd_acl):
        return settings
    if args.func in (cmd_worker, cmd_config_check) and settings.source is None:
        raise ConfigError(
            "no config file: set ORDERCANCEL_CONFIG or put ordercancel.toml here "
            "(`ordercancel demo` and `ordercancel up` need none)"
        )
    if settings.redis_url is None and not getattr(args, "offline", False):
        raise ConfigError(
            "not set: [redis] url in the config file, or ORDERCANCEL_REDIS_URL",
            field="redis.url",
        )
    return settings


def _fail(message: object, code: int) -> int:
    print(f"ordercancel: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"] and {"-h", "--help"} & set(argv[1:]):
        print(WORKER_HELP)
        return EXIT_OK
    if argv[:1] == ["worker"]:  # everything after `worker` belongs to celery
        args = argparse.Namespace(func=cmd_worker, celery_args=argv[1:])
    else:
        args = parser(venue_options=argv[:1] == ["sim"]).parse_args(argv)
        # SIGTERM ends like Ctrl-C: the embedded Redis and worker a command started are stopped
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    settings: Settings | None = None
    try:
        settings = _settings(args)
        return int(args.func(args, settings))
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE)
    except RedisUnavailable as exc:
        return _fail(exc, EXIT_REDIS)
    except REDIS_TROUBLE as exc:
        url = settings.broker_redis_url if settings else "(not configured)"
        return _fail(redis_problem(exc, url), EXIT_REDIS)
    except OrderCancelError as exc:  # e.g. a local stack's part did not start
        return _fail(exc, EXIT_STATUS)
    except BrokenPipeError:  # `ordercancel tail | head`: the reader left; so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


__all__ = ["EXIT_NO_FINAL", "EXIT_OK", "EXIT_REDIS", "EXIT_STATUS", "EXIT_USAGE", "main"]
