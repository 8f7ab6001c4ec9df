"""Spot trading tools (SPEC §3.2): place, cancel, list and cancel-all orders; order and trade
history."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from binance_mcp.exchange.errors import ExchangeError, InvalidArgument
from binance_mcp.exchange.order_types import SPOT_PRICED, SPOT_TRIGGERED
from binance_mcp.exchange.symbol_rules import dec_or_none, dec_str
from binance_mcp.tools.args import (
    ClientId,
    FromId,
    Limit1000,
    Millis,
    OrderId,
    PositiveDecimal,
    Price,
    Quantity,
    Side,
    Symbol,
    TimeInForce,
)
from binance_mcp.tools.declare import Runtime, exchange, tool
from binance_mcp.tools.orders import (
    cancelled_anyway,
    check_shape,
    client_id,
    place_order,
    precheck,
)
from binance_mcp.tools.results import Result

Ctx = Context[Runtime, Any]

SpotType = Literal[
    "MARKET",
    "LIMIT",
    "LIMIT_MAKER",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
# What each order type takes, as Binance defines it: sending anything else is -1106.
_TAKES_TIME_IN_FORCE = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
# Market orders once triggered: MARKET_LOT_SIZE applies, and there is no limit price.
_MARKET_LIKE = {"MARKET", "STOP_LOSS", "TAKE_PROFIT"}


class SpotOrder(BaseModel):
    symbol: str
    orderId: int
    clientOrderId: str
    side: str
    type: str
    status: str
    price: str
    origQty: str
    executedQty: str
    cummulativeQuoteQty: str
    avgPrice: str | None = None
    stopPrice: str | None = None
    timeInForce: str | None = None
    time: int | None = None


def spot_order(row: dict[str, Any]) -> SpotOrder:
    executed = Decimal(row.get("executedQty") or "0")
    quote = Decimal(row.get("cummulativeQuoteQty") or "0")
    stop = row.get("stopPrice")
    return SpotOrder(
        symbol=row["symbol"],
        orderId=int(row["orderId"]),
        clientOrderId=row.get("clientOrderId", ""),
        side=row["side"],
        type=row["type"],
        status=row["status"],
        price=row["price"],
        origQty=row["origQty"],
        executedQty=row["executedQty"],
        cummulativeQuoteQty=row["cummulativeQuoteQty"],
        avgPrice=dec_str(quote / executed) if executed > 0 and quote > 0 else None,
        stopPrice=stop if stop and Decimal(stop) != 0 else None,
        timeInForce=row.get("timeInForce") if row["type"] in _TAKES_TIME_IN_FORCE else None,
        time=row.get("transactTime") or row.get("updateTime") or row.get("time"),
    )


class PlacedSpotOrder(Result):
    test: bool = Field(description="true: validated by the exchange, nothing placed")
    order: SpotOrder | None
    note: str | None = Field(default=None, description="How a lost answer was resolved")


@tool("financial", "Place spot order")
async def binance_spot_place_order(
    ctx: Ctx,
    symbol: Symbol,
    side: Side,
    type: SpotType,
    quantity: Quantity | None = None,
    quoteOrderQty: Annotated[
        PositiveDecimal | None, Field(description="MARKET: quote amount")
    ] = None,
    price: Price | None = None,
    stopPrice: Price | None = None,
    timeInForce: TimeInForce | None = None,
    newClientOrderId: ClientId | None = None,
    test: Annotated[bool, Field(description="Validate only")] = False,
) -> PlacedSpotOrder:
    """Place a spot order; filters checked first, never rounded."""
    _check_spot_shape(type, quantity, quoteOrderQty, price, stopPrice, timeInForce)
    ex = await exchange(ctx)
    rules = await ex.rules("spot", symbol)
    if type not in rules.order_types and rules.order_types:
        raise InvalidArgument(f"{symbol} does not take {type} orders; it takes {rules.order_types}")
    if quoteOrderQty is not None:
        _check_quote_amount(symbol, quoteOrderQty, rules.min_notional, rules.min_notional_on_market)
    # A triggered market order (STOP_LOSS, TAKE_PROFIT) is valued at its stop price; anything
    # else against the average price, as Binance checks it.
    reference = stopPrice
    if type == "MARKET" or price is not None:
        reference = Decimal((await ex.read("get_avg_price", symbol=symbol))["price"])
    precheck(
        rules,
        side=side,
        is_market=type in _MARKET_LIKE,
        price=price,
        quantity=quantity,
        stop_price=stopPrice,
        reference_price=reference,
    )
    if timeInForce is None and type in _TAKES_TIME_IN_FORCE:
        timeInForce = "GTC"
    cid = client_id(newClientOrderId)
    params: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "type": type,
        "quantity": dec_or_none(quantity),
        "quoteOrderQty": dec_or_none(quoteOrderQty),
        "price": dec_or_none(price),
        "stopPrice": dec_or_none(stopPrice),
        "timeInForce": timeInForce,
        "newClientOrderId": cid,
        "newOrderRespType": "FULL",
    }
    if test:
        # Nothing is placed, so it may be sent again like any idempotent call.
        await ex.write("create_test_order", **params)
        return PlacedSpotOrder(venue=ex.venue, test=True, order=None)
    placed = await place_order(
        ex,
        "create_order",
        params,
        cid=cid,
        lookup=lambda: ex.read("get_order", symbol=symbol, origClientOrderId=cid),
    )
    return PlacedSpotOrder(
        venue=ex.venue, test=False, order=spot_order(placed.answer), note=placed.note
    )


def _check_spot_shape(
    type: str,
    quantity: Decimal | None,
    quote: Decimal | None,
    price: Decimal | None,
    stop: Decimal | None,
    tif: str | None,
) -> None:
    problems = []
    if type == "MARKET":
        if (quantity is None) == (quote is None):
            problems.append("MARKET takes exactly one of quantity or quoteOrderQty")
    elif quote is not None:
        problems.append(f"quoteOrderQty is for MARKET orders only, not {type}")
    elif quantity is None:
        problems.append(f"{type} needs quantity")
    check_shape(
        type,
        problems,
        price=price,
        stop=stop,
        tif=tif,
        price_types=SPOT_PRICED,
        stop_types=SPOT_TRIGGERED,
        tif_types=_TAKES_TIME_IN_FORCE,
    )


def _check_quote_amount(
    symbol: str, amount: Decimal, min_notional: Decimal | None, applies: bool
) -> None:
    if min_notional and applies and amount < min_notional:
        raise InvalidArgument(
            f"order not sent: {symbol} NOTIONAL: quoteOrderQty {dec_str(amount)} must be at "
            f"least {dec_str(min_notional)}"
        )


# --- cancel --------------------------------------------------------------------------------------


class CancelledSpotOrder(Result):
    order: SpotOrder


@tool("destructive", "Cancel spot order")
async def binance_spot_cancel_order(
    ctx: Ctx,
    symbol: Symbol,
    orderId: OrderId | None = None,
    origClientOrderId: ClientId | None = None,
) -> CancelledSpotOrder:
    """Cancel one open spot order."""
    if (orderId is None) == (origClientOrderId is None):
        raise InvalidArgument("give exactly one of orderId or origClientOrderId")
    ex = await exchange(ctx)
    ids = {"orderId": orderId, "origClientOrderId": origClientOrderId}
    try:
        answer = await ex.write("cancel_order", symbol=symbol, **ids)
    except ExchangeError as exc:
        row = await cancelled_anyway(exc, lambda: ex.read("get_order", symbol=symbol, **ids))
        if row is None:
            raise
        return CancelledSpotOrder(venue=ex.venue, order=spot_order(row))
    return CancelledSpotOrder(venue=ex.venue, order=spot_order(_as_order(answer)))


class CancelledSpotOrders(Result):
    cancelled: list[SpotOrder]


@tool("destructive", "Cancel all spot orders")
async def binance_spot_cancel_all_orders(ctx: Ctx, symbol: Symbol) -> CancelledSpotOrders:
    """Cancel every open spot order on a symbol."""
    ex = await exchange(ctx)
    try:
        answer = await ex.write("cancel_all_open_orders", symbol=symbol)
    except ExchangeError as exc:
        if exc.code == -2011:  # Binance's answer when nothing was open
            return CancelledSpotOrders(venue=ex.venue, cancelled=[])
        raise
    rows = [_as_order(r) for r in answer if "orderId" in r]  # order lists come as their legs
    return CancelledSpotOrders(venue=ex.venue, cancelled=[spot_order(r) for r in rows])


def _as_order(cancel: dict[str, Any]) -> dict[str, Any]:
    # In a cancel answer `clientOrderId` is the cancel request's id; the order's own id is
    # `origClientOrderId`, which is the one to report.
    return {
        **cancel,
        "clientOrderId": cancel.get("origClientOrderId") or cancel.get("clientOrderId", ""),
    }


# --- reads ---------------------------------------------------------------------------------------


class SpotOrders(Result):
    orders: list[SpotOrder]


@tool("read", "Spot open orders")
async def binance_spot_open_orders(ctx: Ctx, symbol: Symbol | None = None) -> SpotOrders:
    """Open spot orders."""
    ex = await exchange(ctx)
    rows = await ex.read("get_open_orders", symbol=symbol)
    return SpotOrders(venue=ex.venue, orders=[spot_order(r) for r in rows])


@tool("read", "Spot order history")
async def binance_spot_order_history(
    ctx: Ctx,
    symbol: Symbol,
    orderId: Annotated[int | None, Field(gt=0, description="From this order id")] = None,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
    limit: Limit1000 = 50,
) -> SpotOrders:
    """A symbol's spot orders, oldest first."""
    ex = await exchange(ctx)
    rows = await ex.read(
        "get_all_orders",
        symbol=symbol,
        orderId=orderId,
        startTime=startTime,
        endTime=endTime,
        limit=limit,
    )
    return SpotOrders(venue=ex.venue, orders=[spot_order(r) for r in rows])


