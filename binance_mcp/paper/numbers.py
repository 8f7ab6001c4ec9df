"""Decimal helpers shared by the paper exchange's filters and matching."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (`step` 0 means no grid)."""
    if step == 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def quantize_up(value: Decimal, step: Decimal) -> Decimal:
    if step == 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def on_grid(value: Decimal, start: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - start) % step == 0


def parse_decimal(text: str) -> Decimal | None:
    """Binance's decimal syntax: plain digits with an optional fraction, no sign, no exponent."""
    if not text or len(text) > 41 or not text.isascii():
        return None
    head, _, tail = text.partition(".")
    if not head.isdigit() or (tail and not tail.isdigit()):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def decimals(text: str) -> int:
    """Significant decimal places written (trailing zeros do not count, as on Binance)."""
    _, _, tail = text.partition(".")
    return len(tail.rstrip("0"))
