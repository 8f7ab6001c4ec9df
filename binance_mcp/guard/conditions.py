"""How a policy condition (`{operator: value}` for one fact) is tested against the fact's value.

Each condition is compiled once, when its policy is loaded, into the checks its operators need:
the guard tests every rule of a tool on every call, and re-reading ten optional operators and
re-parsing the policy's values each time cost most of a decision. Values compare as people
write them: numbers by value (`"1.0"` equals `1`), text without case or surrounding spaces,
booleans only with booleans or the words true/false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Protocol

Test = Callable[[Any], bool]


class Incomparable(Exception):
    """A number was needed (gt, gte, lt, lte) and the value is not one."""


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise Incomparable(f"{value!r} is not a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Incomparable(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise Incomparable(f"{value!r} is not a finite number")
    return number


@lru_cache(maxsize=4096)
def _number(text: str) -> Decimal | None:
    """The finite decimal a string spells, or None. Cached: calls carry the same symbols and
    values again and again, and a failed parse costs two exceptions."""
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _key(value: Any) -> tuple[bool, Any]:
    """What a non-boolean value is compared by: its number when it spells a finite one, else
    its text without case or surrounding spaces."""
    number = value if isinstance(value, Decimal) else _number(str(value))
    if number is not None and number.is_finite():
        return True, number
    return False, str(value).strip().casefold()


class _Values:
    """The values of `eq`, `ne`, `in` or `not_in`, ready for membership tests."""

    def __init__(self, values: Iterable[Any]) -> None:
        values = list(values)
        self.bools = {v for v in values if isinstance(v, bool)}
        self.bool_words = {str(v).lower() for v in self.bools}
        self.keys = {_key(v) for v in values if not isinstance(v, bool)}

    def has(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value in self.bools
        if isinstance(value, str) and value.lower() in self.bool_words:
            return True
        return bool(self.keys) and _key(value) in self.keys


class Operators(Protocol):
    """A condition's operators as the policy gives them (policy.py's `Condition`); those not
    given are None, and `model_fields_set` names the given ones."""

    @property
    def model_fields_set(self) -> set[str]: ...

    eq: Any
    ne: Any
    in_: list[Any] | None
    not_in: list[Any] | None
    gt: Decimal | None
    gte: Decimal | None
    lt: Decimal | None
    lte: Decimal | None
    regex: str | None
    exists: bool | None


def compile_condition(c: Operators) -> Test:
    """Whether `c` holds for a value (None: the fact is absent). Raises Incomparable when a
    comparison needs a number the value is not. Operators are checked in a fixed order, the
    first that fails decides."""
    given = c.model_fields_set
    only_exists = given <= {"exists"}
    exists = c.exists
    checks: list[Test] = []
    if "eq" in given:
        checks.append(_Values([c.eq]).has)
    if "ne" in given:
        ne = _Values([c.ne])
        checks.append(lambda v: not ne.has(v))
    if c.in_ is not None:
        checks.append(_Values(c.in_).has)
    if c.not_in is not None:
        not_in = _Values(c.not_in)
        checks.append(lambda v: not not_in.has(v))
    if c.gt is not None:
        gt = c.gt
        checks.append(lambda v: to_decimal(v) > gt)
    if c.gte is not None:
        gte = c.gte
        checks.append(lambda v: to_decimal(v) >= gte)
    if c.lt is not None:
        lt = c.lt
        checks.append(lambda v: to_decimal(v) < lt)
    if c.lte is not None:
        lte = c.lte
        checks.append(lambda v: to_decimal(v) <= lte)
    if c.regex is not None:
        # search, not fullmatch: `DOWN` finds BTCDOWNUSDT; anchor with ^ and $ for whole values.
        pattern = re.compile(c.regex)
        checks.append(lambda v: pattern.search(str(v)) is not None)

    def holds(value: Any) -> bool:
        if exists is not None and (value is not None) != exists:
            return False
        if value is None:
            # Only `exists` can say anything about an absent fact.
            return only_exists
        for check in checks:  # noqa: SIM110 - all() over a generator costs more, every call
            if not check(value):
                return False
        return True

    return holds
