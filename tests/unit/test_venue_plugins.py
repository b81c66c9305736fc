"""A venue from another package: registered through the entry point group `ordercancel.venues`,
found by the registry, loaded by the settings, scrubbed by Sentry. The package is a throw-away
folder on PYTHONPATH with its own dist-info (what `pip install` would leave behind)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

VENUE = """
from ordercancel.venues.base import CancelReply, OrderRef, OrderState, Phase, Venue
from ordercancel.outcomes import Status


class Options:
    def __init__(self, token):
        self.token = token


class Paper(Venue):
    name = "paper"
    default_rate_limit = "5/1s"
    secret_headers = ("X-Paper-Token",)

    @classmethod
    def parse_options(cls, account, table, env):
        return Options(table.get("token"))

    def check_order_ref(self, ref): ...
    def check_symbol(self, symbol): ...
    def cancel(self, ref, call): return CancelReply(Status.CANCELED)
    def get_order(self, ref, call): return OrderState(Phase.CANCELED)
    def server_time(self, call): return 0
    def list_open(self, symbol, call): return []
"""

PROBE = """
import json, sys
from ordercancel import venues
from ordercancel.observe import sentry
from ordercancel.settings import settings_from

settings = settings_from(
    {"accounts": {"p1": {"venue": "paper", "base_url": "https://paper.example", "token": "t"}}},
    env={},
)
account = settings.accounts["p1"]
venue = venues.venue_class("paper")(account)
print(json.dumps({
    "names": venues.names(),
    "class": type(venue).__module__ + "." + type(venue).__name__,
    "rate_limit": str(account.rate_limit),
    "token": account.options.token,
    "scrubbed": "x-paper-token" in sentry.denylist(),
}))
"""


def test_a_venue_from_another_package_is_registered_through_the_entry_point(tmp_path: Path):
    (tmp_path / "paper_venue.py").write_text(textwrap.dedent(VENUE))
    dist = tmp_path / "paper_venue-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: paper-venue\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ordercancel.venues]\npaper = paper_venue:Paper\n")
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).parents[2]}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {
        "names": ["ajaib", "paper", "zebpay"],
        "class": "paper_venue.Paper",
        "rate_limit": "5/1s",
        "token": "t",
        "scrubbed": True,
    }


def test_without_the_package_the_venue_is_unknown_and_config_says_which_are_known():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(Path(__file__).parents[2]), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "unknown venue 'paper' (known: ajaib, zebpay)" in out.stderr
