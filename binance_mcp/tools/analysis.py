"""Analysis tools (SPEC §3.5): position sizing, portfolio risk, basis, funding cost, order
precision and book-depth sizing.

All read-only: they fetch prices, books and rules, then compute in `Decimal` (never a float).
Amounts in the quote asset are rounded to eight places, percentages to two (four for price
impact); quantities are on the symbol's step, rounded down, so a size never grows in rounding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final, Literal, TypeVar

from mcp.server.mcpserver import Context
from pydantic import BaseModel, BeforeValidator, Field

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ExchangeError, InvalidArgument, ToolFailure
from binance_mcp.exchange.symbol_rules import FilterCheck, SymbolRules, dec_str, failures_text
from binance_mcp.tools.args import (
    MarketName,
    PositiveDecimal,
    Side,
    SignedDecimal,
    Symbol,
    upper,
)
from binance_mcp.tools.declare import Runtime, exchange, tool
from binance_mcp.tools.results import Result

Ctx = Context[Runtime, Any]
T = TypeVar("T")

EIGHT: Final = Decimal("0.00000001")
HUNDRED: Final = Decimal(100)
HOUR_MS: Final = 3_600_000
MAX_HOLD_HOURS: Final = 8760
# Book depth fetched by binance_get_optimal_trade_size: the largest each market serves.
SPOT_DEPTH: Final = 5000
FUTURES_DEPTH: Final = 1000
# Assets tried as a bridge when a holding has no pair with the quote asset (ETH -> BTC -> EUR).
BRIDGES: Final = ("USDT", "BTC", "ETH", "BNB", "USDC", "FDUSD")
# Flag thresholds of binance_analyze_portfolio_risk.
LIQUIDATION_WARN_PCT: Final = Decimal(15)
MARGIN_RATIO_WARN_PCT: Final = Decimal(50)
MARGIN_USAGE_WARN_PCT: Final = Decimal(80)
CONCENTRATION_WARN_PCT: Final = Decimal(50)
# Holdings listed by value (largest first) and unpriced assets named, at most; a flag counts
# the rest, so a live account's dust cannot flood the answer.
MAX_LISTED: Final = 20


def _money(value: Decimal) -> str:
    return dec_str(value.quantize(EIGHT, rounding=ROUND_HALF_EVEN))


def _pct(part: Decimal, whole: Decimal, places: int = 2) -> Decimal:
    return (part / whole * HUNDRED).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)


def _price_quantum(rules: SymbolRules) -> Decimal:
    """Averages are shown to 1/10000 of the tick: finer than any order price, never noise."""
    tick = rules.price.step if rules.price is not None else Decimal(0)
    return tick / 10000 if tick else EIGHT


# --- position size -------------------------------------------------------------------------------


class PositionSize(BaseModel):
    quantity: str
    notional: str
    margin: str
    risk: str = Field(description="Loss at the stop with this quantity")


class SizedPosition(Result):
    size: PositionSize


@tool("read", "Position size")
async def binance_calculate_position_size(
    ctx: Ctx,
    symbol: Symbol,
    riskAmount: PositiveDecimal,
    entryPrice: PositiveDecimal,
    stopLossPrice: PositiveDecimal,
    leverage: Annotated[int, Field(ge=1, le=125)] = 1,
    market: MarketName = "futures",
) -> SizedPosition:
    """Size risking riskAmount from entry to stop."""
    distance = abs(entryPrice - stopLossPrice)
    if distance == 0:
        raise InvalidArgument("entryPrice equals stopLossPrice: there is no risk per unit to size")
    if market == "spot" and leverage != 1:
        raise InvalidArgument("spot positions are not leveraged: leverage must be 1 on spot")
    ex = await exchange(ctx)
    rules = await ex.rules(market, symbol)
    if market == "futures" and leverage > 1 and ex.endpoints.has_keys:
        await _check_leverage(ex, symbol, leverage)
    quantity = rules.floor_quantity(riskAmount / distance, is_market=False)
    quote = rules.quote_asset
    grid = rules.quantity
    minimum = grid.low if grid is not None else Decimal(0)
    if rules.min_notional:
        by_notional = rules.min_notional / entryPrice
        if grid is not None:
            by_notional = grid.snap(by_notional, ROUND_CEILING)
        minimum = max(minimum, by_notional)
    if quantity <= 0 or quantity < minimum:
        raise InvalidArgument(
            f"{symbol} {market}: risking {dec_str(riskAmount)} {quote} over a stop distance of "
            f"{dec_str(distance)} gives {dec_str(quantity)}, below the minimum quantity "
            f"{dec_str(minimum)} (min qty {dec_str(grid.low if grid else Decimal(0))}, min "
            f"notional {dec_str(rules.min_notional or Decimal(0))} {quote}); a riskAmount of at "
            f"least {dec_str(minimum * distance)} {quote} would reach it"
        )
    checks = rules.check(
        side="BUY",
        is_market=False,
        price=None,
        quantity=quantity,
        stop_price=None,
        reference_price=entryPrice,
    )
    text = failures_text(symbol, checks, lead="position size not valid")
    if text is not None:
        largest = grid.high if grid is not None and grid.high else None
        if rules.max_notional:
            by_notional = rules.floor_quantity(rules.max_notional / entryPrice, is_market=False)
            largest = by_notional if largest is None else min(largest, by_notional)
        if largest is not None and quantity > largest:
            text += f"; a riskAmount of at most {_money(largest * distance)} {quote} stays within"
        raise InvalidArgument(text)
    notional = quantity * entryPrice
    return SizedPosition(
        venue=ex.venue,
        size=PositionSize(
            quantity=dec_str(quantity),
            notional=_money(notional),
            margin=_money(notional / leverage),
            risk=_money(quantity * distance),
        ),
    )


async def _check_leverage(ex: Exchange, symbol: str, leverage: int) -> None:
    try:
        top = await ex.max_leverage(symbol)
    except ExchangeError:
        return  # brackets need a key with futures access; the 1-125 bound still holds
    if leverage > top:
        raise InvalidArgument(f"leverage {leverage} is above {symbol}'s maximum of {top}")


# --- portfolio risk ------------------------------------------------------------------------------


class FuturesMargin(BaseModel):
    marginBalance: str
    initialMargin: str
    maintMargin: str
    availableBalance: str
    marginUsedPct: str
    marginRatioPct: str


class PositionRisk(BaseModel):
    symbol: str
    positionAmt: str
    markPrice: str
    liquidationPrice: str
    liquidationDistancePct: str | None = None


class Concentration(BaseModel):
    asset: str
    pct: str


class PortfolioRisk(Result):
    spotValue: str
    spotValues: dict[str, str]
    unpriced: list[str]
    concentration: Concentration | None = None
    futures: FuturesMargin | None = None
    positions: list[PositionRisk]
    flags: list[str]


def _asset(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    asset = value.strip().upper()
    if not asset.isascii() or not asset.isalnum() or len(asset) > 20:
        raise ValueError(f"{value!r} is not an asset name like USDT or BTC")
    return asset


async def _attempt(call: Awaitable[T]) -> T | ToolFailure:
    try:
        return await call
    except ToolFailure as exc:
        return exc


@tool("read", "Portfolio risk")
async def binance_analyze_portfolio_risk(
    ctx: Ctx,
    quoteAsset: Annotated[str, BeforeValidator(_asset)] = "USDT",
) -> PortfolioRisk:
    """Spot value, margin use, liquidation distance, concentration."""
    ex = await exchange(ctx)
    account, tickers, futures, positions = await asyncio.gather(
        _attempt(ex.read("get_account", omitZeroBalances="true")),
        _attempt(ex.read("get_symbol_ticker")),
        _attempt(ex.read("futures_account")),
        _attempt(ex.read("futures_position_information")),
    )
    spot_failure = next((x for x in (account, tickers) if isinstance(x, ToolFailure)), None)
    futures_failure = next((x for x in (futures, positions) if isinstance(x, ToolFailure)), None)
    if spot_failure is not None and futures_failure is not None:
        raise spot_failure
    result = PortfolioRisk(
        venue=ex.venue,
        spotValue="0",
        spotValues={},
        unpriced=[],
        positions=[],
        flags=[],
    )
    if spot_failure is not None:
        result.flags.append(f"spot account not read: {spot_failure}")
    else:
        _spot_risk(result, quoteAsset, account, tickers)
    if futures_failure is not None:
        result.flags.append(f"futures account not read: {futures_failure}")
    else:
        _futures_risk(result, futures, positions)
    return result


def _spot_risk(result: PortfolioRisk, quote: str, account: Any, tickers: Any) -> None:
    prices = {t["symbol"]: Decimal(t["price"]) for t in tickers}
    prices = {s: p for s, p in prices.items() if p > 0}
    if not any(s.startswith(quote) or s.endswith(quote) for s in prices):
        raise InvalidArgument(
            f"no spot pair trades against {quote}: choose a quoteAsset such as USDT"
        )
    values: dict[str, Decimal] = {}
    for row in account.get("balances", []):
        asset = row["asset"]
        amount = Decimal(row["free"]) + Decimal(row["locked"])
        if amount == 0:
            continue
        rate = _rate_via(asset, quote, prices)
        if rate is None:
            result.unpriced.append(asset)
        else:
            values[asset] = amount * rate
    total = sum(values.values(), Decimal(0))
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    result.spotValue = _money(total)
    result.spotValues = {asset: _money(value) for asset, value in ranked[:MAX_LISTED]}
    if len(ranked) > MAX_LISTED:
        rest = sum((value for _, value in ranked[MAX_LISTED:]), Decimal(0))
        result.flags.append(
            f"{len(ranked) - MAX_LISTED} smaller holdings worth {_money(rest)} {quote} in all "
            "are not listed in spotValues"
        )
    if ranked and total > 0:
        asset, value = ranked[0]
        share = _pct(value, total)
        result.concentration = Concentration(asset=asset, pct=dec_str(share))
        if share >= CONCENTRATION_WARN_PCT and asset != quote and len(ranked) > 1:
            result.flags.append(f"{dec_str(share)}% of spot value is in one asset, {asset}")
        elif share >= CONCENTRATION_WARN_PCT and asset != quote:
            result.flags.append(f"all priced spot value is in one asset, {asset}")
    if result.unpriced:
        named = ", ".join(result.unpriced[:MAX_LISTED])
        more = len(result.unpriced) - MAX_LISTED
        result.flags.append(
            f"no price in {quote} for {named}{f' and {more} more' if more > 0 else ''}: "
            "left out of spotValue"
        )
        del result.unpriced[MAX_LISTED:]


def _rate(asset: str, quote: str, prices: dict[str, Decimal]) -> Decimal | None:
    if asset == quote:
        return Decimal(1)
    if (direct := prices.get(asset + quote)) is not None:
        return direct
    if (inverse := prices.get(quote + asset)) is not None:
        return 1 / inverse
    return None


def _rate_via(asset: str, quote: str, prices: dict[str, Decimal]) -> Decimal | None:
    """Price of one `asset` in `quote`: a direct pair, an inverse one, or through a bridge."""
    rate = _rate(asset, quote, prices)
    if rate is not None:
        return rate
    for bridge in BRIDGES:
        if bridge in (asset, quote):
            continue
        first, second = _rate(asset, bridge, prices), _rate(bridge, quote, prices)
        if first is not None and second is not None:
            return first * second
    return None


def _futures_risk(result: PortfolioRisk, account: Any, positions: Any) -> None:
    balance = Decimal(account["totalMarginBalance"])
    initial = Decimal(account["totalInitialMargin"])
    maint = Decimal(account["totalMaintMargin"])
    used = _pct(initial, balance) if balance > 0 else Decimal(0)
    ratio = _pct(maint, balance) if balance > 0 else Decimal(0)
    result.futures = FuturesMargin(
        marginBalance=_money(balance),
        initialMargin=_money(initial),
        maintMargin=_money(maint),
        availableBalance=_money(Decimal(account["availableBalance"])),
        marginUsedPct=dec_str(used),
        marginRatioPct=dec_str(ratio),
    )
    if balance <= 0 < initial:
        result.flags.append("futures margin balance is not positive")
    if ratio >= MARGIN_RATIO_WARN_PCT:
        result.flags.append(
            f"futures margin ratio is {dec_str(ratio)}%: liquidation starts at 100%"
        )
    if used >= MARGIN_USAGE_WARN_PCT:
        result.flags.append(f"{dec_str(used)}% of the futures margin balance is in use")
    for row in positions:
        amount = Decimal(row["positionAmt"])
        if amount == 0:
            continue
        mark, liq = Decimal(row["markPrice"]), Decimal(row["liquidationPrice"])
        distance = None
        if liq > 0 and mark > 0:
            # Positive while the mark is on the safe side: above the liquidation price for a
            # long, below it for a short.
            distance = _pct(mark - liq, mark) * (1 if amount > 0 else -1)
            if distance < LIQUIDATION_WARN_PCT:
                result.flags.append(
                    f"position {row['symbol']} ({'long' if amount > 0 else 'short'}) is "
                    f"{dec_str(distance)}% from liquidation at {dec_str(liq)}"
                )
        result.positions.append(
            PositionRisk(
                symbol=row["symbol"],
                positionAmt=row["positionAmt"],
                markPrice=row["markPrice"],
                liquidationPrice=row["liquidationPrice"],
                liquidationDistancePct=None if distance is None else dec_str(distance),
            )
        )


# --- spot vs futures -----------------------------------------------------------------------------


class Basis(BaseModel):
    spotPrice: str
    futuresPrice: str
    markPrice: str
    basis: str
    basisPct: str
    markBasis: str
    fundingRate: str
    nextFundingTime: int


class BasisResult(Result):
    comparison: Basis


@tool("read", "Spot vs futures price")
async def binance_compare_spot_futures_price(ctx: Ctx, symbol: Symbol) -> BasisResult:
    """Spot vs futures: basis, mark basis, funding."""
    ex = await exchange(ctx)
    await ex.rules("futures", symbol)
    spot, last, mark = await asyncio.gather(
        ex.read("get_symbol_ticker", symbol=symbol),
        ex.read("futures_symbol_ticker", symbol=symbol),
        ex.read("futures_mark_price", symbol=symbol),
    )
    spot_price, futures_price = Decimal(spot["price"]), Decimal(last["price"])
    mark_price = Decimal(mark["markPrice"])
    return BasisResult(
        venue=ex.venue,
        comparison=Basis(
            spotPrice=spot["price"],
            futuresPrice=last["price"],
            markPrice=mark["markPrice"],
            basis=dec_str(futures_price - spot_price),
            basisPct=dec_str(_pct(futures_price - spot_price, spot_price, 4)),
            markBasis=dec_str(mark_price - spot_price),
            fundingRate=mark["lastFundingRate"],
            nextFundingTime=int(mark["nextFundingTime"]),
        ),
    )


# --- funding cost --------------------------------------------------------------------------------


class FundingCost(BaseModel):
    markPrice: str
    fundingRate: str
    intervalHours: int
    fundings: int
    perFunding: str
    total: str
    summary: str


class FundingResult(Result):
    funding: FundingCost


@tool("read", "Funding cost")
async def binance_calculate_funding_cost(
    ctx: Ctx,
    symbol: Symbol,
    positionSize: Annotated[SignedDecimal, Field(description="+ long, - short")],
    holdHours: PositiveDecimal,
) -> FundingResult:
    """Funding over holdHours at the current rate (+ you pay)."""
    if positionSize == 0:
        raise InvalidArgument("positionSize is 0: give the base quantity, + long or - short")
    if holdHours > MAX_HOLD_HOURS:
        raise InvalidArgument(f"holdHours is at most {MAX_HOLD_HOURS} (a year)")
    ex = await exchange(ctx)
    rules = await ex.rules("futures", symbol)
    mark, hours = await asyncio.gather(
        ex.read("futures_mark_price", symbol=symbol), ex.funding_interval_hours(symbol)
    )
    now = int(mark.get("time") or time.time() * 1000)
    next_time = int(mark["nextFundingTime"])
    if next_time <= 0:
        raise InvalidArgument(f"{symbol} has no funding scheduled")
    interval = hours * HOUR_MS
    while next_time < now:
        next_time += interval
    end = now + holdHours * HOUR_MS
    count = 0 if next_time > end else int((end - next_time) // interval) + 1
    rate, price = Decimal(mark["lastFundingRate"]), Decimal(mark["markPrice"])
    per = positionSize * price * rate
    total = per * count
    quote = rules.quote_asset
    if count == 0:
        summary = f"no funding time falls within {dec_str(holdHours)} h"
    elif total == 0:
        summary = f"rate is 0: nothing paid over {count} funding(s)"
    else:
        verb = "pay" if total > 0 else "receive"
        summary = f"you {verb} {_money(abs(total))} {quote} over {count} funding(s)"
    return FundingResult(
        venue=ex.venue,
        funding=FundingCost(
            markPrice=mark["markPrice"],
            fundingRate=mark["lastFundingRate"],
            intervalHours=hours,
            fundings=count,
            perFunding=_money(per),
            total=_money(total),
            summary=summary,
        ),
    )


# --- order precision -----------------------------------------------------------------------------


class Check(BaseModel):
    filter: str
    ok: bool
    detail: str


class Precision(Result):
    valid: bool
    checks: list[Check]
    nearestValidPrice: str | None = None
    nearestValidQuantity: str


@tool("read", "Check order precision")
async def binance_check_order_precision(
    ctx: Ctx,
    symbol: Symbol,
    quantity: PositiveDecimal,
    price: PositiveDecimal | None = None,
    market: MarketName = "spot",
    side: Side = "BUY",
    type: Annotated[
        Literal["LIMIT", "MARKET"],
        BeforeValidator(upper),
    ] = "LIMIT",
) -> Precision:
    """Each filter of an order, and the nearest valid values."""
    is_market = type == "MARKET"
    if is_market and price is not None:
        raise InvalidArgument("a MARKET order takes no price; leave price out")
    if not is_market and price is None:
        raise InvalidArgument("a LIMIT order needs a price")
    ex = await exchange(ctx)
    rules = await ex.rules(market, symbol)
    if market == "spot":
        reference = Decimal((await ex.read("get_avg_price", symbol=symbol))["price"])
    else:
        reference = Decimal((await ex.read("futures_mark_price", symbol=symbol))["markPrice"])
    checks = rules.check(
        side=side,
        is_market=is_market,
        price=price,
        quantity=quantity,
        stop_price=None,
        reference_price=reference,
    )
    if rules.status != "TRADING":
        checks.insert(0, FilterCheck("STATUS", False, f"{symbol} is not trading ({rules.status})"))
    if rules.order_types and type not in rules.order_types:
        checks.insert(0, FilterCheck("ORDER_TYPE", False, f"{symbol} takes no {type} orders"))
    return Precision(
        venue=ex.venue,
        valid=all(c.ok for c in checks),
        checks=[Check(filter=c.filter, ok=c.ok, detail=c.detail) for c in checks],
        nearestValidPrice=None
        if price is None
        else dec_str(_nearest_price(rules, price, side, reference)),
        nearestValidQuantity=dec_str(
            rules.nearest_quantity(quantity, price or reference, is_market)
        ),
    )


def _nearest_price(rules: SymbolRules, price: Decimal, side: str, reference: Decimal) -> Decimal:
    """The valid price closest to `price`: on the tick and inside the percent-price band."""
    nearest = rules.nearest_price(price)
    if side not in rules.percent_price:
        return nearest
    down, up = rules.percent_price[side]
    low, high = reference * down, reference * up
    grid = rules.price
    if nearest < low:
        nearest = grid.snap(low, ROUND_CEILING) if grid is not None else low
    elif nearest > high:
        nearest = grid.snap(high, ROUND_FLOOR) if grid is not None else high
    return nearest


# --- optimal trade size --------------------------------------------------------------------------


class TradeSize(BaseModel):
    quantity: str
    avgPrice: str
    worstPrice: str
    impactPct: str
    notional: str
    levels: int
    limitedBy: Literal["priceImpact", "bookDepth", "maxQty"]


class TradeSizeResult(Result):
    trade: TradeSize


@tool("read", "Optimal trade size")
async def binance_get_optimal_trade_size(
    ctx: Ctx,
    symbol: Symbol,
    side: Side,
    maxPriceImpact: Annotated[PositiveDecimal, Field(description="%, e.g. 0.5")],
    market: MarketName = "spot",
) -> TradeSizeResult:
    """Largest market order within maxPriceImpact % of the best price."""
    if maxPriceImpact > HUNDRED:
        raise InvalidArgument("maxPriceImpact is a percentage: at most 100")
    ex = await exchange(ctx)
    rules = await ex.rules(market, symbol)
    if market == "spot":
        book = await ex.read("get_order_book", symbol=symbol, limit=SPOT_DEPTH)
    else:
        book = await ex.read("futures_order_book", symbol=symbol, limit=FUTURES_DEPTH)
    levels = [(Decimal(p), Decimal(q)) for p, q in book["asks" if side == "BUY" else "bids"]]
    if not levels:
        raise InvalidArgument(
            f"the {market} {symbol} book has no {'asks' if side == 'BUY' else 'bids'}"
        )
    best = levels[0][0]
    factor = maxPriceImpact / HUNDRED
    bound = best * (1 + factor) if side == "BUY" else best * (1 - factor)
    within = Decimal(0)
    limited_by: Literal["priceImpact", "bookDepth", "maxQty"] = "bookDepth"
    for price, qty in levels:
        if (price > bound) if side == "BUY" else (price < bound):
            limited_by = "priceImpact"
            break
        within += qty
    quantity = rules.floor_quantity(within, is_market=True)
    grid = rules.market_quantity if rules.market_quantity is not None else rules.quantity
    if grid is not None and grid.high and quantity > grid.high:
        quantity, limited_by = rules.floor_quantity(grid.high, is_market=True), "maxQty"
    if quantity <= 0:
        raise InvalidArgument(
            f"no quantity of at least one step fits within {dec_str(maxPriceImpact)}% of the "
            f"best price {dec_str(best)}"
        )
    remaining, notional, used, worst = quantity, Decimal(0), 0, best
    for price, qty in levels:
        take = min(remaining, qty)
        notional += take * price
        remaining -= take
        used, worst = used + 1, price
        if remaining == 0:
            break
    avg = (notional / quantity).quantize(_price_quantum(rules), ROUND_HALF_EVEN)
    return TradeSizeResult(
        venue=ex.venue,
        trade=TradeSize(
            quantity=dec_str(quantity),
            avgPrice=dec_str(avg),
            worstPrice=dec_str(worst),
            impactPct=dec_str(_pct(abs(worst - best), best, 4)),
            notional=_money(notional),
            levels=used,
            limitedBy=limited_by,
        ),
    )
