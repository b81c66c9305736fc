"""Sentry, when `SENTRY_DSN` is set (CONTRACT §2): what an operator must look at.

Events are
- unexpected exceptions: the ones a request survives (it still gets its final, `failed` with
  `error_code` `internal`), the ones the intake, heartbeat and dead-man threads survive (they
  carry on), and the ones Celery sees (its integration);
- final outcomes `failed` or `unknown` whose `error_code` is `auth`: a key was revoked or a
  clock is off, and every further request of that account will fail the same way.

Each is tagged with venue, account, error_code (and kind, status, request_id), and grouped per
account and error_code. Logs become breadcrumbs, not events.

Nothing secret leaves: no default PII, no local variables, no request bodies; `scrub` drops
the Celery task's arguments (the request), HTTP breadcrumbs' query strings, and every
configured secret's value wherever it appears; sentry-sdk's scrubber takes keys named like
credentials (ours added). Venue requests get no tracing headers. Off by default: with no DSN,
sentry-sdk is not even imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ordercancel.config import Settings

DSN_ENV = "SENTRY_DSN"
FILTERED = "[Filtered]"
#: keys whose values are dropped wherever they appear: sentry-sdk's list, ours, and every
#: registered venue's `secret_headers`
DENY = ["signature", "api_secret", "jwt", "pem", "body"]


def denylist() -> list[str]:
    """`DENY` and every registered venue's secret headers, lower case."""
    from ordercancel import venues

    headers = {h.lower() for n in venues.names() for h in venues.venue_class(n).secret_headers}
    return DENY + sorted(headers)


REPORTED = frozenset({"failed", "unknown"})
TAGS = ("venue", "account", "error_code", "kind", "status", "request_id")

log = logging.getLogger("ordercancel")
_secrets: tuple[str, ...] = ()
_on = False


def init(settings: Settings, env: Mapping[str, str] | None = None) -> bool:
    """Start Sentry in this process when `SENTRY_DSN` is set; True when it is on."""
    global _on, _secrets
    dsn = (os.environ if env is None else env).get(DSN_ENV)
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    from ordercancel.version import __version__

    # longest first, so that a secret containing another is replaced whole
    _secrets = tuple(sorted(set(settings.secret_values()), key=len, reverse=True))
    sentry_sdk.init(
        dsn=dsn,
        release=f"ordercancel@{__version__}",
        integrations=[
            CeleryIntegration(propagate_traces=False),
            LoggingIntegration(level=logging.INFO, event_level=None),
        ],
        # not Redis (a breadcrumb per command: 0.2 ms of CPU per cancel, little to read),
        # nor the other integrations sentry-sdk enables when it finds their library
        auto_enabling_integrations=False,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        trace_propagation_targets=[],
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + denylist(), recursive=True),
        before_send=scrub,
        before_send_transaction=scrub,
    )
    _on = True
    return True


def unexpected(exc: BaseException, where: str, fields: Mapping[str, Any] | None = None) -> None:
    """A bug, survived: logged with its traceback, and one Sentry event tagged with `fields`
    (a request's) when Sentry is on."""
    log.error("%s failed unexpectedly", where, exc_info=exc)
    if _on:
        import sentry_sdk

        tags = _tags({**(fields or {}), "error_code": "internal"})
        sentry_sdk.capture_exception(exc, tags=tags)


def report_final(event: Mapping[str, str]) -> None:
    """A final event was published: an `auth` failure becomes a Sentry event."""
    if not _on or event.get("status") not in REPORTED or event.get("error_code") != "auth":
        return
    import sentry_sdk

    tags = _tags(event)
    sentry_sdk.capture_message(
        f"{tags['kind']} {tags['status']} ({tags['error_code']}) on account {tags['account']}: "
        f"{event.get('error') or ''}".rstrip(": "),
        level="error",
        tags=tags,
        fingerprint=["ordercancel-final", tags["account"], tags["status"], tags["error_code"]],
        contexts={"outcome": {k: event.get(k, "") for k in ("attempts", "http_status",
                                                             "venue_status", "parent_id")}},
    )  # fmt: skip


def _tags(fields: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(fields.get(k) or "-")[:200] for k in TAGS}


def scrub(event: Any, _hint: Any = None) -> Any:
    """`before_send`: nothing of the request, no query strings, no configured secret."""
    event.pop("request", None)
    job = (event.get("extra") or {}).get("celery-job")
    if isinstance(job, dict):
        for key in ("args", "kwargs"):
            if key in job:
                job[key] = FILTERED
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values", []) if isinstance(crumbs, dict) else crumbs or []
    for crumb in values:
        data = crumb.get("data") if isinstance(crumb, dict) else None
        if isinstance(data, dict):
            for key in ("http.query", "http.fragment"):
                data.pop(key, None)
    return _without_secrets(event, _secrets)


def _without_secrets(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every occurrence of each secret replaced, in every string it holds."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
        return value
    if isinstance(value, dict):
        return {
            _without_secrets(k, secrets): _without_secrets(v, secrets) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_without_secrets(v, secrets) for v in value]
    return value
