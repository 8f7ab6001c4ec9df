"""The decision (SPEC §4.2): given a policy, a tool call's facts and the trading state, what
happens — first match wins: halted or reducing → hidden → deny → limits (symbols, futures,
order size, leverage, position, exposure) → budgets → rate limit → approve → dry_run → allow.
Pure and I/O-free, so it costs microseconds: the guard gathers facts first, and where the
decision depends on the shared counters (budgets, rate limits), `decide_counting` says what to
count and guard/counting.py counts it against the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.conditions import Incomparable, to_decimal
from binance_mcp.guard.policy import Action, Policy, RateLimit, Rule, tool_arguments
from binance_mcp.guard.store import OrderSlot, Reach
from binance_mcp.guard.tool_index import RiskClass

# Tools that place orders: the ones `max_order_notional` and `daily_notional` concern.
ORDER_TOOLS: Final = frozenset({"binance_spot_place_order", "binance_futures_place_order"})
# Tools that set a leverage (`max_leverage` concerns them).
LEVERAGE_TOOLS: Final = frozenset(
    {"binance_futures_place_order", "binance_futures_change_leverage"}
)
# Futures tools that add or change exposure; `futures: deny | reduce_only` concerns them.
FUTURES_TRADING: Final = frozenset(
    {
        "binance_futures_place_order",
        "binance_futures_change_leverage",
        "binance_futures_set_margin_type",
        "binance_futures_close_position",
    }
)


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str  # where in the policy the decision came from
    reason: str
    facts: tuple[str, ...] = field(default=())

    def denial(self) -> str:
        return f"Denied by policy: {self.reason} ({self.rule})"


class Unknown(Exception):
    """A fact a rule needs could not be computed; the call is denied (fail closed)."""

    def __init__(self, fact: str, why: str) -> None:
        self.fact = fact
        self.why = why
        super().__init__(f"{fact} unknown: {why}")


@dataclass(frozen=True)
class Pending:
    """A decision that stands once the call is counted, and what to count, in the engine's
    order: first the order's share of the budgets, position and exposure (`slot`), then one
    call against each rate limit (`rates`: key, limit, where in the policy). Either may deny
    instead, on the facts in `used` (guard/counting.py `count`)."""

    decision: Decision
    slot: OrderSlot | None = None
    rates: tuple[tuple[str, RateLimit, str], ...] = ()
    used: tuple[str, ...] = ()


def decide(
    policy: Policy,
    tool: str,
    risk: RiskClass,
    facts: Mapping[str, Any],
    *,
    halted: str | None = None,
    reducing: str | None = None,
) -> Decision:
    """`facts` maps fact names to values; a value that is an `Unknown` could not be computed.
    `halted` is the kill switch's reason when it is on; `reducing`, the trading state's when
    only orders that shrink a position may pass. Nothing is counted: rate limits and budgets
    are not checked (the approval question asked before the call runs);
    `decide_counting` checks them."""
    return decide_counting(policy, tool, risk, facts, halted, reducing, counting=False).decision


def decide_counting(
    policy: Policy,
    tool: str,
    risk: RiskClass,
    facts: Mapping[str, Any],
    halted: str | None = None,
    reducing: str | None = None,
    *,
    counting: bool = True,
) -> Pending:
    """As `decide`, with what the call must count before its decision stands: the caller
    counts it (guard/counting.py) and releases the reservation when the call is denied later
    on or the exchange rejects the order. `counting=False` leaves the counts out."""
    if halted is not None and risk in ("write", "financial"):
        return Pending(Decision("deny", "kill switch", f"trading is halted: {halted}"))
    if reducing is not None and risk in ("write", "financial") and not only_shrinks(tool, facts):
        return Pending(
            Decision(
                "deny",
                "trading state",
                f"{reducing}: only cancels and orders that can only shrink a position pass",
            )
        )
    if policy.hidden(tool):
        return Pending(Decision("deny", "hide", f"{tool} is hidden by the policy"))
    action, where = base_action(policy, tool, risk)
    if action == "deny":
        subject = "this tool" if where.startswith("tools.") else f"the {risk} class"
        return Pending(
            Decision("deny", where, f"{tool} is not allowed (the policy denies {subject})")
        )
    rules = policy.tools.get(tool)
    used: list[str] = []
    if rules is not None:
        for i, rule in enumerate(rules.deny_if):
            hit = _matches(rule, facts, used, f"tools.{tool}.deny_if[{i}]")
            if isinstance(hit, Decision):
                return Pending(hit)
            if hit:
                reason = rule.reason or "a deny_if rule matched"
                return Pending(Decision("deny", f"tools.{tool}.deny_if[{i}]", reason, tuple(used)))
    limited = _limits(policy, tool, risk, facts, used)
    if limited is not None:
        return Pending(limited)
    slot = _budgets(policy, tool, facts, used) if counting else None
    if isinstance(slot, Decision):
        return Pending(slot)
    # A budget or rate limit that denies, once counted, cites the facts used so far.
    counted = tuple(used)
    rates = tuple(rate_limits(policy, tool, risk)) if counting else ()
    return Pending(_then(policy, tool, facts, action, where, used), slot, rates, counted)


def _then(
    policy: Policy, tool: str, facts: Mapping[str, Any], action: Action, where: str, used: list[str]
) -> Decision:
    """The decision past the limits, budgets and rate limits: approve, dry_run or allow."""
    if action == "approve":
        return Decision("approve", where, f"{where} requires approval", tuple(used))
    rules = policy.tools.get(tool)
    if rules is not None:
        for i, rule in enumerate(rules.approve_if):
            place = f"tools.{tool}.approve_if[{i}]"
            hit = _matches(rule, facts, used, place)
            if isinstance(hit, Decision):
                return hit
            if hit:
                return Decision("approve", place, rule.reason or "approve_if matched", tuple(used))
    if action == "dry_run":
        return Decision("dry_run", where, "dry run: nothing is sent", tuple(used))
    return Decision("allow", where, "allowed", tuple(used))


def only_shrinks(tool: str, facts: Mapping[str, Any]) -> bool:
    """Whether the call can only shrink a position: a futures order or close that reduces, or
    a spot SELL of at most the free balance of the asset (`sells_held`)."""
    if tool == "binance_spot_place_order":
        return facts.get("side") == "SELL" and facts.get("sells_held") is True
    return facts.get("reduces_position") is True


def base_action(policy: Policy, tool: str, risk: RiskClass) -> tuple[Action, str]:
    """The tool's own action, else its class's, else the default; and where it was set."""
    rules = policy.tools.get(tool)
    if rules is not None and rules.action is not None:
        return rules.action, f"tools.{tool}.action"
    by_class = policy.classes.get(risk)
    if by_class is not None:
        return by_class.action, f"classes.{risk}"
    return policy.default, "default"


def may_need_approval(policy: Policy, tool: str, risk: RiskClass) -> bool:
    """False when no call of `tool` can be sent for approval: the common case costs nothing."""
    rules = policy.tools.get(tool)
    return base_action(policy, tool, risk)[0] == "approve" or bool(rules and rules.approve_if)


def rate_limits(policy: Policy, tool: str, risk: RiskClass) -> list[tuple[str, RateLimit, str]]:
    found = []
    rules = policy.tools.get(tool)
    if rules is not None and rules.rate_limit is not None:
        found.append((f"tool:{tool}", rules.rate_limit, f"tools.{tool}.rate_limit"))
    by_class = policy.classes.get(risk)
    if by_class is not None and by_class.rate_limit is not None:
        found.append((f"class:{risk}", by_class.rate_limit, f"classes.{risk}.rate_limit"))
    return found


def _budgets(
    policy: Policy, tool: str, facts: Mapping[str, Any], used: list[str]
) -> OrderSlot | Decision | None:
    """The order's share of `daily_notional`, `max_open_orders`, the position and the
    exposure, to reserve against what every server sharing the counters holds; a denial when
    a fact it needs is unknown. Test orders place nothing and reserve nothing."""
    limits = policy.limits
    if tool not in ORDER_TOOLS or facts.get("test") is True:
        return None
    # Position and exposure caps limit growth: an order that can only shrink passes them.
    grows = not facts.get("reduces_position")
    position = limits.max_position_notional if grows else None
    exposure = limits.max_exposure if grows else None
    if (limits.daily_notional, limits.max_open_orders, position, exposure) == (None,) * 4:
        return None
    figures: dict[str, Decimal] = {}
    for cap, name in ((position, "position_notional_after"), (exposure, "exposure_after")):
        if cap is None:
            continue
        rule = "limits.max_position_notional" if name[0] == "p" else "limits.max_exposure"
        known = _known(facts, name, used, rule)
        if isinstance(known, Decision):
            return known
        figures[name] = to_decimal(known)
        before = facts.get(name.removesuffix("_after"))
        figures[name.removesuffix("_after")] = (
            to_decimal(before) if isinstance(before, Decimal | int | str) else figures[name]
        )
    size = Decimal(0)
    if figures:
        known = _known(facts, "notional", used, "limits")
        if isinstance(known, Decision):
            return known
        size = to_decimal(known)
    read_at = facts.get("account_read_at")
    # Unknown: every recent order may be missing from the figures (the safe side).
    read_at = float(read_at) if isinstance(read_at, int | float) else 0.0
    notional = Decimal(0)
    # Orders that can only shrink a position are not charged to the budget: it must never stand
    # between the agent and reducing risk.
    if limits.daily_notional is not None and not facts.get("reduces_position"):
        known = _known(facts, "notional", used, "limits.daily_notional")
        if isinstance(known, Decision):
            return known
        notional = to_decimal(known)
    open_now = listed_at = None
    if limits.max_open_orders is not None:
        known = _known(facts, "open_orders", used, "limits.max_open_orders")
        if isinstance(known, Decision):
            return known
        # From the exchange: (count, when listed); from a policy test: a count.
        open_now, listed_at = known if isinstance(known, tuple) else (int(known), None)
    return OrderSlot(
        market=str(facts.get("market", "spot")),
        notional=notional,
        daily_notional=limits.daily_notional,
        max_open_orders=limits.max_open_orders,
        open_now=open_now,
        listed_at=listed_at,
        symbol=str(facts.get("symbol", "")),
        size=size,
        position=Reach(
            figures["position_notional"], figures["position_notional_after"], position, read_at
        )
        if position is not None
        else None,
        exposure=Reach(figures["exposure"], figures["exposure_after"], exposure, read_at)
        if exposure is not None
        else None,
    )


def limits_for(policy: Policy, tool: str, risk: RiskClass) -> list[str]:
    """The `limits` keys that concern calls of `tool` (for `tools --policy`)."""
    limits, found = policy.limits, list[str]()
    if risk == "read":
        return found
    if limits.symbols is not None and "symbol" in tool_arguments()[tool][1]:
        found.append("symbols")
    if tool in FUTURES_TRADING and risk in ("write", "financial") and limits.futures != "allow":
        found.append(f"futures: {limits.futures}")
    if tool in ORDER_TOOLS:
        for name in ("max_order_notional", "daily_notional", "max_open_orders"):
            if getattr(limits, name) is not None:
                found.append(name)
    if limits.max_leverage is not None and tool in LEVERAGE_TOOLS:
        found.append("max_leverage")
    return found


def needed_facts(policy: Policy, tool: str, risk: RiskClass) -> frozenset[str]:
    """The derived facts this policy needs for this tool (the guard computes only those)."""
    names: set[str] = set()
    rules = policy.tools.get(tool)
    if rules is not None:
        for rule in (*rules.deny_if, *rules.approve_if):
            names.update(rule.when)
    limits = policy.limits
    if tool in ORDER_TOOLS and (limits.max_order_notional or limits.daily_notional):
        names.add("notional")
    if limits.max_leverage is not None and tool in LEVERAGE_TOOLS:
        names.add("leverage")
    if limits.futures == "reduce_only" and tool in FUTURES_TRADING:
        names.add("reduces_position")
    if limits.max_open_orders is not None and tool in ORDER_TOOLS:
        names.add("open_orders")
    if tool in ORDER_TOOLS and limits.max_position_notional is not None:
        names.update(("position_notional_after", "notional"))
    if tool in ORDER_TOOLS and limits.max_exposure is not None:
        names.update(("exposure_after", "notional"))
    if limits.max_daily_loss is not None and risk in ("write", "financial"):
        names.add("daily_loss")
    return frozenset(names)


def _limits(
    policy: Policy, tool: str, risk: RiskClass, facts: Mapping[str, Any], used: list[str]
) -> Decision | None:
    limits = policy.limits
    if risk == "read":
        return None
    symbol = facts.get("symbol")
    if limits.symbols is not None and isinstance(symbol, str):
        used.append("symbol")
        allowed = limits.symbols.allow
        if allowed is not None and symbol not in allowed:
            return Decision(
                "deny",
                "limits.symbols.allow",
                f"{symbol} is not among {', '.join(allowed)}",
                tuple(used),
            )
        denied = limits.symbols.deny
        if denied is not None and symbol in denied:
            return Decision("deny", "limits.symbols.deny", f"{symbol} is denied", tuple(used))
    if tool in FUTURES_TRADING and risk in ("write", "financial"):
        if limits.futures == "deny":
            return Decision("deny", "limits.futures", "futures trading is denied", tuple(used))
        if limits.futures == "reduce_only" and tool != "binance_futures_close_position":
            reduces = _known(facts, "reduces_position", used, "limits.futures")
            if isinstance(reduces, Decision):
                return reduces
            if reduces is not True:
                return Decision(
                    "deny",
                    "limits.futures",
                    "futures are reduce-only: only orders that can only shrink a position",
                    tuple(used),
                )
    opening = risk in ("write", "financial") and not only_shrinks(tool, facts)
    if limits.max_daily_loss is not None and opening:
        loss = _known(facts, "daily_loss", used, "limits.max_daily_loss")
        if isinstance(loss, Decision):
            return loss
        if to_decimal(loss) >= limits.max_daily_loss:
            return Decision(
                "deny",
                "limits.max_daily_loss",
                f"the day's loss {dec_str(to_decimal(loss))} USDT reached the limit "
                f"{dec_str(limits.max_daily_loss)}: only orders that can only shrink a position "
                "pass",
                tuple(used),
            )
    # The caps on size and leverage limit how much exposure grows; an order that can only shrink
    # a position lowers risk whatever its size or leverage, so it may always close.
    reducing = facts.get("reduces_position") is True
    if tool in ORDER_TOOLS and limits.max_order_notional is not None and not reducing:
        notional = _known(facts, "notional", used, "limits.max_order_notional")
        if isinstance(notional, Decision):
            return notional
        if to_decimal(notional) > limits.max_order_notional:
            return Decision(
                "deny",
                "limits.max_order_notional",
                f"order notional {dec_str(to_decimal(notional))} is above "
                f"{dec_str(limits.max_order_notional)}",
                tuple(used),
            )
    if (
        limits.max_leverage is not None
        and "leverage" in facts
        and not facts.get("reduces_position")
    ):
        leverage = _known(facts, "leverage", used, "limits.max_leverage", required=False)
        if isinstance(leverage, Decision):
            return leverage
        if leverage is not None and to_decimal(leverage) > limits.max_leverage:
            return Decision(
                "deny",
                "limits.max_leverage",
                f"leverage {leverage} is above {limits.max_leverage}",
                tuple(used),
            )
    return None


def _known(
    facts: Mapping[str, Any], name: str, used: list[str], place: str, required: bool = True
) -> Any:
    used.append(name)
    value = facts.get(name)
    if isinstance(value, Unknown):
        return Decision("deny", place, f"cannot evaluate {name}: {value.why}", tuple(used))
    if value is None and required:
        return Decision("deny", place, f"cannot evaluate {name}: not known", tuple(used))
    return value


def _matches(rule: Rule, facts: Mapping[str, Any], used: list[str], place: str) -> bool | Decision:
    for name, condition in rule.when.items():
        used.append(name)
        value = facts.get(name)
        if isinstance(value, Unknown):
            return Decision("deny", place, f"cannot evaluate {name}: {value.why}", tuple(used))
        try:
            if not condition.test(value):
                return False
        except Incomparable as exc:
            return Decision("deny", place, f"cannot evaluate {name}: {exc}", tuple(used))
    return True