class SpotTrade(BaseModel):
    id: int
    orderId: int
    side: Literal["BUY", "SELL"]
    price: str
    qty: str
    quoteQty: str
    commission: str
    commissionAsset: str
    isMaker: bool
    time: int


class SpotTrades(Result):
    trades: list[SpotTrade]


@tool("read", "Spot trade history")
async def binance_spot_trade_history(
    ctx: Ctx,
    symbol: Symbol,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
    fromId: FromId | None = None,
    limit: Limit1000 = 50,
) -> SpotTrades:
    """Your spot fills on a symbol, oldest first."""
    ex = await exchange(ctx)
    rows = await ex.read(
        "get_my_trades",
        symbol=symbol,
        startTime=startTime,
        endTime=endTime,
        fromId=fromId,
        limit=limit,
    )
    return SpotTrades(
        venue=ex.venue,
        trades=[
            SpotTrade(
                id=int(r["id"]),
                orderId=int(r["orderId"]),
                side="BUY" if r["isBuyer"] else "SELL",
                price=r["price"],
                qty=r["qty"],
                quoteQty=r["quoteQty"],
                commission=r["commission"],
                commissionAsset=r["commissionAsset"],
                isMaker=bool(r["isMaker"]),
                time=int(r["time"]),
            )
            for r in rows
        ],
    )
