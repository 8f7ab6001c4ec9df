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
    rows = engine.account.orders.history(
        spec.symbol,
        from_id=from_id,
        start=start,
        end=end,
        limit=p.limit(500, 1000),
        oldest_first=from_id is not None or start is not None,
    )
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
    rows = engine.account.trades.query(
        symbol=spec.symbol,
        ref=order_id,
        from_id=from_id,
        start=since,
        end=end,
        limit=p.limit(500, 1000),
        oldest_first=from_id is not None or start is not None,
    )
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
    rows = engine.account.income.query(
        symbol=symbol,
        type_=kind,
        start=window_start,
        end=end,
        limit=limit,
        oldest_first=page is not None or start is not None,
        offset=(max(page, 1) - 1) * limit if page is not None else 0,
    )
    return [i.wire() for i in rows]
