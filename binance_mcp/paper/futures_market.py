"""The USD-M perpetual market: contract specs and leverage brackets from the bundled snapshot,
and the prices derived from the spot walk of the same symbol.

- index price: the spot walk's last price (the paper market has one venue to index);
- last (contract) price: index x (1 + basis), on the contract's tick;
- mark price: index x (1 + basis) to eight places, so it moves with the walk without the
  contract tick's rounding;
- funding: every 8 hours (00:00, 08:00, 16:00 UTC) at the symbol's rate from the snapshot
  plus a small deterministic wobble per funding time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from binance_mcp.paper.market import (
    Book,
    BookLevel,
    Candle,
    GridFilters,
    SymbolSpec,
    Walk,
    _unit,
    book_around,
    candles,
    taker_levels,
)

FUNDING_INTERVAL_MS = 8 * 3_600_000
EIGHT_PLACES = Decimal("0.00000001")
# Half-width of the deterministic wobble around a symbol's funding rate.
FUNDING_WOBBLE = Decimal("0.00002")
INTEREST_RATE = Decimal("0.0001")


@dataclass(frozen=True)
class Bracket:
    bracket: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    cum: Decimal

    def wire(self) -> dict[str, Any]:
        # Binance sends the bracket table as JSON numbers, not strings.
        return {
            "bracket": self.bracket,
            "initialLeverage": self.initial_leverage,
            "notionalCap": int(self.cap),
            "notionalFloor": int(self.floor),
            "maintMarginRatio": float(self.mmr),
            "cum": float(self.cum),
        }


@dataclass
class FuturesSpec(GridFilters):
    symbol: str
    base: str
    quote: str
    info: dict[str, Any]
    filters: list[dict[str, Any]]
    brackets: list[Bracket]
    basis: Decimal
    funding_rate: Decimal
    level_notional: Decimal
    price_precision: int = 0
    quantity_precision: int = 0
    min_notional: Decimal = Decimal(0)
    multiplier_up: Decimal = Decimal(0)
    multiplier_down: Decimal = Decimal(0)
    max_num_orders: int = 200
    max_num_algo_orders: int = 10

    def __post_init__(self) -> None:
        self.price_precision = int(self.info["pricePrecision"])
        self.quantity_precision = int(self.info["quantityPrecision"])
        for f in self.filters:
            kind = f["filterType"]
            if self.read_grid_filter(f):
                continue
            if kind == "MIN_NOTIONAL":
                self.min_notional = Decimal(f["notional"])
            elif kind == "PERCENT_PRICE":
                self.multiplier_up = Decimal(f["multiplierUp"])
                self.multiplier_down = Decimal(f["multiplierDown"])
            elif kind == "MAX_NUM_ORDERS":
                self.max_num_orders = int(f["limit"])
            elif kind == "MAX_NUM_ALGO_ORDERS":
                self.max_num_algo_orders = int(f["limit"])

    # ----- wire formats: prices on the contract's precision, quantities on its step -------

    def price_str(self, value: Decimal) -> str:
        return f"{value:.{self.price_precision}f}"

    def qty_str(self, value: Decimal) -> str:
        return f"{value:.{self.quantity_precision}f}"

    # ----- leverage brackets ---------------------------------------------------------------

    def bracket_for(self, notional: Decimal) -> Bracket:
        """The bracket a position of this (absolute) notional falls in."""
        for b in self.brackets:
            if notional < b.cap:
                return b
        return self.brackets[-1]

    def max_notional(self, leverage: int) -> Decimal:
        """The largest position notional allowed at this leverage."""
        caps = [b.cap for b in self.brackets if b.initial_leverage >= leverage]
        return max(caps) if caps else Decimal(0)

    def maint_margin(self, notional: Decimal) -> Decimal:
        b = self.bracket_for(notional)
        return max(notional * b.mmr - b.cum, Decimal(0))


def futures_specs(snapshot: dict[str, Any], spot: dict[str, SymbolSpec]) -> dict[str, FuturesSpec]:
    specs: dict[str, FuturesSpec] = {}
    for name, s in snapshot.get("futures", {}).items():
        if name not in spot:
            raise ValueError(f"perpetual {name} needs a spot symbol to follow")
        specs[name] = FuturesSpec(
            symbol=name,
            base=s["baseAsset"],
            quote=s["quoteAsset"],
            info=s,
            filters=s["filters"],
            brackets=[
                Bracket(
                    bracket=b["bracket"],
                    initial_leverage=b["initialLeverage"],
                    floor=Decimal(b["notionalFloor"]),
                    cap=Decimal(b["notionalCap"]),
                    mmr=Decimal(b["maintMarginRatio"]),
                    cum=Decimal(b["cum"]),
                )
                for b in s["brackets"]
            ],
            basis=Decimal(s["basis"]),
            funding_rate=Decimal(s["fundingRate"]),
            level_notional=Decimal(s["levelNotional"]),
        )
    return specs


@dataclass
class FuturesMarket:
    """Contract prices, book and candles, all derived from the spot walk."""

    specs: dict[str, FuturesSpec]
    walk: Walk

    def index(self, symbol: str) -> Decimal:
        return self.walk.prices[symbol]

    def last(self, symbol: str) -> Decimal:
        spec = self.specs[symbol]
        raw = self.index(symbol) * (1 + spec.basis)
        return max(raw.quantize(spec.tick, rounding=ROUND_HALF_EVEN), spec.tick)

    def mark(self, symbol: str) -> Decimal:
        spec = self.specs[symbol]
        return (self.index(symbol) * (1 + spec.basis)).quantize(EIGHT_PLACES)

    def book(self, symbol: str, depth: int) -> Book:
        # A different key from the spot book's: the contract's book is its own.
        return book_around(
            symbol + ":PERP", self.specs[symbol], self.last(symbol), self.walk.steps, depth
        )

    def best(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self.book(symbol, 1)
        return book.bids[0].price, book.asks[0].price

    def taker_levels(self, symbol: str, order_side: str) -> Iterator[BookLevel]:
        return taker_levels(
            symbol + ":PERP", self.specs[symbol], self.last(symbol), self.walk.steps, order_side
        )

    def candles(
        self,
        symbol: str,
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
        now_ms: int,
        price_now: Decimal | None = None,
    ) -> list[Candle]:
        # Keyed like the spot symbol so that contract history tracks spot history plus basis.
        spec = self.specs[symbol]
        now_price = self.last(symbol) if price_now is None else price_now
        return candles(symbol, spec, now_price, interval, start, end, limit, now_ms)

    # ----- funding -------------------------------------------------------------------------

    @staticmethod
    def next_funding_time(now_ms: int) -> int:
        return now_ms - now_ms % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS

    def funding_rate(self, symbol: str, funding_time: int) -> Decimal:
        """The rate settled at `funding_time` (the same answer every time it is asked)."""
        spec = self.specs[symbol]
        wobble = (Decimal(repr(_unit(symbol, "funding", funding_time))) * 2 - 1) * FUNDING_WOBBLE
        return (spec.funding_rate + wobble).quantize(EIGHT_PLACES)
