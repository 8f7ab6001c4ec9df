"""What a policy decides, offline — no server, no exchange: `policy explain` (one call),
`policy test` (a file of calls with the decision each must get) and `tools --policy` (the 35
tools and what the policy does with each).

Calls are validated as the server validates them (the tools' own argument models) and decided
by the same engine (guard/explain.py). Facts the
server would ask the exchange for (a MARKET order's current price, the current leverage, the
open orders) are given by the user; a missing one denies, as it would in the server.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from binance_mcp.cli.guard_commands import print_errors
from binance_mcp.guard.engine import (
    ORDER_TOOLS,
    Decision,
    base_action,
    limits_for,
    rate_limits,
)
from binance_mcp.guard.explain import decide_offline, shown
from binance_mcp.guard.policy import Action, Policy, PolicyError, load_policy
from binance_mcp.tools.declare import ToolDef

if TYPE_CHECKING:
    from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata


class CallError(Exception):
    """A call that the server would refuse before the policy sees it (unknown tool, bad
    arguments); the text says what was wrong."""


def tool_named(name: str) -> ToolDef:
    from binance_mcp.tools import tool_def
    from binance_mcp.tools.catalogue import catalogue

    entry = catalogue().get(name)
    if entry is None:
        raise CallError(f"unknown tool {name!r}; `binance-mcp tools` lists the 35")
    return tool_def(name, entry.area)


@functools.cache
def _arguments_of(tool: ToolDef) -> FuncMetadata:
    """The tool's argument model as the server builds it (once per tool: it costs ~8 ms)."""
    from mcp.server.mcpserver.tools import Tool

    return Tool.from_function(tool.fn, name=tool.name, structured_output=True).fn_metadata


