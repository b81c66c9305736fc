"""The report in the final of a `cancel_batch`, `cancel_all` or `kill` (`detail`), after FIX's
Order Mass Cancel Report (35=r): the scope, who asked and why, the total affected (orders this
request cancelled) and, per account, the order ids by what became of them. Every order that
closed also has its own final (`parent_id`), which `ordercancel report` shows beside it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ordercancel.outcomes import Kind, Status
from ordercancel.request import Request

#: a status's group in the report; any other status is `unknown` (the order may be open)
GROUP = {
    Status.CANCELED.value: "cancelled",
    Status.ALREADY_CLOSED.value: "already_closed",
    Status.NOT_FOUND.value: "already_closed",
    Status.REJECTED.value: "refused",
    Status.FAILED.value: "refused",
}
GROUPS = ("cancelled", "already_closed", "refused", "still_open", "unknown")
#: a report's columns per order (`ordercancel report`, its table and `--csv`)
COLUMNS = (
    "account", "order_id", "symbol", "status", "error_code", "venue_status", "attempts",
    "latency_ms", "request_id",
)  # fmt: skip
#: order ids per group in a final, at most (the children's finals hold every one)
MAX_IDS = 2000


def orders(
    statuses: Mapping[str, str], refused: Iterable[str] = (), still_open: Iterable[str] = ()
) -> dict[str, Any]:
    """Order ids by group: `statuses` (order id -> final status) of the orders that have a
    final; `refused` and `still_open`: listed open at the end, refused by the venue or not."""
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    for order_id, status in statuses.items():
        groups[GROUP.get(status, "unknown")].append(order_id)
    groups["refused"] += refused
    groups["still_open"] += still_open
    out: dict[str, Any] = {g: sorted(ids)[:MAX_IDS] for g, ids in groups.items()}
    out["counts"] = {g: len(ids) for g, ids in groups.items()}
    if any(len(ids) > MAX_IDS for ids in groups.values()):
        out["truncated"] = True
    return out


def header(req: Request) -> dict[str, Any]:
    """The part of a report that says what was asked, by whom and why."""
    return {"scope": req.scope.fields(), "requested_by": req.requested_by, "reason": req.reason}


def affected(per_account: Mapping[str, Mapping[str, Any]]) -> int:
    """The total affected: orders this request cancelled, over every account."""
    return sum(int(groups.get("counts", {}).get("cancelled", 0)) for groups in per_account.values())


def child_ids(final: Mapping[str, str]) -> list[str]:
    """The request ids of an aggregate final's children, from its report: a kill's accounts
    (`<kill>:<account>`) and their orders, a batch's or cancel-all's orders (`<id>:<order>`)."""
    detail = json.loads(final.get("detail") or "{}")
    rid, ids = final["request_id"], []
    for account, groups in (detail.get("accounts") or {}).items():
        parent = f"{rid}:{account}" if final.get("kind") == Kind.KILL.value else rid
        if parent != rid:
            ids.append(parent)
        for group in GROUPS:
            ids += [f"{parent}:{oid}" for oid in groups.get(group) or ()]
    return ids


def render(final: Mapping[str, str], orders: list[Mapping[str, str]]) -> str:
    """The report as text: what was asked, by whom and why, per account the counts, and one
    line per order that has a final."""
    detail = json.loads(final.get("detail") or "{}")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(final.get("ts") or 0) / 1000))
    who, why = final.get("requested_by") or "unknown", final.get("reason") or "no reason"
    scope = "; ".join(f"{k} {_shown(v)}" for k, v in (detail.get("scope") or {}).items())
    lines = [
        f"{final['kind']} {final['request_id']}: {final['status']} at {when}, "
        f"{final.get('latency_ms') or '?'} ms",
        f"asked by {who}: {why}",
        f"scope: {scope or 'everything'}",
        f"total affected (cancelled by this request): {detail.get('total_affected', '?')}",
    ]
    for account, groups in (detail.get("accounts") or {}).items():
        counts = groups.get("counts") or {}
        shown = (f"{g.replace('_', ' ')} {counts.get(g, len(groups.get(g) or ()))}"
                 for g in GROUPS)  # fmt: skip
        lines.append(f"account {account}: {', '.join(shown)}")
        if groups.get("truncated"):
            lines.append(f"  (ids cut at {MAX_IDS} per group: the orders below are not all)")
    if orders:
        widths = [max(len(k), *(len(str(o.get(k, ""))) for o in orders)) for k in COLUMNS]
        for row in [dict(zip(COLUMNS, COLUMNS, strict=True)), *orders]:
            cells = (str(row.get(k, "")).ljust(w) for k, w in zip(COLUMNS, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
