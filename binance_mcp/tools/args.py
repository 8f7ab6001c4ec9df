"""Argument types shared by the tools: what the input schemas say, and how values are
normalised before anything (the policy included) sees them.

Symbols are trimmed and upper-cased and must be plain ASCII letters and digits, so `btcusdt `
and `BTCUSDT` are one symbol and a Cyrillic look-alike is refused. Quantities and prices are
`Decimal`, from a decimal string or a JSON number, finite, and never pass through a float; their
size is checked on the text, before any arithmetic (`bounded_number`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from binance_mcp.exchange.errors import InvalidArgument

_SYMBOL: Final = re.compile(r"[A-Z0-9]{2,30}")
_CLIENT_ID: Final = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")


def normalise_symbol(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    symbol = value.strip().upper()
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(
            f"symbol {value!r} is not a trading pair: use ASCII letters and digits, like BTCUSDT"
        )
    return symbol


def upper(value: Any) -> Any:
    """Trimmed upper case: agents write `btcusdt `, `buy`, `usdt`."""
    return value.strip().upper() if isinstance(value, str) else value


def check_window(start: int | None, end: int | None) -> None:
    """startTime after endTime can only be a mistake; say so instead of asking Binance."""
    if start is not None and end is not None and start > end:
        raise InvalidArgument(f"startTime {start} is after endTime {end}")


def _client_id(value: Any) -> Any:
    if isinstance(value, str) and not _CLIENT_ID.fullmatch(value):
        raise ValueError("client order ids are 1-36 characters of letters, digits and . : / _ -")
    return value


Symbol = Annotated[str, BeforeValidator(normalise_symbol)]
Symbols = Annotated[list[Symbol], Field(min_length=1, max_length=100)]
Side = Annotated[Literal["BUY", "SELL"], BeforeValidator(upper)]
MarketName = Annotated[
    Literal["spot", "futures"],
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]
PositionSide = Annotated[Literal["BOTH", "LONG", "SHORT"], BeforeValidator(upper)]
TimeInForce = Annotated[Literal["GTC", "IOC", "FOK"], BeforeValidator(upper)]


# Binance's own pattern for quantities and prices is ^([0-9]{1,20})(\.[0-9]{1,20})?$ (-1100).
MAX_DIGITS: Final = 20
# Longest number text looked at: 20 + 20 digits, a sign, a point, an exponent, some padding.
MAX_NUMBER_TEXT: Final = 64
# ASCII digits only (`\d` would take other scripts' digits), an optional point and exponent:
# anything else is refused before the decimal type reads it (it would take `1E-999_999_999`,
# whose size then goes unchecked, and writing such a number out costs gigabytes).
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# What the decimal type refuses with its own message (say which is wrong rather than malformed).
_SPECIAL: Final = frozenset({"nan", "-nan", "+nan", "snan", "inf", "-inf", "+inf", "infinity",
                             "-infinity", "+infinity"})  # fmt: skip
_RANGE: Final = (
    f"Binance takes at most {MAX_DIGITS} digits before and {MAX_DIGITS} after the decimal point"
)


def bounded_number(value: Any) -> Any:
    """Refuse a number too large or too fine for Binance from its text alone: '1E-999999999'
    would otherwise become a billion-character string when written out, and '1E+999999999'
    overflows the first multiplication. Other malformed values are left to the type's own
    check, which says what was wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(f"a number of {len(text)} characters is out of range: {_RANGE}")
    elif isinstance(value, int):
        # int → str is linear, but Python refuses it past 4300 digits; the bound is far below.
        if abs(value) >= 10**MAX_DIGITS:
            raise ValueError(f"{value:.3e} is out of range: {_RANGE}")
        return value
    else:
        text = repr(value)  # inf and nan are refused by the type (allow_inf_nan=False)
    if not _NUMBER.fullmatch(text):
        if text.lower() in _SPECIAL:
            return value  # refused by the type as not finite
        raise ValueError(
            f"{text[:40]!r} is not a decimal number: use ASCII digits with an optional point "
            "and exponent, like 0.001 or 1e-3"
        )
    try:
        _, digits, exponent = Decimal(text).as_tuple()
    except ArithmeticError:  # an exponent past what the decimal type can hold at all
        raise ValueError(f"{text} is out of range: {_RANGE}") from None
    assert isinstance(exponent, int)  # the pattern admits no NaN or Infinity
    if not any(digits):
        return value
    # Integer arithmetic on the exponent only: nothing here grows with its size.
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if exponent + len(digits) - 1 >= MAX_DIGITS:
        raise ValueError(f"{text} is too large: {_RANGE}")
    if -(exponent + trailing) > MAX_DIGITS:
        raise ValueError(f"{text} has too many decimals: {_RANGE}")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise ValueError("must not be negative")
    return value


# The tool list is paid for in the agent's context on every turn, so bounds that Binance's own
# parameter names imply (a price is positive, a time is not negative) are checked here rather
# than published in the schema.
# Published as strings, the form Binance takes and that keeps every digit; a JSON number is
# still accepted.
PositiveDecimal = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    BeforeValidator(bounded_number),
    AfterValidator(_positive),
    WithJsonSchema({"type": "string"}),
]
# A signed amount (a position size: + long, - short), bounded like the others.
SignedDecimal = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    BeforeValidator(bounded_number),
    WithJsonSchema({"type": "string"}),
]
Quantity = PositiveDecimal
Price = PositiveDecimal

ClientId = Annotated[str, BeforeValidator(_client_id)]
OrderId = Annotated[int, Field(gt=0)]
Millis = Annotated[int, AfterValidator(_not_negative)]  # Unix time, ms
FromId = Annotated[int, Field(ge=0)]
Limit1000 = Annotated[int, Field(ge=1, le=1000)]

Interval = Literal[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"
]
SpotInterval = Literal[
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
]
