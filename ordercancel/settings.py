"""Settings with every account's venue options parsed: `config` (which knows no venue) loaded
with the venue registry (`ordercancel.venues`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ordercancel import venues
from ordercancel.config import Settings


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """`ORDERCANCEL_CONFIG` (or ./ordercancel.toml when present) and `ORDERCANCEL_*` overrides."""
    return Settings.from_env(venues, env)


def settings_from(
    data: Mapping[str, Any], *, env: Mapping[str, str], source: str | None = None
) -> Settings:
    """Settings from an already parsed TOML document."""
    return Settings.from_mapping(data, venues, env=env, source=source)
