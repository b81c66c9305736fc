"""Ajaib Coin Exchange (spot) venue."""

from ordercancel.venues.ajaib.venue import Ajaib, AjaibOptions

__all__ = ["Ajaib", "AjaibOptions"]
