"""Settings with every account's venue options parsed: `config` (which knows no venue) loaded
with the venue registry (`ordercancel.venues`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ordercancel import venues
from ordercancel.config import Settings


def load_settings(env: Mapping[str, str] | None = None, *, accounts: bool = True) -> Settings:
    """`ORDERCANCEL_CONFIG` (or ./ordercancel.toml when present) and `ORDERCANCEL_*` overrides.

    `accounts` False: a producer's settings (Redis and prefix; the accounts, and so the venue
    secrets, are not read: a worker checks account names)."""
    return Settings.from_env(venues if accounts else None, env)


def settings_from(
    data: Mapping[str, Any], *, env: Mapping[str, str], source: str | None = None
) -> Settings:
    """Settings from an already parsed TOML document."""
    return Settings.from_mapping(data, venues, env=env, source=source)
