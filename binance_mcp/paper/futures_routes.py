"""The USD-M futures REST endpoints (`/fapi/v1|v2|v3/...`): which parameters each reads, what
it weighs (Binance's futures weights), and the answer it gives, in Binance's shapes."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from binance_mcp.paper import errors as E
from binance_mcp.paper import futures_history as history
from binance_mcp.paper import futures_settings as settings
from binance_mcp.paper import tape
from binance_mcp.paper.errors import BinanceError, mandatory
from binance_mcp.paper.futures_market import (
    FUNDING_INTERVAL_MS,
    INTEREST_RATE,
    FuturesSpec,
)
from binance_mcp.paper.futures_params import ORDER_TYPES, TIME_IN_FORCE
from binance_mcp.paper.futures_risk import MAKER_RATE, TAKER_RATE
from binance_mcp.paper.market import INTERVAL_MS, PublicTrade, fmt, history_price
from binance_mcp.paper.numbers import quantize_down
from binance_mcp.paper.params import Params
from binance_mcp.paper.routing import Endpoint, Handler, Routes
from binance_mcp.paper.state import PaperState

ORDER_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "positionSide",
        "type",
        "timeInForce",
        "quantity",
        "reduceOnly",
        "price",
        "newClientOrderId",
        "stopPrice",
        "closePosition",
        "activationPrice",
        "callbackRate",
        "workingType",
        "priceProtect",
        "newOrderRespType",
        "priceMatch",
        "selfTradePreventionMode",
        "goodTillDate",
    }
)
ALGO_PARAMS = frozenset(
    {
        "algoType",
        "symbol",
        "side",
        "positionSide",
        "type",
        "timeInForce",
        "quantity",
        "price",
        "triggerPrice",
        "workingType",
        "priceMatch",
        "closePosition",
        "priceProtect",
        "reduceOnly",
        "activatePrice",
        "callbackRate",
        "clientAlgoId",
        "newOrderRespType",
        "selfTradePreventionMode",
    }
)
DELIVERY_DATE = 4133404800000  # what Binance shows for a perpetual
FUNDING_CAP = Decimal("0.02")


def _specs(state: PaperState, p: Params) -> list[FuturesSpec] | None:
    """One symbol, or None for all; an unknown name fails as on Binance."""
    if "symbol" not in p:
        return None
    return [state.futures.spec(p.required("symbol"))]


def _one_or_all(p: Params, rows: list[dict[str, Any]]) -> Any:
    return rows[0] if "symbol" in p else rows


def _rate_limits(state: PaperState) -> list[dict[str, Any]]:
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": state.futures_weights.effective_limit,
        },
        *state.futures_order_counts.wire(),
    ]


def _symbol_info(spec: FuturesSpec) -> dict[str, Any]:
    info = spec.info
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": DELIVERY_DATE,
        "onboardDate": info["onboardDate"],
        "status": "TRADING",
        "maintMarginPercent": info["maintMarginPercent"],
        "requiredMarginPercent": info["requiredMarginPercent"],
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": info["marginAsset"],
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": info["baseAssetPrecision"],
        "quotePrecision": info["quotePrecision"],
        "underlyingType": "COIN",
        "underlyingSubType": info["underlyingSubType"],
        "settlePlan": 0,
        "triggerProtect": info["triggerProtect"],
        "liquidationFee": info["liquidationFee"],
        "marketTakeBound": info["marketTakeBound"],
        "maxMoveOrderLimit": 10000,
        "filters": spec.filters,
        "orderTypes": list(ORDER_TYPES),
        "timeInForce": list(TIME_IN_FORCE),
    }


# ----- market data ---------------------------------------------------------------------------


def exchange_info(state: PaperState, p: Params, now: int) -> Any:
    specs = list(state.futures_market.specs.values())
    return {
        "timezone": "UTC",
        "serverTime": now,
        "futuresType": "U_MARGINED",
        "rateLimits": _rate_limits(state),
        "exchangeFilters": [],
        "assets": [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
            {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
            {"asset": "BNB", "marginAvailable": True, "autoAssetExchange": "-10"},
        ],
        "symbols": [_symbol_info(s) for s in specs],
    }


def ticker_price(state: PaperState, p: Params, now: int) -> Any:
    market = state.futures_market
    rows = [
        {"symbol": s.symbol, "price": s.price_str(market.last(s.symbol)), "time": now}
        for s in _specs(state, p) or market.specs.values()
    ]
    return _one_or_all(p, rows)


def book_ticker(state: PaperState, p: Params, now: int) -> Any:
    market = state.futures_market
    rows = []
    for s in _specs(state, p) or market.specs.values():
        book = market.book(s.symbol, 1)
        rows.append(
            {
                "symbol": s.symbol,
                "bidPrice": s.price_str(book.bids[0].price),
                "bidQty": s.qty_str(book.bids[0].qty),
                "askPrice": s.price_str(book.asks[0].price),
                "askQty": s.qty_str(book.asks[0].qty),
                "time": now,
            }
        )
    return _one_or_all(p, rows)


def _ticker_24h(state: PaperState, spec: FuturesSpec, now: int) -> dict[str, Any]:
    market = state.futures_market
    candles = market.candles(spec.symbol, "1h", None, now, 24, now)
    open_ = candles[0].open
    last = market.last(spec.symbol)
    high = max([c.high for c in candles] + [last])
    low = min([c.low for c in candles] + [last])
    volume = sum((c.volume for c in candles), Decimal(0))
    quote_volume = sum((c.quote_volume for c in candles), Decimal(0))
    count = sum(c.count for c in candles)
    change = last - open_
    trades = state.futures_account.trades
    last_trade = trades.last(spec.symbol)
    last_id = 1_000_000 + state.walk.steps * 10 + trades.count(spec.symbol)
    return {
        "symbol": spec.symbol,
        "priceChange": spec.price_str(change),
        "priceChangePercent": f"{(change / open_ * 100):.3f}",
        "weightedAvgPrice": spec.price_str(
            (quote_volume / volume).quantize(spec.tick) if volume else last
        ),
        "lastPrice": spec.price_str(last),
        "lastQty": spec.qty_str(last_trade.qty if last_trade else spec.min_qty),
        "openPrice": spec.price_str(open_),
        "highPrice": spec.price_str(high),
        "lowPrice": spec.price_str(low),
        "volume": spec.qty_str(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": last_id - count + 1,
        "lastId": last_id,
        "count": count,
    }


def ticker_24h(state: PaperState, p: Params, now: int) -> Any:
    specs = _specs(state, p) or state.futures_market.specs.values()
    return _one_or_all(p, [_ticker_24h(state, s, now) for s in specs])


def premium_index(state: PaperState, p: Params, now: int) -> Any:
    market = state.futures_market
    next_funding = market.next_funding_time(now)
    rows = [
        {
            "symbol": s.symbol,
            "markPrice": fmt(market.mark(s.symbol)),
            "indexPrice": fmt(market.index(s.symbol)),
            "estimatedSettlePrice": fmt(market.index(s.symbol)),
            "lastFundingRate": fmt(market.funding_rate(s.symbol, next_funding)),
            "interestRate": fmt(INTEREST_RATE),
            "nextFundingTime": next_funding,
            "time": now,
        }
        for s in _specs(state, p) or market.specs.values()
    ]
    return _one_or_all(p, rows)


def funding_rate(state: PaperState, p: Params, now: int) -> Any:
    """Past funding times (every 8 hours since the contract's listing) and their rates."""
    market = state.futures_market
    specs = _specs(state, p) or list(market.specs.values())
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    limit = p.limit(100, 1000)
    last = now - now % FUNDING_INTERVAL_MS
    if end is not None:
        last = min(last, end - end % FUNDING_INTERVAL_MS)
    if start is not None:
        first = start + (-start) % FUNDING_INTERVAL_MS
        last = min(last, first + (limit - 1) * FUNDING_INTERVAL_MS)
    else:
        first = last - (limit - 1) * FUNDING_INTERVAL_MS
    rows = []
    t = first
    while t <= last:
        for s in specs:
            if t >= s.info["onboardDate"]:
                mark = history_price(s.symbol, s, market.mark(s.symbol), t, now)
                rows.append(
                    {
                        "symbol": s.symbol,
                        "fundingRate": fmt(market.funding_rate(s.symbol, t)),
                        "fundingTime": t,
                        "markPrice": fmt(mark),
                    }
                )
        t += FUNDING_INTERVAL_MS
    return rows[-limit:] if start is None else rows[:limit]


def funding_info(state: PaperState, p: Params, now: int) -> Any:
    return [
        {
            "symbol": s.symbol,
            "adjustedFundingRateCap": fmt(FUNDING_CAP),
            "adjustedFundingRateFloor": fmt(-FUNDING_CAP),
            "fundingIntervalHours": FUNDING_INTERVAL_MS // 3_600_000,
            "disclaimer": False,
        }
        for s in state.futures_market.specs.values()
    ]


def _kline_args(state: PaperState, p: Params) -> tuple[FuturesSpec, str, int | None, int | None]:
    spec = state.futures.spec(p.text("symbol"))
    interval = p.text("interval")
    if interval is None:
        raise mandatory("interval")
    if interval not in INTERVAL_MS:
        raise BinanceError(-1120, "Invalid interval.")
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    return spec, interval, start, end


def klines(state: PaperState, p: Params, now: int) -> Any:
    spec, interval, start, end = _kline_args(state, p)
    rows = state.futures_market.candles(spec.symbol, interval, start, end, p.limit(500, 1500), now)
    return [c.row(spec.price_str, spec.qty_str, fmt) for c in rows]


def mark_price_klines(state: PaperState, p: Params, now: int) -> Any:
    spec, interval, start, end = _kline_args(state, p)
    market = state.futures_market
    rows = market.candles(
        spec.symbol, interval, start, end, p.limit(500, 1500), now, market.mark(spec.symbol)
    )
    # Mark-price candles carry prices only; Binance zeroes the volume columns.
    return [
        [
            c.open_time,
            *map(spec.price_str, (c.open, c.high, c.low, c.close)),
            "0",
            c.close_time,
            "0",
            c.count,
            "0",
            "0",
            "0",
        ]
        for c in rows
    ]


def _kline_weight(p: Params) -> int:
    try:
        limit = p.limit(500, 1500)
    except BinanceError:
        return 5
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def depth(state: PaperState, p: Params, now: int) -> Any:
    spec = state.futures.spec(p.text("symbol"))
    book = state.futures_market.book(spec.symbol, p.limit(500, 1000))
    return {
        "lastUpdateId": 2_000_000 + state.walk.steps,
        "E": now,
        "T": now,
        "bids": [[spec.price_str(lv.price), spec.qty_str(lv.qty)] for lv in book.bids],
        "asks": [[spec.price_str(lv.price), spec.qty_str(lv.qty)] for lv in book.asks],
    }


def _depth_weight(p: Params) -> int:
    try:
        limit = p.limit(500, 1000)
    except BinanceError:
        return 10
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


# ----- account ---------------------------------------------------------------------------------


def leverage_bracket(state: PaperState, p: Params, now: int) -> Any:
    rows = [
        {"symbol": s.symbol, "brackets": [b.wire() for b in s.brackets]}
        for s in _specs(state, p) or state.futures_market.specs.values()
    ]
    return _one_or_all(p, rows)


def symbol_config(state: PaperState, p: Params, now: int) -> Any:
    rows = []
    for s in _specs(state, p) or state.futures_market.specs.values():
        config = state.futures_account.settings_of(s.symbol)
        rows.append(
            {
                "symbol": s.symbol,
                "marginType": config.marginType,
                "isAutoAddMargin": False,
                "leverage": config.leverage,
                "maxNotionalValue": f"{s.max_notional(config.leverage):f}",
            }
        )
    return rows


def account_config(state: PaperState, p: Params, now: int) -> Any:
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": state.futures_account.dualSidePosition,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
    }


