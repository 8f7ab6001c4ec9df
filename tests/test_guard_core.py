"""The guard's decision core, one function at a time: the decision (engine.py) with the rule,
reason and facts a person reads in a denial or in `policy explain`; the facts it decides on
(facts.py), with a stand-in exchange that records what it was asked; the counters and budgets
(store.py); the kill switch (trading_state.py, once halt.py); and conditions (conditions.py) as policy rules use them.

Fast and without a network: `python -m mutation.run` runs these first against each mutant.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final, cast

import anyio
import pytest

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.guard import trading_state as kill_switch
from binance_mcp.guard.conditions import Incomparable, to_decimal
from binance_mcp.guard.counting import count
from binance_mcp.guard.engine import (
    Decision,
    Unknown,
    base_action,
    decide,
    decide_counting,
    limits_for,
    may_need_approval,
    needed_facts,
    only_shrinks,
    rate_limits,
)
from binance_mcp.guard.facts import base_facts, derive, market_of, reduces_position
from binance_mcp.guard.policy import Condition, Policy, RateLimit, parse_policy
from binance_mcp.guard.store import (
    BudgetHit,
    Inline,
    MemoryCounters,
    OrderSlot,
    RateHit,
    Reach,
    StateStore,
    StateUnavailable,
    budget_denial,
    reach_denial,
    utc_day,
)
from binance_mcp.guard.tool_index import tool_index

SPOT = "binance_spot_place_order"
FUTURES = "binance_futures_place_order"
LEVERAGE = "binance_futures_change_leverage"
CLOSE = "binance_futures_close_position"
MARGIN = "binance_futures_set_margin_type"
PRICE = "binance_spot_price"
CANCEL = "binance_spot_cancel_order"
EVERYTHING = {"read": "allow", "write": "allow", "financial": "allow", "destructive": "allow"}


def policy(**doc: Any) -> Policy:
    """A policy as a person would write it (`classes` default: everything allowed)."""
    return parse_policy({"version": 1, "classes": EVERYTHING, **doc})


def decide_on(
    p: Policy,
    tool: str,
    facts: dict[str, Any],
    *,
    halted: str | None = None,
    reducing: str | None = None,
    counters: Any = None,
) -> Decision:
    """With `counters` (synchronous, as `MemoryCounters`), the call is counted as the guard
    counts it: the engine says what to count, then it is counted."""
    risk = tool_index()[tool].risk
    if counters is None:
        return decide(p, tool, risk, facts, halted=halted, reducing=reducing)
    pending = decide_counting(p, tool, risk, facts, halted=halted, reducing=reducing)
    return anyio.run(count, pending, Inline(counters))


def spot_order(notional: str | None = "95", **args: Any) -> dict[str, Any]:
    """The facts of a spot LIMIT BUY of 0.001 BTCUSDT at 95000, as the guard builds them."""
    given = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
             "quantity": Decimal("0.001"), "price": Decimal("95000"), **args}  # fmt: skip
    facts = base_facts(SPOT, given, "paper")
    if notional is not None:
        facts["notional"] = Decimal(notional)
    return facts


def futures_order(**args: Any) -> dict[str, Any]:
    given = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
             "quantity": Decimal("0.01"), **args}  # fmt: skip
    return base_facts(FUTURES, given, "paper")


def summary(d: Decision) -> tuple[str, str, str]:
    return d.action, d.rule, d.reason


# --- the decision: kill switch, hide, the tool's action ---------------------------------------


@pytest.mark.parametrize(
    ("tool", "halts"),
    [(SPOT, True), (MARGIN, True), (CLOSE, True), (LEVERAGE, True), (CANCEL, False),
     (PRICE, False)],
)  # fmt: skip
def test_the_kill_switch_denies_writes_and_orders_not_reads_or_cancels(
    tool: str, halts: bool
) -> None:
    p = policy()
    d = decide_on(p, tool, {}, halted="desk closed")
    if halts:
        assert summary(d) == ("deny", "kill switch", "trading is halted: desk closed")
        assert d.denial() == "Denied by policy: trading is halted: desk closed (kill switch)"
    else:
        assert summary(d)[0] == "allow"
    assert decide_on(p, tool, {}).action == "allow"


def test_the_kill_switch_comes_before_everything_else() -> None:
    p = policy(hide=[SPOT], tools={SPOT: {"action": "deny"}})
    assert decide_on(p, SPOT, spot_order(), halted="x").rule == "kill switch"


def test_a_hidden_tool_is_denied_whatever_its_action() -> None:
    p = policy(hide=[SPOT], tools={SPOT: {"action": "allow"}})
    d = decide_on(p, SPOT, spot_order())
    assert summary(d) == ("deny", "hide", "binance_spot_place_order is hidden by the policy")
    assert decide_on(p, PRICE, {}).action == "allow"
    everything = policy(hide=["*"])
    assert summary(decide_on(everything, PRICE, {}))[:2] == ("deny", "hide")


def test_the_action_of_the_tool_then_its_class_then_the_default() -> None:
    p = parse_policy({
        "version": 1,
        "default": "allow",
        "classes": {"financial": "approve", "write": "deny"},
        "tools": {SPOT: {"action": "deny"}, FUTURES: {"deny_if": []}, CLOSE: {"action": "allow"}},
    })  # fmt: skip
    d = decide_on(p, SPOT, spot_order())
    assert summary(d) == (
        "deny",
        "tools.binance_spot_place_order.action",
        "binance_spot_place_order is not allowed (the policy denies this tool)",
    )
    d = decide_on(p, MARGIN, {})
    assert summary(d) == (
        "deny",
        "classes.write",
        "binance_futures_set_margin_type is not allowed (the policy denies the write class)",
    )
    # A tool entry without an action falls back to its class; a class-less tool to the default.
    assert summary(decide_on(p, FUTURES, futures_order())) == (
        "approve", "classes.financial", "classes.financial requires approval")  # fmt: skip
    assert summary(decide_on(p, CLOSE, {})) == (
        "allow",
        "tools.binance_futures_close_position.action",
        "allowed",
    )
    assert summary(decide_on(p, PRICE, {})) == ("allow", "default", "allowed")
    closed = parse_policy({"version": 1})
    assert summary(decide_on(closed, PRICE, {})) == (
        "deny", "default", "binance_spot_price is not allowed (the policy denies the read class)")  # fmt: skip
    assert base_action(p, SPOT, "financial") == ("deny", "tools.binance_spot_place_order.action")
    assert base_action(p, FUTURES, "financial") == ("approve", "classes.financial")
    assert base_action(p, PRICE, "read") == ("allow", "default")


def test_approve_and_dry_run_actions() -> None:
    p = policy(tools={SPOT: {"action": "approve"}, FUTURES: {"action": "dry_run"}})
    assert summary(decide_on(p, SPOT, spot_order())) == (
        "approve",
        "tools.binance_spot_place_order.action",
        "tools.binance_spot_place_order.action requires approval",
    )
    assert summary(decide_on(p, FUTURES, futures_order())) == (
        "dry_run", "tools.binance_futures_place_order.action", "dry run: nothing is sent")  # fmt: skip
    assert summary(decide_on(p, PRICE, {})) == ("allow", "classes.read", "allowed")


# --- deny_if and approve_if -----------------------------------------------------------------


RULES = policy(
    tools={
        SPOT: {
            "deny_if": [
                {"when": {"symbol": {"eq": "ETHUSDT"}}, "reason": "no ether"},
                {"when": {"side": {"eq": "SELL"}, "type": {"eq": "MARKET"}}},
                {"when": {"notional": {"gte": "1000"}}, "reason": "too big"},
            ],
            "approve_if": [
                {"when": {"stopPrice": {"exists": True}}, "reason": "stops need a yes"},
                {"when": {"notional": {"gt": "50"}}},
            ],
        }
    }
)


def test_the_first_deny_if_rule_that_matches_denies_and_names_itself() -> None:
    d = decide_on(RULES, SPOT, spot_order(symbol="ETHUSDT"))
    assert summary(d) == ("deny", "tools.binance_spot_place_order.deny_if[0]", "no ether")
    assert d.facts == ("symbol",)
    assert d.denial() == "Denied by policy: no ether (tools.binance_spot_place_order.deny_if[0])"
    # Every fact of a rule must hold; a rule without a reason gets one.
    sell = spot_order(side="SELL", type="MARKET", notional="2000")
    d = decide_on(RULES, SPOT, sell)
    assert summary(d) == (
        "deny", "tools.binance_spot_place_order.deny_if[1]", "a deny_if rule matched")  # fmt: skip
    assert d.facts == ("symbol", "side", "type")
    d = decide_on(RULES, SPOT, spot_order(side="SELL", notional="2000"))
    assert summary(d) == ("deny", "tools.binance_spot_place_order.deny_if[2]", "too big")
    assert d.facts == ("symbol", "side", "type", "notional")


def test_approve_if_after_the_deny_rules() -> None:
    d = decide_on(RULES, SPOT, spot_order(type="STOP_LOSS_LIMIT", stopPrice=Decimal("94000")))
    assert summary(d) == (
        "approve", "tools.binance_spot_place_order.approve_if[0]", "stops need a yes")  # fmt: skip
    d = decide_on(RULES, SPOT, spot_order(notional="50.01"))
    assert summary(d) == (
        "approve", "tools.binance_spot_place_order.approve_if[1]", "approve_if matched")  # fmt: skip
    assert d.facts == ("symbol", "side", "notional", "stopPrice", "notional")
    d = decide_on(RULES, SPOT, spot_order(notional="50"))
    assert summary(d) == ("allow", "classes.financial", "allowed")
    assert d.facts == ("symbol", "side", "notional", "stopPrice", "notional")


def test_a_fact_that_cannot_be_had_or_compared_denies_at_its_rule() -> None:
    unknown = spot_order(notional=None)
    unknown["notional"] = Unknown("notional", "the exchange could not say (down)")
    d = decide_on(RULES, SPOT, unknown)
    assert summary(d) == (
        "deny",
        "tools.binance_spot_place_order.deny_if[2]",
        "cannot evaluate notional: the exchange could not say (down)",
    )
    p = policy(tools={SPOT: {"approve_if": [{"when": {"notional": {"gt": "1"}}}]}})
    d = decide_on(p, SPOT, unknown)
    assert summary(d) == (
        "deny",
        "tools.binance_spot_place_order.approve_if[0]",
        "cannot evaluate notional: the exchange could not say (down)",
    )
    words = policy(tools={SPOT: {"deny_if": [{"when": {"side": {"gt": "1"}}}]}})
    d = decide_on(words, SPOT, spot_order())
    assert summary(d) == (
        "deny", "tools.binance_spot_place_order.deny_if[0]", "cannot evaluate side: 'BUY' is not a number")  # fmt: skip
    asking = policy(tools={SPOT: {"approve_if": [{"when": {"side": {"lt": "1"}}}]}})
    d = decide_on(asking, SPOT, spot_order())
    assert summary(d) == (
        "deny", "tools.binance_spot_place_order.approve_if[0]", "cannot evaluate side: 'BUY' is not a number")  # fmt: skip
    assert str(Unknown("leverage", "no setting")) == "leverage unknown: no setting"


def test_an_absent_fact_matches_only_exists_false() -> None:
    p = policy(
        tools={
            SPOT: {
                "deny_if": [
                    {"when": {"stopPrice": {"ne": "1"}}, "reason": "ne"},
                    {"when": {"timeInForce": {"exists": False}}, "reason": "no tif"},
                ]
            }
        }
    )
    d = decide_on(p, SPOT, spot_order())
    assert summary(d) == ("deny", "tools.binance_spot_place_order.deny_if[1]", "no tif")
    assert decide_on(p, SPOT, spot_order(timeInForce="GTC")).action == "allow"


# --- conditions at a limit: what "equal" does -------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "below", "equal", "above"),
    [("gt", False, False, True), ("gte", False, True, True), ("lt", True, False, False),
     ("lte", True, True, False), ("eq", False, True, False), ("ne", True, False, True)],
)  # fmt: skip
def test_each_operator_at_its_boundary(
    operator: str, below: bool, equal: bool, above: bool
) -> None:
    p = policy(tools={SPOT: {"deny_if": [{"when": {"notional": {operator: "95"}}}]}})
    for notional, denied in (("94.99", below), ("95", equal), ("95.00", equal), ("95.01", above)):
        assert (decide_on(p, SPOT, spot_order(notional)).action == "deny") is denied, notional


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "True is not a number"), ("abc", "'abc' is not a number"),
     ("NaN", "'NaN' is not a finite number"), (Decimal("Infinity"), "Decimal('Infinity') is not a finite number"),
     (None, "None is not a number")],
)  # fmt: skip
def test_to_decimal_refuses_what_is_not_a_finite_number(value: Any, message: str) -> None:
    with pytest.raises(Incomparable) as refused:
        to_decimal(value)
    assert str(refused.value) == message


def test_to_decimal_reads_numbers_of_every_type() -> None:
    assert to_decimal("1e3") == Decimal(1000)
    assert to_decimal(7) == Decimal(7)
    assert to_decimal(Decimal("0.5")) == Decimal("0.5")
    assert to_decimal(" 2 ") == Decimal(2)


def test_booleans_match_booleans_and_their_words_only() -> None:
    yes = Condition.model_validate({"eq": True}).test
    assert yes(True) and yes("true") and yes("TRUE")
    assert not yes(False) and not yes(1) and not yes("yes")
    listed = Condition.model_validate({"in": [True, "BTCUSDT"]}).test
    assert listed(True) and listed("btcusdt") and listed("True")
    assert not listed(False) and not listed("ETHUSDT")
    words = Condition.model_validate({"in": ["true"]}).test
    assert not words(True) and words("TRUE")
    nothing = Condition.model_validate({"in": []}).test
    assert not nothing("x") and not nothing(0)
    none_of = Condition.model_validate({"not_in": ["BTCUSDT", 5]}).test
    assert none_of("ETHUSDT") and not none_of("btcusdt") and not none_of("5.0")


def test_exists_combines_with_other_operators() -> None:
    present_and_big = Condition.model_validate({"exists": True, "gt": "1"}).test
    assert present_and_big("2") and not present_and_big("1") and not present_and_big(None)
    absent = Condition.model_validate({"exists": False}).test
    assert absent(None) and not absent("x") and not absent(0)
    found = Condition.model_validate({"regex": "^BTC"}).test
    assert found("BTCUSDT") and not found("XBTCUSDT") and not found(None)


# --- limits ---------------------------------------------------------------------------------


def test_symbols_allow_and_deny() -> None:
    allow = policy(limits={"symbols": {"allow": ["btcusdt", " BNBUSDT"]}})
    d = decide_on(allow, SPOT, spot_order(symbol="ETHUSDT"))
    assert summary(d) == ("deny", "limits.symbols.allow", "ETHUSDT is not among BTCUSDT, BNBUSDT")
    assert d.facts == ("symbol",)
    d = decide_on(allow, SPOT, spot_order())
    assert summary(d) == ("allow", "classes.financial", "allowed") and d.facts == ("symbol",)
    # Cancels too; reads never.
    assert decide_on(allow, CANCEL, {"symbol": "ETHUSDT"}).rule == "limits.symbols.allow"
    assert decide_on(allow, PRICE, {"symbol": "ETHUSDT"}).action == "allow"
    # A call that names no symbol has nothing to check.
    assert decide_on(allow, CANCEL, {}).action == "allow"
    deny = policy(limits={"symbols": {"deny": ["BNBUSDT"]}})
    d = decide_on(deny, SPOT, spot_order(symbol="BNBUSDT"))
    assert summary(d) == ("deny", "limits.symbols.deny", "BNBUSDT is denied")
    assert d.facts == ("symbol",)
    assert decide_on(deny, SPOT, spot_order()).action == "allow"


@pytest.mark.parametrize("tool", [FUTURES, LEVERAGE, MARGIN, CLOSE])
def test_futures_deny_covers_the_four_futures_trading_tools(tool: str) -> None:
    p = policy(limits={"futures": "deny"})
    facts = futures_order() if tool == FUTURES else {"symbol": "BTCUSDT", "leverage": 2}
    assert summary(decide_on(p, tool, facts)) == (
        "deny",
        "limits.futures",
        "futures trading is denied",
    )


def test_futures_deny_leaves_cancels_reads_and_spot() -> None:
    p = policy(limits={"futures": "deny"})
    assert decide_on(p, "binance_futures_cancel_order", {"symbol": "BTCUSDT"}).action == "allow"
    assert decide_on(p, "binance_futures_positions", {}).action == "allow"
    assert decide_on(p, SPOT, spot_order()).action == "allow"


def test_futures_reduce_only() -> None:
    p = policy(limits={"futures": "reduce_only"})
    d = decide_on(p, FUTURES, futures_order())
    assert summary(d) == (
        "deny",
        "limits.futures",
        "futures are reduce-only: only orders that can only shrink a position",
    )
    assert d.facts == ("reduces_position",)
    assert decide_on(p, FUTURES, futures_order(side="SELL", reduceOnly=True)).action == "allow"
    assert decide_on(p, CLOSE, {"symbol": "BTCUSDT"}).action == "allow"
    assert decide_on(p, CLOSE, {}).action == "allow"  # a close needs no proof that it reduces
    assert (
        decide_on(p, LEVERAGE, base_facts(LEVERAGE, {"symbol": "BTCUSDT", "leverage": 2}, "x")).rule
        == "limits.futures"
    )
    d = decide_on(p, FUTURES, {"symbol": "BTCUSDT"})
    assert summary(d) == ("deny", "limits.futures", "cannot evaluate reduces_position: not known")
    assert decide_on(p, SPOT, spot_order()).action == "allow"


def test_max_order_notional_equal_passes_above_denies() -> None:
    p = policy(limits={"max_order_notional": "95"})
    d = decide_on(p, SPOT, spot_order("95"))
    assert summary(d) == ("allow", "classes.financial", "allowed")
    assert d.facts == ("notional",)
    d = decide_on(p, SPOT, spot_order("95.000001"))
    assert summary(d) == (
        "deny", "limits.max_order_notional", "order notional 95.000001 is above 95")  # fmt: skip
    assert d.denial() == (
        "Denied by policy: order notional 95.000001 is above 95 (limits.max_order_notional)"
    )
    d = decide_on(p, SPOT, spot_order(None))
    assert summary(d) == (
        "deny",
        "limits.max_order_notional",
        "cannot evaluate notional: not known",
    )
    missing = spot_order(None)
    missing["notional"] = Unknown("notional", "the order has no quantity")
    assert (
        decide_on(p, SPOT, missing).reason == "cannot evaluate notional: the order has no quantity"
    )
    # Tools that place no order have no notional to cap.
    assert decide_on(p, MARGIN, {"symbol": "BTCUSDT"}).action == "allow"


def test_an_order_that_only_reduces_is_not_capped_by_size_or_leverage() -> None:
    p = policy(limits={"max_order_notional": "10", "max_leverage": 2})
    reducing = {**futures_order(side="SELL", reduceOnly=True), "notional": Decimal(10**6),
                "leverage": 125}  # fmt: skip
    assert summary(decide_on(p, FUTURES, reducing)) == ("allow", "classes.financial", "allowed")
    opening = {**futures_order(), "notional": Decimal(5), "leverage": 3}
    assert summary(decide_on(p, FUTURES, opening)) == (
        "deny", "limits.max_leverage", "leverage 3 is above 2")  # fmt: skip
    opening["notional"] = Decimal(11)
    assert decide_on(p, FUTURES, opening).rule == "limits.max_order_notional"


def test_max_leverage_equal_passes_above_denies() -> None:
    p = policy(limits={"max_leverage": 5})
    change = base_facts(LEVERAGE, {"symbol": "BTCUSDT", "leverage": 5}, "paper")
    d = decide_on(p, LEVERAGE, change)
    assert d.action == "allow" and d.facts == ("leverage",)
    change = base_facts(LEVERAGE, {"symbol": "BTCUSDT", "leverage": 6}, "paper")
    d = decide_on(p, LEVERAGE, change)
    assert summary(d) == ("deny", "limits.max_leverage", "leverage 6 is above 5")
    assert d.facts == ("leverage",)
    order = {**futures_order(), "leverage": 20}
    assert decide_on(p, FUTURES, order).reason == "leverage 20 is above 5"
    order["leverage"] = Unknown("leverage", "no leverage setting for BTCUSDT")
    assert summary(decide_on(p, FUTURES, order)) == (
        "deny", "limits.max_leverage", "cannot evaluate leverage: no leverage setting for BTCUSDT")  # fmt: skip
    # Leverage limits are not about reads, and a tool without the fact has nothing to check.
    assert decide_on(p, "binance_calculate_position_size", {"leverage": 50}).action == "allow"
    assert decide_on(p, MARGIN, {"symbol": "BTCUSDT"}).action == "allow"


# --- budgets: daily notional and open orders --------------------------------------------------


def test_daily_notional_is_spent_up_to_the_limit_exactly() -> None:
    p = policy(limits={"daily_notional": "190"})
    counters = MemoryCounters()
    assert decide_on(p, SPOT, spot_order("95"), counters=counters).action == "allow"
    assert decide_on(p, SPOT, spot_order("95"), counters=counters).action == "allow"
    d = decide_on(p, SPOT, spot_order("0.01"), counters=counters)
    assert summary(d) == (
        "deny",
        "limits.daily_notional",
        "daily notional budget 190 (UTC day): 190 used, 0 left, this order needs 0.01",
    )
    assert d.facts == ("notional",)
    assert sorted(counters.reserved.values()) == [Decimal(95), Decimal(95)]


def test_daily_notional_counts_what_was_used_before() -> None:
    p = policy(limits={"daily_notional": "150"})
    d = decide_on(p, SPOT, spot_order("60"), counters=MemoryCounters(Decimal(100)))
    assert d.reason == "daily notional budget 150 (UTC day): 100 used, 50 left, this order needs 60"
    d = decide_on(p, SPOT, spot_order("1"), counters=MemoryCounters(Decimal(200)))
    assert d.reason == "daily notional budget 150 (UTC day): 200 used, 0 left, this order needs 1"
    assert (
        decide_on(p, SPOT, spot_order("50"), counters=MemoryCounters(Decimal(100))).action
        == "allow"
    )


def test_test_orders_reducing_orders_and_other_tools_spend_nothing() -> None:
    p = policy(limits={"daily_notional": "100"})
    counters = MemoryCounters()
    for _ in range(3):
        assert decide_on(p, SPOT, spot_order("90", test=True), counters=counters).action == "allow"
    reducing = {**futures_order(side="SELL", reduceOnly=True), "notional": Decimal(5000)}
    assert decide_on(p, FUTURES, reducing, counters=counters).action == "allow"
    assert decide_on(p, CLOSE, {"symbol": "BTCUSDT"}, counters=counters).action == "allow"
    assert (
        decide_on(p, LEVERAGE, {"symbol": "BTCUSDT", "leverage": 3}, counters=counters).action
        == "allow"
    )
    # Nothing of the 100 was spent: an order of 100 still fits, and one more does not.
    assert decide_on(p, SPOT, spot_order("100"), counters=counters).action == "allow"
    assert decide_on(p, SPOT, spot_order("0.5"), counters=counters).action == "deny"
    # A reducing order needs no notional at all, even when it cannot be computed.
    unknown = {**reducing, "notional": Unknown("notional", "down")}
    assert decide_on(p, FUTURES, unknown, counters=counters).action == "allow"


def test_without_counters_or_budgets_nothing_is_reserved() -> None:
    p = policy(limits={"daily_notional": "1"})
    assert decide_on(p, SPOT, spot_order("5")).action == "allow"  # no counters: not checked
    counters = MemoryCounters()
    assert decide_on(policy(), SPOT, spot_order("5"), counters=counters).action == "allow"
    symbols = policy(limits={"daily_notional": "100", "symbols": {"deny": ["BTCUSDT"]}})
    assert decide_on(symbols, SPOT, spot_order("5"), counters=counters).action == "deny"
    assert counters.reserved == {}
    unknown = spot_order(None)
    unknown["notional"] = Unknown("notional", "the exchange could not say (down)")
    d = decide_on(p, SPOT, unknown, counters=counters)
    assert summary(d) == (
        "deny", "limits.daily_notional", "cannot evaluate notional: the exchange could not say (down)")  # fmt: skip
    assert counters.reserved == {}


def test_max_open_orders_counts_this_order() -> None:
    p = policy(limits={"max_open_orders": 2})
    assert (
        decide_on(p, SPOT, {**spot_order(), "open_orders": 1}, counters=MemoryCounters()).action
        == "allow"
    )
    d = decide_on(
        p, SPOT, {**spot_order(), "open_orders": (2, time.time())}, counters=MemoryCounters()
    )
    assert summary(d) == (
        "deny", "limits.max_open_orders", "2 spot orders are open or being placed; the limit is 2")  # fmt: skip
    assert d.facts == ("open_orders",)
    d = decide_on(p, FUTURES, {**futures_order(), "open_orders": 5}, counters=MemoryCounters())
    assert d.reason == "5 futures orders are open or being placed; the limit is 2"
    d = decide_on(p, SPOT, spot_order(), counters=MemoryCounters())
    assert summary(d) == (
        "deny",
        "limits.max_open_orders",
        "cannot evaluate open_orders: not known",
    )
    none = policy(limits={"max_open_orders": 0})
    d = decide_on(none, SPOT, {**spot_order(), "open_orders": 0}, counters=MemoryCounters())
    assert d.reason == "0 spot orders are open or being placed; the limit is 0"
    # Test orders place nothing, so they are not counted.
    test_order = {**spot_order(test=True), "open_orders": 9}
    assert decide_on(p, SPOT, test_order, counters=MemoryCounters()).action == "allow"
    # No market fact: counted as spot.
    bare = {"symbol": "BTCUSDT", "open_orders": 3}
    assert decide_on(p, SPOT, bare, counters=MemoryCounters()).reason.startswith("3 spot orders")


def test_both_budgets_at_once() -> None:
    p = policy(limits={"daily_notional": "100", "max_open_orders": 3})
    d = decide_on(p, SPOT, {**spot_order("150"), "open_orders": 0}, counters=MemoryCounters())
    assert d.rule == "limits.daily_notional" and d.facts == ("notional", "open_orders")
    d = decide_on(p, SPOT, {**spot_order("50"), "open_orders": 3}, counters=MemoryCounters())
    assert d.rule == "limits.max_open_orders"


class BrokenCounters:
    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        raise StateUnavailable("state store /x/state.sqlite3 unavailable: disk I/O error")

    def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        raise StateUnavailable("state store /x/state.sqlite3 unavailable: disk I/O error")


def test_a_broken_store_denies_what_needs_it() -> None:
    p = policy(limits={"daily_notional": "100"})
    d = decide_on(p, SPOT, spot_order(), counters=BrokenCounters())
    assert summary(d) == (
        "deny",
        "limits",
        "cannot check budgets: state store /x/state.sqlite3 unavailable: disk I/O error",
    )
    rated = policy(
        classes={**EVERYTHING, "financial": {"action": "allow", "rate_limit": "5/minute"}},
        tools={SPOT: {"rate_limit": "1/second"}},
    )
    d = decide_on(rated, SPOT, spot_order(), counters=BrokenCounters())
    assert summary(d) == (
        "deny",
        "tools.binance_spot_place_order.rate_limit",
        "cannot count calls: state store /x/state.sqlite3 unavailable: disk I/O error",
    )
    by_class = policy(classes={**EVERYTHING, "read": {"action": "allow", "rate_limit": "5/minute"}})
    d = decide_on(by_class, PRICE, {}, counters=BrokenCounters())
    assert summary(d)[:2] == ("deny", "classes.read.rate_limit")
    # Without any limit that needs the store, it is not used.
    assert decide_on(policy(), SPOT, spot_order(), counters=BrokenCounters()).action == "allow"


# --- rate limits ----------------------------------------------------------------------------


def test_rate_limits_of_the_tool_and_of_its_class() -> None:
    p = policy(
        classes={**EVERYTHING, "read": {"action": "allow", "rate_limit": "2/minute"}},
        tools={PRICE: {"rate_limit": "5/minute"}, "binance_server_time": {"action": "allow"}},
    )
    counters = MemoryCounters()
    assert decide_on(p, PRICE, {}, counters=counters).action == "allow"
    assert decide_on(p, "binance_server_time", {}, counters=counters).action == "allow"
    d = decide_on(p, PRICE, {}, counters=counters)
    assert summary(d) == (
        "deny", "classes.read.rate_limit", "rate limit 2/minute for read reached; retry in 60 s")  # fmt: skip
    assert rate_limits(p, PRICE, "read") == [
        ("tool:binance_spot_price", p.tools[PRICE].rate_limit, "tools.binance_spot_price.rate_limit"),
        ("class:read", p.classes["read"].rate_limit, "classes.read.rate_limit"),
    ]  # fmt: skip
    assert rate_limits(p, SPOT, "financial") == []


def test_a_tool_rate_limit_names_the_tool() -> None:
    p = policy(tools={SPOT: {"rate_limit": "1/hour"}})
    counters = MemoryCounters()
    assert decide_on(p, SPOT, spot_order(), counters=counters).action == "allow"
    d = decide_on(p, SPOT, spot_order(), counters=counters)
    assert summary(d) == (
        "deny",
        "tools.binance_spot_place_order.rate_limit",
        "rate limit 1/hour for binance_spot_place_order reached; retry in 3600 s",
    )
    # Not counted without counters (policy explain without `repeat`).
    assert decide_on(p, SPOT, spot_order()).action == "allow"


def test_a_call_denied_earlier_is_not_counted_and_limits_beat_approval() -> None:
    p = policy(
        tools={SPOT: {"action": "approve", "rate_limit": "1/minute"}},
        limits={"symbols": {"allow": ["BTCUSDT"]}},
    )
    counters = MemoryCounters()
    for _ in range(3):
        assert decide_on(p, SPOT, spot_order(symbol="ETHUSDT"), counters=counters).action == "deny"
    assert decide_on(p, SPOT, spot_order(), counters=counters).action == "approve"
    assert decide_on(p, SPOT, spot_order(), counters=counters).rule.endswith(".rate_limit")


# --- what the rest of the guard asks of the policy ---------------------------------------------


def test_may_need_approval() -> None:
    p = parse_policy({
        "version": 1, "classes": {"financial": "approve", "read": "allow"},
        "tools": {FUTURES: {"action": "allow", "approve_if": [{"when": {"notional": {"gt": 1}}}]},
                  CLOSE: {"action": "allow"}},
    })  # fmt: skip
    assert may_need_approval(p, SPOT, "financial")
    assert may_need_approval(p, FUTURES, "financial")
    assert not may_need_approval(p, CLOSE, "financial")
    assert not may_need_approval(p, PRICE, "read")


def test_limits_for_lists_what_concerns_each_tool() -> None:
    p = policy(limits={"symbols": {"allow": ["BTCUSDT"]}, "max_order_notional": "100",
                       "max_leverage": 3, "daily_notional": "500", "max_open_orders": 5,
                       "futures": "reduce_only"})  # fmt: skip
    assert limits_for(p, SPOT, "financial") == [
        "symbols", "max_order_notional", "daily_notional", "max_open_orders"]  # fmt: skip
    assert limits_for(p, FUTURES, "financial") == [
        "symbols", "futures: reduce_only", "max_order_notional", "daily_notional",
        "max_open_orders", "max_leverage"]  # fmt: skip
    assert limits_for(p, LEVERAGE, "financial") == [
        "symbols",
        "futures: reduce_only",
        "max_leverage",
    ]
    assert limits_for(p, MARGIN, "write") == ["symbols", "futures: reduce_only"]
    assert limits_for(p, CANCEL, "destructive") == ["symbols"]
    assert limits_for(p, "binance_futures_cancel_all_orders", "destructive") == ["symbols"]
    assert limits_for(p, PRICE, "read") == []
    assert limits_for(p, "binance_account_status", "read") == []
    few = policy(limits={"max_order_notional": "100"})
    assert limits_for(few, SPOT, "financial") == ["max_order_notional"]
    assert limits_for(few, LEVERAGE, "financial") == []


def test_needed_facts_are_only_those_the_policy_uses() -> None:
    p = policy(
        tools={SPOT: {"deny_if": [{"when": {"side": {"eq": "SELL"}}}],
                      "approve_if": [{"when": {"market": {"eq": "spot"}}}]}},
        limits={"max_leverage": 3, "futures": "reduce_only", "max_open_orders": 2},
    )  # fmt: skip
    assert needed_facts(p, SPOT, "financial") == {"side", "market", "open_orders"}
    assert needed_facts(p, FUTURES, "financial") == {"leverage", "reduces_position", "open_orders"}
    assert needed_facts(p, LEVERAGE, "financial") == {"leverage", "reduces_position"}
    assert needed_facts(p, CLOSE, "financial") == {"reduces_position"}
    assert needed_facts(p, CANCEL, "destructive") == set()
    assert needed_facts(policy(limits={"daily_notional": "9"}), SPOT, "financial") == {"notional"}
    assert needed_facts(policy(limits={"max_order_notional": "9"}), FUTURES, "financial") == {
        "notional"
    }
    assert needed_facts(policy(limits={"max_order_notional": "9"}), CLOSE, "financial") == set()
    assert needed_facts(policy(), SPOT, "financial") == set()
    account = policy(
        limits={"max_position_notional": "9", "max_exposure": "9", "max_daily_loss": "9"}
    )
    assert needed_facts(account, FUTURES, "financial") == {
        "position_notional_after", "exposure_after", "notional", "daily_loss"}  # fmt: skip
    assert needed_facts(account, MARGIN, "write") == {"daily_loss"}
    assert needed_facts(account, CLOSE, "financial") == {"daily_loss"}
    assert needed_facts(account, CANCEL, "destructive") == set()
    assert needed_facts(account, PRICE, "read") == set()
    assert needed_facts(policy(limits={"max_exposure": "9"}), SPOT, "financial") == {
        "exposure_after",
        "notional",
    }


# --- facts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "market"),
    [(SPOT, {}, "spot"), (CANCEL, {}, "spot"), ("binance_account_info", {}, "spot"),
     (FUTURES, {}, "futures"), ("binance_portfolio_account", {}, "futures"),
     ("binance_exchange_info", {"market": "futures"}, "futures"),
     ("binance_exchange_info", {"market": None}, None), (PRICE, {}, "spot"),
     ("binance_server_time", {}, None), ("binance_calculate_position_size", {}, None)],
)  # fmt: skip
def test_the_market_fact(tool: str, args: dict[str, Any], market: str | None) -> None:
    assert market_of(tool, args) == market
    facts = base_facts(tool, args, "paper")
    assert facts.get("market") == market
    assert ("market" in facts) is (market is not None)


def test_base_facts_are_the_arguments_given_and_the_derived_basics() -> None:
    args = {"symbol": "BTCUSDT", "leverage": 7, "ctx": object(), "extra": None}
    facts = base_facts(LEVERAGE, args, "testnet")
    assert facts == {"symbol": "BTCUSDT", "leverage": 7, "venue": "testnet", "market": "futures",
                     "reduces_position": False}  # fmt: skip
    assert "leverage" not in base_facts(FUTURES, {"symbol": "BTCUSDT"}, "live")
    assert base_facts(PRICE, {}, "live") == {"venue": "live", "market": "spot",
                                             "reduces_position": False}  # fmt: skip


@pytest.mark.parametrize(
    ("tool", "args", "reduces"),
    [(CLOSE, {}, True), (SPOT, {"side": "SELL"}, False), (LEVERAGE, {}, False),
     (FUTURES, {"side": "SELL", "reduceOnly": True}, True),
     (FUTURES, {"side": "BUY", "closePosition": True}, True),
     (FUTURES, {"side": "SELL", "reduceOnly": False}, False),
     (FUTURES, {"side": "SELL", "positionSide": "LONG"}, True),
     (FUTURES, {"side": "BUY", "positionSide": "SHORT"}, True),
     (FUTURES, {"side": "BUY", "positionSide": "LONG"}, False),
     (FUTURES, {"side": "SELL", "positionSide": "SHORT"}, False),
     (FUTURES, {"side": "SELL", "positionSide": "BOTH"}, False), (FUTURES, {"side": "SELL"}, False)],
)  # fmt: skip
def test_reduces_position(tool: str, args: dict[str, Any], reduces: bool) -> None:
    assert reduces_position(tool, args) is reduces
    assert base_facts(tool, args, "paper")["reduces_position"] is reduces


class StandIn:
    """The exchange as facts.py uses it, answering from fixed figures and recording what it was
    asked. `broken` names reads that fail as the exchange layer reports failures."""

    def __init__(self, **figures: Any) -> None:
        self.price = figures.get("price", "40000")
        self.mark = figures.get("mark", "40010")
        self.leverage = figures.get("leverage", [("ETHUSDT", 50), ("BTCUSDT", 20)])
        self.positions = figures.get("positions", ["0"])
        self.open_spot = figures.get("open_spot", 0)
        self.open_futures = figures.get("open_futures", (0, 0))
        self.broken: set[str] = set(figures.get("broken", ()))
        self.asked: list[str] = []

    async def read(self, method: str, /, **params: Any) -> Any:
        self.asked.append(method)
        if method in self.broken:
            raise ToolFailure("Binance error -1001 (internal error)")
        symbol = params.get("symbol")
        return {
            "get_symbol_ticker": lambda: {"symbol": symbol, "price": self.price},
            "futures_mark_price": lambda: {"symbol": symbol, "markPrice": self.mark},
            "futures_symbol_config": lambda: [
                {"symbol": s, "leverage": lev} for s, lev in self.leverage
            ],
            "futures_position_information": lambda: [
                {"symbol": symbol, "positionAmt": a} for a in self.positions
            ],
            "get_open_orders": lambda: [{}] * self.open_spot,
        }[method]()

    async def futures_open_orders(self) -> tuple[list[Any], list[Any]]:
        self.asked.append("futures_open_orders")
        if "futures_open_orders" in self.broken:
            raise ToolFailure("Binance error -1001 (internal error)")
        regular, conditional = self.open_futures
        return [{}] * regular, [{}] * conditional


def derived(
    tool: str,
    args: dict[str, Any],
    needed: set[str],
    exchange: StandIn,
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    facts = {**base_facts(tool, args, "paper"), **(given or {})}

    async def venue() -> Exchange:
        return cast(Exchange, exchange)

    anyio.run(derive, tool, args, facts, frozenset(needed), venue)
    return facts


def notional(tool: str, exchange: StandIn | None = None, **args: Any) -> Any:
    exchange = exchange or StandIn()
    order = {
        "symbol": "BTCUSDT",
        **{
            k: Decimal(v) if k in ("quantity", "price", "stopPrice", "quoteOrderQty") else v
            for k, v in args.items()
        },
    }
    return derived(tool, order, {"notional"}, exchange)["notional"]


def test_a_plain_buy_is_valued_at_its_price_without_asking_the_exchange() -> None:
    exchange = StandIn(price="40000")
    assert notional(
        SPOT, exchange, side="BUY", type="LIMIT", quantity="0.002", price="39000"
    ) == Decimal("78")
    assert notional(
        SPOT, exchange, side="BUY", type="LIMIT_MAKER", quantity="1", price="45000"
    ) == Decimal("45000")
    assert notional(SPOT, exchange, side="BUY", type="MARKET", quoteOrderQty="25.5") == Decimal(
        "25.5"
    )
    assert exchange.asked == []


def test_a_market_order_or_a_sell_is_valued_at_the_current_price_at_least() -> None:
    exchange = StandIn(price="40000", mark="40010")
    assert notional(SPOT, exchange, side="BUY", type="MARKET", quantity="0.002") == Decimal("80")
    # A sell under the market fills at the market; above it, at its price.
    assert notional(
        SPOT, exchange, side="SELL", type="LIMIT", quantity="0.001", price="1"
    ) == Decimal("40")
    assert notional(
        SPOT, exchange, side="SELL", type="LIMIT", quantity="0.001", price="50000"
    ) == Decimal("50")
    # A price the order type does not take is not used (MARKET with a price).
    assert notional(
        SPOT, exchange, side="BUY", type="MARKET", quantity="0.001", price="1"
    ) == Decimal("40")
    assert exchange.asked == ["get_symbol_ticker"] * 4
    assert notional(FUTURES, exchange, side="BUY", type="MARKET", quantity="0.1") == Decimal("4001")
    assert notional(
        FUTURES, exchange, side="SELL", type="LIMIT", quantity="0.1", price="30000"
    ) == Decimal("4001")
    assert notional(
        FUTURES, exchange, side="BUY", type="LIMIT", quantity="0.1", price="30000"
    ) == Decimal("3000")
    assert exchange.asked[4:] == ["futures_mark_price"] * 2


@pytest.mark.parametrize(
    ("tool", "args", "value"),
    [
        # A buy stop far below the market, once triggered, buys at the market (issue 17).
        (SPOT, {"side": "BUY", "type": "STOP_LOSS", "quantity": "0.002", "stopPrice": "100"}, "80"),
        (SPOT, {"side": "BUY", "type": "TAKE_PROFIT", "quantity": "0.002", "stopPrice": "50000"}, "100"),
        (SPOT, {"side": "BUY", "type": "STOP_LOSS_LIMIT", "quantity": "0.002", "stopPrice": "100",
                "price": "45000", "timeInForce": "GTC"}, "90"),
        (SPOT, {"side": "BUY", "type": "TAKE_PROFIT_LIMIT", "quantity": "0.002", "stopPrice": "41000",
                "price": "100", "timeInForce": "GTC"}, "82"),
        (FUTURES, {"side": "BUY", "type": "STOP_MARKET", "quantity": "0.1", "stopPrice": "100"}, "4001"),
        (FUTURES, {"side": "BUY", "type": "STOP", "quantity": "0.1", "stopPrice": "100", "price": "42000"}, "4200"),
        (FUTURES, {"side": "BUY", "type": "TAKE_PROFIT_MARKET", "quantity": "0.1", "stopPrice": "45000"}, "4500"),
    ],
)  # fmt: skip
def test_a_triggered_order_is_valued_at_the_highest_of_trigger_limit_and_current_price(
    tool: str, args: dict[str, Any], value: str
) -> None:
    assert notional(tool, StandIn(price="40000", mark="40010"), **args) == Decimal(value)


def test_a_stop_price_counts_only_on_a_triggered_spot_order() -> None:
    exchange = StandIn(price="40000")
    limit = notional(SPOT, exchange, side="BUY", type="LIMIT", quantity="1", price="100",
                     stopPrice="99000")  # fmt: skip
    assert limit == Decimal(100) and exchange.asked == []


def test_close_position_without_quantity_is_valued_at_the_position() -> None:
    exchange = StandIn(mark="40000", positions=["0.01", "-0.02"])
    value = notional(FUTURES, exchange, side="SELL", type="MARKET", closePosition=True)
    assert value == Decimal("1200")
    assert exchange.asked == ["futures_position_information", "futures_mark_price"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [(SPOT, {"side": "BUY", "type": "MARKET"}), (FUTURES, {"side": "BUY", "type": "MARKET"}),
     (SPOT, {"side": "SELL", "type": "LIMIT", "price": "1", "closePosition": True})],
)  # fmt: skip
def test_an_order_without_quantity_has_no_notional(tool: str, args: dict[str, Any]) -> None:
    exchange = StandIn()
    value = notional(tool, exchange, **args)
    assert isinstance(value, Unknown)
    assert (value.fact, value.why) == ("notional", "the order has no quantity")
    assert exchange.asked == []


def test_what_the_exchange_cannot_say_is_unknown_and_denies() -> None:
    exchange = StandIn(broken={"get_symbol_ticker", "futures_symbol_config", "get_open_orders"})
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("1")}
    facts = derived(SPOT, order, {"notional", "open_orders"}, exchange)
    assert (
        facts["notional"].why == "the exchange could not say (Binance error -1001 (internal error))"
    )
    assert facts["notional"].fact == "notional" and facts["open_orders"].fact == "open_orders"
    p = policy(limits={"max_order_notional": "100"})
    assert decide_on(p, SPOT, facts).denial() == (
        "Denied by policy: cannot evaluate notional: the exchange could not say "
        "(Binance error -1001 (internal error)) (limits.max_order_notional)"
    )
    facts = derived(FUTURES, order, {"leverage"}, exchange)
    assert isinstance(facts["leverage"], Unknown) and facts["leverage"].fact == "leverage"


def test_the_leverage_fact() -> None:
    exchange = StandIn(leverage=[("ETHUSDT", 50), ("BTCUSDT", 20)])
    facts = derived(FUTURES, {"symbol": "BTCUSDT", "side": "BUY"}, {"leverage"}, exchange)
    assert facts["leverage"] == 20 and exchange.asked == ["futures_symbol_config"]
    facts = derived(FUTURES, {"symbol": "ETHUSDT", "side": "BUY"}, {"leverage"}, exchange)
    assert facts["leverage"] == 50
    missing = derived(FUTURES, {"symbol": "BNBUSDT"}, {"leverage"}, exchange)["leverage"]
    assert isinstance(missing, Unknown) and missing.why == "no leverage setting for BNBUSDT"
    assert missing.fact == "leverage"
    # The leverage a change asks for is the call's own: no exchange needed.
    facts: dict[str, Any] = {}

    async def no_venue() -> Exchange:
        raise AssertionError("the exchange was asked")

    anyio.run(derive, LEVERAGE, {"symbol": "BTCUSDT", "leverage": "9"}, facts,
              frozenset({"leverage"}), no_venue)  # fmt: skip
    assert facts == {"leverage": 9}
    # Other tools have neither leverage nor notional: the facts are absent.
    exchange = StandIn()
    assert derived(CLOSE, {"symbol": "BTCUSDT"}, {"leverage", "notional"}, exchange) == {
        "symbol": "BTCUSDT", "venue": "paper", "market": "futures", "reduces_position": True,
        "leverage": None, "notional": None}  # fmt: skip
    assert exchange.asked == []


def test_open_orders_of_the_orders_market() -> None:
    exchange = StandIn(open_spot=3, open_futures=(2, 4))
    before = time.time()
    count, listed_at = derived(SPOT, {"symbol": "BTCUSDT"}, {"open_orders"}, exchange)[
        "open_orders"
    ]
    assert count == 3 and before <= listed_at <= time.time()
    count, _ = derived(FUTURES, {"symbol": "BTCUSDT"}, {"open_orders"}, exchange)["open_orders"]
    assert count == 6
    assert exchange.asked == ["get_open_orders", "futures_open_orders"]


def test_only_the_facts_needed_and_not_given_are_derived() -> None:
    exchange = StandIn()
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("1")}
    facts = derived(SPOT, order, set(), exchange)
    assert "notional" not in facts and "open_orders" not in facts and "leverage" not in facts
    facts = derived(SPOT, order, {"notional", "open_orders"}, exchange,
                    given={"notional": Decimal(5), "open_orders": 1})  # fmt: skip
    assert (facts["notional"], facts["open_orders"]) == (Decimal(5), 1)
    facts = derived(FUTURES, order, {"leverage"}, exchange, given={"leverage": 3})
    assert facts["leverage"] == 3
    assert exchange.asked == []


# --- the counter store ----------------------------------------------------------------------


def slot(notional: str, market: str = "spot", *, daily: str | None = "100",
         max_open: int | None = None, open_now: int | None = None,
         listed_at: float | None = None) -> OrderSlot:  # fmt: skip
    return OrderSlot(market, Decimal(notional), None if daily is None else Decimal(daily),
                     max_open, open_now, listed_at)  # fmt: skip


def opening(open_now: int, listed_at: float | None = None, market: str = "spot") -> OrderSlot:
    """An order under `max_open_orders: 2` only, the exchange listing `open_now` open."""
    return slot("1", market, daily=None, max_open=2, open_now=open_now, listed_at=listed_at)


def test_budget_denial_messages() -> None:
    assert budget_denial(slot("40"), Decimal(60), 0) is None
    hit = budget_denial(slot("40.5"), Decimal(60), 0)
    assert hit == BudgetHit(
        "limits.daily_notional",
        "daily notional budget 100 (UTC day): 60 used, 40 left, this order needs 40.5",
    )
    hit = budget_denial(slot("1"), Decimal(150), 0)
    assert hit is not None and "150 used, 0 left" in hit.reason
    # An order charged nothing (it only reduces) passes even over budget.
    assert budget_denial(slot("0"), Decimal(150), 0) is None
    assert budget_denial(slot("500", daily=None), Decimal(150), 0) is None
    opens = slot("1", "futures", daily=None, max_open=3, open_now=1)
    assert budget_denial(opens, Decimal(0), 1) is None
    hit = budget_denial(opens, Decimal(0), 2)
    assert hit == BudgetHit(
        "limits.max_open_orders", "3 futures orders are open or being placed; the limit is 3")  # fmt: skip
    # Without a listing (policy tests give a count only), only the listing counts.
    assert budget_denial(slot("1", daily=None, max_open=3), Decimal(0), 10) is None


def test_store_reserves_settles_and_releases(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "new" / "dir", "paper")
    first = store.reserve(slot("60"))
    assert isinstance(first, str)
    assert store.used_today() == Decimal(60)
    hit = store.reserve(slot("50"))
    assert isinstance(hit, BudgetHit) and hit.reason.endswith(
        "60 used, 40 left, this order needs 50"
    )
    store.settle(first, placed=False)  # rejected: given back
    assert store.used_today() == Decimal(0)
    second = store.reserve(slot("50"))
    assert isinstance(second, str)
    store.settle(second, placed=True)  # placed: stays spent
    assert store.used_today() == Decimal(50)
    assert isinstance(store.reserve(slot("50.5")), BudgetHit)
    assert isinstance(store.reserve(slot("0")), str)  # charged nothing
    store.close()
    again = StateStore(tmp_path / "new" / "dir", "paper")  # survives a restart
    assert again.used_today() == Decimal(50)
    assert StateStore(tmp_path / "new" / "dir", "live").used_today() == Decimal(0)
    again.close()


def test_store_counts_orders_in_flight_that_the_listing_may_miss(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    reserved = store.reserve(opening(0))
    assert isinstance(reserved, str)
    # Reserved and unanswered: counted whatever the listing says.
    hit = store.reserve(opening(1, time.time()))
    assert isinstance(hit, BudgetHit) and hit.reason.startswith("2 spot orders")
    # Another market is counted apart.
    assert isinstance(store.reserve(opening(1, market="futures")), str)
    listed = time.time()
    time.sleep(0.01)
    store.settle(reserved, placed=True)
    # Placed after the listing was asked for: it may be missing from it, so it counts...
    assert isinstance(store.reserve(opening(1, listed)), BudgetHit)
    # ...placed before: the listing has it (open_now counts it), so it is not counted again.
    assert isinstance(store.reserve(opening(1, time.time())), str)
    store.close()


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / "state.sqlite3", isolation_level=None)


def test_a_stale_reservation_counts_as_placed_after_15_minutes(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    ident = store.reserve(slot("70", max_open=1, open_now=0))
    assert isinstance(ident, str)
    db = _db(tmp_path)
    # 899.5 s old: still in flight, so the next order would be one too many.
    db.execute("UPDATE orders SET reserved_at = ?", (time.time() - 899.5,))
    hit = store.reserve(slot("1", max_open=1, open_now=0, listed_at=time.time()))
    assert isinstance(hit, BudgetHit) and hit.rule == "limits.max_open_orders"
    # 900.5 s old: its server died mid-call. It counts as placed: spent, and no longer in flight.
    db.execute("UPDATE orders SET reserved_at = ?", (time.time() - 900.5,))
    assert isinstance(store.reserve(slot("1", max_open=1, open_now=0, listed_at=time.time())), str)
    state = db.execute(
        "SELECT state, settled_at = reserved_at FROM orders WHERE id = ?", (ident,)
    ).fetchone()
    assert state == ("placed", 1)
    assert store.used_today() == Decimal(71)
    hit = store.reserve(slot("30"))
    assert isinstance(hit, BudgetHit) and "71 used, 29 left" in hit.reason
    db.close()
    store.close()


def test_old_days_are_forgotten_after_three_days(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    assert isinstance(store.reserve(slot("1")), str)
    db = _db(tmp_path)
    today = datetime.now(UTC).date()
    for days in (2, 3, 4, 5):
        day = (today - timedelta(days=days)).isoformat()
        db.execute(
            "INSERT INTO orders (id, venue, day, market, notional, state, reserved_at) "
            "VALUES (?, 'paper', ?, 'spot', '1', 'placed', 0)",
            (f"old{days}", day),
        )
    assert isinstance(store.reserve(slot("1")), str)
    kept = sorted(row[0] for row in db.execute("SELECT id FROM orders WHERE id LIKE 'old%'"))
    assert kept == ["old2", "old3"]
    assert store.used_today() == Decimal(2)
    db.close()
    store.close()


def test_rate_limit_windows_slide_and_count_all_or_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    tool = ("tool:binance_spot_price", RateLimit(count=2, seconds=60, text="2/minute"))
    whole = ("class:read", RateLimit(count=3, seconds=3600, text="3/hour"))
    assert store.take_calls([tool, whole]) is None
    assert store.take_calls([tool, whole]) is None
    hit = store.take_calls([tool, whole])
    assert hit is not None and hit.key == "tool:binance_spot_price"
    assert hit.text() == "rate limit 2/minute for binance_spot_price reached; retry in 60 s"
    assert 59 < hit.retry_in <= 60
    # The refused call used no slot of the class: one more call of another read fits.
    assert store.take_calls([whole]) is None
    hit = store.take_calls([whole])
    assert hit is not None and hit.text().startswith("rate limit 3/hour for read reached")
    # Calls older than the window no longer count.
    db = _db(tmp_path)
    db.execute("UPDATE calls SET at = at - 61 WHERE key = 'paper|tool:binance_spot_price'")
    hit = store.take_calls([tool, whole])
    assert hit is not None and hit.key == "class:read" and 3538 < hit.retry_in <= 3600
    db.execute("UPDATE calls SET at = at - 3600")
    assert store.take_calls([tool, whole]) is None
    # Each venue counts its own calls.
    assert StateStore(tmp_path, "live").take_calls([tool, whole]) is None
    db.close()
    store.close()


def test_memory_counters_count_like_the_store() -> None:
    counters = MemoryCounters(Decimal(30))
    per_second = [("tool:x", RateLimit(count=1, seconds=1, text="1/second"))]
    assert counters.take_calls(per_second) is None
    hit = counters.take_calls(per_second)
    assert hit is not None and hit.text() == "rate limit 1/second for x reached; retry in 1 s"
    assert 0.9 < hit.retry_in <= 1
    time.sleep(1.01)  # the call left the window
    assert counters.take_calls(per_second) is None
    assert isinstance(counters.reserve(slot("70")), str)
    hit = counters.reserve(slot("0.1"))
    assert isinstance(hit, BudgetHit) and "100 used, 0 left" in hit.reason


def test_an_unusable_store_is_state_unavailable_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "state.sqlite3").mkdir()
    store = StateStore(tmp_path, "paper")
    with pytest.raises(StateUnavailable) as broken:
        store.reserve(slot("1"))
    assert str(tmp_path / "state.sqlite3") in str(broken.value)
    with pytest.raises(StateUnavailable):
        store.take_calls([("tool:x", RateLimit(count=1, seconds=60, text="1/minute"))])
    # Repaired, it is used again without a restart.
    (tmp_path / "state.sqlite3").rmdir()
    assert isinstance(store.reserve(slot("1")), str)
    store.close()


def test_utc_day() -> None:
    assert utc_day(0) == "1970-01-01"
    assert utc_day(86400 * 365 - 1) == "1970-12-31"
    assert utc_day() == datetime.now(UTC).date().isoformat()


# --- the kill switch ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "On", "halt", "2"])
def test_the_environment_kill_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BINANCE_MCP_HALT", value)
    assert kill_switch.halted(tmp_path) == "BINANCE_MCP_HALT is set"
    assert kill_switch.read(tmp_path) == kill_switch.Trading(
        kill_switch.TradingState.HALTED, "BINANCE_MCP_HALT is set", "environment"
    )


@pytest.mark.parametrize("value", ["", "0", "false", "no", " OFF "])
def test_the_environment_kill_switch_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BINANCE_MCP_HALT", value)
    assert kill_switch.halted(tmp_path) is None


def test_halt_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    state = tmp_path / "not" / "yet" / "there"
    assert kill_switch.halted(state) is None
    assert kill_switch.resume(state) is False
    kill_switch.halt(state, "market is mad")
    assert kill_switch.halted(state) == "halted with `binance-mcp halt`: market is mad"
    flag = json.loads(kill_switch.flag_path(state).read_text(encoding="utf-8"))
    assert flag["reason"] == "market is mad" and abs(flag["since"] - time.time()) < 5
    kill_switch.halt(state, "")  # again, on an existing dir, without a reason
    assert kill_switch.halted(state) == "halted with `binance-mcp halt`: no reason given"
    # Written whole or not at all: no temporary file is left beside it.
    assert [p.name for p in state.iterdir()] == [kill_switch.flag_path(state).name]
    assert kill_switch.resume(state) is True
    assert kill_switch.halted(state) is None
    assert kill_switch.resume(state) is False


def test_an_unreadable_flag_still_halts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    flag = kill_switch.flag_path(tmp_path)
    flag.mkdir()
    reason = kill_switch.halted(tmp_path)
    assert reason is not None and str(flag) in reason and "cannot be read" in reason


@pytest.mark.parametrize("content", [b"\xff\xfe garbage \x00", b"not json", b"[1, 2]", b'"text"'])
def test_a_damaged_flag_halts_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    """Issue 17: a damaged flag halts, with a reason naming the file and the way out."""
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    kill_switch.flag_path(tmp_path).write_bytes(content)
    reason = kill_switch.halted(tmp_path)
    assert reason is not None
    assert str(kill_switch.flag_path(tmp_path)) in reason and "binance-mcp resume" in reason
    d = decide_on(policy(), SPOT, spot_order(), halted=reason)
    assert summary(d) == ("deny", "kill switch", f"trading is halted: {reason}")


# --- the trading state, the daily loss, position and exposure (issue 18) -----------------------

REDUCING = "trading is reducing (set with `binance-mcp halt --reducing`: end of the week)"


@pytest.mark.parametrize(
    ("tool", "facts", "passes"),
    [(FUTURES, {"reduces_position": True}, True), (CLOSE, {"reduces_position": True}, True),
     (FUTURES, {"reduces_position": False}, False), (SPOT, {"side": "SELL", "sells_held": True}, True),
     (SPOT, {"side": "SELL", "sells_held": False}, False), (SPOT, {"side": "BUY", "sells_held": True}, False),
     (SPOT, {"side": "SELL", "reduces_position": True}, False), (MARGIN, {}, False),
     (LEVERAGE, {"reduces_position": False}, False), (CANCEL, {}, True), (PRICE, {}, True)],
)  # fmt: skip
def test_while_reducing_only_what_shrinks_passes(
    tool: str, facts: dict[str, Any], passes: bool
) -> None:
    d = decide_on(policy(), tool, facts, reducing=REDUCING)
    if passes:
        assert d.action == "allow"
    else:
        assert summary(d) == (
            "deny",
            "trading state",
            f"{REDUCING}: only cancels and orders that can only shrink a position pass",
        )
    assert decide_on(policy(), tool, facts).action == "allow"
    # Halted wins over reducing.
    assert decide_on(policy(), SPOT, {}, halted="x", reducing=REDUCING).rule == "kill switch"


def test_only_shrinks() -> None:
    assert only_shrinks(SPOT, {"side": "SELL", "sells_held": True})
    assert not only_shrinks(SPOT, {"side": "SELL", "sells_held": "true"})
    assert only_shrinks(FUTURES, {"reduces_position": True})
    assert not only_shrinks(FUTURES, {"reduces_position": 1})
    assert not only_shrinks(MARGIN, {})


def test_the_daily_loss_limit_stops_what_opens() -> None:
    p = policy(limits={"max_daily_loss": "100"})
    d = decide_on(p, FUTURES, {**futures_order(), "daily_loss": Decimal("100")})
    assert summary(d) == (
        "deny",
        "limits.max_daily_loss",
        "the day's loss 100 USDT reached the limit 100: only orders that can only shrink a "
        "position pass",
    )
    assert d.facts == ("daily_loss",)
    assert (
        decide_on(p, FUTURES, {**futures_order(), "daily_loss": Decimal("99.99")}).action == "allow"
    )
    over = {"daily_loss": Decimal(500)}
    assert (
        decide_on(p, FUTURES, {**futures_order(side="SELL", reduceOnly=True), **over}).action
        == "allow"
    )
    assert (
        decide_on(p, SPOT, {**spot_order(side="SELL"), "sells_held": True, **over}).action
        == "allow"
    )
    assert decide_on(p, SPOT, {**spot_order(side="SELL"), **over}).rule == "limits.max_daily_loss"
    assert decide_on(p, MARGIN, {"symbol": "BTCUSDT", **over}).rule == "limits.max_daily_loss"
    assert decide_on(p, CANCEL, {"symbol": "BTCUSDT", **over}).action == "allow"
    assert decide_on(p, PRICE, over).action == "allow"
    unknown = {
        **futures_order(),
        "daily_loss": Unknown("daily_loss", "the exchange could not say (x)"),
    }
    assert summary(decide_on(p, FUTURES, unknown)) == (
        "deny", "limits.max_daily_loss", "cannot evaluate daily_loss: the exchange could not say (x)")  # fmt: skip


def grows(before: str, after: str, notional: str = "100", **more: Any) -> dict[str, Any]:
    """A futures BUY's facts with its position figures."""
    return {**futures_order(), "notional": Decimal(notional), "position_notional": Decimal(before),
            "position_notional_after": Decimal(after), **more}  # fmt: skip


