"""Reading USD-M request parameters: the enumerations Binance accepts and its rules for
booleans, precision and generated client ids."""

from __future__ import annotations

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import illegal
from binance_mcp.paper.futures_market import FuturesSpec
from binance_mcp.paper.numbers import decimals
from binance_mcp.paper.params import Params

SIDES = ("BUY", "SELL")
ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
CONDITIONAL_TYPES = ORDER_TYPES[2:]
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")
STP_RANGE_MSG = (
    "Illegal characters found in parameter 'selfTradePreventionMode'; "
    "legal range is 'NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH'."
)
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def flag(p: Params, name: str) -> bool | None:
    """A "true"/"false" parameter (python-binance sends Python's True/False as text)."""
    raw = p.text(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise illegal(name, "true, false")
    return lowered == "true"


def check_precision(spec: FuturesSpec, p: Params, prices: tuple[str, ...]) -> None:
    """More decimals than the contract's precision: -1111, before any filter is looked at."""
    for name in prices:
        text = p.text(name)
        if text is not None and decimals(text) > spec.price_precision:
            raise E.err(E.FUT_PRECISION)
    text = p.text("quantity")
    if text is not None and decimals(text) > spec.quantity_precision:
        raise E.err(E.FUT_PRECISION)