def commission_rate(state: PaperState, p: Params, now: int) -> Any:
    spec = state.futures.spec(p.text("symbol"))
    return {
        "symbol": spec.symbol,
        "makerCommissionRate": f"{MAKER_RATE:f}",
        "takerCommissionRate": f"{TAKER_RATE:f}",
        "rpiCommissionRate": "0",
    }


def position_risk(version: int) -> Handler:
    def handler(state: PaperState, p: Params, now: int) -> Any:
        symbol = p.text("symbol")
        if symbol is not None:
            state.futures.spec(symbol)
        return state.futures.risk.position_risk(symbol, version)

    return handler


def _weighted(weight_with_symbol: int, weight_without: int) -> Any:
    return lambda p: weight_with_symbol if "symbol" in p else weight_without


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


def _timed(handler: Handler) -> Handler:
    """Let deadlines that fell due (countdowns, funding, GTD) happen before answering."""

    def run(state: PaperState, p: Params, now: int) -> Any:
        if state.futures.on_time(now):
            state.mark_dirty()
        return handler(state, p, now)

    return run


def _open_order_get(state: PaperState, p: Params, now: int) -> Any:
    """GET /fapi/v1/openOrder: only an open order; a finished one "does not exist" here."""
    order = state.futures.find(p, E.NO_SUCH_ORDER)
    if not order.is_open:
        raise BinanceError(-2013, "Order does not exist.")
    return order.wire(state.futures.spec(order.symbol))