def test_a_position_cannot_grow_past_max_position_notional() -> None:
    p = policy(limits={"max_position_notional": "500"})
    d = decide_on(p, FUTURES, grows("300", "600"), counters=MemoryCounters())
    assert summary(d) == (
        "deny",
        "limits.max_position_notional",
        "BTCUSDT position would be 600 after this order, above the limit 500 (before it: 300)",
    )
    assert d.facts == ("position_notional_after", "notional")
    assert decide_on(p, FUTURES, grows("300", "500"), counters=MemoryCounters()).action == "allow"
    # An order that does not grow it passes, however large the position.
    assert decide_on(p, FUTURES, grows("900", "600"), counters=MemoryCounters()).action == "allow"
    assert decide_on(p, FUTURES, grows("900", "900"), counters=MemoryCounters()).action == "allow"
    # Without counters (no store), not checked.
    assert decide_on(p, FUTURES, grows("300", "600")).action == "allow"
    # Test orders place nothing.
    assert (
        decide_on(p, FUTURES, grows("300", "600", test=True), counters=MemoryCounters()).action
        == "allow"
    )


def test_position_and_exposure_figures_that_cannot_be_had_deny_growing_orders_only() -> None:
    p = policy(limits={"max_position_notional": "500", "max_exposure": "900"})
    unknown = grows("300", "400")
    unknown["position_notional_after"] = Unknown("position_notional_after", "down")
    d = decide_on(p, FUTURES, unknown, counters=MemoryCounters())
    assert summary(d) == (
        "deny", "limits.max_position_notional", "cannot evaluate position_notional_after: down")  # fmt: skip
    # The approval question counts nothing: the figures are left to the counted decision.
    assert decide_on(p, FUTURES, unknown).action == "allow"
    d = decide_on(p, FUTURES, grows("300", "400"), counters=MemoryCounters())
    assert summary(d) == (
        "deny", "limits.max_exposure", "cannot evaluate exposure_after: not known")  # fmt: skip
    no_size = {**grows("300", "400", exposure=Decimal(0), exposure_after=Decimal(100))}
    no_size["notional"] = Unknown("notional", "the order has no quantity")
    d = decide_on(p, FUTURES, no_size, counters=MemoryCounters())
    assert summary(d) == ("deny", "limits", "cannot evaluate notional: the order has no quantity")
    # An order that can only shrink needs none of them.
    reducing = {**futures_order(side="SELL", reduceOnly=True), "notional": Unknown("notional", "x"),
                "position_notional_after": Unknown("position_notional_after", "x")}  # fmt: skip
    assert decide_on(p, FUTURES, reducing, counters=MemoryCounters()).action == "allow"


