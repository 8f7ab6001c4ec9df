"""USD-M futures tools (SPEC §3.3): orders, regular and conditional (STOP, TAKE_PROFIT and
trailing types live on Binance's algo-order service since December 2025), cancels, history,
leverage, margin type, and closing positions.

Every order leaves with a client id chosen before sending (`newClientOrderId` for regular
orders, `clientAlgoId` for conditional ones). When the answer to a placement is lost (timeout,
reset, 5xx) the order is looked up by that id and what really happened is reported; it is sent
again (with the same id) only when it certainly was not placed (tools/orders.py).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from mcp.server.mcpserver import Context
from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ExchangeError, InvalidArgument, ToolFailure
from binance_mcp.exchange.symbol_rules import dec_or_none, dec_str
from binance_mcp.tools.args import (
    ClientId,
    FromId,
    Limit1000,
    Millis,
    OrderId,
    PositionSide,
    PositiveDecimal,
    Side,
    Symbol,
    TimeInForce,
    check_window,
)
from binance_mcp.tools.declare import Runtime, exchange, tool
from binance_mcp.tools.orders import cancelled_anyway, check_shape, client_id, place_order, precheck
from binance_mcp.tools.results import Result

Ctx = Context[Runtime, Any]

FuturesType = Literal[
    "MARKET",
    "LIMIT",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]
# What each order type takes, as Binance defines it (anything else is -1106 there).
CONDITIONAL: Final = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
_LIMIT_TYPES: Final = frozenset({"LIMIT", "STOP", "TAKE_PROFIT"})  # price and timeInForce
_NEEDS_STOP: Final = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"})
_CLOSE_ALL: Final = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
_TRAILING: Final = "TRAILING_STOP_MARKET"
_HEDGE_SIDES: Final = ("LONG", "SHORT")
CALLBACK_RANGE: Final = (Decimal("0.1"), Decimal("10"))


# --- the order as every tool shows it ----------------------------------------------------------


class FuturesOrder(BaseModel):
    """A regular order (orderId) or a conditional one (algoId). Absent fields do not apply."""

    kind: Literal["regular", "conditional"]
    symbol: str
    orderId: int | None = None
    algoId: int | None = None
    clientOrderId: str
    side: str | None = None
    positionSide: str | None = None
    type: str | None = None
    status: str
    price: str | None = None
    stopPrice: str | None = None
    origQty: str | None = None
    executedQty: str | None = None
    avgPrice: str | None = None
    reduceOnly: bool | None = None
    closePosition: bool | None = None
    time: int | None = None

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


def _nonzero(value: Any) -> str | None:
    """A price as Binance sent it, or None where Binance writes zero for "not set"."""
    return str(value) if value not in (None, "") and Decimal(str(value)) != 0 else None


def _true_or_none(value: Any) -> bool | None:
    return True if value is True or str(value).lower() == "true" else None


def regular_order(row: dict[str, Any]) -> FuturesOrder:
    executed = row.get("executedQty")
    return FuturesOrder(
        kind="regular",
        symbol=row["symbol"],
        orderId=int(row["orderId"]),
        clientOrderId=row.get("clientOrderId", ""),
        side=row.get("side"),
        positionSide=row.get("positionSide"),
        # A triggered stop becomes a MARKET or LIMIT order; its original type says what it was.
        type=row.get("origType") or row.get("type"),
        status=row["status"],
        price=_nonzero(row.get("price")),
        stopPrice=_nonzero(row.get("stopPrice")),
        origQty=row.get("origQty"),
        executedQty=executed,
        avgPrice=_nonzero(row.get("avgPrice")) if executed and Decimal(executed) else None,
        reduceOnly=_true_or_none(row.get("reduceOnly")),
        closePosition=_true_or_none(row.get("closePosition")),
        time=row.get("time") or row.get("updateTime"),
    )


def conditional_order(row: dict[str, Any]) -> FuturesOrder:
    close = _true_or_none(row.get("closePosition"))
    return FuturesOrder(
        kind="conditional",
        symbol=row["symbol"],
        algoId=int(row["algoId"]),
        clientOrderId=row.get("clientAlgoId", ""),
        side=row.get("side"),
        positionSide=row.get("positionSide"),
        type=row.get("orderType"),
        status=row.get("algoStatus", ""),
        price=_nonzero(row.get("price")),
        stopPrice=_nonzero(row.get("triggerPrice")),
        origQty=None if close else row.get("quantity"),
        reduceOnly=_true_or_none(row.get("reduceOnly")),
        closePosition=close,
        time=row.get("createTime"),
    )


def _by_time(orders: list[FuturesOrder]) -> list[FuturesOrder]:
    return sorted(orders, key=lambda o: o.time or 0)


# --- placing, with a lost answer looked up instead of sent again ---------------------------------


async def place_futures(
    ex: Exchange, symbol: str, cid: str, conditional: bool, params: dict[str, Any]
) -> tuple[FuturesOrder, str | None]:
    """Place a regular or conditional order once (tools/orders.py `place_order`); returns it and
    a note when its answer was lost and what happened was found out by its client id."""

    async def lookup() -> dict[str, Any]:
        if conditional:
            found: dict[str, Any] = await ex.read("futures_get_order", clientAlgoId=cid)
        else:
            found = await ex.read("futures_get_order", symbol=symbol, origClientOrderId=cid)
        return found

    placed = await place_order(ex, "futures_create_order", params, cid=cid, lookup=lookup)
    order = conditional_order(placed.answer) if conditional else regular_order(placed.answer)
    return order, placed.note


# --- place -------------------------------------------------------------------------------------


class PlacedFuturesOrder(Result):
    order: FuturesOrder | None = Field(description="null when test")
    note: str | None = None


@tool("financial", "Place futures order")
async def binance_futures_place_order(
    ctx: Ctx,
    symbol: Symbol,
    side: Side,
    type: FuturesType,
    quantity: PositiveDecimal | None = None,
    price: PositiveDecimal | None = None,
    stopPrice: Annotated[PositiveDecimal | None, Field(description="Trigger price")] = None,
    timeInForce: TimeInForce | None = None,
    positionSide: PositionSide | None = None,
    reduceOnly: Annotated[bool | None, Field(description="One-way mode only")] = None,
    closePosition: Annotated[bool | None, Field(description="Close all")] = None,
    callbackRate: Annotated[PositiveDecimal | None, Field(description="Trailing %, 0.1-10")] = None,
    workingType: Literal["MARK_PRICE", "CONTRACT_PRICE"] | None = None,
    newClientOrderId: ClientId | None = None,
    test: Annotated[bool | None, Field(description="Validate only")] = None,
) -> PlacedFuturesOrder:
    """Place a USD-M futures order; stop types are conditional (algo)."""
    reduceOnly, closePosition = bool(reduceOnly), bool(closePosition)
    _check_shape(
        type, quantity, price, stopPrice, timeInForce, positionSide, reduceOnly, closePosition
    )
    if (callbackRate is not None) != (type == _TRAILING):
        raise InvalidArgument(f"order not sent: callbackRate is for {_TRAILING} only, and needed")
    if callbackRate is not None and not CALLBACK_RANGE[0] <= callbackRate <= CALLBACK_RANGE[1]:
        raise InvalidArgument("order not sent: callbackRate must be from 0.1 to 10 (percent)")
    if workingType is not None and type not in CONDITIONAL:
        raise InvalidArgument(f"order not sent: {type} takes no workingType (stop types do)")
    ex = await exchange(ctx)
    rules = await ex.rules("futures", symbol)
    if rules.order_types and type not in rules.order_types:
        raise InvalidArgument(f"{symbol} does not take {type} orders; it takes {rules.order_types}")
    # Binance values a market stop at its trigger price, anything else at the mark price.
    if type in _CLOSE_ALL and stopPrice is not None:
        reference = stopPrice
    else:
        reference = Decimal((await ex.read("futures_mark_price", symbol=symbol))["markPrice"])
    precheck(
        rules,
        side=side,
        is_market=type not in _LIMIT_TYPES,
        price=price,
        quantity=quantity,
        stop_price=stopPrice,
        reference_price=reference,
        reduce_only=reduceOnly or closePosition,
    )
    if reduceOnly and positionSide in (None, "BOTH"):
        mode = await ex.read("futures_get_position_mode")
        if mode.get("dualSidePosition"):
            raise InvalidArgument(_HEDGE_REDUCE)
    conditional = type in CONDITIONAL
    cid = client_id(newClientOrderId)
    params: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "type": type,
        "quantity": dec_or_none(quantity),
        "price": dec_or_none(price),
        "timeInForce": timeInForce or ("GTC" if type in _LIMIT_TYPES else None),
        "positionSide": positionSide,
        "reduceOnly": "true" if reduceOnly else None,
        "closePosition": "true" if closePosition else None,
        "callbackRate": dec_or_none(callbackRate),
        "workingType": workingType,
    }
    if conditional:
        params |= {"triggerPrice": dec_or_none(stopPrice), "clientAlgoId": cid}
    else:
        params |= {"newClientOrderId": cid, "newOrderRespType": "RESULT"}
    if test:
        if conditional:
            checked = "passed local checks; Binance has no test endpoint for conditional orders"
        else:
            await ex.write("futures_create_test_order", **params)
            checked = "valid: accepted by Binance's test endpoint"
        return PlacedFuturesOrder(venue=ex.venue, order=None, note=checked + "; nothing placed")
    order, note = await place_futures(ex, symbol, cid, conditional, params)
    return PlacedFuturesOrder(venue=ex.venue, order=order, note=note)


_HEDGE_REDUCE: Final = (
    "order not sent: reduceOnly is for one-way mode; this account is in hedge mode, where an "
    "order closes with positionSide (SELL with LONG, BUY with SHORT) and no reduceOnly"
)


def _check_shape(
    type: str,
    quantity: Decimal | None,
    price: Decimal | None,
    stop: Decimal | None,
    tif: str | None,
    position_side: str | None,
    reduce_only: bool,
    close_position: bool,
) -> None:
    problems = []
    if close_position:
        if type not in _CLOSE_ALL:
            problems.append(f"closePosition is for {' and '.join(sorted(_CLOSE_ALL))} only")
        if quantity is not None:
            problems.append("closePosition closes the whole position: give no quantity")
        if reduce_only:
            problems.append("closePosition already only reduces: drop reduceOnly")
    elif quantity is None:
        problems.append(f"{type} needs quantity")
    check_shape(
        type,
        problems,
        price=price,
        stop=stop,
        tif=tif,
        price_types=_LIMIT_TYPES,
        stop_types=_NEEDS_STOP,
        tif_types=_LIMIT_TYPES,
    )
    if reduce_only and position_side in _HEDGE_SIDES:
        raise InvalidArgument(_HEDGE_REDUCE)


# --- cancel --------------------------------------------------------------------------------------


class CancelledFuturesOrder(Result):
    order: FuturesOrder


@tool("destructive", "Cancel futures order")
async def binance_futures_cancel_order(
    ctx: Ctx,
    symbol: Symbol,
    orderId: OrderId | None = None,
    origClientOrderId: ClientId | None = None,
    algoId: OrderId | None = None,
) -> CancelledFuturesOrder:
    """Cancel one futures order, regular or conditional."""
    if sum(x is not None for x in (orderId, origClientOrderId, algoId)) != 1:
        raise InvalidArgument("give exactly one of orderId, origClientOrderId or algoId")
    ex = await exchange(ctx)
    if algoId is not None:
        order = await _cancel_conditional(ex, symbol, "algoId", algoId)
        if order is None:
            raise ToolFailure(_no_open_conditional(symbol, f"algoId {algoId}"))
        return CancelledFuturesOrder(venue=ex.venue, order=order)
    try:
        answer = await ex.write(
            "futures_cancel_order",
            symbol=symbol,
            orderId=orderId,
            origClientOrderId=origClientOrderId,
        )
    except ExchangeError as exc:
        ids = {"orderId": orderId, "origClientOrderId": origClientOrderId}
        with contextlib.suppress(ExchangeError):  # not found: maybe a conditional order's id
            row = await cancelled_anyway(
                exc, lambda: ex.read("futures_get_order", symbol=symbol, **ids)
            )
            if row is not None:
                return CancelledFuturesOrder(venue=ex.venue, order=regular_order(row))
        # Our results show a conditional order's clientAlgoId as its clientOrderId, so an
        # agent may well cancel it by that id.
        if exc.code != -2011 or origClientOrderId is None:
            raise
        order = await _cancel_conditional(ex, symbol, "clientAlgoId", origClientOrderId)
        if order is None:
            raise
        return CancelledFuturesOrder(venue=ex.venue, order=order)
    return CancelledFuturesOrder(venue=ex.venue, order=regular_order(answer))


async def _cancel_conditional(
    ex: Exchange, symbol: str, key: str, value: int | str
) -> FuturesOrder | None:
    """Cancel the symbol's open conditional order with this id; None when it has none.

    Binance's algo cancel takes the id alone (no symbol), so the order is first found among
    the symbol's open conditional orders: a cancel never reaches another symbol's order."""
    rows = await ex.read("futures_get_open_orders", symbol=symbol, conditional=True)
    row = next((r for r in rows if str(r[key]) == str(value)), None)
    if row is None:
        return None
    try:
        await ex.write("futures_cancel_order", algoId=int(row["algoId"]))
    except ExchangeError as exc:
        now = await cancelled_anyway(
            exc, lambda: ex.read("futures_get_order", algoId=int(row["algoId"])), "algoStatus"
        )
        if now is None:
            raise
        return conditional_order(now)
    return conditional_order({**row, "algoStatus": "CANCELED"})


def _no_open_conditional(symbol: str, ident: str) -> str:
    return (
        f"no open conditional order with {ident} on {symbol} (filled, triggered, cancelled or "
        "never placed); binance_futures_open_orders lists what is open"
    )


class CancelledFuturesOrders(Result):
    cancelled: list[FuturesOrder]


@tool("destructive", "Cancel all futures orders")
async def binance_futures_cancel_all_orders(ctx: Ctx, symbol: Symbol) -> CancelledFuturesOrders:
    """Cancel all futures orders on a symbol."""
    ex = await exchange(ctx)
    await ex.rules("futures", symbol)
    # The native cancel-all endpoints answer without the list, so read it first.
    regular, conditional = await ex.futures_open_orders(symbol)
    await ex.write("futures_cancel_all_open_orders", symbol=symbol)
    done = [regular_order({**r, "status": "CANCELED"}) for r in regular]
    try:
        await ex.write("futures_cancel_all_open_orders", symbol=symbol, conditional=True)
    except ToolFailure as exc:
        raise ToolFailure(
            f"cancelled {len(done)} regular orders, but cancelling the conditional orders "
            f"failed: {exc}"
        ) from None
    done += [conditional_order({**r, "algoStatus": "CANCELED"}) for r in conditional]
    return CancelledFuturesOrders(venue=ex.venue, cancelled=_by_time(done))


# --- reads ---------------------------------------------------------------------------------------


class FuturesOrders(Result):
    orders: list[FuturesOrder]


@tool("read", "Futures open orders")
async def binance_futures_open_orders(ctx: Ctx, symbol: Symbol | None = None) -> FuturesOrders:
    """Open futures orders, regular and conditional."""
    ex = await exchange(ctx)
    regular, conditional = await ex.futures_open_orders(symbol)
    orders = [regular_order(r) for r in regular] + [conditional_order(r) for r in conditional]
    return FuturesOrders(venue=ex.venue, orders=_by_time(orders))


@tool("read", "Futures order history")
async def binance_futures_order_history(
    ctx: Ctx,
    symbol: Symbol,
    orderId: Annotated[int | None, Field(gt=0)] = None,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
    limit: Limit1000 = 50,
) -> FuturesOrders:
    """A symbol's futures orders, oldest first."""
    check_window(startTime, endTime)
    ex = await exchange(ctx)
    window = {"startTime": startTime, "endTime": endTime}
    rows = await ex.read(
        "futures_get_all_orders", symbol=symbol, orderId=orderId, limit=limit, **window
    )
    orders = [regular_order(r) for r in rows]
    if orderId is None:
        algo = await ex.read(
            "futures_get_all_orders",
            symbol=symbol,
            limit=min(limit, 100),
            conditional=True,
            **window,
        )
        orders = _by_time(orders + [conditional_order(r) for r in algo])
        # Like Binance: from startTime on, the first `limit`; otherwise the latest `limit`.
        orders = orders[:limit] if startTime is not None else orders[-limit:]
    return FuturesOrders(venue=ex.venue, orders=orders)


