"""What the futures account has done, as Binance lists it: order history, fills and income
(commission, realized PnL, funding), with Binance's windows and paging."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from binance_mcp.paper.errors import BinanceError
from binance_mcp.paper.params import Params

if TYPE_CHECKING:
    from binance_mcp.paper.futures import FuturesEngine

INCOME_TYPES = (
    "TRANSFER",
    "WELCOME_BONUS",
    "REALIZED_PNL",
    "FUNDING_FEE",
    "COMMISSION",
    "INSURANCE_CLEAR",
    "REFERRAL_KICKBACK",
    "COMMISSION_REBATE",
    "API_REBATE",
    "CONTEST_REWARD",
    "CROSS_COLLATERAL_TRANSFER",
    "OPTIONS_PREMIUM_FEE",
    "OPTIONS_SETTLE_PROFIT",
    "INTERNAL_TRANSFER",
    "AUTO_EXCHANGE",
    "DELIVERED_SETTELMENT",
    "COIN_SWAP_DEPOSIT",
    "COIN_SWAP_WITHDRAW",
    "POSITION_LIMIT_INCREASE_FEE",
    "STRATEGY_UMFUTURES_TRANSFER",
    "FEE_RETURN",
    "BFUSD_REWARD",
)
SEVEN_DAYS_MS = 7 * 86_400_000


def all_orders(engine: FuturesEngine, p: Params) -> list[dict[str, Any]]:
    spec = engine.spec(p.text("symbol"))
    from_id, start, end = p.integer("orderId"), p.integer("startTime"), p.integer("endTime")
    limit = p.limit(500, 1000)
    rows = [
        o
        for o in sorted(engine.account.orders.values(), key=lambda o: o.orderId)
        if o.symbol == spec.symbol
        and (from_id is None or o.orderId >= from_id)
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [o.wire(spec) for o in rows]


def user_trades(engine: FuturesEngine, p: Params, now: int) -> list[dict[str, Any]]:
    spec = engine.spec(p.text("symbol"))
    order_id, from_id = p.integer("orderId"), p.integer("fromId")
    start, end = p.integer("startTime"), p.integer("endTime")
    if from_id is not None and (start is not None or end is not None):
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    # Without a window or a starting id Binance answers with the last seven days.
    since = now - SEVEN_DAYS_MS if from_id is None and start is None and end is None else start
    limit = p.limit(500, 1000)
    rows = [
        t
        for t in engine.account.trades
        if t.symbol == spec.symbol
        and (order_id is None or t.orderId == order_id)
        and (from_id is None or t.id >= from_id)
        and (since is None or t.time >= since)
        and (end is None or t.time <= end)
    ]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [t.wire(spec) for t in rows]


def income(engine: FuturesEngine, p: Params, now: int) -> list[dict[str, Any]]:
    symbol = p.text("symbol")
    if symbol is not None:
        engine.spec(symbol)
    kind = p.choice(
        "incomeType",
        INCOME_TYPES,
        -1130,
        "Data sent for parameter 'incomeType' is not valid.",
    )
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    window_start = start if start is not None or end is not None else now - SEVEN_DAYS_MS
    limit = p.limit(100, 1000)
    page = p.integer("page")
    rows = [
        i
        for i in engine.account.income
        if symbol in (None, i.symbol)
        and kind in (None, i.incomeType)
        and (window_start is None or i.time >= window_start)
        and (end is None or i.time <= end)
    ]
    if page is not None:
        rows = rows[(max(page, 1) - 1) * limit : max(page, 1) * limit]
    else:
        rows = rows[:limit] if start is not None else rows[-limit:]
    return [i.wire() for i in rows]