def test_gross_exposure_cannot_grow_past_max_exposure() -> None:
    p = policy(limits={"max_exposure": "700"})
    facts = {**futures_order(), "notional": Decimal(100), "exposure": Decimal(631),
             "exposure_after": Decimal(731)}  # fmt: skip
    d = decide_on(p, FUTURES, facts, counters=MemoryCounters())
    assert summary(d) == (
        "deny",
        "limits.max_exposure",
        "gross futures exposure would be 731 after this order, above the limit 700 (before it: 631)",
    )
    assert d.facts == ("exposure_after", "notional")
    facts["exposure_after"] = Decimal(700)
    assert decide_on(p, FUTURES, facts, counters=MemoryCounters()).action == "allow"


def test_reach_denial_counts_orders_being_placed() -> None:
    reach = Reach(Decimal(300), Decimal(400), Decimal(500))
    position = OrderSlot(
        "futures", Decimal(0), None, None, None, None, "BTCUSDT", Decimal(100), reach
    )
    assert reach_denial(position, Decimal(100), Decimal(100)) is None
    hit = reach_denial(position, Decimal("100.01"), Decimal(0))
    assert hit is not None and hit.reason == (
        "BTCUSDT position would be 500.01 after this order, above the limit 500 "
        "(before it: 400.01 (100.01 of it in orders being placed))"
    )
    exposure = OrderSlot("futures", Decimal(0), None, None, None, None, "ETHUSDT", Decimal(100),
                         None, reach)  # fmt: skip
    hit = reach_denial(exposure, Decimal(500), Decimal(101))
    assert hit is not None and hit.rule == "limits.max_exposure"
    assert hit.reason.startswith("gross futures exposure would be 501 after this order")
    assert reach_denial(exposure, Decimal(500), Decimal(100)) is None
    shrinking = OrderSlot("futures", Decimal(0), None, None, None, None, "BTCUSDT", Decimal(100),
                          Reach(Decimal(900), Decimal(800), Decimal(500)))  # fmt: skip
    assert reach_denial(shrinking, Decimal(1000), Decimal(1000)) is None