def validated(tool: ToolDef, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as the server would pass them to the tool (normalised symbols, decimals),
    or CallError naming each problem."""
    try:
        values = _arguments_of(tool).validate_arguments(dict(args))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        ]
        raise CallError(f"{tool.name}: invalid arguments: " + "; ".join(problems)) from None
    return {k: v for k, v in values.items() if v is not None}


def evaluate(
    policy: Policy,
    tool: ToolDef,
    args: Mapping[str, Any],
    given: Mapping[str, Any] | None = None,
    **context: Any,
) -> tuple[Decision, dict[str, Any]]:
    """The decision for this call and the facts it was made on, the arguments validated as
    the server validates them; `context`: venue, halted, reducing, used_today, repeat
    (guard/explain.py)."""
    return decide_offline(policy, tool.name, tool.risk, validated(tool, args), given, **context)


# --- policy explain ----------------------------------------------------------------------------


def explain(
    path: Path,
    tool_name: str,
    args_json: str,
    fact_pairs: list[str],
    venue: str,
    halted: str | None,
) -> int:
    try:
        policy = load_policy(path)
        tool = tool_named(tool_name)
        args = json.loads(args_json or "{}")
        if not isinstance(args, dict):
            raise CallError('--args must be a JSON object, e.g. \'{"symbol": "BTCUSDT"}\'')
        given = dict(_fact(pair) for pair in fact_pairs)
        decision, facts = evaluate(policy, tool, args, given, venue=venue, halted=halted)
    except PolicyError as exc:
        return print_errors(str(path), exc.errors)
    except json.JSONDecodeError as exc:
        return print_errors("--args", [f"not valid JSON ({exc.msg} at column {exc.colno})"])
    except CallError as exc:
        return print_errors("call", [str(exc)])
    out = sys.stdout
    out.write(f"decision: {decision.action}\n")
    out.write(f"rule:     {decision.rule}\n")
    out.write(f"reason:   {decision.reason}\n")
    if decision.action == "deny":
        out.write(f"the agent reads: {decision.denial()}\n")
    out.write("facts used:" + ("" if decision.facts else " none") + "\n")
    for name in dict.fromkeys(decision.facts):
        out.write(f"  {name} = {shown(facts.get(name))}\n")
    return 0


def _fact(pair: str) -> tuple[str, Any]:
    name, sep, value = pair.partition("=")
    if not sep or not name.strip():
        raise CallError(f"--fact {pair!r}: expected NAME=VALUE, e.g. notional=120")
    text = value.strip()
    if name.strip() == "open_orders":
        try:
            return "open_orders", int(text)
        except ValueError:
            raise CallError(f"--fact {pair!r}: open_orders is a whole number") from None
    if text.lower() in ("true", "false"):
        return name.strip(), text.lower() == "true"
    return name.strip(), text


# --- policy test -------------------------------------------------------------------------------


class Case(BaseModel):
    """One call and the decision the policy must give it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect: Action
    rule: str | None = None  # the decision's rule location, exactly
    reason: str | None = None  # a part of the decision's reason
    facts: dict[str, Any] = Field(default_factory=dict)  # what the exchange would say
    venue: str = "live"
    halted: str | None = None  # the kill switch is on, with this reason
    reducing: str | None = None  # trading is reducing, with this reason
    used_today: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    repeat: Annotated[int, Field(ge=1, le=10_000)] = 1  # the last of N identical calls

    @field_validator("facts")
    @classmethod
    def _facts(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "open_orders" in value and not isinstance(value["open_orders"], int):
            raise ValueError("open_orders is a whole number")
        return value


class Cases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = None  # informational: the file these cases were written for
    cases: list[Case] = Field(min_length=1)


def load_cases(path: Path) -> list[Case]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(str(path), [f"not valid YAML ({exc})"]) from None
    if isinstance(data, list):
        data = {"cases": data}
    try:
        return Cases.model_validate(data).cases
    except ValidationError as exc:
        raise PolicyError(
            str(path),
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()],
        ) from None


def run_case(policy: Policy, case: Case) -> str | None:
    """Why the case fails, or None when the policy decides as expected."""
    try:
        decision, _ = evaluate(
            policy,
            tool_named(case.tool),
            case.args,
            case.facts,
            venue=case.venue,
            halted=case.halted,
            reducing=case.reducing,
            used_today=case.used_today,
            repeat=case.repeat,
        )
    except CallError as exc:
        return str(exc)
    got = f"{decision.action} ({decision.rule}: {decision.reason})"
    if decision.action != case.expect:
        return f"expected {case.expect}, got {got}"
    if case.rule is not None and decision.rule != case.rule:
        return f"expected rule {case.rule}, got {got}"
    if case.reason is not None and case.reason not in decision.reason:
        return f"expected a reason containing {case.reason!r}, got {got}"
    return None


def test_cases(policy_path: Path, cases_path: Path) -> int:
    try:
        policy = load_policy(policy_path)
        cases = load_cases(cases_path)
    except PolicyError as exc:
        return print_errors(exc.source, exc.errors)
    failed = 0
    for i, case in enumerate(cases):
        label = case.name or f"{case.tool} #{i + 1}"
        problem = run_case(policy, case)
        if problem is None:
            sys.stdout.write(f"ok    {label}\n")
        else:
            failed += 1
            sys.stdout.write(f"FAIL  {label}: {problem}\n")
    sys.stdout.write(f"{len(cases) - failed} passed, {failed} failed ({cases_path})\n")
    return 1 if failed else 0


# --- tools --policy ----------------------------------------------------------------------------


def tools_table(path: Path | None) -> int:
    from binance_mcp.guard.policy import DEFAULT_POLICY
    from binance_mcp.tools import all_tools

    try:
        policy = DEFAULT_POLICY if path is None else load_policy(path)
    except PolicyError as exc:
        return print_errors(str(path), exc.errors)
    rows = []
    for t in all_tools():
        rows.append((t.name, t.risk, *describe(policy, t)))
    width = max(len(r[0]) for r in rows)
    sys.stdout.write(f"policy: {path or 'built-in default'}\n")
    for name, risk, action, detail in rows:
        sys.stdout.write(f"{name:<{width}}  {risk:<11}  {action:<8}  {detail}\n")
    return 0


def describe(policy: Policy, tool: ToolDef) -> tuple[str, str]:
    """What the policy does with every call of `tool` (its action), and what can change that
    for a given call."""
    if policy.hidden(tool.name):
        return "hidden", "not listed; calls are denied (hide)"
    action, where = base_action(policy, tool.name, tool.risk)
    notes = [where]
    rules = policy.tools.get(tool.name)
    if action != "deny":
        if rules is not None and rules.deny_if:
            notes.append(f"deny_if: {len(rules.deny_if)} rule(s)")
        if rules is not None and rules.approve_if and action != "approve":
            notes.append(f"approve_if: {len(rules.approve_if)} rule(s)")
        notes += [f"limits.{name}" for name in limits_for(policy, tool.name, tool.risk)]
        notes += [f"rate {limit.text}" for _, limit, _ in rate_limits(policy, tool.name, tool.risk)]
        if action == "dry_run" and tool.name not in ORDER_TOOLS:
            notes.append("sends nothing")
    if policy.mode == "monitor":
        notes.append("monitor mode: recorded, not enforced")
    return action, "; ".join(notes)
