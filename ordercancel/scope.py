"""What a `cancel_all` or `kill` may touch (CONTRACT §4), FIX's Order Mass Cancel scope: the
accounts, the symbols, and the selectors finer than a venue's cancel-all endpoint (`side`, the
client order id's prefix, the creation time). An order is in scope when every selector given
holds for it; one a listing does not describe well enough to tell is never cancelled."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ordercancel.venues.base import OrderRef

SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Scope:
    accounts: tuple[str, ...] = ()  # empty: every account
    symbols: tuple[str, ...] = ()  # empty: every symbol
    side: str | None = None
    client_order_id_prefix: str | None = None
    placed_before_ms: int | None = None

    @property
    def selective(self) -> bool:
        """Finer than any venue's cancel-all endpoint: the orders are listed, filtered and
        cancelled one by one."""
        return bool(self.side or self.client_order_id_prefix or self.placed_before_ms)

    def matches(self, ref: OrderRef) -> bool | None:
        """Whether a listed order is in scope (its symbol was listed for it); None when the
        listing did not say what a selector needs."""
        needed = (
            (self.side, ref.side),
            (self.client_order_id_prefix, ref.client_order_id),
            (self.placed_before_ms, ref.created_ms),
        )
        if any(want is not None and have is None for want, have in needed):
            return None
        return (
            (self.side is None or ref.side == self.side)
            and (
                self.client_order_id_prefix is None
                or str(ref.client_order_id).startswith(self.client_order_id_prefix)
            )
            and (self.placed_before_ms is None or int(ref.created_ms or 0) < self.placed_before_ms)
        )

    def covers(self, other: Scope) -> bool:
        """Whether every order in `other` is in this scope too (accounts aside)."""
        prefix, mine = other.client_order_id_prefix, self.client_order_id_prefix
        return (
            (not self.symbols or (bool(other.symbols) and set(self.symbols) >= set(other.symbols)))
            and (self.side is None or self.side == other.side)
            and (mine is None or (prefix is not None and prefix.startswith(mine)))
            and (
                self.placed_before_ms is None
                or (other.placed_before_ms is not None
                    and other.placed_before_ms <= self.placed_before_ms)
            )
        )  # fmt: skip

    def holds(
        self,
        account: str | None = None,
        symbol: str | None = None,
        side: str | None = None,
        client_order_id: str | None = None,
    ) -> bool:
        """Whether a halt of this scope may stop an order placed with these coordinates. A
        coordinate not given may be anything, so a halt narrower on that axis holds it (the
        safe side: a component that gives no client order id is told a strategy's halt holds).
        The creation time does not narrow a halt: a new order is placed now."""
        prefix = self.client_order_id_prefix
        return (
            (not self.accounts or account is None or account in self.accounts)
            and (not self.symbols or symbol is None or symbol in self.symbols)
            and (self.side is None or side is None or side == self.side)
            and (prefix is None or client_order_id is None or client_order_id.startswith(prefix))
        )

    def fields(self) -> dict[str, Any]:
        """The scope's given parts, by their request field names."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v}

    def strings(self) -> dict[str, str]:
        """Every part as a string (audit entries, halts): lists as JSON, an absent part ""."""
        return {
            "accounts": json.dumps(list(self.accounts)),
            "symbols": json.dumps(list(self.symbols)),
            "side": self.side or "",
            "client_order_id_prefix": self.client_order_id_prefix or "",
            "placed_before_ms": str(self.placed_before_ms or ""),
        }

    def key(self) -> str:
        """One string per scope, the same for equal scopes (a halt's field)."""
        return json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))

    def halt(self) -> Scope:
        """The scope of the halt a kill of this scope raises: the creation time does not narrow
        a halt (an order is placed now)."""
        return replace(self, placed_before_ms=None)

    @classmethod
    def from_strings(cls, fields: Mapping[str, str]) -> Scope:
        """The scope of `strings()` (an audit entry, a halt record)."""
        placed = fields.get("placed_before_ms")
        return cls(
            accounts=tuple(json.loads(fields.get("accounts") or "[]")),
            symbols=tuple(json.loads(fields.get("symbols") or "[]")),
            side=fields.get("side") or None,
            client_order_id_prefix=fields.get("client_order_id_prefix") or None,
            placed_before_ms=int(placed) if placed else None,
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Scope:
        return cls(
            accounts=tuple(fields.get("accounts") or ()),
            symbols=tuple(fields.get("symbols") or ()),
            side=fields.get("side"),
            client_order_id_prefix=fields.get("client_order_id_prefix"),
            placed_before_ms=fields.get("placed_before_ms"),
        )