def reach_slot(symbol: str, size: str, before: str, after: str, limit: str = "500",
               read_at: float = 0.0, exposure: bool = False) -> OrderSlot:  # fmt: skip
    reach = Reach(Decimal(before), Decimal(after), Decimal(limit), read_at)
    return OrderSlot("futures", Decimal(0), None, None, None, None, symbol, Decimal(size),
                     None if exposure else reach, reach if exposure else None)  # fmt: skip


def test_the_store_counts_position_growth_in_flight(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    first = store.reserve(reach_slot("BTCUSDT", "200", "100", "300"))
    assert isinstance(first, str)
    # The exchange does not show the first order yet: it is added to what the second sees.
    hit = store.reserve(reach_slot("BTCUSDT", "1", "100", "301"))
    assert isinstance(hit, BudgetHit) and hit.rule == "limits.max_position_notional"
    assert hit.reason == (
        "BTCUSDT position would be 501 after this order, above the limit 500 "
        "(before it: 300 (200 of it in orders being placed))"
    )
    assert isinstance(store.reserve(reach_slot("BTCUSDT", "1", "100", "300")), str)
    # Another symbol's position is apart; the gross exposure counts every symbol.
    assert isinstance(store.reserve(reach_slot("ETHUSDT", "199", "100", "301")), str)
    hit = store.reserve(reach_slot("SOLUSDT", "1", "0", "101", exposure=True))
    assert isinstance(hit, BudgetHit) and hit.rule == "limits.max_exposure"
    assert hit.reason == (
        "gross futures exposure would be 501 after this order, above the limit 500 "
        "(before it: 400 (400 of it in orders being placed))"
    )
    # Rejected, an order no longer counts.
    store.settle(first, placed=False)
    assert isinstance(store.reserve(reach_slot("BTCUSDT", "1", "100", "498")), str)
    store.close()


def test_placed_orders_count_until_the_exchange_shows_them(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    ident = store.reserve(reach_slot("BTCUSDT", "300", "0", "300"))
    assert isinstance(ident, str)
    before_answer = time.time()
    time.sleep(0.01)
    store.settle(ident, placed=True)
    after_answer = time.time()
    assert isinstance(
        store.reserve(reach_slot("BTCUSDT", "1", "0", "201", read_at=before_answer)), BudgetHit
    )
    assert isinstance(
        store.reserve(reach_slot("BTCUSDT", "1", "0", "201", read_at=after_answer + 1)), str
    )
    # A reservation older than two minutes is dropped: its server died, the exchange shows it.
    db = _db(tmp_path)
    db.execute("UPDATE in_flight SET reserved_at = reserved_at - 120.5, settled_at = NULL")
    assert isinstance(store.reserve(reach_slot("BTCUSDT", "1", "0", "499")), str)
    db.close()
    store.close()


def test_orders_that_do_not_reach_a_cap_hold_nothing_in_flight(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    assert isinstance(store.reserve(slot("400", daily="1000")), str)
    assert isinstance(store.reserve(reach_slot("BTCUSDT", "0", "0", "100")), str)
    assert isinstance(store.reserve(reach_slot("BTCUSDT", "1", "0", "500")), str)
    db = _db(tmp_path)
    assert db.execute("SELECT size FROM in_flight").fetchall() == [("1",)]
    db.close()
    store.close()


def test_memory_counters_check_position_and_exposure() -> None:
    counters = MemoryCounters()
    hit = counters.reserve(reach_slot("BTCUSDT", "1", "0", "501"))
    assert isinstance(hit, BudgetHit) and hit.rule == "limits.max_position_notional"
    assert isinstance(counters.reserve(reach_slot("BTCUSDT", "1", "0", "500")), str)
    hit = counters.reserve(reach_slot("BTCUSDT", "1", "0", "501", exposure=True))
    assert isinstance(hit, BudgetHit) and hit.rule == "limits.max_exposure"
    assert isinstance(counters.reserve(reach_slot("BTCUSDT", "1", "0", "500", exposure=True)), str)


def test_the_daily_loss_is_measured_from_the_days_high(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    assert store.day_high() is None
    assert store.daily_loss(Decimal(1000)) == 0  # the day's first value: the high
    assert store.daily_loss(Decimal(900)) == Decimal(100)
    assert store.daily_loss(Decimal(1200)) == 0  # a new high
    assert store.daily_loss(Decimal(1150)) == Decimal(50)
    assert store.day_high() == Decimal(1200)
    live = StateStore(tmp_path, "live")
    assert live.daily_loss(Decimal(1)) == 0  # each venue apart
    live.close()
    db = _db(tmp_path)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    older = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    for day in (yesterday, older):
        db.execute("INSERT INTO day_value (venue, day, high) VALUES ('paper', ?, '5')", (day,))
    store.restart_loss_count()  # after `resume`: counted afresh from the next value
    assert store.day_high() is None
    assert store.daily_loss(Decimal(1100)) == 0
    assert store.daily_loss(Decimal(1000)) == Decimal(100)
    days = sorted(row[0] for row in db.execute("SELECT day FROM day_value WHERE venue = 'paper'"))
    assert days == sorted([yesterday, datetime.now(UTC).date().isoformat()])
    db.close()
    store.close()


def test_calls_in_window(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    limit = [("tool:binance_spot_price", RateLimit(count=5, seconds=60, text="5/minute"))]
    assert store.calls_in_window("tool:binance_spot_price", 60) == 0
    store.take_calls(limit)
    store.take_calls(limit)
    assert store.calls_in_window("tool:binance_spot_price", 60) == 2
    live = StateStore(tmp_path, "live")
    assert live.calls_in_window("tool:binance_spot_price", 60) == 0
    live.close()
    db = _db(tmp_path)
    db.execute("UPDATE calls SET at = at - 30")
    assert store.calls_in_window("tool:binance_spot_price", 29) == 0
    assert store.calls_in_window("tool:binance_spot_price", 31) == 2
    db.close()
    store.close()


# --- trading states (trading_state.py) -------------------------------------------------------

States = kill_switch.TradingState


def test_how_each_trading_state_reads() -> None:
    Trading = kill_switch.Trading
    assert (
        Trading(States.HALTED, "x").why() == "trading is halted: halted with `binance-mcp halt`: x"
    )
    assert (
        Trading(States.HALTED).why()
        == "trading is halted: halted with `binance-mcp halt`: no reason given"
    )
    assert Trading(States.REDUCING, "weekend").why() == (
        "trading is reducing (set with `binance-mcp halt --reducing`: weekend)")  # fmt: skip
    by_loss = Trading(
        States.REDUCING, "the day's loss 120", kill_switch.BY_LOSS_LIMIT, day="2030-01-01"
    )
    assert by_loss.why() == "trading is reducing until the end of the UTC day (the day's loss 120)"
    assert Trading(States.HALTED, "BINANCE_MCP_HALT is set", "environment").why() == (
        "trading is halted: BINANCE_MCP_HALT is set")  # fmt: skip
    assert kill_switch.ACTIVE.why() == "trading is active"


def test_set_read_and_resume_a_trading_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    state = tmp_path / "new"
    assert kill_switch.read(state) == kill_switch.ACTIVE
    # An earlier version's halt flag still halts, with its reason; reducing replaces it.
    state.mkdir()
    (state / "halt.json").write_text('{"reason": "old flag", "since": 1}', encoding="utf-8")
    assert kill_switch.read(state) == kill_switch.Trading(States.HALTED, "old flag")
    assert kill_switch.halted(state) == "halted with `binance-mcp halt`: old flag"
    written = kill_switch.set_state(state, States.REDUCING, "weekend")
    assert not (state / "halt.json").exists()
    got = kill_switch.read(state)
    assert got == written and got.state is States.REDUCING and got.reason == "weekend"
    assert got.by == kill_switch.BY_PERSON and got.day is None
    assert got.since is not None and abs(got.since - time.time()) < 5
    assert kill_switch.halted(state) is None  # reducing is not halted
    assert [p.name for p in state.iterdir()] == ["trading-state.json"]
    assert (
        json.loads((state / "trading-state.json").read_text(encoding="utf-8"))["state"]
        == "reducing"
    )
    assert kill_switch.set_state(state, States.ACTIVE, None) == kill_switch.ACTIVE
    assert kill_switch.read(state) == kill_switch.ACTIVE and list(state.iterdir()) == []
    # A halt set while an old flag exists: resume removes both.
    (state / "halt.json").write_text("{}", encoding="utf-8")
    kill_switch.halt(state, "now")
    assert kill_switch.read(state).state is States.HALTED
    assert kill_switch.resume(state) is True
    assert list(state.iterdir()) == []
    assert kill_switch.resume(state) is False


def test_a_state_of_the_loss_limit_ends_with_its_day(tmp_path: Path) -> None:
    today = kill_switch.utc_today()
    assert today == datetime.now(UTC).date().isoformat()
    kill_switch.set_state(
        tmp_path, States.REDUCING, "loss", by=kill_switch.BY_LOSS_LIMIT, day=today
    )
    got = kill_switch.read(tmp_path)
    assert (got.state, got.by, got.day) == (States.REDUCING, kill_switch.BY_LOSS_LIMIT, today)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    kill_switch.set_state(
        tmp_path, States.REDUCING, "loss", by=kill_switch.BY_LOSS_LIMIT, day=yesterday
    )
    assert kill_switch.read(tmp_path) == kill_switch.ACTIVE


@pytest.mark.parametrize(
    "content",
    ['{"state": "bogus"}', '{"reason": "no state"}', '{"state": "halted", "reason": 5}',
     '{"state": "halted", "by": 3}', '{"state": "halted", "since": "x"}',
     '{"state": "halted", "day": 5}', "[1]", "{"],
)  # fmt: skip
def test_a_damaged_trading_state_file_halts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    path = kill_switch.flag_path(tmp_path)
    path.write_text(content, encoding="utf-8")
    got = kill_switch.read(tmp_path)
    assert got.state is States.HALTED and got.by == "damaged file"
    assert got.reason == (
        f"the trading state file {path} is damaged (not the JSON `binance-mcp halt` writes); "
        "trading stays halted until `binance-mcp resume` removes it"
    )


def test_a_damaged_old_halt_flag_halts_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    flag = tmp_path / "halt.json"
    flag.write_bytes(b"\xff")
    assert kill_switch.read(tmp_path).reason == (
        f"the halt flag {flag} is damaged (not the JSON `binance-mcp halt` writes); "
        "trading stays halted until `binance-mcp resume` removes it"
    )
    flag.unlink()
    flag.write_text('{"reason": 7}', encoding="utf-8")
    assert kill_switch.read(tmp_path) == kill_switch.Trading(States.HALTED, None)
    flag.unlink()
    flag.mkdir()
    got = kill_switch.read(tmp_path)
    assert got.by == "damaged file" and got.reason is not None
    assert got.reason.startswith(f"the halt flag {flag} exists but cannot be read (")
    assert got.reason.endswith(
        "); trading stays halted until it is readable or removed with `binance-mcp resume`"
    )


# --- account-wide facts: position, exposure, sells held, the account's value -------------------


class Account(StandIn):
    """A stand-in with a whole account: spot balances and open orders, futures positions and
    open orders, marks and tickers."""

    BALANCES: Final = [
        {"asset": "BTC", "free": "0.5", "locked": "0.1"},
        {"asset": "USDT", "free": "1000", "locked": "0"},
        {"asset": "XYZ", "free": "7", "locked": "0"},  # no USDT market: worth nothing here
        {"asset": "ETH", "free": "0", "locked": "0"},
    ]
    SPOT_ORDERS: Final = [
        {"side": "BUY", "origQty": "0.2", "executedQty": "0.05"},
        {"side": "SELL", "origQty": "0.3", "executedQty": "0"},
    ]
    POSITIONS: Final = [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.01"},
        {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "-1", "markPrice": "3000"},
    ]
    REGULAR: Final = [
        {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "origQty": "0.02",
         "executedQty": "0.005", "price": "39000"},
        {"symbol": "BTCUSDT", "side": "SELL", "positionSide": "BOTH", "origQty": "0.5",
         "executedQty": "0", "price": "41000", "reduceOnly": "true"},
    ]  # fmt: skip
    CONDITIONAL: Final = [
        {"symbol": "BTCUSDT", "side": "BUY", "origQty": "0.01", "executedQty": "0",
         "triggerPrice": "42000", "closePosition": "false"},
    ]  # fmt: skip

    async def read(self, method: str, /, **params: Any) -> Any:
        symbol = params.get("symbol")
        answers = {
            "get_account": lambda: {"balances": self.BALANCES},
            "get_all_tickers": lambda: [
                {"symbol": "BTCUSDT", "price": self.price},
                {"symbol": "ETHUSDT", "price": "3000"},
            ],
            "futures_account": lambda: {
                "totalWalletBalance": "1000",
                "totalUnrealizedProfit": "-50",
            },
        }
        if method in answers and method not in self.broken:
            self.asked.append(method)
            return answers[method]()
        if method == "get_open_orders" and symbol is not None:
            self.asked.append(method)
            return self.SPOT_ORDERS
        if method == "futures_position_information" and method not in self.broken:
            self.asked.append(method)
            return [r for r in self.POSITIONS if symbol in (None, r["symbol"])]
        if method == "futures_mark_price" and symbol is None:
            self.asked.append(method)
            return [{"symbol": "BTCUSDT", "markPrice": self.mark}]
        return await super().read(method, **params)

    async def rules(self, market: str, symbol: str) -> Any:
        return SimpleNamespace(base_asset=symbol.removesuffix("USDT"))

    async def futures_open_orders(self, symbol: str | None = None) -> tuple[list[Any], list[Any]]:
        self.asked.append("futures_open_orders")
        keep = [o for o in self.REGULAR if symbol in (None, o["symbol"])]
        return keep, [o for o in self.CONDITIONAL if symbol in (None, o["symbol"])]


def test_the_position_of_a_spot_order() -> None:
    # 0.6 BTC held (free and locked) and 0.15 still to buy, at 40000: 30000 before.
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.25")}
    before = time.time()
    facts = derived(SPOT, buy, {"position_notional_after"}, Account(price="40000"))
    assert (facts["position_notional"], facts["position_notional_after"]) == (
        Decimal(30000),
        Decimal(40000),
    )
    assert before <= facts["account_read_at"] <= time.time()
    by_quote = {**buy, "quantity": None, "quoteOrderQty": Decimal(4000)}
    facts = derived(SPOT, by_quote, {"position_notional_after"}, Account(price="40000"))
    assert facts["position_notional_after"] == Decimal(34000)
    sell = {**buy, "side": "SELL", "quantity": Decimal(2)}
    facts = derived(SPOT, sell, {"position_notional_after"}, Account(price="40000"))
    assert (facts["position_notional"], facts["position_notional_after"]) == (Decimal(30000), 0)
    nothing = {**buy, "quantity": None}
    facts = derived(SPOT, nothing, {"position_notional_after"}, Account(price="40000"))
    assert isinstance(facts["position_notional_after"], Unknown)
    assert facts["position_notional"] is facts["position_notional_after"]
    assert facts["position_notional_after"].why == "the order has no quantity"


def test_the_position_of_a_futures_order() -> None:
    # 0.01 held, 0.015 more to buy (the reduce-only SELL does not grow it), at 40010.
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.1")}
    facts = derived(FUTURES, buy, {"position_notional_after"}, Account(mark="40010"))
    assert facts["position_notional"] == Decimal("0.035") * 40010  # the conditional BUY too
    assert facts["position_notional_after"] == Decimal("0.135") * 40010
    close = {**buy, "side": "SELL", "quantity": None, "closePosition": True}
    facts = derived(FUTURES, close, {"position_notional_after"}, Account(mark="40010"))
    assert facts["position_notional_after"] == 0
    given = derived(FUTURES, buy, {"position_notional_after"}, Account(),
                    given={"position_notional_after": Decimal(5), "account_read_at": 1.0})  # fmt: skip
    assert given["position_notional_after"] == 5 and given["account_read_at"] == 1.0
    assert "position_notional" not in given


def test_the_gross_futures_exposure() -> None:
    # |0.01| x 40010 + |-1| x 3000 held, plus 0.015 at 39000 and 0.01 at 42000 resting.
    held = Decimal("0.01") * 40010 + 3000 + Decimal("0.015") * 39000 + Decimal("0.01") * 42000
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.1")}
    exchange = Account(mark="40010")
    facts = derived(FUTURES, buy, {"exposure_after"}, exchange)
    assert facts["notional"] == Decimal("4001")
    assert (facts["exposure"], facts["exposure_after"]) == (held, held + 4001)
    assert "position_notional" not in facts
    reducing = {**buy, "side": "SELL", "reduceOnly": True}
    facts = derived(FUTURES, reducing, {"exposure_after"}, Account(mark="40010"))
    assert facts["exposure_after"] == held
    spot_buy = derived(
        SPOT, {**buy, "quantity": Decimal("0.01")}, {"exposure_after"}, Account(price="40000")
    )
    assert spot_buy["exposure_after"] == held + 400
    spot_sell = derived(SPOT, {**buy, "side": "SELL"}, {"exposure_after"}, Account(price="40000"))
    assert spot_sell["exposure_after"] == held
    no_size = derived(FUTURES, {**buy, "quantity": None}, {"exposure_after"}, Account())
    assert (
        isinstance(no_size["exposure_after"], Unknown)
        and no_size["exposure"] is no_size["exposure_after"]
    )
    assert no_size["exposure_after"].why == "the order has no quantity"
    known = derived(FUTURES, buy, {"exposure_after"}, Account(), given={"notional": Decimal(1)})
    assert known["exposure_after"] == held + 1
    broken = derived(
        FUTURES, buy, {"exposure_after"}, Account(broken={"futures_position_information"})
    )
    assert (
        isinstance(broken["exposure_after"], Unknown)
        and broken["exposure_after"].fact == "exposure_after"
    )


def test_sells_held_and_the_accounts_value() -> None:
    sell = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "price": Decimal(1),
            "quantity": Decimal("0.5")}  # fmt: skip
    assert derived(SPOT, sell, {"sells_held"}, Account())["sells_held"] is True
    more = {**sell, "quantity": Decimal("0.50001")}  # the 0.1 locked is not free
    assert derived(SPOT, more, {"sells_held"}, Account())["sells_held"] is False
    assert derived(SPOT, {**sell, "side": "BUY"}, {"sells_held"}, Account())["sells_held"] is False
    assert "sells_held" not in derived(FUTURES, sell, {"sells_held"}, Account())
    assert "sells_held" not in derived(SPOT, sell, set(), Account())
    # 0.6 BTC at 40000 + 1000 USDT (+ XYZ, no USDT price) + futures 1000 - 50 unrealized.
    exchange = Account(price="40000")
    facts = derived(PRICE, {"symbol": "BTCUSDT"}, {"daily_loss"}, exchange)
    assert facts["account_value"] == Decimal(24000 + 1000 + 950)
    assert "daily_loss" not in facts
    for given in ({"daily_loss": Decimal(1)}, {"account_value": Decimal(2)}):
        exchange = Account()
        facts = derived(MARGIN, {"symbol": "BTCUSDT"}, {"daily_loss"}, exchange, given=given)
        assert exchange.asked == [] and facts.get("account_value") == given.get("account_value")
    broken = derived(MARGIN, {"symbol": "BTCUSDT"}, {"daily_loss"}, Account(broken={"get_account"}))
    assert (
        isinstance(broken["account_value"], Unknown)
        and broken["account_value"].fact == "daily_loss"
    )
    assert "account_read_at" not in derived(SPOT, sell, {"notional"}, Account())


def test_max_leverage_passes_a_call_that_has_no_leverage() -> None:
    """A spot order has no leverage (the fact is absent even when a rule asks for it)."""
    p = policy(
        tools={SPOT: {"deny_if": [{"when": {"leverage": {"exists": True}}}]}},
        limits={"max_leverage": 2},
    )
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": Decimal(1),
             "price": Decimal(1)}  # fmt: skip
    facts = derived(SPOT, order, needed_facts(p, SPOT, "financial"), StandIn())
    assert facts["leverage"] is None
    assert summary(decide_on(p, SPOT, facts)) == ("allow", "classes.financial", "allowed")


def test_the_store_is_shared_by_threads_and_reopens_after_close(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    assert isinstance(store.reserve(slot("10")), str)
    seen: list[Decimal] = []
    worker = threading.Thread(target=lambda: seen.append(store.used_today()))
    worker.start()
    worker.join()
    assert seen == [Decimal(10)]
    store.close()
    assert store.used_today() == Decimal(10)  # the same object, reopened
    db = _db(tmp_path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()
    store.close()


def test_a_damaged_store_says_so_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 200)
    store = StateStore(tmp_path, "paper")
    with pytest.raises(StateUnavailable) as damaged:
        store.reserve(slot("1"))
    assert str(damaged.value) == (
        f"state store {path} is damaged (file is not a database); trading is denied until it "
        "is restored from a backup or moved aside (a new one starts with empty budgets, "
        "counters and approvals)"
    )
    store.close()


def test_a_rate_limit_says_when_to_retry_never_below_zero(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "paper")
    per_second = [("tool:x", RateLimit(count=1, seconds=1, text="1/second"))]
    assert store.take_calls(per_second) is None
    db = _db(tmp_path)
    db.execute("UPDATE calls SET at = at - 0.7")
    hit = store.take_calls(per_second)
    assert hit is not None and 0 < hit.retry_in < 0.5
    assert hit.text() == "rate limit 1/second for x reached; retry in 0 s"
    db.close()
    store.close()


def test_a_state_file_written_by_another_process_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    path = kill_switch.flag_path(tmp_path)
    path.write_text(
        '{"state": "halted", "reason": "desk", "by": "person", "since": 5, "day": null}',
        encoding="utf-8",
    )
    assert kill_switch.halted(tmp_path) == "halted with `binance-mcp halt`: desk"
    today = kill_switch.utc_today()
    path.write_text(
        '{"state": "reducing", "reason": "loss 120", "by": "limits.max_daily_loss", '
        f'"since": 5, "day": "{today}"}}',
        encoding="utf-8",
    )
    assert kill_switch.read(tmp_path) == kill_switch.Trading(
        States.REDUCING, "loss 120", kill_switch.BY_LOSS_LIMIT, 5, today
    )
    assert kill_switch.read(tmp_path).why() == (
        "trading is reducing until the end of the UTC day (loss 120)"
    )


def test_resume_after_the_loss_limit_counts_the_loss_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    venues = ("live", "testnet", "demo", "paper")
    for venue in venues:
        store = StateStore(tmp_path, venue)
        store.daily_loss(Decimal(1000))
        store.close()
    kill_switch.halt(tmp_path, "by hand")
    was, was_on, problem = kill_switch.resume_trading(tmp_path)
    assert (was.state, was_on, problem) == (States.HALTED, True, None)
    assert all(StateStore(tmp_path, v).day_high() == Decimal(1000) for v in venues)
    today = kill_switch.utc_today()
    kill_switch.set_state(
        tmp_path, States.REDUCING, "loss", by=kill_switch.BY_LOSS_LIMIT, day=today
    )
    was, was_on, problem = kill_switch.resume_trading(tmp_path)
    assert (was.by, was_on, problem) == (kill_switch.BY_LOSS_LIMIT, True, None)
    assert kill_switch.read(tmp_path) == kill_switch.ACTIVE
    assert [StateStore(tmp_path, v).day_high() for v in venues] == [None] * 4
    assert kill_switch.resume_trading(tmp_path)[1] is False


def test_a_rule_on_the_figures_before_the_order_gets_them() -> None:
    """A rule may name `position_notional` or `exposure` alone: they are derived all the same."""
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.1")}
    facts = derived(FUTURES, buy, {"position_notional"}, Account(mark="40010"))
    assert facts["position_notional"] == Decimal("0.035") * 40010
    assert "account_read_at" not in facts  # no limit counts orders in flight against it
    facts = derived(FUTURES, buy, {"exposure"}, Account(mark="40010"))
    assert facts["exposure_after"] - facts["exposure"] == Decimal(4001)


def test_figures_given_are_not_asked_again() -> None:
    buy = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": Decimal("0.1")}
    exchange = Account()
    given = {"exposure_after": Decimal(7), "sells_held": False, "notional": Decimal(1)}
    facts = derived(SPOT, buy, {"exposure_after", "sells_held"}, exchange, given=given)
    assert (facts["exposure_after"], facts["sells_held"]) == (7, False)
    assert exchange.asked == []


def test_account_figures_that_cannot_be_had_name_their_fact() -> None:
    buy = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": Decimal("0.1")}
    broken = Account(broken={"futures_position_information", "get_account", "futures_mark_price"})
    facts = derived(FUTURES, buy, {"position_notional_after"}, broken)
    assert facts["position_notional_after"].fact == "position_notional_after"
    facts = derived(SPOT, buy, {"sells_held"}, broken)
    assert facts["sells_held"].fact == "sells_held"
    assert facts["sells_held"].why.startswith("the exchange could not say (")
    facts = derived(FUTURES, buy, {"exposure_after"}, broken)
    assert facts["notional"].fact == "notional" and facts["exposure_after"] is facts["notional"]


@pytest.mark.parametrize(
    ("tool", "needed", "first"),
    [
        (FUTURES, {"exposure"}, "futures_mark_price"),
        (FUTURES, {"exposure_after"}, "futures_mark_price"),
        (FUTURES, {"daily_loss"}, "get_account"),
        (SPOT, {"daily_loss"}, "get_all_tickers"),
        (SPOT, {"exposure_after"}, "get_symbol_ticker"),
    ],
)
def test_reads_of_every_symbol_come_first(tool: str, needed: set[str], first: str) -> None:
    """So that the order's own price is taken from them (exchange/client.py SHARED_READS). A
    futures LIMIT BUY's value needs no price: without the read first, the positions come first."""
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.1")}
    if tool == FUTURES:
        buy |= {"type": "LIMIT", "price": Decimal(39000), "timeInForce": "GTC"}
    exchange = Account(mark="40000", price="40000")
    derived(tool, buy, needed, exchange)
    assert exchange.asked[0] == first


def test_a_read_of_every_symbol_that_fails_is_left_to_the_figure() -> None:
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": Decimal("0.1")}
    broken = Account(broken={"get_all_tickers"})
    facts = derived(SPOT, buy, {"daily_loss"}, broken)
    assert facts["account_value"].fact == "daily_loss"


def test_the_guard_reads_the_sqlite_store_as_the_console_does(tmp_path: Path) -> None:
    """`InlineStore`: what the guard awaits is what the store itself answers."""
    from binance_mcp.guard.store import InlineStore

    store = StateStore(tmp_path, "paper")
    inline = InlineStore(store)
    slot = OrderSlot("spot", Decimal(40), Decimal(100), None, None, None)

    async def run() -> None:
        assert await inline.used_today() == 0
        assert isinstance(await inline.reserve(slot), str)
        assert await inline.used_today() == store.used_today() == Decimal(40)
        minute = RateLimit(count=5, seconds=60, text="5/minute")
        assert await inline.take_calls([("tool:binance_spot_price", minute)]) is None
        assert await inline.calls_in_window("tool:binance_spot_price", 60) == 1
        assert await inline.day_high() is None
        assert await inline.daily_loss(Decimal(1000)) == 0
        assert await inline.day_high() == store.day_high() == Decimal(1000)

    anyio.run(run)
    inline.close()