class FuturesTrade(BaseModel):
    id: int
    orderId: int
    side: str
    positionSide: str
    price: str
    qty: str
    realizedPnl: str
    commission: str
    commissionAsset: str
    maker: bool
    time: int


class FuturesTrades(Result):
    trades: list[FuturesTrade]


@tool("read", "Futures trade history")
async def binance_futures_trade_history(
    ctx: Ctx,
    symbol: Symbol,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
    fromId: FromId | None = None,
    limit: Limit1000 = 50,
) -> FuturesTrades:
    """Your futures fills on a symbol, oldest first."""
    if fromId is not None and (startTime is not None or endTime is not None):
        raise InvalidArgument("give fromId or a time window (startTime/endTime), not both")
    check_window(startTime, endTime)
    ex = await exchange(ctx)
    rows = await ex.read(
        "futures_account_trades",
        symbol=symbol,
        startTime=startTime,
        endTime=endTime,
        fromId=fromId,
        limit=limit,
    )
    fields = FuturesTrade.model_fields
    return FuturesTrades(
        venue=ex.venue,
        trades=[FuturesTrade.model_validate({k: r[k] for k in fields if k in r}) for r in rows],
    )


# --- settings ------------------------------------------------------------------------------------


class Leverage(Result):
    leverage: int
    maxNotionalValue: str = Field(description="Largest position at this leverage")


