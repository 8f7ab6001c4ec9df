"""Binance's symbol filters applied to a new order, failing with Binance's messages in the
order Binance checks them: spot's -1013 `Filter failure: ...`, USD-M's own -40xx codes."""

from __future__ import annotations

from decimal import Decimal

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import filter_failure
from binance_mcp.paper.futures_market import FuturesSpec
from binance_mcp.paper.market import SymbolSpec
from binance_mcp.paper.numbers import on_grid

MARKET_PRICED = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")


def _price_ok(spec: SymbolSpec, price: Decimal) -> bool:
    return (
        (spec.min_price == 0 or price >= spec.min_price)
        and (spec.max_price == 0 or price <= spec.max_price)
        and on_grid(price, spec.min_price, spec.tick)
    )


def check_spot_order(
    spec: SymbolSpec,
    *,
    side: str,
    kind: str,
    quantity: Decimal | None,
    quote_qty: Decimal | None,
    price: Decimal | None,
    stop: Decimal | None,
    reference: Decimal,
    open_orders: int,
    open_stops: int,
) -> None:
    """`reference` stands in for Binance's average price (the paper market has one price)."""
    for value in (price, stop):
        if value is not None and not _price_ok(spec, value):
            raise filter_failure("PRICE_FILTER")
    if price is not None:
        up, down = (spec.bid_up, spec.bid_down) if side == "BUY" else (spec.ask_up, spec.ask_down)
        if price > reference * up or price < reference * down:
            raise filter_failure("PERCENT_PRICE_BY_SIDE")
    if quantity is not None:
        if quantity < spec.min_qty or quantity > spec.max_qty:
            raise filter_failure("LOT_SIZE")
        if not on_grid(quantity, spec.min_qty, spec.step):
            raise filter_failure("LOT_SIZE")
        if kind in MARKET_PRICED and spec.market_max_qty and quantity > spec.market_max_qty:
            raise filter_failure("MARKET_LOT_SIZE")
    is_market = kind in MARKET_PRICED
    if quote_qty is not None:
        notional = quote_qty
    else:
        assert quantity is not None
        notional = quantity * (
            price if price is not None else (stop if kind != "MARKET" and stop else reference)
        )
    if (not is_market or spec.apply_min_to_market) and notional < spec.min_notional:
        raise filter_failure("NOTIONAL")
    if (
        (not is_market or spec.apply_max_to_market)
        and spec.max_notional
        and notional > spec.max_notional
    ):
        raise filter_failure("NOTIONAL")
    if open_orders >= spec.max_num_orders:
        raise filter_failure("MAX_NUM_ORDERS")
    if (
        kind in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        and open_stops >= spec.max_num_algo_orders
    ):
        raise filter_failure("MAX_NUM_ALGO_ORDERS")


FUTURES_MARKET_PRICED = ("MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")


def check_futures_order(
    spec: FuturesSpec,
    *,
    side: str,
    kind: str,
    quantity: Decimal | None,
    price: Decimal | None,
    trigger: Decimal | None,
    mark: Decimal,
    reduce_only: bool,
    open_orders: int,
    open_algos: int,
    algo: bool,
) -> None:
    """USD-M rules, with the futures codes (-40xx, -4164) rather than spot's -1013.
    `quantity` is None for a close-all (closePosition) order; the notional of a market-priced
    order is taken at the mark price, of a stop at its trigger price."""
    for value, is_trigger in ((price, False), (trigger, True)):
        if value is None:
            continue
        if value < spec.min_price:
            raise E.err(E.PRICE_BELOW_MIN)
        if value > spec.max_price:
            raise E.err(E.STOP_PRICE_ABOVE_MAX if is_trigger else E.PRICE_ABOVE_MAX)
        if not on_grid(value, spec.min_price, spec.tick):
            raise E.err(E.PRICE_OFF_TICK)
    if quantity is not None:
        ceiling = spec.market_max_qty if kind in FUTURES_MARKET_PRICED else spec.max_qty
        if quantity <= 0:
            raise E.err(E.QTY_NOT_POSITIVE)
        if quantity < spec.min_qty:
            raise E.err(E.QTY_BELOW_MIN)
        if quantity > ceiling:
            raise E.err(E.QTY_ABOVE_MAX)
        if not on_grid(quantity, spec.min_qty, spec.step):
            raise E.err(E.QTY_OFF_STEP)
    if price is not None:
        if side == "BUY" and price > mark * spec.multiplier_up:
            raise E.err(E.PRICE_ABOVE_MULTIPLIER)
        if side == "SELL" and price < mark * spec.multiplier_down:
            raise E.err(E.PRICE_BELOW_MULTIPLIER)
    if quantity is not None and not reduce_only:
        reference = price if price is not None else trigger if trigger is not None else mark
        if quantity * reference < spec.min_notional:
            raise E.err(E.MIN_NOTIONAL, str(spec.min_notional))
    if open_orders + open_algos >= spec.max_num_orders:
        raise E.err(E.MAX_OPEN_ORDERS)
    if algo and open_algos >= spec.max_num_algo_orders:
        raise E.err(E.MAX_STOP_ORDERS)
