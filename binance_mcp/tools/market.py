"""Market-data tools (SPEC §3.4): prices, books, klines, tickers, exchange info, server time."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from binance_mcp.exchange.binance_api import midpoint_ms
from binance_mcp.exchange.errors import InvalidArgument
from binance_mcp.exchange.symbol_rules import SymbolRules, dec_str
from binance_mcp.tools.args import (
    Interval,
    Limit1000,
    MarketName,
    Millis,
    SpotInterval,
    Symbol,
    Symbols,
    check_window,
)
from binance_mcp.tools.declare import Runtime, exchange, tool
from binance_mcp.tools.results import Kline, Result, kline_rows

# Bounds on "all symbols" answers: live spot has thousands of pairs, which would flood the
# agent's context. Results say how many were left out.
MAX_ROWS: Final = 50

Ctx = Context[Runtime, Any]


def _pick(symbol: str | None, symbols: list[str] | None) -> dict[str, Any]:
    if symbol is not None and symbols is not None:
        raise InvalidArgument("give either symbol or symbols, not both")
    if symbol is not None:
        return {"symbol": symbol}
    if symbols is not None:
        return {"symbols": '["' + '","'.join(symbols) + '"]'}
    return {}


def _bounded(rows: list[Any]) -> tuple[list[Any], int]:
    return rows[:MAX_ROWS], max(0, len(rows) - MAX_ROWS)


# --- prices ------------------------------------------------------------------------------------


class PriceRow(BaseModel):
    symbol: str
    price: str


class SpotPrices(Result):
    prices: list[PriceRow]
    omitted: int


@tool("read", "Spot price")
async def binance_spot_price(
    ctx: Ctx, symbol: Symbol | None = None, symbols: Symbols | None = None
) -> SpotPrices:
    """Last spot price of symbols (all: first 50)."""
    ex = await exchange(ctx)
    answer = await ex.read("get_symbol_ticker", **_pick(symbol, symbols))
    rows = answer if isinstance(answer, list) else [answer]
    kept, omitted = _bounded(rows)
    return SpotPrices(
        venue=ex.venue,
        prices=[PriceRow(symbol=r["symbol"], price=r["price"]) for r in kept],
        omitted=omitted,
    )


class FuturesPriceRow(BaseModel):
    symbol: str
    lastPrice: str = Field(description="Last traded price of the contract")
    markPrice: str = Field(description="Mark price: used for PnL and liquidation")
    indexPrice: str = Field(description="Index price: the spot reference")
    fundingRate: str = Field(description="Funding rate of the current interval (decimal)")
    nextFundingTime: int


class FuturesPrices(Result):
    prices: list[FuturesPriceRow]
    omitted: int


@tool("read", "Futures price")
async def binance_futures_price(ctx: Ctx, symbol: Symbol | None = None) -> FuturesPrices:
    """USD-M last, mark and index price and funding rate."""
    ex = await exchange(ctx)
    params = {"symbol": symbol} if symbol else {}
    last = await ex.read("futures_symbol_ticker", **params)
    marks = await ex.read("futures_mark_price", **params)
    last_rows = last if isinstance(last, list) else [last]
    mark_by_symbol = {m["symbol"]: m for m in (marks if isinstance(marks, list) else [marks])}
    rows = []
    for row in last_rows:
        mark = mark_by_symbol.get(row["symbol"])
        if mark is None:
            continue
        rows.append(
            FuturesPriceRow(
                symbol=row["symbol"],
                lastPrice=row["price"],
                markPrice=mark["markPrice"],
                indexPrice=mark["indexPrice"],
                fundingRate=mark["lastFundingRate"],
                nextFundingTime=int(mark["nextFundingTime"]),
            )
        )
    kept, omitted = _bounded(rows)
    return FuturesPrices(venue=ex.venue, prices=kept, omitted=omitted)


# --- order book and klines -------------------------------------------------------------------


class OrderBook(Result):
    lastUpdateId: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


@tool("read", "Spot order book")
async def binance_spot_orderbook(
    ctx: Ctx,
    symbol: Symbol,
    limit: Literal[5, 10, 20, 50, 100, 500, 1000, 5000] = 20,
) -> OrderBook:
    """Spot order book, best first."""
    ex = await exchange(ctx)
    book = await ex.read("get_order_book", symbol=symbol, limit=limit)
    return OrderBook(
        venue=ex.venue,
        lastUpdateId=int(book["lastUpdateId"]),
        bids=[(p, q) for p, q in book["bids"]],
        asks=[(p, q) for p, q in book["asks"]],
    )


class Klines(Result):
    klines: list[Kline]


class FuturesKlines(Klines):
    priceType: Literal["last", "mark"]


@tool("read", "Spot klines")
async def binance_spot_klines(
    ctx: Ctx,
    symbol: Symbol,
    interval: SpotInterval,
    limit: Limit1000 = 100,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
) -> Klines:
    """Spot candlesticks, oldest first."""
    check_window(startTime, endTime)
    ex = await exchange(ctx)
    rows = await ex.read(
        "get_klines",
        symbol=symbol,
        interval=interval,
        limit=limit,
        startTime=startTime,
        endTime=endTime,
    )
    return Klines(venue=ex.venue, klines=kline_rows(rows))


@tool("read", "Futures klines")
async def binance_futures_klines(
    ctx: Ctx,
    symbol: Symbol,
    interval: Interval,
    limit: Annotated[int, Field(ge=1, le=1500)] = 100,
    startTime: Millis | None = None,
    endTime: Millis | None = None,
    priceType: Literal["last", "mark"] = "last",
) -> FuturesKlines:
    """USD-M candlesticks of last or mark price, oldest first."""
    check_window(startTime, endTime)
    ex = await exchange(ctx)
    method = "futures_klines" if priceType == "last" else "futures_mark_price_klines"
    rows = await ex.read(
        method, symbol=symbol, interval=interval, limit=limit, startTime=startTime, endTime=endTime
    )
    return FuturesKlines(venue=ex.venue, priceType=priceType, klines=kline_rows(rows))


# --- 24 h tickers ------------------------------------------------------------------------------


class Ticker(BaseModel):
    symbol: str
    lastPrice: str
    priceChange: str
    priceChangePercent: str
    openPrice: str
    highPrice: str
    lowPrice: str
    volume: str = Field(description="Base-asset volume")
    quoteVolume: str
    openTime: int
    closeTime: int
    count: int = Field(description="Number of trades")


class Tickers(Result):
    tickers: list[Ticker]
    omitted: int


def _tickers(answer: Any) -> tuple[list[Ticker], int]:
    rows = answer if isinstance(answer, list) else [answer]
    rows.sort(key=lambda r: -Decimal(r.get("quoteVolume") or 0))  # most traded first
    kept, omitted = _bounded(rows)
    fields = Ticker.model_fields
    return [Ticker.model_validate({k: r[k] for k in fields if k in r}) for r in kept], omitted


@tool("read", "Spot 24h ticker")
async def binance_spot_24hr_ticker(ctx: Ctx, symbol: Symbol | None = None) -> Tickers:
    """Spot 24h statistics (all: 50 most traded)."""
    ex = await exchange(ctx)
    answer = await ex.read("get_ticker", **({"symbol": symbol} if symbol else {}))
    tickers, omitted = _tickers(answer)
    return Tickers(venue=ex.venue, tickers=tickers, omitted=omitted)


@tool("read", "Futures 24h ticker")
async def binance_futures_24hr_ticker(ctx: Ctx, symbol: Symbol | None = None) -> Tickers:
    """USD-M 24h statistics (all: 50 most traded)."""
    ex = await exchange(ctx)
    answer = await ex.read("futures_ticker", **({"symbol": symbol} if symbol else {}))
    tickers, omitted = _tickers(answer)
    return Tickers(venue=ex.venue, tickers=tickers, omitted=omitted)


# --- exchange info -------------------------------------------------------------------------------


class Filters(BaseModel):
    tickSize: str | None = None
    minPrice: str | None = None
    maxPrice: str | None = None
    stepSize: str | None = None
    minQty: str | None = None
    maxQty: str | None = None
    marketStepSize: str | None = None
    marketMinQty: str | None = None
    marketMaxQty: str | None = None
    minNotional: str | None = None
    maxNotional: str | None = None
    percentPriceDown: str | None = Field(
        None, description="Lowest limit price as a multiple of the current price"
    )
    percentPriceUp: str | None = Field(
        None, description="Highest limit price as a multiple of the current price"
    )
    maxNumOrders: int | None = None
    maxNumAlgoOrders: int | None = None


class SymbolInfo(BaseModel):
    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    orderTypes: list[str]
    filters: Filters


class ExchangeInfo(Result):
    symbols: list[SymbolInfo]
    omitted: int


def symbol_info(rules: SymbolRules) -> SymbolInfo:
    def s(value: Any) -> str | None:
        return None if value is None else dec_str(value)

    price, qty, mqty = rules.price, rules.quantity, rules.market_quantity
    down_up = rules.percent_price.get("BUY")
    return SymbolInfo(
        symbol=rules.symbol,
        status=rules.status,
        baseAsset=rules.base_asset,
        quoteAsset=rules.quote_asset,
        orderTypes=list(rules.order_types),
        filters=Filters(
            tickSize=s(price and price.step),
            minPrice=s(price and price.low),
            maxPrice=s(price and price.high),
            stepSize=s(qty and qty.step),
            minQty=s(qty and qty.low),
            maxQty=s(qty and qty.high),
            marketStepSize=s(mqty and mqty.step),
            marketMinQty=s(mqty and mqty.low),
            marketMaxQty=s(mqty and mqty.high),
            minNotional=s(rules.min_notional),
            maxNotional=s(rules.max_notional),
            percentPriceDown=s(down_up and down_up[0]),
            percentPriceUp=s(down_up and down_up[1]),
            maxNumOrders=rules.max_num_orders,
            maxNumAlgoOrders=rules.max_num_algo_orders,
        ),
    )


@tool("read", "Exchange info")
async def binance_exchange_info(
    ctx: Ctx,
    market: MarketName = "spot",
    symbol: Symbol | None = None,
    symbols: Symbols | None = None,
) -> ExchangeInfo:
    """Symbol rules and filters."""
    ex = await exchange(ctx)
    names = [symbol] if symbol else symbols
    if symbol is not None and symbols is not None:
        raise InvalidArgument("give either symbol or symbols, not both")
    if market == "futures":
        table = await ex.futures_symbols()
        rules = [await ex.rules("futures", n) for n in names] if names else list(table.values())
    elif names:
        rules = [await ex.rules("spot", n) for n in names]
    else:
        info = await ex.read("get_exchange_info")
        rules = [SymbolRules.from_exchange_info("spot", s) for s in info.get("symbols", [])]
    kept, omitted = _bounded(rules)
    return ExchangeInfo(venue=ex.venue, symbols=[symbol_info(r) for r in kept], omitted=omitted)


# --- server time ---------------------------------------------------------------------------------


class ServerTime(Result):
    serverTime: int = Field(description="Exchange time, ms since the Unix epoch")
    localTime: int = Field(description="This machine's time at the middle of the request, ms")
    offsetMs: int = Field(description="serverTime - localTime; signed requests need |offset| small")


@tool("read", "Server time")
async def binance_server_time(ctx: Ctx) -> ServerTime:
    """Exchange time, local time, clock offset (ms)."""
    ex = await exchange(ctx)
    before = time.time()
    answer = await ex.read("get_server_time")
    after = time.time()
    local_ms = midpoint_ms(before, after)
    server_ms = int(answer["serverTime"])
    return ServerTime(
        venue=ex.venue, serverTime=server_ms, localTime=local_ms, offsetMs=server_ms - local_ms
    )