def _open_interest(state: PaperState, p: Params, now: int) -> Any:
    spec = state.futures.spec(p.text("symbol"))
    # A figure that holds still for a given market state: open positions of other traders
    # are not simulated.
    base = Decimal(1_000_000) / state.futures_market.mark(spec.symbol)
    return {"openInterest": spec.qty_str(base), "symbol": spec.symbol, "time": now}


def _tape(state: PaperState, spec: FuturesSpec) -> list[PublicTrade]:
    """The contract's public trades: the spot walk's tape carried over at the contract's
    basis, tick and step (as its last price follows the spot walk)."""
    return [
        PublicTrade(
            t.id,
            max((t.price * (1 + spec.basis)).quantize(spec.tick, ROUND_HALF_EVEN), spec.tick),
            max(quantize_down(t.qty, spec.step), spec.min_qty),
            t.time,
            t.is_buyer_maker,
        )
        for t in state.walk.trades[spec.symbol]
    ]


def _trades(state: PaperState, p: Params, now: int) -> Any:
    spec = state.futures.spec(p.text("symbol"))
    rows = _tape(state, spec)[-p.limit(500, 1000) :]
    return [
        {
            "id": t.id,
            "price": spec.price_str(t.price),
            "qty": spec.qty_str(t.qty),
            "quoteQty": fmt(t.price * t.qty),
            "time": t.time,
            "isBuyerMaker": t.is_buyer_maker,
        }
        for t in rows
    ]


