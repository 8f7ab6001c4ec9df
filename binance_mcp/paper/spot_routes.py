"""The spot REST endpoints (`/api/v3/...`, and the key's permissions under `/sapi`): which
parameters each reads, what it weighs, and the answer it gives, in Binance's shapes."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from binance_mcp.paper import errors as E
from binance_mcp.paper import tape
from binance_mcp.paper.cancel_replace import CANCEL_PARAMS, cancel_replace
from binance_mcp.paper.errors import BinanceError, mandatory
from binance_mcp.paper.market import INTERVAL_MS, SymbolSpec, fmt
from binance_mcp.paper.params import Params
from binance_mcp.paper.routing import Endpoint, Routes
from binance_mcp.paper.state import PaperState

ORDER_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "quoteOrderQty",
        "price",
        "newClientOrderId",
        "stopPrice",
        "newOrderRespType",
        "selfTradePreventionMode",
    }
)
ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def _symbols(state: PaperState, p: Params) -> list[SymbolSpec] | None:
    """One symbol, a list, or None for all; unknown names fail as on Binance."""
    if "symbol" in p and "symbols" in p:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    names = [p.required("symbol")] if "symbol" in p else p.symbols()
    if names is None:
        return None
    specs = []
    for name in names:
        spec = state.spot_specs.get(name)
        if spec is None:
            raise E.err(E.INVALID_SYMBOL)
        specs.append(spec)
    return specs


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": spec.base_precision,
        "quoteAsset": spec.quote,
        "quotePrecision": spec.quote_precision,
        "quoteAssetPrecision": spec.quote_precision,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        # Only what this exchange serves is advertised, so a client that reads these flags
        # does not try the rest: order lists (OCO, OTO, OTOCO) and cancelReplace are served;
        # icebergQty, trailingDelta and amend (keepPriority) are not.
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": spec.filters,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(state: PaperState, p: Params, now: int) -> Any:
    specs = _symbols(state, p) or list(state.spot_specs.values())
    return {
        "timezone": "UTC",
        "serverTime": now,
        # The limits this exchange enforces (Binance's unless `--limits` changed them).
        "rateLimits": [
            {**RATE_LIMITS[0], "limit": state.weights.effective_limit},
            *state.spot_order_counts.wire(),
            RATE_LIMITS[3],
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(s) for s in specs],
    }


def ticker_price(state: PaperState, p: Params, now: int) -> Any:
    specs = _symbols(state, p)
    rows = [
        {"symbol": s.symbol, "price": fmt(state.walk.prices[s.symbol])}
        for s in (specs or state.spot_specs.values())
    ]
    return rows[0] if "symbol" in p else rows


def _ticker_24h(state: PaperState, spec: SymbolSpec, now: int, mini: bool) -> dict[str, Any]:
    candles = state.walk.klines(spec.symbol, "1h", None, now, 24, now)
    open_ = Decimal(candles[0][1])
    last = state.walk.prices[spec.symbol]
    high = max([Decimal(c[2]) for c in candles] + [last])
    low = min([Decimal(c[3]) for c in candles] + [last])
    volume = sum((Decimal(c[5]) for c in candles), Decimal(0))
    quote_volume = sum((Decimal(c[7]) for c in candles), Decimal(0))
    count = sum(int(c[8]) for c in candles)
    open_time, close_time = now - 86_400_000, now
    tape = state.walk.trades[spec.symbol]
    last_id = tape[-1].id if tape else -1
    row: dict[str, Any] = {"symbol": spec.symbol}
    if not mini:
        top = state.walk.book(spec.symbol, 1)
        bid, ask = top.bids[0], top.asks[0]
        change = last - open_
        weighted = (quote_volume / volume).quantize(Decimal("0.00000001")) if volume else last
        row |= {
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_ * 100):.3f}",
            "weightedAvgPrice": fmt(weighted),
            "prevClosePrice": fmt(open_),
            "lastPrice": fmt(last),
            "lastQty": fmt(
                state.walk.trades[spec.symbol][-1].qty
                if state.walk.trades[spec.symbol]
                else Decimal(0)
            ),
            "bidPrice": fmt(bid.price),
            "bidQty": fmt(bid.qty),
            "askPrice": fmt(ask.price),
            "askQty": fmt(ask.qty),
        }
    else:
        row["lastPrice"] = fmt(last)
    row |= {
        "openPrice": fmt(open_),
        "highPrice": fmt(high),
        "lowPrice": fmt(low),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": open_time,
        "closeTime": close_time,
    }
    return row | _trade_ids(last_id, count)


def _trade_ids(last_id: int, count: int) -> dict[str, int]:
    """The window's trades as Binance numbers them: `count` = lastId - firstId + 1, at most the
    trades the tape has had; none is -1, -1, 0."""
    if last_id < 0:
        return {"firstId": -1, "lastId": -1, "count": 0}
    first_id = max(0, last_id - count + 1)
    return {"firstId": first_id, "lastId": last_id, "count": last_id - first_id + 1}


def _mini(p: Params) -> bool:
    return (
        p.choice(
            "type",
            ("FULL", "MINI"),
            -1100,
            "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'.",
        )
        == "MINI"
    )


def ticker_24h(state: PaperState, p: Params, now: int) -> Any:
    mini = _mini(p)
    specs = _symbols(state, p)
    rows = [_ticker_24h(state, s, now, mini) for s in (specs or state.spot_specs.values())]
    return rows[0] if "symbol" in p else rows


# windowSize of the rolling-window ticker: 1m..59m, 1h..23h, 1d..7d, units not combined.
WINDOW_UNITS = {"m": (59, 60_000), "h": (23, 3_600_000), "d": (7, 86_400_000)}
MAX_TICKER_SYMBOLS = 100


def _window_ms(p: Params) -> int:
    raw = p.text("windowSize") or "1d"
    amount, unit = raw[:-1], raw[-1:]
    if unit in WINDOW_UNITS and amount.isdigit() and not amount.startswith("0"):
        most, unit_ms = WINDOW_UNITS[unit]
        if 1 <= int(amount) <= most:
            return int(amount) * unit_ms
    raise BinanceError(
        -1100,
        "Illegal characters found in parameter 'windowSize'; legal range is "
        "'1m..59m, 1h..23h, 1d..7d'.",
    )


def _rolling(
    state: PaperState, spec: SymbolSpec, now: int, window_ms: int, mini: bool
) -> dict[str, Any]:
    # openTime starts on a minute, closeTime is now (Binance: up to 59 999 ms wider).
    open_time = now - now % 60_000 - window_ms
    interval = "1m" if window_ms < 3_600_000 else "1h"
    count_candles = window_ms // INTERVAL_MS[interval] + 1
    candles = state.walk.klines(spec.symbol, interval, None, now, count_candles, now)
    open_ = Decimal(candles[0][1])
    last = state.walk.prices[spec.symbol]
    high = max([Decimal(c[2]) for c in candles] + [last])
    low = min([Decimal(c[3]) for c in candles] + [last])
    volume = sum((Decimal(c[5]) for c in candles), Decimal(0))
    quote_volume = sum((Decimal(c[7]) for c in candles), Decimal(0))
    count = sum(int(c[8]) for c in candles)
    tape = state.walk.trades[spec.symbol]
    last_id = tape[-1].id if tape else -1
    row: dict[str, Any] = {"symbol": spec.symbol}
    if not mini:
        change = last - open_
        weighted = (quote_volume / volume).quantize(Decimal("0.00000001")) if volume else last
        row |= {
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_ * 100):.3f}",
            "weightedAvgPrice": fmt(weighted),
        }
    return (
        row
        | {
            "openPrice": fmt(open_),
            "highPrice": fmt(high),
            "lowPrice": fmt(low),
            "lastPrice": fmt(last),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume),
            "openTime": open_time,
            "closeTime": now,
        }
        | _trade_ids(last_id, count)
    )


def rolling_ticker(state: PaperState, p: Params, now: int) -> Any:
    """GET /api/v3/ticker: price change statistics over a window of the caller's choosing."""
    if "symbol" not in p and "symbols" not in p:
        raise mandatory("symbol")
    if len(p.symbols() or []) > MAX_TICKER_SYMBOLS:
        raise BinanceError(
            -1101,
            f"Too many values sent for parameter 'symbols', maximum allowed is {MAX_TICKER_SYMBOLS}.",
        )
    mini, window_ms = _mini(p), _window_ms(p)
    specs = _symbols(state, p) or []
    rows = [_rolling(state, s, now, window_ms, mini) for s in specs]
    return rows[0] if "symbol" in p else rows