@tool("financial", "Change futures leverage")
async def binance_futures_change_leverage(
    ctx: Ctx, symbol: Symbol, leverage: Annotated[int, Field(ge=1, le=125)]
) -> Leverage:
    """Set a symbol's futures leverage."""
    ex = await exchange(ctx)
    await ex.rules("futures", symbol)
    highest = await ex.max_leverage(symbol)
    if leverage > highest:
        raise InvalidArgument(
            f"leverage not changed: {symbol} allows at most {highest}x, not {leverage}x"
        )
    answer = await ex.write("futures_change_leverage", symbol=symbol, leverage=leverage)
    return Leverage(
        venue=ex.venue,
        leverage=int(answer["leverage"]),
        maxNotionalValue=str(answer["maxNotionalValue"]),
    )


class MarginType(Result):
    marginType: str
    alreadySet: bool = Field(description="true: nothing needed changing")


@tool("write", "Set futures margin type")
async def binance_futures_set_margin_type(
    ctx: Ctx, symbol: Symbol, marginType: Literal["ISOLATED", "CROSSED"]
) -> MarginType:
    """Set a symbol's margin type."""
    ex = await exchange(ctx)
    await ex.rules("futures", symbol)
    try:
        await ex.write("futures_change_margin_type", symbol=symbol, marginType=marginType)
    except ExchangeError as exc:
        if exc.code != -4046:  # "No need to change margin type."
            raise
        return MarginType(venue=ex.venue, marginType=marginType, alreadySet=True)
    return MarginType(venue=ex.venue, marginType=marginType, alreadySet=False)


