"""What spot and futures order tools share: client ids chosen before sending, and the local
filter check that rejects an order with the nearest valid values instead of rounding it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Final

from binance_mcp.errors import InvalidArgument
from binance_mcp.symbol_rules import SymbolRules, failures_text

# Ours, so an order placed through this server can be recognised and looked up by its id.
CLIENT_ID_PREFIX: Final = "bmcp-"


def client_id(given: str | None) -> str:
    """The caller's id, or a fresh one: every order leaves with an id known before sending, so
    after a lost response it can be looked up instead of placed again."""
    return given if given else CLIENT_ID_PREFIX + secrets.token_hex(12)


def shape_problems(
    type: str,
    *,
    price: Decimal | None,
    stop: Decimal | None,
    tif: str | None,
    price_types: frozenset[str],
    stop_types: frozenset[str],
    tif_types: frozenset[str],
) -> list[str]:
    """What is missing or extra for this order type: Binance answers -1106 for a parameter a
    type does not take."""
    problems = []
    if type in price_types and price is None:
        problems.append(f"{type} needs price")
    if type not in price_types and price is not None:
        problems.append(f"{type} takes no price (remove it)")
    if type in stop_types and stop is None:
        problems.append(f"{type} needs stopPrice")
    if type not in stop_types and stop is not None:
        problems.append(f"{type} takes no stopPrice (remove it)")
    if tif is not None and type not in tif_types:
        problems.append(f"{type} takes no timeInForce; only {', '.join(sorted(tif_types))} do")
    return problems


def precheck(
    rules: SymbolRules,
    *,
    side: str,
    is_market: bool,
    price: Decimal | None,
    quantity: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    reduce_only: bool = False,
) -> None:
    """Raise `InvalidArgument` naming every failed filter; nothing is sent then."""
    if rules.status != "TRADING":
        raise InvalidArgument(f"{rules.symbol} is not trading now (status {rules.status})")
    checks = rules.check(
        side=side,
        is_market=is_market,
        price=price,
        quantity=quantity,
        stop_price=stop_price,
        reference_price=reference_price,
        reduce_only=reduce_only,
    )
    text = failures_text(rules.symbol, checks)
    if text is not None:
        raise InvalidArgument(text)
