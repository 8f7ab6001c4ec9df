"""The facts a policy decides on (SPEC §4.3): the validated arguments, plus derived values —
`notional`, `market`, `venue`, `reduces_position`, `leverage` (and `open_orders` for
`max_open_orders`), and the account-wide figures of guard/exposure.py. Derived values that need the exchange (a MARKET order's price, the current
leverage) are computed only when the policy asks for them; one that cannot be computed becomes
`Unknown`, which denies the call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from binance_mcp.exchange.client import Exchange, oldest_account_read
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.exchange.order_types import FUTURES_TRIGGERED, SPOT_PRICED, SPOT_TRIGGERED
from binance_mcp.guard.engine import ORDER_TOOLS as _ORDER_TOOLS
from binance_mcp.guard.engine import Unknown
from binance_mcp.guard.exposure import (
    account_value,
    exposure_figures,
    position_figures,
    sells_held,
)

# Gives the exchange, connecting at the first call; the CLI's offline commands pass one that
# raises `Unknown` instead.
Venue = Callable[[], Awaitable[Exchange]]


def market_of(tool: str, args: dict[str, Any]) -> str | None:
    if isinstance(args.get("market"), str):
        return str(args["market"])
    if tool.startswith("binance_spot_") or tool == "binance_account_info":
        return "spot"
    if tool.startswith("binance_futures_") or tool == "binance_portfolio_account":
        return "futures"
    return None


def base_facts(tool: str, args: dict[str, Any], venue: str) -> dict[str, Any]:
    facts = {k: v for k, v in args.items() if k != "ctx" and v is not None}
    facts["venue"] = venue
    market = market_of(tool, args)
    if market is not None:
        facts["market"] = market
    facts["reduces_position"] = reduces_position(tool, args)
    if tool == "binance_futures_change_leverage":
        facts["leverage"] = args.get("leverage")
    return facts


def reduces_position(tool: str, args: dict[str, Any]) -> bool:
    """True when the call can only shrink futures exposure."""
    if tool == "binance_futures_close_position":
        return True
    if tool != "binance_futures_place_order":
        return False
    if args.get("reduceOnly") or args.get("closePosition"):
        return True
    side, position_side = args.get("side"), args.get("positionSide")
    # In hedge mode, selling the LONG side or buying the SHORT side can only close.
    return (position_side, side) in (("LONG", "SELL"), ("SHORT", "BUY"))


async def derive(
    tool: str,
    args: dict[str, Any],
    facts: dict[str, Any],
    needed: frozenset[str],
    venue: Venue,
) -> None:
    """Add the derived facts in `needed` to `facts`; `venue()` gives the exchange for those
    that need it, and is not called for the others (a LIMIT order's notional)."""
    # The limits that read every symbol's price go first: their answer gives the order's own
    # price as well (exchange/client.py `SHARED_READS`). A failure here is left to the figure
    # that needs the read, which reads again and says so.
    if tool == "binance_futures_place_order" and needed & {"exposure", "exposure_after"}:
        await _read_every(venue, "futures_mark_price")
    if tool == "binance_spot_place_order" and "daily_loss" in needed:
        await _read_every(venue, "get_all_tickers")
    if "notional" in needed and "notional" not in facts:
        facts["notional"] = await _guarded(lambda: _notional(tool, args, venue), "notional")
    if "leverage" in needed and "leverage" not in facts:
        facts["leverage"] = await _guarded(lambda: _leverage(tool, args, venue), "leverage")
    if "open_orders" in needed and "open_orders" not in facts:
        facts["open_orders"] = await _guarded(lambda: _open_orders(tool, venue), "open_orders")
    if tool in _ORDER_TOOLS:
        await _account_wide(tool, args, facts, needed, venue)
    if "daily_loss" in needed and "daily_loss" not in facts and "account_value" not in facts:
        # The guard turns the value into the day's loss with the state store's day figures.
        facts["account_value"] = await _guarded(lambda: account_value(venue), "daily_loss")


async def _account_wide(
    tool: str, args: dict[str, Any], facts: dict[str, Any], needed: frozenset[str], venue: Venue
) -> None:
    """The position and exposure figures (guard/exposure.py), and `sells_held`. When they were
    read is kept (`account_read_at`): orders answered since may be missing from them, and the
    state store counts those. Exposure first: its reads of every symbol answer the position's
    reads of one (exchange/client.py `SHARED_READS`)."""
    read_at = time.time()
    if needed & {"exposure", "exposure_after"} and "exposure_after" not in facts:
        if "notional" not in facts:
            facts["notional"] = await _guarded(lambda: _notional(tool, args, venue), "notional")
        notional = facts["notional"]
        if isinstance(notional, Unknown):
            figures = notional
        else:
            reduces = facts.get("reduces_position") is True
            figures = await _guarded(
                lambda: exposure_figures(tool, args, notional, reduces, venue), "exposure_after"
            )
        before, after = (figures, figures) if isinstance(figures, Unknown) else figures
        facts.setdefault("exposure", before)
        facts["exposure_after"] = after
    if needed & {"position_notional", "position_notional_after"} and (
        "position_notional_after" not in facts
    ):
        figures = await _guarded(
            lambda: position_figures(tool, args, venue), "position_notional_after"
        )
        before, after = (figures, figures) if isinstance(figures, Unknown) else figures
        facts.setdefault("position_notional", before)
        facts["position_notional_after"] = after
    if needed & {"position_notional_after", "exposure_after"}:
        # A shared answer (read by the approval resolver, say) is as old as its request.
        oldest = oldest_account_read()
        facts.setdefault("account_read_at", read_at if oldest is None else min(read_at, oldest))
    if "sells_held" in needed and "sells_held" not in facts and tool == "binance_spot_place_order":
        facts["sells_held"] = await _guarded(lambda: sells_held(args, venue), "sells_held")


async def _guarded(compute: Any, name: str) -> Any:
    try:
        return await compute()
    except Unknown as exc:
        return exc
    except ToolFailure as exc:
        return Unknown(name, f"the exchange could not say ({exc})")


async def _notional(tool: str, args: dict[str, Any], venue: Venue) -> Decimal | None:
    """What the order can trade, in the quote asset, at the most it can cost. A price in the
    arguments bounds a plain BUY, but not a SELL (a sell limit under the market fills at the
    market) nor a triggered order (a buy stop far below the market, once accepted, buys at the
    market): those are valued at the highest of their prices and the current one."""
    if tool not in ("binance_spot_place_order", "binance_futures_place_order"):
        return None
    spot = tool == "binance_spot_place_order"
    if spot and args.get("quoteOrderQty") is not None:
        return Decimal(args["quoteOrderQty"])
    quantity = args.get("quantity")
    if quantity is None:
        if spot or not args.get("closePosition"):
            raise Unknown("notional", "the order has no quantity")
        quantity = await _position_size(await venue(), args["symbol"])
    kind = args.get("type")
    prices = []
    if args.get("price") is not None and (not spot or kind in SPOT_PRICED):
        prices.append(Decimal(args["price"]))
    if args.get("stopPrice") is not None and (not spot or kind in SPOT_TRIGGERED):
        prices.append(Decimal(args["stopPrice"]))
    triggered = kind in (SPOT_TRIGGERED if spot else FUTURES_TRIGGERED)
    if not prices or triggered or args.get("side") == "SELL":
        prices.append(await _current_price(tool, args["symbol"], venue))
    return Decimal(quantity) * max(prices)


async def _current_price(tool: str, symbol: str, venue: Venue) -> Decimal:
    ex = await venue()
    if tool == "binance_spot_place_order":
        return Decimal((await ex.read("get_symbol_ticker", symbol=symbol))["price"])
    return Decimal((await ex.read("futures_mark_price", symbol=symbol))["markPrice"])


async def _read_every(venue: Venue, method: str) -> None:
    with contextlib.suppress(Unknown, ToolFailure):
        await (await venue()).read(method)


async def _open_orders(tool: str, venue: Venue) -> tuple[int, float]:
    """Open orders in the order's market, and when they were listed (`max_open_orders` also
    counts orders placed since then by any server on the state dir)."""
    ex = await venue()
    listed_at = time.time()
    if tool == "binance_spot_place_order":
        return len(await ex.read("get_open_orders")), listed_at
    regular, conditional = await ex.futures_open_orders()
    return len(regular) + len(conditional), listed_at


async def _position_size(ex: Exchange, symbol: str) -> Decimal:
    rows = await ex.read("futures_position_information", symbol=symbol)
    return sum((abs(Decimal(r["positionAmt"])) for r in rows), Decimal(0))


async def _leverage(tool: str, args: dict[str, Any], venue: Venue) -> int | None:
    if tool == "binance_futures_change_leverage":
        return int(args["leverage"])
    if tool == "binance_futures_place_order":
        rows = await (await venue()).read("futures_symbol_config", symbol=args["symbol"])
        for row in rows:
            if row.get("symbol") == args["symbol"]:
                return int(row["leverage"])
        raise Unknown("leverage", f"no leverage setting for {args['symbol']}")
    return None
