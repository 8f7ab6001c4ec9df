"""The policy file (SPEC §4.3): its model, and loading it with every error located.

Strict by design: an unknown key, tool, class, fact or operator is an error, never ignored, so a
typo cannot silently widen what an agent may do. Errors name their place in the file, e.g.
`tools.binance_spot_place_order.deny_if[0].when.notional: unknown operator 'gtt'`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from binance_mcp.guard.conditions import Test, compile_condition
from binance_mcp.guard.tool_index import RiskClass, tool_index

Action = Literal["allow", "deny", "approve", "dry_run"]
DERIVED_FACTS: Final = (
    "notional",
    "market",
    "venue",
    "reduces_position",
    "leverage",
    "sells_held",
    "position_notional_after",
    "exposure_after",
    "daily_loss",
)
RATE_UNITS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE: Final = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)\s*")


class PolicyError(Exception):
    """A policy that cannot be used; `errors` lists every problem with its location."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: " + "; ".join(self.errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Number = Annotated[Decimal, Field(allow_inf_nan=False)]


class Condition(_Strict):
    """`{operator: value}` for one fact; every operator given must hold."""

    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    gt: _Number | None = None
    gte: _Number | None = None
    lt: _Number | None = None
    lte: _Number | None = None
    regex: str | None = None
    exists: bool | None = None

    @functools.cached_property
    def test(self) -> Test:
        """Whether this condition holds for a fact's value, compiled on first use
        (conditions.py)."""
        return compile_condition(self)

    @model_validator(mode="after")
    def _one_at_least(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("give at least one operator: " + ", ".join(OPERATORS))
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"bad regex {self.regex!r}: {exc}") from None
        return self


OPERATORS: Final = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "regex", "exists")


class Rule(_Strict):
    when: dict[str, Condition] = Field(min_length=1)
    reason: str | None = None


class RateLimit(_Strict):
    count: int
    seconds: int
    text: str

    @classmethod
    def parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _RATE.fullmatch(value)
            if match is None or int(match.group(1)) < 1:
                raise ValueError(
                    f"rate limit {value!r} must look like N/second, N/minute, N/hour or N/day"
                )
            count, unit = int(match.group(1)), match.group(2)
            return {"count": count, "seconds": RATE_UNITS[unit], "text": f"{count}/{unit}"}
        return value


Rate = Annotated[RateLimit, BeforeValidator(RateLimit.parse)]


class ToolPolicy(_Strict):
    action: Action | None = None
    deny_if: list[Rule] = []
    approve_if: list[Rule] = []
    rate_limit: Rate | None = None


class ClassPolicy(_Strict):
    action: Action
    rate_limit: Rate | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_action(cls, value: Any) -> Any:
        return {"action": value} if isinstance(value, str) else value


