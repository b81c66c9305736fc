"""Venue registry: the venues built in (one line each below), and those other packages add
through the entry point group `ordercancel.venues` (name = "package.module:VenueClass")."""

from __future__ import annotations

import functools
from importlib import import_module
from importlib.metadata import entry_points

from ordercancel.venues.base import (
    BatchReply,
    CancelAllReply,
    CancelReply,
    OrderRef,
    OrderState,
    Phase,
    Venue,
)

#: the entry point group other packages register venues in
GROUP = "ordercancel.venues"

_BUILTIN = {
    "zebpay": "ordercancel.venues.zebpay:ZebPay",
    "ajaib": "ordercancel.venues.ajaib:Ajaib",
}

__all__ = [
    "GROUP",
    "BatchReply",
    "CancelAllReply",
    "CancelReply",
    "OrderRef",
    "OrderState",
    "Phase",
    "Venue",
    "names",
    "venue_class",
]


@functools.cache
def _registry() -> dict[str, str]:
    """name -> "module:attr": the installed packages' venues, then ours (a package cannot
    replace a venue of ours under the same name)."""
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    return {**found, **_BUILTIN}


def names() -> list[str]:
    return sorted(_registry())


def venue_class(name: str) -> type[Venue]:
    """The `Venue` subclass registered as `name`; KeyError when there is none."""
    module, _, attr = _registry()[name].partition(":")
    cls = getattr(import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Venue)):
        raise KeyError(name)
    return cls
