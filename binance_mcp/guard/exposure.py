"""The facts that look at the whole account, for the position, exposure and loss limits:

- `position_notional` / `position_notional_after`: the order's symbol, before and after the
  order fills completely, in the quote asset. Futures: |position| of the position side the order
  changes (one-way: the BOTH position; hedge: LONG or SHORT) plus the open orders on that symbol
  and side that would grow it, at the mark price. Spot: the base asset held (free and locked)
  plus what open BUY orders would add, at the last price; a SELL takes its quantity off.
- `exposure` / `exposure_after`: the account's gross futures notional at mark price (the sum of
  |position| × mark over every symbol), plus the open futures orders that could add to it (not
  reduce-only, not closePosition) at their price or the mark; after: plus this order (a spot
  BUY counts too: it is exposure the account takes on; a SELL or a reducing order adds nothing).
- `account_value`: what the account is worth in USDT now: spot balances (free and locked) at
  their last USDT price (USDT itself at 1; an asset without a USDT market counts 0), plus the
  futures wallet balance and unrealized PnL. The guard turns it into `daily_loss`.
- `sells_held`: a spot SELL whose quantity is at most the free balance of the base asset (what
  open orders lock is not free).

Each figure needs exchange reads; they are shared within a call (exchange/client.py
`SHARED_READS`), so a call reads each at most once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, Final

from binance_mcp.exchange.client import Exchange
from binance_mcp.guard.engine import Unknown

Venue = Callable[[], Awaitable[Exchange]]

ZERO: Final = Decimal(0)
STABLE: Final = "USDT"


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _signed(side: Any, quantity: Decimal) -> Decimal:
    return quantity if side == "BUY" else -quantity


async def position_figures(
    tool: str, args: dict[str, Any], venue: Venue
) -> tuple[Decimal, Decimal]:
    """(position_notional, position_notional_after) for an order of `tool`."""
    ex = await venue()
    symbol = str(args["symbol"])
    if tool == "binance_spot_place_order":
        return await _spot_position(ex, symbol, args)
    return await _futures_position(ex, symbol, args)


async def _spot_position(
    ex: Exchange, symbol: str, args: dict[str, Any]
) -> tuple[Decimal, Decimal]:
    rules = await ex.rules("spot", symbol)
    price = _d((await ex.read("get_symbol_ticker", symbol=symbol))["price"])
    account = await ex.read("get_account")
    held = sum(
        (_d(b["free"]) + _d(b["locked"]) for b in account.get("balances", [])
         if b.get("asset") == rules.base_asset),
        ZERO,
    )  # fmt: skip
    opened = await ex.read("get_open_orders", symbol=symbol)
    buying = sum(
        (_d(o["origQty"]) - _d(o["executedQty"]) for o in opened if o.get("side") == "BUY"), ZERO
    )
    before = held + buying
    quantity = _quantity(args, price)
    after = before + _signed(args.get("side"), quantity)
    return before * price, max(after, ZERO) * price


async def _futures_position(
    ex: Exchange, symbol: str, args: dict[str, Any]
) -> tuple[Decimal, Decimal]:
    rows = await ex.read("futures_position_information", symbol=symbol)
    mark = _d((await ex.read("futures_mark_price", symbol=symbol))["markPrice"])
    side, position_side = args.get("side"), args.get("positionSide") or "BOTH"
    amount = sum(
        (_d(r["positionAmt"]) for r in rows if r.get("positionSide", "BOTH") == position_side),
        ZERO,
    )
    regular, conditional = await ex.futures_open_orders(symbol)
    growing = sum(
        (_remaining(o) for o in (*regular, *conditional)
         if o.get("side") == side and (o.get("positionSide") or "BOTH") == position_side
         and not _reduces(o)),
        ZERO,
    )  # fmt: skip
    before = abs(amount + _signed(side, growing))
    if args.get("closePosition"):
        return before * mark, ZERO
    after = abs(amount + _signed(side, growing) + _signed(side, _quantity(args, mark)))
    return before * mark, after * mark


async def exposure_figures(
    tool: str, args: dict[str, Any], order_notional: Decimal | None, reduces: bool, venue: Venue
) -> tuple[Decimal, Decimal]:
    """(exposure, exposure_after): the account's gross futures exposure before and after."""
    ex = await venue()
    rows = await ex.read("futures_position_information")
    marks = {
        str(m["symbol"]): _d(m["markPrice"]) for m in _listed(await ex.read("futures_mark_price"))
    }
    gross = sum(
        (abs(_d(r["positionAmt"])) * marks.get(str(r["symbol"]), _d(r.get("markPrice")))
         for r in rows),
        ZERO,
    )  # fmt: skip
    regular, conditional = await ex.futures_open_orders()
    for order in (*regular, *conditional):
        if _reduces(order):
            continue
        price = next(
            (_d(order[k]) for k in ("price", "triggerPrice", "stopPrice") if _d(order.get(k)) > 0),
            marks.get(str(order.get("symbol")), ZERO),
        )
        gross += _remaining(order) * price
    spot_sell = tool == "binance_spot_place_order" and args.get("side") == "SELL"
    adds = ZERO if reduces or spot_sell else (order_notional or ZERO)
    return gross, gross + adds


async def account_value(venue: Venue) -> Decimal:
    """The account's value in USDT now (spot at last prices, futures wallet + unrealized PnL)."""
    ex = await venue()
    account = await ex.read("get_account")
    prices = {str(t["symbol"]): _d(t["price"]) for t in await ex.read("get_all_tickers")}
    spot = ZERO
    for balance in account.get("balances", []):
        amount = _d(balance.get("free")) + _d(balance.get("locked"))
        if amount == 0:
            continue
        asset = str(balance.get("asset"))
        price = Decimal(1) if asset == STABLE else prices.get(f"{asset}{STABLE}", ZERO)
        spot += amount * price
    futures = await ex.read("futures_account")
    return spot + _d(futures.get("totalWalletBalance")) + _d(futures.get("totalUnrealizedProfit"))


async def sells_held(args: dict[str, Any], venue: Venue) -> bool:
    """A spot SELL of at most the free balance of the base asset."""
    if args.get("side") != "SELL" or args.get("quantity") is None:
        return False
    ex = await venue()
    rules = await ex.rules("spot", str(args["symbol"]))
    account = await ex.read("get_account")
    free = sum(
        (_d(b["free"]) for b in account.get("balances", []) if b.get("asset") == rules.base_asset),
        ZERO,
    )
    return _d(args["quantity"]) <= free


def _quantity(args: dict[str, Any], price: Decimal) -> Decimal:
    if args.get("quantity") is not None:
        return _d(args["quantity"])
    quote = args.get("quoteOrderQty")
    if quote is not None and price > 0:
        return _d(quote) / price
    raise Unknown("position_notional_after", "the order has no quantity")


def _remaining(order: dict[str, Any]) -> Decimal:
    total = _d(order.get("origQty") or order.get("quantity"))
    return max(total - _d(order.get("executedQty")), ZERO)


def _reduces(order: dict[str, Any]) -> bool:
    return any(str(order.get(k)).lower() == "true" for k in ("reduceOnly", "closePosition"))


def _listed(answer: Any) -> Iterable[dict[str, Any]]:
    return answer if isinstance(answer, list) else [answer]
