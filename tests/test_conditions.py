"""Compiled policy conditions (conditions.py) against the plain reading of SPEC §4.3's
operators, written out here as the reference: every operator, every kind of value, and
hypothesis looking for a value and a condition on which the two disagree."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_mcp.guard.conditions import Incomparable, to_decimal
from binance_mcp.guard.policy import Condition

# --- the reference: each operator read literally, nothing precomputed (numbers are parsed by
# the same `to_decimal`: what is compiled is everything around it) ---------------------------


def ref_finite(value: Any) -> Decimal | None:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def ref_same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, str) and a.lower() == str(b).lower())
    x, y = ref_finite(a), ref_finite(b)
    if x is not None and y is not None:
        return x == y
    return str(a).strip().casefold() == str(b).strip().casefold()


def ref_holds(c: Condition, value: Any) -> bool:
    import re

    if c.exists is not None and (value is not None) != c.exists:
        return False
    if value is None:
        return c.model_fields_set <= {"exists"}
    given = c.model_fields_set
    checks = [
        ("eq" in given, lambda: ref_same(value, c.eq)),
        ("ne" in given, lambda: not ref_same(value, c.ne)),
        (c.in_ is not None, lambda: any(ref_same(value, v) for v in c.in_ or [])),
        (c.not_in is not None, lambda: not any(ref_same(value, v) for v in c.not_in or [])),
        (c.gt is not None, lambda: to_decimal(value) > c.gt),  # type: ignore[operator]
        (c.gte is not None, lambda: to_decimal(value) >= c.gte),  # type: ignore[operator]
        (c.lt is not None, lambda: to_decimal(value) < c.lt),  # type: ignore[operator]
        (c.lte is not None, lambda: to_decimal(value) <= c.lte),  # type: ignore[operator]
        (c.regex is not None, lambda: re.search(c.regex or "", str(value)) is not None),
    ]
    return all(check() for present, check in checks if present)


def outcome(test: Any, value: Any) -> bool | str:
    try:
        return bool(test(value))
    except Incomparable:
        return "incomparable"


# --- examples ------------------------------------------------------------------------------


def cond(**operators: Any) -> Condition:
    return Condition.model_validate(operators)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        (cond(eq="BTCUSDT"), " btcusdt ", True),  # text: no case, no surrounding spaces
        (cond(eq="1.0"), 1, True),  # numbers by value
        (cond(eq="1.0"), "1.00", True),
        (cond(eq=1), "one", False),
        (cond(eq=True), "TRUE", True),  # booleans only with booleans or the words
        (cond(eq=True), 1, False),
        (cond(eq="true"), True, False),
        (cond(eq=None), "None", True),
        (cond(ne="SELL"), "BUY", True),
        (cond(ne="SELL"), "sell", False),
        (cond(**{"in": ["BTCUSDT", "2"]}), Decimal("2.000"), True),
        (cond(**{"in": ["BTCUSDT", "2"]}), "ETHUSDT", False),
        (cond(not_in=["BTCUSDT"]), "ETHUSDT", True),
        (cond(gt="100"), "100.5", True),
        (cond(gt="100"), Decimal("100"), False),
        (cond(gte="100", lt="200"), 150, True),
        (cond(lte="0.001"), "0.0011", False),
        (cond(gt="1"), "abc", "incomparable"),
        (cond(gt="1"), True, "incomparable"),
        (cond(gt="1"), "NaN", "incomparable"),
        (cond(eq="x", gt="1"), "abc", False),  # the first failing operator decides
        (cond(regex="DOWN"), "BTCDOWNUSDT", True),
        (cond(regex="^BTC$"), "BTCUSDT", False),
        (cond(exists=True), None, False),
        (cond(exists=False), None, True),
        (cond(exists=False), "x", False),
        (cond(eq="x"), None, False),  # an absent fact satisfies only `exists`
        (cond(**{"in": ["NaN"]}), "nan", True),  # non-finite numbers compare as text
    ],
)
def test_operators(condition: Condition, value: Any, expected: bool | str) -> None:
    assert outcome(condition.test, value) == expected
    assert outcome(lambda v: ref_holds(condition, v), value) == expected


# --- the compiled form agrees with the reference everywhere --------------------------------

WORDS = ["BTCUSDT", " btcusdt", "BUY", "sell", "true", "False", "None", "", "1", "1.0",
         "1e3", "1000", "-0", "0", "NaN", "inf", "Infinity", " 2 ", "０", "١"]  # fmt: skip
values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["true", "TRUE", "false", "False"]),
    st.sampled_from(WORDS),
    st.text(max_size=6),
    st.integers(-1000, 1000),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
)
finite = st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-1000, max_value=1000
)
operands = st.one_of(st.sampled_from(WORDS), st.booleans(), st.integers(-5, 5), st.none())
conditions = st.fixed_dictionaries(
    {},
    optional={
        "eq": operands,
        "ne": operands,
        "in": st.lists(operands, max_size=4),
        "not_in": st.lists(operands, max_size=4),
        "gt": finite,
        "gte": finite,
        "lt": finite,
        "lte": finite,
        "regex": st.sampled_from(["USDT$", "^b", "(UP|DOWN)", "1", "[0-9]+"]),
        "exists": st.booleans(),
    },
).filter(bool)


@settings(max_examples=1500, deadline=None)
@given(operators=conditions, value=values)
def test_compiled_conditions_agree_with_the_reference(
    operators: dict[str, Any], value: Any
) -> None:
    condition = Condition.model_validate(operators)
    assert outcome(condition.test, value) == outcome(lambda v: ref_holds(condition, v), value)