def _agg_trades(state: PaperState, p: Params, now: int) -> Any:
    spec = state.futures.spec(p.text("symbol"))
    rows = tape.select(_tape(state, spec), p, max_span_ms=tape.HOUR_MS)
    return tape.agg_rows(
        rows, lambda t: spec.price_str(t.price), lambda t: spec.qty_str(t.qty), best_match=False
    )


def _order_get(state: PaperState, p: Params, now: int) -> Any:
    order = state.futures.find(p, E.NO_SUCH_ORDER)
    return order.wire(state.futures.spec(order.symbol))


def _open_orders(state: PaperState, p: Params, now: int) -> Any:
    engine = state.futures
    return [o.wire(engine.spec(o.symbol)) for o in engine.open_orders(p.text("symbol"))]


def _position_mode(state: PaperState, p: Params, now: int) -> Any:
    return {"dualSidePosition": state.futures_account.dualSidePosition}


def _signed(
    handler: Handler, weight: Any, params: frozenset[str], mutates: bool = False, orders: int = 0
) -> Endpoint:
    return Endpoint(_timed(handler), weight, True, params, mutates=mutates, orders=orders)


ID_PARAMS = _s("symbol", "orderId", "origClientOrderId")
ALGO_ID_PARAMS = _s("symbol", "algoId", "clientAlgoId")

