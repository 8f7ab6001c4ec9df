"""The account's futures settings, changed as Binance allows: leverage within the leverage
bracket of the position held, margin type and position mode only when nothing is held or
ordered."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import mandatory
from binance_mcp.paper.futures_models import ZERO
from binance_mcp.paper.futures_params import flag
from binance_mcp.paper.params import Params

if TYPE_CHECKING:
    from binance_mcp.paper.futures import FuturesEngine


def _symbol_notional(engine: FuturesEngine, symbol: str) -> Decimal:
    mark = engine.market.mark(symbol)
    return sum(
        (abs(p.amount) * mark for p in engine.account.open_positions() if p.symbol == symbol),
        ZERO,
    )


def change_leverage(engine: FuturesEngine, p: Params, now: int) -> dict[str, Any]:
    spec = engine.spec(p.text("symbol"))
    leverage = p.integer("leverage", required=True)
    assert leverage is not None
    notional = _symbol_notional(engine, spec.symbol)
    # The bracket of the position held caps the leverage, as on Binance.
    if leverage < 1 or leverage > spec.bracket_for(notional).initial_leverage:
        raise E.err(E.INVALID_LEVERAGE, leverage)
    settings = engine.account.settings_of(spec.symbol)
    if notional and leverage < settings.leverage:
        if settings.marginType == "ISOLATED":
            raise E.err(E.ISOLATED_LEVERAGE_REDUCTION)
        extra = notional / leverage - notional / settings.leverage
        if extra > engine.risk.totals().available:
            raise E.err(E.LEVERAGE_TOO_LOW)
    settings.leverage = leverage
    engine.account.update_time = now
    return {
        "leverage": leverage,
        "maxNotionalValue": f"{spec.max_notional(leverage):f}",
        "symbol": spec.symbol,
    }


def change_margin_type(engine: FuturesEngine, p: Params, now: int) -> dict[str, Any]:
    spec = engine.spec(p.text("symbol"))
    wanted = p.choice(
        "marginType",
        ("ISOLATED", "CROSSED"),
        -1100,
        "Illegal characters found in parameter 'marginType'; legal range is 'ISOLATED, CROSSED'.",
    )
    if wanted is None:
        raise mandatory("marginType")
    settings = engine.account.settings_of(spec.symbol)
    if settings.marginType == wanted:
        raise E.err(E.NO_NEED_MARGIN_TYPE)
    if any(pos.symbol == spec.symbol for pos in engine.account.open_positions()):
        raise E.err(E.MARGIN_TYPE_POSITION)
    if any(engine.open_counts(spec.symbol)):
        raise E.err(E.MARGIN_TYPE_OPEN_ORDERS)
    settings.marginType = wanted
    engine.account.update_time = now
    return {"code": 200, "msg": "success"}


def change_position_mode(engine: FuturesEngine, p: Params, now: int) -> dict[str, Any]:
    dual = flag(p, "dualSidePosition")
    if dual is None:
        raise mandatory("dualSidePosition")
    if dual == engine.account.dualSidePosition:
        raise E.err(E.NO_NEED_POSITION_SIDE)
    if engine.account.open_positions():
        raise E.err(E.POSITION_MODE_POSITION)
    if engine.account.orders.open_orders() or engine.account.algo_orders.open_orders():
        raise E.err(E.POSITION_MODE_OPEN_ORDERS)
    engine.account.dualSidePosition = dual
    engine.account.update_time = now
    return {"code": 200, "msg": "success"}