# --- close position ------------------------------------------------------------------------------


class ClosedPositions(Result):
    closed: list[FuturesOrder]
    message: str


@tool("financial", "Close futures position")
async def binance_futures_close_position(
    ctx: Ctx,
    symbol: Symbol,
    positionSide: PositionSide | None = None,
) -> ClosedPositions:
    """Market-close a symbol's futures position(s)."""
    ex = await exchange(ctx)
    rules = await ex.rules("futures", symbol)
    rows = await ex.read("futures_position_information", symbol=symbol)
    held = [r for r in rows if Decimal(r["positionAmt"]) != 0]
    if positionSide is not None:
        hedge = any(r["positionSide"] in _HEDGE_SIDES for r in held)
        if held and hedge != (positionSide in _HEDGE_SIDES):
            mode = "hedge mode: use LONG or SHORT" if hedge else "one-way mode: use BOTH"
            raise InvalidArgument(
                f"positionSide {positionSide} does not fit; the account is in {mode}"
            )
        held = [r for r in held if r["positionSide"] == positionSide]
    if not held:
        which = f"{positionSide} " if positionSide else ""
        return ClosedPositions(
            venue=ex.venue, closed=[], message=f"no open {which}{symbol} position; nothing sent"
        )
    # A market order may not exceed MARKET_LOT_SIZE's maximum; a bigger position takes several.
    largest = rules.market_quantity.high if rules.market_quantity else Decimal(0)
    closed: list[FuturesOrder] = []
    done: list[str] = []
    failed: list[str] = []
    for row in held:
        amount = Decimal(row["positionAmt"])
        side = "SELL" if amount > 0 else "BUY"
        pside = row["positionSide"]
        left = abs(amount)
        try:
            while left > 0:
                chunk = min(left, largest) if largest else left
                cid = client_id(None)
                params = {
                    "symbol": symbol,
                    "side": side,
                    "type": "MARKET",
                    "quantity": dec_str(chunk),
                    "newClientOrderId": cid,
                    "newOrderRespType": "RESULT",
                    # One-way mode closes with reduceOnly; hedge mode with positionSide alone.
                    **(
                        {"positionSide": pside} if pside in _HEDGE_SIDES else {"reduceOnly": "true"}
                    ),
                }
                order, _ = await place_futures(ex, symbol, cid, False, params)
                closed.append(order)
                left -= chunk
            done.append(f"{pside} {dec_str(abs(amount))}")
        except ToolFailure as exc:
            failed.append(f"{pside} {dec_str(abs(amount))} not closed: {exc}")
    if not done:
        raise ToolFailure("; ".join(failed))
    message = f"{symbol}: closed {', '.join(done)} at market"
    return ClosedPositions(venue=ex.venue, closed=closed, message="; ".join([message, *failed]))
