"""A symbol's trading rules as read from exchange info, and the local check of an order against
them.

An order that breaks a filter is rejected before it leaves, with what was wrong and the nearest
valid values; nothing is rounded silently. The same check answers
`binance_check_order_precision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

Market = Literal["spot", "futures"]


def dec_str(value: Decimal) -> str:
    """Plain decimal notation, never an exponent: Binance rejects '1E-7'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def dec_or_none(value: Decimal | None) -> str | None:
    return None if value is None else dec_str(value)


@dataclass(frozen=True)
class Grid:
    """Values from `low` to `high` in steps of `step` from `low` (a zero bound or step: none)."""

    low: Decimal
    high: Decimal
    step: Decimal

    def on_grid(self, value: Decimal) -> bool:
        return self.step == 0 or (value - self.low) % self.step == 0

    def in_range(self, value: Decimal) -> bool:
        return (self.low == 0 or value >= self.low) and (self.high == 0 or value <= self.high)

    def snap(self, value: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        """The grid value nearest to `value` (or below/above it with ROUND_FLOOR/CEILING),
        clamped into the range."""
        if self.step != 0:
            steps = ((value - self.low) / self.step).to_integral_value(rounding=rounding)
            value = self.low + steps * self.step
        if self.low != 0 and value < self.low:
            value = self.low
        if self.high != 0 and value > self.high:
            value = self.high
        return value.normalize() if value != 0 else Decimal(0)


@dataclass(frozen=True)
class FilterCheck:
    filter: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class SymbolRules:
    market: Market
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    price: Grid | None
    quantity: Grid | None
    market_quantity: Grid | None
    min_notional: Decimal | None
    min_notional_on_market: bool
    max_notional: Decimal | None
    max_notional_on_market: bool
    # (down, up) multipliers of the reference price a limit price must stay within, per side.
    percent_price: Mapping[str, tuple[Decimal, Decimal]]
    max_num_orders: int | None
    max_num_algo_orders: int | None
    order_types: tuple[str, ...]
    filters: tuple[Mapping[str, Any], ...] = field(repr=False)

    @classmethod
    def from_exchange_info(cls, market: Market, info: Mapping[str, Any]) -> SymbolRules:
        by_type = {f["filterType"]: f for f in info.get("filters", [])}

        def grid(name: str, low: str, high: str, step: str) -> Grid | None:
            f = by_type.get(name)
            if f is None:
                return None
            return Grid(Decimal(f[low]), Decimal(f[high]), Decimal(f[step]))

        percent: dict[str, tuple[Decimal, Decimal]] = {}
        if (f := by_type.get("PERCENT_PRICE_BY_SIDE")) is not None:
            percent["BUY"] = (Decimal(f["bidMultiplierDown"]), Decimal(f["bidMultiplierUp"]))
            percent["SELL"] = (Decimal(f["askMultiplierDown"]), Decimal(f["askMultiplierUp"]))
        elif (f := by_type.get("PERCENT_PRICE")) is not None:
            both = (Decimal(f["multiplierDown"]), Decimal(f["multiplierUp"]))
            percent = {"BUY": both, "SELL": both}

        min_notional = max_notional = None
        min_on_market = max_on_market = market == "futures"
        if (f := by_type.get("NOTIONAL")) is not None:
            min_notional, max_notional = Decimal(f["minNotional"]), Decimal(f["maxNotional"])
            min_on_market = bool(f.get("applyMinToMarket", True))
            max_on_market = bool(f.get("applyMaxToMarket", False))
        elif (f := by_type.get("MIN_NOTIONAL")) is not None:
            min_notional = Decimal(f.get("notional") or f.get("minNotional") or "0")
            min_on_market = bool(f.get("applyToMarket", True))

        def limit(name: str, *keys: str) -> int | None:
            f = by_type.get(name)
            if f is None:
                return None
            return next((int(f[k]) for k in keys if k in f), None)

        return cls(
            market=market,
            symbol=str(info["symbol"]),
            status=str(info.get("status", "TRADING")),
            base_asset=str(info.get("baseAsset", "")),
            quote_asset=str(info.get("quoteAsset", "")),
            price=grid("PRICE_FILTER", "minPrice", "maxPrice", "tickSize"),
            quantity=grid("LOT_SIZE", "minQty", "maxQty", "stepSize"),
            market_quantity=grid("MARKET_LOT_SIZE", "minQty", "maxQty", "stepSize"),
            min_notional=min_notional,
            min_notional_on_market=min_on_market,
            max_notional=max_notional,
            max_notional_on_market=max_on_market,
            percent_price=percent,
            max_num_orders=limit("MAX_NUM_ORDERS", "maxNumOrders", "limit"),
            max_num_algo_orders=limit("MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders", "limit"),
            order_types=tuple(info.get("orderTypes", ())),
            filters=tuple(info.get("filters", ())),
        )

    # --- nearest valid values --------------------------------------------------------------

    def nearest_price(self, price: Decimal) -> Decimal:
        return self.price.snap(price) if self.price is not None else price

    def nearest_quantity(
        self, quantity: Decimal, price: Decimal | None, is_market: bool
    ) -> Decimal:
        """The valid quantity closest to `quantity`, raised to the minimum notional at `price`
        when the closest one would fall short."""
        grid = self._quantity_grid(is_market)
        if grid is None:
            return quantity
        nearest = grid.snap(quantity)
        if nearest == 0 and grid.step != 0:
            nearest = grid.snap(grid.step, ROUND_CEILING)
        floor = self.min_notional if self._notional_applies(is_market) else None
        if floor and price and nearest * price < floor:
            nearest = grid.snap(floor / price, ROUND_CEILING)
        return nearest

    def floor_quantity(self, quantity: Decimal, is_market: bool) -> Decimal:
        grid = self._quantity_grid(is_market)
        if grid is None or grid.step == 0:
            return quantity
        steps = ((quantity - grid.low) / grid.step).to_integral_value(rounding=ROUND_FLOOR)
        value = grid.low + steps * grid.step
        return value.normalize() if value > 0 else Decimal(0)

    def _quantity_grid(self, is_market: bool) -> Grid | None:
        grid = self.quantity
        if is_market and self.market_quantity is not None and self.market_quantity.step != 0:
            grid = self.market_quantity
        return grid

    def _notional_applies(self, is_market: bool) -> bool:
        return self.min_notional is not None and (not is_market or self.min_notional_on_market)

    # --- the check -----------------------------------------------------------------------------

    def check(
        self,
        *,
        side: str,
        is_market: bool,
        price: Decimal | None,
        quantity: Decimal | None,
        stop_price: Decimal | None,
        reference_price: Decimal | None,
        reduce_only: bool = False,
    ) -> list[FilterCheck]:
        """Each filter that applies to this order, passed or failed. `price` is the limit price
        (None for market orders); `reference_price` the current price used for market notional
        and percent-price bounds (None when unknown: those checks are skipped)."""
        checks: list[FilterCheck] = []
        if self.price is not None:
            for label, value in (("price", price), ("stopPrice", stop_price)):
                if value is not None:
                    checks.append(_grid_check("PRICE_FILTER", label, value, self.price, "tick"))
        if quantity is not None:
            if self.quantity is not None:
                checks.append(_grid_check("LOT_SIZE", "quantity", quantity, self.quantity, "step"))
            if is_market and self.market_quantity is not None:
                checks.append(
                    _grid_check(
                        "MARKET_LOT_SIZE", "quantity", quantity, self.market_quantity, "step"
                    )
                )
        notional_price = price if price is not None else reference_price
        if quantity is not None and notional_price is not None:
            notional = quantity * notional_price
            checks.extend(self._notional_checks(notional, is_market, reduce_only))
        if price is not None and reference_price is not None and side in self.percent_price:
            down, up = self.percent_price[side]
            low, high = reference_price * down, reference_price * up
            ok = low <= price <= high
            name = "PERCENT_PRICE_BY_SIDE" if self.market == "spot" else "PERCENT_PRICE"
            checks.append(
                FilterCheck(
                    name,
                    ok,
                    f"price {dec_str(price)} must be within {dec_str(down)}x-{dec_str(up)}x of the "
                    f"current price {dec_str(reference_price)} for a {side}: "
                    f"{dec_str(self.nearest_price(low))} to {dec_str(self.nearest_price(high))}",
                )
            )
        return checks

    def _notional_checks(
        self, notional: Decimal, is_market: bool, reduce_only: bool
    ) -> list[FilterCheck]:
        name = "NOTIONAL" if self.market == "spot" else "MIN_NOTIONAL"
        checks: list[FilterCheck] = []
        if self.min_notional and self._notional_applies(is_market) and not reduce_only:
            ok = notional >= self.min_notional
            checks.append(
                FilterCheck(
                    name,
                    ok,
                    f"notional {dec_str(notional)} "
                    f"{self.quote_asset} must be at least {dec_str(self.min_notional)}",
                )
            )
        if self.max_notional and (not is_market or self.max_notional_on_market):
            ok = notional <= self.max_notional
            checks.append(
                FilterCheck(
                    name,
                    ok,
                    f"notional {dec_str(notional)} "
                    f"{self.quote_asset} must be at most {dec_str(self.max_notional)}",
                )
            )
        return checks


def _grid_check(name: str, label: str, value: Decimal, grid: Grid, unit: str) -> FilterCheck:
    problems = []
    if not grid.in_range(value):
        bounds = []
        if grid.low != 0:
            bounds.append(f"at least {dec_str(grid.low)}")
        if grid.high != 0:
            bounds.append(f"at most {dec_str(grid.high)}")
        problems.append(" and ".join(bounds))
    if not grid.on_grid(value):
        problems.append(f"a multiple of the {unit} size {dec_str(grid.step)}")
    if not problems:
        return FilterCheck(name, True, f"{label} {dec_str(value)} is valid")
    below = grid.snap(value, ROUND_FLOOR)
    above = grid.snap(value, ROUND_CEILING)
    nearest = dec_str(below) if below == above else f"{dec_str(below)} or {dec_str(above)}"
    return FilterCheck(
        name,
        False,
        f"{label} {dec_str(value)} must be {' and '.join(problems)}; nearest valid: {nearest}",
    )


def failures_text(
    symbol: str, checks: list[FilterCheck], lead: str = "order not sent"
) -> str | None:
    """One line naming every failed filter with its nearest valid values, or None if all pass."""
    failed = [f"{c.filter}: {c.detail}" for c in checks if not c.ok]
    if not failed:
        return None
    return f"{lead}: {symbol} " + "; ".join(failed)
