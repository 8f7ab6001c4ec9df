"""The simulated market: symbols and their filters from the bundled snapshot, a seeded random
walk of last prices, an order book around each price, candles and public trades."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from importlib import resources
from itertools import islice
from typing import Any, Protocol

from binance_mcp.paper.numbers import quantize_down

INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 2_592_000_000,  # 30 days: the paper market does not keep a calendar
}

# Per-walk-step volatility (5 basis points), enough for resting orders near the price to fill
# within a few dozen steps.
STEP_VOLATILITY = Decimal("0.0005")
BOOK_LEVELS = 5000


@dataclass(kw_only=True)
class GridFilters:
    """The price and quantity grids spot and futures symbols share (same filter names and
    fields on both APIs)."""

    tick: Decimal = Decimal(0)
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    step: Decimal = Decimal(0)
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(0)
    market_max_qty: Decimal = Decimal(0)

    def read_grid_filter(self, f: dict[str, Any]) -> bool:
        """Takes PRICE_FILTER, LOT_SIZE or MARKET_LOT_SIZE; False for any other filter."""
        kind = f["filterType"]
        if kind == "PRICE_FILTER":
            self.tick = Decimal(f["tickSize"]).normalize()
            self.min_price = Decimal(f["minPrice"])
            self.max_price = Decimal(f["maxPrice"])
        elif kind == "LOT_SIZE":
            self.step = Decimal(f["stepSize"]).normalize()
            self.min_qty = Decimal(f["minQty"])
            self.max_qty = Decimal(f["maxQty"])
        elif kind == "MARKET_LOT_SIZE":
            self.market_max_qty = Decimal(f["maxQty"])
        else:
            return False
        return True


@dataclass
class SymbolSpec(GridFilters):
    symbol: str
    base: str
    quote: str
    base_precision: int
    quote_precision: int
    filters: list[dict[str, Any]]
    seed_price: Decimal
    level_notional: Decimal
    min_notional: Decimal = Decimal(0)
    max_notional: Decimal = Decimal(0)
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    bid_up: Decimal = Decimal(5)
    bid_down: Decimal = Decimal("0.2")
    ask_up: Decimal = Decimal(5)
    ask_down: Decimal = Decimal("0.2")
    max_num_orders: int = 200
    max_num_algo_orders: int = 5

    def __post_init__(self) -> None:
        for f in self.filters:
            kind = f["filterType"]
            if self.read_grid_filter(f):
                continue
            if kind in ("NOTIONAL", "MIN_NOTIONAL"):
                self.min_notional = Decimal(f["minNotional"])
                self.max_notional = Decimal(f.get("maxNotional", "9000000"))
                self.apply_min_to_market = bool(f.get("applyMinToMarket", True))
                self.apply_max_to_market = bool(f.get("applyMaxToMarket", False))
            elif kind == "PERCENT_PRICE_BY_SIDE":
                self.bid_up = Decimal(f["bidMultiplierUp"])
                self.bid_down = Decimal(f["bidMultiplierDown"])
                self.ask_up = Decimal(f["askMultiplierUp"])
                self.ask_down = Decimal(f["askMultiplierDown"])
            elif kind == "MAX_NUM_ORDERS":
                self.max_num_orders = int(f["maxNumOrders"])
            elif kind == "MAX_NUM_ALGO_ORDERS":
                self.max_num_algo_orders = int(f["maxNumAlgoOrders"])


def load_snapshot() -> dict[str, Any]:
    text = resources.files("binance_mcp.paper").joinpath("snapshot.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def spot_specs(snapshot: dict[str, Any]) -> dict[str, SymbolSpec]:
    return {
        name: SymbolSpec(
            symbol=name,
            base=s["baseAsset"],
            quote=s["quoteAsset"],
            base_precision=s["baseAssetPrecision"],
            quote_precision=s["quotePrecision"],
            filters=s["filters"],
            seed_price=Decimal(s["price"]),
            level_notional=Decimal(s["levelNotional"]),
        )
        for name, s in snapshot["spot"].items()
    }


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its inputs (stable across runs and platforms)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class PublicTrade:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    is_buyer_maker: bool


@dataclass
class BookLevel:
    price: Decimal
    qty: Decimal


@dataclass
class Book:
    bids: list[BookLevel]
    asks: list[BookLevel]


@dataclass
class Walk:
    """Last prices moved in whole ticks by a seeded walk; `steps` counts the moves so far."""

    specs: dict[str, SymbolSpec]
    seed: int
    prices: dict[str, Decimal] = field(default_factory=dict)
    steps: int = 0
    trades: dict[str, deque[PublicTrade]] = field(default_factory=dict)
    next_trade_id: int = 1

    def __post_init__(self) -> None:
        for name, spec in self.specs.items():
            self.prices.setdefault(name, spec.seed_price)
            self.trades.setdefault(name, deque(maxlen=1000))

    def step(self, now_ms: int) -> None:
        self.steps += 1
        rng = random.Random(f"{self.seed}:{self.steps}")
        for name, spec in self.specs.items():
            price = self.prices[name]
            sigma_ticks = price / spec.tick * STEP_VOLATILITY
            move = int((Decimal(repr(rng.gauss(0.0, 1.0))) * sigma_ticks).to_integral_value())
            new = price + spec.tick * move
            # Mean reversion keeps a long-running paper market near its snapshot.
            if new < spec.seed_price / 2 or new > spec.seed_price * 2:
                new = price - spec.tick * move
            self.prices[name] = max(new, spec.tick)
            qty = quantize_down(spec.level_notional / price * Decimal(rng.random()) / 50, spec.step)
            self.record_trade(
                name, self.prices[name], max(qty, spec.min_qty), now_ms, rng.random() < 0.5
            )

    def record_trade(
        self, symbol: str, price: Decimal, qty: Decimal, now_ms: int, is_buyer_maker: bool
    ) -> None:
        self.trades[symbol].append(
            PublicTrade(self.next_trade_id, price, qty, now_ms, is_buyer_maker)
        )
        self.next_trade_id += 1

    def book(self, symbol: str, depth: int) -> Book:
        """Levels around the last price; the same for the same price and walk step."""
        return book_around(symbol, self.specs[symbol], self.prices[symbol], self.steps, depth)

    def best(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self.book(symbol, 1)
        return book.bids[0].price, book.asks[0].price

    def taker_levels(self, symbol: str, order_side: str) -> Iterator[BookLevel]:
        return taker_levels(symbol, self.specs[symbol], self.prices[symbol], self.steps, order_side)

    def klines(
        self,
        symbol: str,
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
        now_ms: int,
    ) -> list[list[Any]]:
        rows = candles(
            symbol, self.specs[symbol], self.prices[symbol], interval, start, end, limit, now_ms
        )
        return [c.row(fmt, fmt, fmt) for c in rows]


class Grid(Protocol):
    """What book and candle synthesis need to know of a symbol (spot or futures)."""

    tick: Decimal
    step: Decimal
    min_qty: Decimal
    level_notional: Decimal


# How deep an incoming order may take into the book (the depth Binance's own book answers).
MATCH_DEPTH = 500


def book_side(key: str, grid: Grid, price: Decimal, steps: int, side: str) -> Iterator[BookLevel]:
    """One side ("b" bids, "a" asks) of the book around `price`, best level first; the same for
    the same price and walk step. Lazy, so matching an order computes only the levels it takes."""
    half_spread = max(grid.tick, quantize_down(price * Decimal("0.00002"), grid.tick))
    gap = max(grid.tick, quantize_down(price * Decimal("0.0001"), grid.tick))
    per_level = grid.level_notional / price
    for i in range(BOOK_LEVELS):
        level_price = (
            price - half_spread - gap * i if side == "b" else price + half_spread + gap * i
        )
        if level_price <= 0:
            return
        u = Decimal(str(round(0.3 + 1.4 * _unit(key, steps, side, i), 6)))
        qty = max(quantize_down(per_level * u, grid.step), grid.min_qty)
        yield BookLevel(level_price, qty)


def book_around(key: str, grid: Grid, price: Decimal, steps: int, depth: int) -> Book:
    """Both sides of the book, `depth` levels each."""
    return Book(
        list(islice(book_side(key, grid, price, steps, "b"), depth)),
        list(islice(book_side(key, grid, price, steps, "a"), depth)),
    )


def taker_levels(
    key: str, grid: Grid, price: Decimal, steps: int, order_side: str
) -> Iterator[BookLevel]:
    """The levels an incoming BUY (asks) or SELL (bids) order takes from, best first."""
    side = "a" if order_side == "BUY" else "b"
    return islice(book_side(key, grid, price, steps, side), MATCH_DEPTH)


def history_price(key: str, grid: Grid, price_now: Decimal, t_ms: int, now_ms: int) -> Decimal:
    """Synthetic past prices: smooth deterministic noise over time, anchored so that the
    present is `price_now`. Any window of any interval is cheap to compute, and candles of
    different intervals agree with each other. The anchor is the start of the current minute
    (the present minute is flat), so that two requests a few milliseconds apart see the same
    history."""
    anchor = now_ms - now_ms % 60_000
    ratio = math.exp(_noise(key, min(t_ms, anchor)) - _noise(key, anchor))
    value = price_now * Decimal(repr(ratio))
    return max(value.quantize(grid.tick, rounding=ROUND_HALF_EVEN), grid.tick)


@dataclass
class Candle:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    count: int
    taker_volume: Decimal
    taker_quote_volume: Decimal

    def row(
        self,
        price: Callable[[Decimal], str],
        qty: Callable[[Decimal], str],
        quote: Callable[[Decimal], str],
    ) -> list[Any]:
        """Binance's 12-element kline array, decimals written by the venue's formatters."""
        return [
            self.open_time,
            price(self.open),
            price(self.high),
            price(self.low),
            price(self.close),
            qty(self.volume),
            self.close_time,
            quote(self.quote_volume),
            self.count,
            qty(self.taker_volume),
            quote(self.taker_quote_volume),
            "0",
        ]


def candles(
    key: str,
    grid: Grid,
    price_now: Decimal,
    interval: str,
    start: int | None,
    end: int | None,
    limit: int,
    now_ms: int,
) -> list[Candle]:
    ms = INTERVAL_MS[interval]
    current_open = now_ms - now_ms % ms
    last_open = min(current_open, (end - end % ms) if end is not None else current_open)
    if start is not None:  # Binance counts `limit` candles forward from startTime
        first_open = start + (-start) % ms
        last_open = min(last_open, first_open + (limit - 1) * ms)
    else:
        first_open = last_open - (limit - 1) * ms
    rows: list[Candle] = []
    t = first_open
    while t <= last_open:
        open_ = history_price(key, grid, price_now, t, now_ms)
        close = history_price(key, grid, price_now, min(t + ms, now_ms), now_ms)
        spread = min(0.01, 0.0003 * math.sqrt(ms / 60_000))
        wiggle = Decimal(repr(round(_unit(key, ms, t, "w") * spread, 8)))
        high = (max(open_, close) * (1 + wiggle)).quantize(grid.tick, rounding=ROUND_DOWN)
        low = (min(open_, close) * (1 - wiggle)).quantize(grid.tick, rounding=ROUND_DOWN)
        volume = quantize_down(
            grid.level_notional / close * Decimal(str(round(1 + 20 * _unit(key, ms, t), 6))),
            grid.step,
        )
        quote_volume = (volume * (open_ + close) / 2).quantize(Decimal("0.00000001"))
        count = 100 + int(_unit(key, ms, t, "n") * 900)
        taker = quantize_down(volume * Decimal("0.5"), grid.step)
        rows.append(
            Candle(
                open_time=t,
                open=open_,
                high=max(high, open_, close),
                low=min(low, open_, close),
                close=close,
                volume=volume,
                close_time=t + ms - 1,
                quote_volume=quote_volume,
                count=count,
                taker_volume=taker,
                taker_quote_volume=(taker * close).quantize(Decimal("0.00000001")),
            )
        )
        t += ms
    return rows


# (period in minutes, amplitude in log-price): minute jitter up to monthly swings.
NOISE_OCTAVES = ((1, 0.0004), (15, 0.002), (240, 0.008), (1440, 0.02), (10080, 0.04), (43200, 0.06))


def _noise(symbol: str, t_ms: int) -> float:
    minutes = t_ms / 60_000
    total = 0.0
    for period, amplitude in NOISE_OCTAVES:
        cell = math.floor(minutes / period)
        frac = minutes / period - cell
        a = _unit(symbol, period, cell) * 2 - 1
        b = _unit(symbol, period, cell + 1) * 2 - 1
        smooth = frac * frac * (3 - 2 * frac)
        total += amplitude * (a + (b - a) * smooth)
    return total


def fmt(value: Decimal) -> str:
    """Binance's wire format for decimals: fixed point with eight places."""
    return f"{value:.8f}"
