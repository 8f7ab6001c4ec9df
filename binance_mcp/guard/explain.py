"""What a policy decides for one call, offline: the engine run on facts given by a person
instead of asked from the exchange (`binance-mcp policy explain` and `policy test`, whose
command-line side is cli/policy.py).

A fact the server would ask the exchange for and the person did not give stays unknown and
denies, as it would in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.conditions import Incomparable, to_decimal
from binance_mcp.guard.counting import count
from binance_mcp.guard.engine import Decision, Unknown, decide_counting, needed_facts
from binance_mcp.guard.facts import base_facts, derive
from binance_mcp.guard.policy import Policy
from binance_mcp.guard.store import Inline, MemoryCounters
from binance_mcp.guard.tool_index import RiskClass


async def _no_exchange() -> Exchange:
    raise Unknown(
        "exchange",
        "the server would ask the exchange; give it as a fact (explain: --fact NAME=VALUE; "
        "test cases: facts:)",
    )


def decide_offline(
    policy: Policy,
    tool: str,
    risk: RiskClass,
    values: Mapping[str, Any],
    given: Mapping[str, Any] | None = None,
    *,
    venue: str = "live",
    halted: str | None = None,
    reducing: str | None = None,
    used_today: Decimal = Decimal(0),
    repeat: int = 1,
) -> tuple[Decision, dict[str, Any]]:
    """The decision for this call with validated arguments `values` (the last of `repeat`
    identical calls, for rate limits) and the facts it was made on. A `daily_loss` at or over
    `max_daily_loss` decides as the server would: trading turns reducing first."""
    facts = base_facts(tool, dict(values), venue)
    facts.update(given or {})
    needed = needed_facts(policy, tool, risk)
    if reducing is not None and tool == "binance_spot_place_order":
        needed |= {"sells_held"}
    if needed - facts.keys():
        asyncio.run(derive(tool, dict(values), facts, needed, _no_exchange))
    value = facts.pop("account_value", None)
    if value is not None:
        facts.setdefault("daily_loss", value)  # offline, the value is the exchange's: unknown
    limit, loss = policy.limits.max_daily_loss, facts.get("daily_loss")
    if reducing is None and limit is not None and risk in ("write", "financial"):
        try:
            reached = (
                loss is not None and not isinstance(loss, Unknown) and to_decimal(loss) >= limit
            )
        except Incomparable:
            reached = False
        if reached:
            reducing = (
                f"trading is reducing until the end of the UTC day (the day's loss "
                f"{loss} USDT reached the limit {dec_str(limit)} (limits.max_daily_loss))"
            )
    counters = Inline(MemoryCounters(used_today))

    async def counted() -> Decision:
        decision = None
        for _ in range(repeat):
            pending = decide_counting(policy, tool, risk, facts, halted=halted, reducing=reducing)
            decision = await count(pending, counters)
        assert decision is not None
        return decision

    return asyncio.run(counted()), facts


def shown(value: Any) -> str:
    """A fact as a person reads it."""
    if isinstance(value, Unknown):
        return f"unknown ({value.why})"
    if isinstance(value, Decimal):
        return dec_str(value)
    if isinstance(value, tuple):  # open orders from the exchange: (count, when listed)
        return str(value[0])
    return str(value)
