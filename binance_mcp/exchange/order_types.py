"""Binance's order types, as the exchange defines them: the tools check orders and the guard
values them by the same sets."""

from __future__ import annotations

from typing import Final

# Spot order types that take a limit price, and those that take a stop price, as Binance
# defines them (sending anything else is -1106).
SPOT_PRICED: Final = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
SPOT_TRIGGERED: Final = frozenset(
    {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}
)
# USD-M futures order types that wait for a trigger (placed as conditional, algo, orders).
FUTURES_TRIGGERED: Final = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