FUTURES_ROUTES: Routes = {
    ("GET", "/fapi/v1/ping"): Endpoint(lambda s, p, n: {}, 1, False, _s()),
    ("GET", "/fapi/v1/time"): Endpoint(lambda s, p, n: {"serverTime": n}, 1, False, _s()),
    ("GET", "/fapi/v1/exchangeInfo"): Endpoint(exchange_info, 1, False, _s()),
    ("GET", "/fapi/v1/ticker/price"): Endpoint(ticker_price, _weighted(1, 2), False, _s("symbol")),
    ("GET", "/fapi/v2/ticker/price"): Endpoint(ticker_price, _weighted(1, 2), False, _s("symbol")),
    ("GET", "/fapi/v1/ticker/bookTicker"): Endpoint(
        book_ticker, _weighted(2, 5), False, _s("symbol")
    ),
    ("GET", "/fapi/v1/ticker/24hr"): Endpoint(ticker_24h, _weighted(1, 40), False, _s("symbol")),
    ("GET", "/fapi/v1/premiumIndex"): Endpoint(
        premium_index, _weighted(1, 10), False, _s("symbol")
    ),
    ("GET", "/fapi/v1/fundingRate"): Endpoint(
        funding_rate, 1, False, _s("symbol", "startTime", "endTime", "limit")
    ),
    ("GET", "/fapi/v1/fundingInfo"): Endpoint(funding_info, 1, False, _s()),
    ("GET", "/fapi/v1/klines"): Endpoint(
        klines, _kline_weight, False, _s("symbol", "interval", "startTime", "endTime", "limit")
    ),
    ("GET", "/fapi/v1/markPriceKlines"): Endpoint(
        mark_price_klines,
        _kline_weight,
        False,
        _s("symbol", "interval", "startTime", "endTime", "limit"),
    ),
    ("GET", "/fapi/v1/depth"): Endpoint(depth, _depth_weight, False, _s("symbol", "limit")),
    ("GET", "/fapi/v1/trades"): Endpoint(_trades, 5, False, _s("symbol", "limit")),
    ("GET", "/fapi/v1/aggTrades"): Endpoint(
        _agg_trades, 20, False, _s("symbol", "fromId", "startTime", "endTime", "limit")
    ),
    # ----- signed ---------------------------------------------------------------------------
    ("GET", "/fapi/v2/account"): _signed(
        lambda s, p, n: s.futures.risk.account_info(n, 2), 5, _s()
    ),
    ("GET", "/fapi/v3/account"): _signed(
        lambda s, p, n: s.futures.risk.account_info(n, 3), 5, _s()
    ),
    ("GET", "/fapi/v2/balance"): _signed(lambda s, p, n: s.futures.risk.balances(n), 5, _s()),
    ("GET", "/fapi/v3/balance"): _signed(lambda s, p, n: s.futures.risk.balances(n), 5, _s()),
    ("GET", "/fapi/v2/positionRisk"): _signed(position_risk(2), 5, _s("symbol")),
    ("GET", "/fapi/v3/positionRisk"): _signed(position_risk(3), 5, _s("symbol")),
    ("GET", "/fapi/v1/leverageBracket"): _signed(leverage_bracket, 1, _s("symbol")),
    ("GET", "/fapi/v1/symbolConfig"): _signed(symbol_config, 5, _s("symbol")),
    ("GET", "/fapi/v1/accountConfig"): _signed(account_config, 5, _s()),
    ("GET", "/fapi/v1/commissionRate"): _signed(commission_rate, 20, _s("symbol")),
    ("POST", "/fapi/v1/order"): _signed(
        lambda s, p, n: s.futures.place(p, n, test=False),
        0,
        ORDER_PARAMS,
        mutates=True,
        orders=1,
    ),
    ("POST", "/fapi/v1/order/test"): _signed(
        lambda s, p, n: s.futures.place(p, n, test=True), 0, ORDER_PARAMS
    ),
    ("DELETE", "/fapi/v1/order"): _signed(
        lambda s, p, n: s.futures.cancel(p, n), 1, ID_PARAMS, mutates=True
    ),
    ("GET", "/fapi/v1/order"): _signed(_order_get, 1, ID_PARAMS),
    ("GET", "/fapi/v1/openOrder"): _signed(_open_order_get, 1, ID_PARAMS),
    ("GET", "/fapi/v1/openInterest"): Endpoint(_open_interest, 1, False, _s("symbol")),
    ("GET", "/fapi/v1/multiAssetsMargin"): _signed(
        lambda s, p, n: {"multiAssetsMargin": False}, 30, _s()
    ),
    ("GET", "/fapi/v1/openOrders"): _signed(_open_orders, _weighted(1, 40), _s("symbol")),
    ("GET", "/fapi/v1/allOrders"): _signed(
        lambda s, p, n: history.all_orders(s.futures, p),
        5,
        _s("symbol", "orderId", "startTime", "endTime", "limit"),
    ),
    ("DELETE", "/fapi/v1/allOpenOrders"): _signed(
        lambda s, p, n: s.futures.cancel_all(p, n), 1, _s("symbol"), mutates=True
    ),
    ("POST", "/fapi/v1/countdownCancelAll"): _signed(
        lambda s, p, n: s.futures.countdown(p, n), 10, _s("symbol", "countdownTime"), mutates=True
    ),
    ("GET", "/fapi/v1/userTrades"): _signed(
        lambda s, p, n: history.user_trades(s.futures, p, n),
        5,
        _s("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
    ),
    ("GET", "/fapi/v1/income"): _signed(
        lambda s, p, n: history.income(s.futures, p, n),
        30,
        _s("symbol", "incomeType", "startTime", "endTime", "page", "limit"),
    ),
    ("POST", "/fapi/v1/leverage"): _signed(
        lambda s, p, n: settings.change_leverage(s.futures, p, n),
        1,
        _s("symbol", "leverage"),
        mutates=True,
    ),
    ("POST", "/fapi/v1/marginType"): _signed(
        lambda s, p, n: settings.change_margin_type(s.futures, p, n),
        1,
        _s("symbol", "marginType"),
        mutates=True,
    ),
    ("GET", "/fapi/v1/positionSide/dual"): _signed(_position_mode, 30, _s()),
    ("POST", "/fapi/v1/positionSide/dual"): _signed(
        lambda s, p, n: settings.change_position_mode(s.futures, p, n),
        1,
        _s("dualSidePosition"),
        mutates=True,
    ),
    ("POST", "/fapi/v1/algoOrder"): _signed(
        lambda s, p, n: s.futures.algo.place(p, n), 0, ALGO_PARAMS, mutates=True, orders=1
    ),
    ("DELETE", "/fapi/v1/algoOrder"): _signed(
        lambda s, p, n: s.futures.algo.cancel(p, n), 1, ALGO_ID_PARAMS, mutates=True
    ),
    ("GET", "/fapi/v1/algoOrder"): _signed(
        lambda s, p, n: s.futures.algo.get(p), 1, ALGO_ID_PARAMS
    ),
    ("GET", "/fapi/v1/openAlgoOrders"): _signed(
        lambda s, p, n: s.futures.algo.open_orders(p),
        _weighted(1, 40),
        _s("algoType", "symbol", "algoId"),
    ),
    ("GET", "/fapi/v1/allAlgoOrders"): _signed(
        lambda s, p, n: s.futures.algo.all_orders(p),
        5,
        _s("symbol", "algoId", "startTime", "endTime", "page", "limit"),
    ),
    ("DELETE", "/fapi/v1/algoOpenOrders"): _signed(
        lambda s, p, n: s.futures.algo.cancel_all(p, n), 1, _s("symbol"), mutates=True
    ),
}
