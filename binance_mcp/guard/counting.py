"""Counting a call against the shared counters, once the engine has decided what to count
(engine.py `decide_counting`): the order's share of the budgets is reserved, then the call is
taken from each rate limit. The counters may live in Redis, so this is the one awaited step of
a decision; the engine itself stays pure and synchronous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from binance_mcp.guard.engine import Decision, Pending
from binance_mcp.guard.policy import RateLimit
from binance_mcp.guard.store import BudgetHit, OrderSlot, RateHit, StateUnavailable


class Counters(Protocol):
    """Where calls and order budgets are counted: SQLite in the state dir, Redis shared by
    hosts, or memory (policy tests) through store.py `Inline`. Either may raise
    `StateUnavailable`."""

    async def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None: ...

    async def reserve(self, slot: OrderSlot) -> str | BudgetHit: ...


async def count(pending: Pending, counters: Counters) -> Decision:
    """The pending decision once the call is counted, or the budget or rate limit that denies
    it (with the same rule and reason as any denial). A store that cannot count denies: fail
    closed. A budget that denies takes no call from the rate limits; a rate limit that denies
    leaves the reservation made, for the caller to release with the denied call."""
    if pending.slot is not None:
        try:
            reserved = await counters.reserve(pending.slot)
        except StateUnavailable as exc:
            return Decision("deny", "limits", f"cannot check budgets: {exc}", pending.used)
        if isinstance(reserved, BudgetHit):
            return Decision("deny", reserved.rule, reserved.reason, pending.used)
    if pending.rates:
        try:
            over = await counters.take_calls([(key, limit) for key, limit, _ in pending.rates])
        except StateUnavailable as exc:
            where = pending.rates[0][2]
            return Decision("deny", where, f"cannot count calls: {exc}", pending.used)
        if over is not None:
            place = next(p for key, _, p in pending.rates if key == over.key)
            return Decision("deny", place, over.text(), pending.used)
    return pending.decision
