"""Venue registry: adding a venue is a new folder and one line here."""

from __future__ import annotations

from importlib import import_module

from ordercancel.venues.base import (
    BatchReply,
    CancelAllReply,
    CancelReply,
    OrderRef,
    OrderState,
    Phase,
    Venue,
)

_REGISTRY = {
    "zebpay": "ordercancel.venues.zebpay:ZebPay",
    "ajaib": "ordercancel.venues.ajaib:Ajaib",
}

__all__ = [
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


def names() -> list[str]:
    return sorted(_REGISTRY)


def venue_class(name: str) -> type[Venue]:
    """The `Venue` subclass registered as `name`; KeyError when there is none."""
    module, _, attr = _REGISTRY[name].partition(":")
    cls: type[Venue] = getattr(import_module(module), attr)
    return cls
