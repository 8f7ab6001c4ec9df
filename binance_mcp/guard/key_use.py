"""Which of the API key's trading rights a policy can ever use: the policy's side of the key
check at start (exchange/key_check.py warns about a key that can trade where the policy never
lets the agent).

A market's trading is used when any tool that needs the key's trading right there — orders,
closes, leverage and margin settings, and cancels, which Binance also refuses without it — can
run: not hidden and not denied outright (by its action, or for futures by `limits.futures:
deny`). Rules that deny only some calls (`deny_if`, limits on symbols or sizes) still leave the
right in use. In monitor mode every call goes through, so every right is in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from binance_mcp.guard.engine import FUTURES_TRADING, base_action
from binance_mcp.guard.policy import Policy
from binance_mcp.guard.tool_index import tool_index

SPOT_TRADING: Final = frozenset(
    {"binance_spot_place_order", "binance_spot_cancel_order", "binance_spot_cancel_all_orders"}
)
FUTURES_TRADING_RIGHT: Final = FUTURES_TRADING | {
    "binance_futures_cancel_order",
    "binance_futures_cancel_all_orders",
}


@dataclass(frozen=True)
class TradingUse:
    spot: bool
    futures: bool


def trading_use(policy: Policy) -> TradingUse:
    return TradingUse(
        spot=any(can_run(policy, t) for t in sorted(SPOT_TRADING)),
        futures=any(can_run(policy, t) for t in sorted(FUTURES_TRADING_RIGHT)),
    )


def can_run(policy: Policy, tool: str) -> bool:
    """False when no call of `tool` can get past `policy`."""
    if policy.mode != "enforce":
        return True
    if policy.hidden(tool):
        return False
    risk = tool_index()[tool].risk
    if (
        tool in FUTURES_TRADING
        and risk in ("write", "financial")
        and policy.limits.futures == "deny"
    ):
        return False
    return base_action(policy, tool, risk)[0] != "deny"
