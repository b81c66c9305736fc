"""`ordercancel report`: what an aggregate request did, order by order, as the CLI prints it,
held against the simulator's record; still there after the result stream is trimmed."""

import csv
import io
import json

from .conftest import seed, venue_order
from .test_cli import run


def test_a_scoped_cancel_all_report_names_every_order(stack, client, admin):
    account = "s-report"
    mine = [seed(admin, account, client_order_id=f"stratA-{i}")[0] for i in range(3)]
    [other] = seed(admin, account, client_order_id="stratB-1")
    closed = seed(admin, account, client_order_id="stratA-done")[0]
    admin.action("zebpay", "fill", account=account, clientOrderId=closed)  # not open: not listed
    ticket = client.cancel_all(
        account, "BTCUSDT", client_order_id_prefix="stratA-", reason="end of session"
    )
    assert ticket.wait(30)["status"] == "completed"
    client.store.redis.xtrim(client.keys.results, maxlen=0)  # the report outlives the stream

    out = run(stack, "report", ticket.request_id, "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    report = found["report"]
    assert report["scope"] == {
        "accounts": [account], "symbols": ["BTCUSDT"], "client_order_id_prefix": "stratA-"
    }  # fmt: skip
    assert report["reason"] == "end of session" and "requested_by" in report
    assert report["total_affected"] == 3
    groups = report["accounts"][account]
    assert groups["cancelled"] == sorted(mine) and groups["still_open"] == groups["refused"] == []
    children = {c["order_id"]: c for c in found["children"]}
    assert set(children) == set(mine) and {c["status"] for c in children.values()} == {"canceled"}
    for oid in mine:  # the venue's record agrees, and the bystander was not touched
        assert venue_order(admin, account, oid)["status"] == "canceled"
    assert [h["status"] for h in venue_order(admin, account, other)["history"]] == ["new"]

    rows = list(
        csv.DictReader(io.StringIO(run(stack, "report", ticket.request_id, "--csv").stdout))
    )
    assert sorted(r["order_id"] for r in rows) == sorted(mine)
    assert {(r["account"], r["status"]) for r in rows} == {(account, "canceled")}

    text = run(stack, "report", ticket.request_id).stdout
    assert "total affected (cancelled by this request): 3" in text
    assert f"account {account}: cancelled 3, already closed 0" in text
    assert all(oid in text for oid in mine) and other not in text
    print(text)

    missing = run(stack, "report", "no-such-request")
    assert missing.returncode == 1 and "no final for no-such-request" in missing.stderr


def test_a_kill_report_lists_its_accounts_and_their_orders(stack, client, admin):
    account = "s-report"
    orders = seed(admin, account, n=2, side="sell") + seed(admin, account, side="buy")
    ticket = client.kill("risk limit", [account], side="sell")
    assert ticket.wait(30)["status"] == "completed"
    client.resume("test done")
    found = json.loads(run(stack, "report", ticket.request_id, "--json").stdout)
    assert found["report"]["accounts"][account]["cancelled"] == sorted(orders[:2])
    kinds = sorted((c["kind"], c["order_id"]) for c in found["children"])
    assert kinds == sorted([("cancel_all", ""), *[("cancel", o) for o in orders[:2]]])
    assert venue_order(admin, account, orders[2])["status"] == "new"
    client.cancel_all(account).wait(30)