class SymbolLimit(_Strict):
    allow: list[str] | None = None
    deny: list[str] | None = None

    @field_validator("allow", "deny")
    @classmethod
    def _normalise(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [s.strip().upper() for s in value]

    @model_validator(mode="after")
    def _one(self) -> SymbolLimit:
        if (self.allow is None) == (self.deny is None):
            raise ValueError("give exactly one of allow or deny")
        return self


class Limits(_Strict):
    symbols: SymbolLimit | None = None
    max_order_notional: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    max_leverage: Annotated[int, Field(ge=1, le=125)] | None = None
    daily_notional: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    max_open_orders: Annotated[int, Field(ge=0)] | None = None
    futures: Literal["allow", "reduce_only", "deny"] = "allow"
    # USDT: a symbol's position after an order (`position_notional_after`).
    max_position_notional: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    # USDT: the account's gross futures exposure after an order (`exposure_after`).
    max_exposure: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    # USDT: reached, trading turns `reducing` until the end of the UTC day (`daily_loss`).
    max_daily_loss: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None


class Policy(_Strict):
    version: Literal[1]
    mode: Literal["enforce", "monitor"] = "enforce"
    default: Action = "deny"
    classes: dict[RiskClass, ClassPolicy] = {}
    hide: list[str] = []
    tools: dict[str, ToolPolicy] = {}
    limits: Limits = Limits()

    def hidden(self, tool: str) -> bool:
        return "*" in self.hide or tool in self.hide


# SPEC §4.6: without a policy file, reads run and everything else asks a human.
DEFAULT_POLICY: Final = Policy(
    version=1,
    default="deny",
    classes={
        "read": ClassPolicy(action="allow"),
        "write": ClassPolicy(action="approve"),
        "financial": ClassPolicy(action="approve"),
        "destructive": ClassPolicy(action="approve"),
    },
)


@functools.cache
def tool_arguments() -> dict[str, tuple[RiskClass, frozenset[str]]]:
    """Each tool's risk class and argument names: what a policy may name."""
    return {s.name: (s.risk, s.arguments) for s in tool_index().values()}


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """Validate `data` (parsed YAML/JSON) into a Policy, or raise PolicyError with every error."""
    if not isinstance(data, Mapping):
        raise PolicyError(source, ["the policy must be a mapping (version: 1, ...)"])
    errors = _check_names(data)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = [_located(e) for e in exc.errors()] + errors
    if errors:
        raise PolicyError(source, errors)
    return policy


def load_policy(path: Path, content: bytes | None = None) -> Policy:
    """The policy in the file at `path`, or in `content` when the caller has read the file
    already (None: it could not be read, and is read again for the error)."""
    import yaml

    source = str(path)
    try:
        text = (path.read_bytes() if content is None else content).decode("utf-8")
    except OSError as exc:
        raise PolicyError(source, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise PolicyError(
            source, [f"not UTF-8 text (byte {exc.start}): save the policy as UTF-8"]
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(source, [f"{where}not valid YAML ({problem})"]) from None
    return parse_policy(data, source)


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + ("in" if part == "in_" else str(part))
    return text or "(top level)"


def _located(error: Mapping[str, Any]) -> str:
    loc = list(error["loc"])
    kind = error["type"]
    if loc[-1:] == ["[key]"] and loc[:1] == ["classes"]:
        return f"{_path(loc[:-1])}: unknown risk class; use read, write, financial or destructive"
    if kind == "extra_forbidden":
        *parent, key = loc
        parent_text = _path(parent)
        what = "operator" if len(parent) >= 2 and parent[-2] == "when" else "key"
        return f"{parent_text}: unknown {what} {str(key)!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{_path(loc)}: {message}"


def _check_names(data: Mapping[str, Any]) -> list[str]:
    """Tool names and facts must exist: a misspelt name would otherwise match nothing. Run on
    the raw data so these errors are reported alongside any shape errors."""
    known = tool_arguments()
    errors = []
    hide = data.get("hide")
    for i, name in enumerate(hide if isinstance(hide, list) else []):
        if name != "*" and name not in known:
            errors.append(f"hide[{i}]: unknown tool {name!r}")
    tools = data.get("tools")
    for name, rules in (tools if isinstance(tools, Mapping) else {}).items():
        if name not in known:
            errors.append(f"tools.{name}: unknown tool {name!r}")
            continue
        facts = known[name][1] | set(DERIVED_FACTS)
        for kind in ("deny_if", "approve_if"):
            listed = rules.get(kind) if isinstance(rules, Mapping) else None
            for i, rule in enumerate(listed if isinstance(listed, list) else []):
                when = rule.get("when") if isinstance(rule, Mapping) else None
                for fact in when if isinstance(when, Mapping) else {}:
                    if fact not in facts:
                        errors.append(
                            f"tools.{name}.{kind}[{i}].when.{fact}: unknown fact {fact!r} "
                            f"(this tool's facts: {', '.join(sorted(facts))})"
                        )
    return errors
