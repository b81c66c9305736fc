"""Shared state in Redis: the ledger, recovery of lost work, the dead-man switch, key names, Lua."""
