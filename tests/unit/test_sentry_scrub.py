"""The Sentry scrubber (`ordercancel.observe.sentry.scrub`): a pure function of the event."""

from ordercancel.observe import sentry


def test_every_configured_secret_is_replaced_wherever_it_appears(monkeypatch):
    monkeypatch.setattr(sentry, "_secrets", ("s3cr3t-longer", "s3cr3t"))
    event = {
        "message": "bad key s3cr3t-longer",
        "exception": {"values": [{"value": "x s3cr3t y", "stacktrace": {"frames": []}}]},
        "extra": {"s3cr3t": ["a", ("s3cr3t",)]},
    }
    out = sentry.scrub(event)
    assert out["message"] == "bad key [Filtered]"
    assert out["exception"]["values"][0]["value"] == "x [Filtered] y"
    assert out["extra"] == {"[Filtered]": ["a", ["[Filtered]"]]}


def test_the_request_task_arguments_and_query_strings_are_dropped(monkeypatch):
    monkeypatch.setattr(sentry, "_secrets", ())
    crumb = {"category": "httplib", "data": {"url": "http://v/x", "http.query": "sig=abc"}}
    event = {
        "request": {"data": "{...}", "headers": {"X-SIGNATURE": "abc"}},
        "extra": {"celery-job": {"task_name": "t", "args": [{"order_id": "1"}], "kwargs": {}}},
        "breadcrumbs": {"values": [crumb]},
    }
    out = sentry.scrub(event)
    assert "request" not in out
    assert out["extra"]["celery-job"] == {
        "task_name": "t",
        "args": "[Filtered]",
        "kwargs": "[Filtered]",
    }
    assert out["breadcrumbs"]["values"][0]["data"] == {"url": "http://v/x"}


def test_tags_are_short_strings_with_a_dash_for_what_is_missing():
    tags = sentry._tags({"venue": "zebpay", "account": "a" * 500, "error_code": None})
    assert tags["venue"] == "zebpay" and len(tags["account"]) == 200
    assert tags["error_code"] == "-" and tags["request_id"] == "-"