def _rolling_weight(p: Params) -> int:
    # 4 a symbol whatever the window, capped at 200 past 50 symbols.
    try:
        n = len(p.symbols() or []) if "symbols" in p else 1
    except BinanceError:
        n = 1
    return min(4 * max(n, 1), 200)


def book_ticker(state: PaperState, p: Params, now: int) -> Any:
    rows = []
    for s in _symbols(state, p) or state.spot_specs.values():
        top = state.walk.book(s.symbol, 1)
        bid, ask = top.bids[0], top.asks[0]
        rows.append(
            {
                "symbol": s.symbol,
                "bidPrice": fmt(bid.price),
                "bidQty": fmt(bid.qty),
                "askPrice": fmt(ask.price),
                "askQty": fmt(ask.qty),
            }
        )
    return rows[0] if "symbol" in p else rows


def commission(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    rate, zero = fmt(Decimal("0.001")), fmt(Decimal(0))
    return {
        "symbol": spec.symbol,
        "standardCommission": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
        "specialCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "taxCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "discount": {
            "enabledForAccount": False,
            "enabledForSymbol": False,
            "discountAsset": "BNB",
            "discount": "0.25000000",
        },
    }


def _ticker_weight(p: Params) -> int:
    if "symbol" in p:
        return 2
    if "symbols" in p:
        n = len(p.symbols() or [])
        return 2 if n <= 20 else 40 if n <= 100 else 80
    return 80


def depth(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    book = state.walk.book(spec.symbol, p.limit(100, 5000))
    return {
        "lastUpdateId": 1_000_000 + state.walk.steps,
        "bids": [[fmt(level.price), fmt(level.qty)] for level in book.bids],
        "asks": [[fmt(level.price), fmt(level.qty)] for level in book.asks],
    }


def _depth_weight(p: Params) -> int:
    try:
        limit = p.limit(100, 5000)
    except BinanceError:
        return 5
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def klines(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    interval = p.text("interval")
    if interval is None:
        raise mandatory("interval")
    if interval not in INTERVAL_MS:
        raise BinanceError(-1120, "Invalid interval.")
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    return state.walk.klines(spec.symbol, interval, start, end, p.limit(500, 1000), now)


def trades(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    rows = list(state.walk.trades[spec.symbol])[-p.limit(500, 1000) :]
    return [
        {
            "id": t.id,
            "price": fmt(t.price),
            "qty": fmt(t.qty),
            "quoteQty": fmt(t.price * t.qty),
            "time": t.time,
            "isBuyerMaker": t.is_buyer_maker,
            "isBestMatch": True,
        }
        for t in rows
    ]


def agg_trades(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    rows = tape.select(state.walk.trades[spec.symbol], p)
    return tape.agg_rows(rows, lambda t: fmt(t.price), lambda t: fmt(t.qty), best_match=True)


def avg_price(state: PaperState, p: Params, now: int) -> Any:
    spec = state.spot.spec(p.text("symbol"))
    return {"mins": 5, "price": fmt(state.walk.prices[spec.symbol]), "closeTime": now}


def account(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.account_info(p, now)


def new_order(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.place(p, now, test=False)


def test_order(state: PaperState, p: Params, now: int) -> Any:
    state.spot.place(p, now, test=True)
    if p.text("computeCommissionRates") == "true":
        rate = fmt(Decimal("0.001"))
        return {
            "standardCommissionForOrder": {"maker": rate, "taker": rate},
            "taxCommissionForOrder": {"maker": fmt(Decimal(0)), "taker": fmt(Decimal(0))},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": "0.25000000",
            },
        }
    return {}


def cancel_order(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.cancel(p, now)


def replace_order(state: PaperState, p: Params, now: int) -> Any:
    return cancel_replace(state.spot, p, now)


def get_order(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.find(p, E.NO_SUCH_ORDER).wire()


def open_orders(state: PaperState, p: Params, now: int) -> Any:
    return [o.wire() for o in state.spot.open_orders(p.text("symbol"))]


def cancel_open_orders(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.cancel_all(p, now)


def all_orders(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.all_orders(p)


def my_trades(state: PaperState, p: Params, now: int) -> Any:
    return state.spot.my_trades(p)


# When the paper keys came to be, as far as the exchange can tell: they are generated at each
# start unless the user gives their own.
_STARTED_MS = int(time.time() * 1000)


def api_restrictions(state: PaperState, p: Params, now: int) -> Any:
    """The key's permissions (a /sapi wallet endpoint on Binance, served from the spot host as
    there). Paper keys read and trade spot and futures and can never withdraw or transfer; a
    test may report otherwise through `PaperConfig.api_restrictions`."""
    return {
        "ipRestrict": False,
        "createTime": _STARTED_MS,
        "enableReading": True,
        "enableWithdrawals": False,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": True,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": True,
        "enablePortfolioMarginTrading": False,
        **(state.config.api_restrictions or {}),
    }


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


SPOT_ROUTES: Routes = {
    ("GET", "/api/v3/ping"): Endpoint(lambda s, p, n: {}, 1, False, _s()),
    ("GET", "/api/v3/time"): Endpoint(lambda s, p, n: {"serverTime": n}, 1, False, _s()),
    ("GET", "/api/v3/exchangeInfo"): Endpoint(
        exchange_info,
        20,
        False,
        _s("symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"),
    ),
    ("GET", "/api/v3/ticker/price"): Endpoint(
        ticker_price, lambda p: 2 if "symbol" in p else 4, False, _s("symbol", "symbols")
    ),
    ("GET", "/api/v3/ticker/24hr"): Endpoint(
        ticker_24h, _ticker_weight, False, _s("symbol", "symbols", "type")
    ),
    ("GET", "/api/v3/ticker/bookTicker"): Endpoint(
        book_ticker, lambda p: 2 if "symbol" in p else 4, False, _s("symbol", "symbols")
    ),
    ("GET", "/api/v3/depth"): Endpoint(depth, _depth_weight, False, _s("symbol", "limit")),
    ("GET", "/api/v3/uiKlines"): Endpoint(
        klines, 2, False, _s("symbol", "interval", "startTime", "endTime", "limit", "timeZone")
    ),
    ("GET", "/api/v3/account/commission"): Endpoint(commission, 20, True, _s("symbol")),
    ("GET", "/api/v3/rateLimit/order"): Endpoint(
        lambda s, p, n: s.spot_order_counts.usage(n), 40, True, _s()
    ),
    ("GET", "/api/v3/klines"): Endpoint(
        klines, 2, False, _s("symbol", "interval", "startTime", "endTime", "limit", "timeZone")
    ),
    ("GET", "/api/v3/trades"): Endpoint(trades, 25, False, _s("symbol", "limit")),
    ("GET", "/api/v3/aggTrades"): Endpoint(
        agg_trades, 4, False, _s("symbol", "fromId", "startTime", "endTime", "limit")
    ),
    ("GET", "/api/v3/ticker"): Endpoint(
        rolling_ticker, _rolling_weight, False, _s("symbol", "symbols", "windowSize", "type")
    ),
    ("GET", "/api/v3/avgPrice"): Endpoint(avg_price, 2, False, _s("symbol")),
    ("GET", "/api/v3/account"): Endpoint(account, 20, True, _s("omitZeroBalances")),
    ("POST", "/api/v3/order"): Endpoint(new_order, 1, True, ORDER_PARAMS, mutates=True, orders=1),
    ("POST", "/api/v3/order/test"): Endpoint(
        test_order,
        lambda p: 20 if p.text("computeCommissionRates") == "true" else 1,
        True,
        ORDER_PARAMS | {"computeCommissionRates"},
    ),
    ("DELETE", "/api/v3/order"): Endpoint(
        cancel_order,
        1,
        True,
        _s("symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"),
        mutates=True,
    ),
    ("POST", "/api/v3/order/cancelReplace"): Endpoint(
        replace_order, 1, True, ORDER_PARAMS | CANCEL_PARAMS, mutates=True, orders=1
    ),
    ("GET", "/api/v3/order"): Endpoint(
        get_order, 4, True, _s("symbol", "orderId", "origClientOrderId")
    ),
    ("GET", "/api/v3/openOrders"): Endpoint(
        open_orders, lambda p: 6 if "symbol" in p else 80, True, _s("symbol")
    ),
    ("DELETE", "/api/v3/openOrders"): Endpoint(
        cancel_open_orders, 1, True, _s("symbol"), mutates=True
    ),
    ("GET", "/api/v3/allOrders"): Endpoint(
        all_orders, 20, True, _s("symbol", "orderId", "startTime", "endTime", "limit")
    ),
    ("GET", "/api/v3/myTrades"): Endpoint(
        my_trades,
        lambda p: 5 if "orderId" in p else 20,
        True,
        _s("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
    ),
    ("GET", "/sapi/v1/account/apiRestrictions"): Endpoint(api_restrictions, 1, True, _s()),
}
