"""Guard decision: what `policy_engine.decide(policy, tool, risk, facts)` costs per call, with
no I/O (no rate counters, no budgets, no kill-switch file: those are the guard's reads, not the
decision's).

Policies: each file in examples/policies/, and a generated one with 50 rules (deny_if and
approve_if over six tools, every `limits` key set, three hidden tools), all of whose rules are
evaluated and none match, so the call goes the longest way to `allow`. Facts are built as the
guard builds them (facts.base_facts, plus a Decimal notional for orders). The baseline is the
floor of `decide`: a policy with nothing in it but `default: allow`, deciding a read call.

p50/p99 time each decision alone (the timer's own cost, printed, is included); decisions/s
time a loop of them. The garbage collector stays on, as in the server.

    python -m bench.guard [--decisions N] [--quick]
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, NamedTuple

from bench.common import (
    EXAMPLE_POLICIES,
    Summary,
    finish,
    header,
    median,
    parser,
    percentile,
    table,
    us,
)
from binance_mcp.guard.engine import decide
from binance_mcp.guard.facts import base_facts
from binance_mcp.guard.policy import Policy, load_policy, parse_policy
from binance_mcp.guard.tool_index import RiskClass

TARGET_P99: Final = 100e-6  # SPEC §7: tens of microseconds


class Call(NamedTuple):
    label: str
    tool: str
    risk: RiskClass
    args: dict[str, Any]  # as validated by the tool's schema
    notional: Decimal | None  # what the guard would derive for an order


CALLS: Final = [
    Call("read price", "binance_spot_price", "read", {"symbol": "BTCUSDT"}, None),
    Call(
        "spot LIMIT order",
        "binance_spot_place_order",
        "financial",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": Decimal("0.01"),
            "price": Decimal("60000"),
            "timeInForce": "GTC",
        },
        Decimal("600"),
    ),
    Call(
        "futures MARKET order",
        "binance_futures_place_order",
        "financial",
        {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": Decimal("0.5")},
        Decimal("1500"),
    ),
    Call(
        "futures leverage",
        "binance_futures_change_leverage",
        "financial",
        {"symbol": "BTCUSDT", "leverage": 3},
        None,
    ),
]

ALLOWED_SYMBOLS: Final = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]

# Conditions a careful user might write; none holds for the calls above. Each rule's first
# condition holds where it can, so the second one is evaluated too.
ANY_TOOL: Final[list[dict[str, Any]]] = [
    {"symbol": {"not_in": ALLOWED_SYMBOLS}},
    {"symbol": {"regex": "(UP|DOWN|BULL|BEAR)USDT$"}},
    {"venue": {"eq": "live"}, "symbol": {"in": ["BTCUSDT", "ETHUSDT"]}},
    {"market": {"exists": True}, "symbol": {"eq": "DOGEUSDT"}},
]
ORDERS: Final[list[dict[str, Any]]] = [
    {"symbol": {"in": ["BTCUSDT", "ETHUSDT"]}, "notional": {"gt": "100000"}},
    {"side": {"in": ["BUY", "SELL"]}, "quantity": {"gt": "1000"}},
    {"venue": {"eq": "paper"}, "notional": {"gte": "250000"}},
    {"type": {"in": ["STOP_LOSS", "TAKE_PROFIT", "STOP_MARKET"]}, "quantity": {"lt": "0.00001"}},
    {"notional": {"exists": True}, "price": {"lte": "0.0001"}},
    {"side": {"ne": "HOLD"}, "notional": {"lt": "1"}},
]
LEVERAGE: Final[list[dict[str, Any]]] = [
    {"leverage": {"gt": 20}},
    {"symbol": {"in": ["BTCUSDT", "ETHUSDT"]}, "leverage": {"gte": 50}},
]
# tool → (deny_if rules, approve_if rules, condition pool): 50 rules in all.
GENERATED: Final[dict[str, tuple[int, int, list[dict[str, Any]]]]] = {
    "binance_spot_place_order": (8, 6, ORDERS + ANY_TOOL),
    "binance_futures_place_order": (8, 6, ORDERS + ANY_TOOL),
    "binance_futures_change_leverage": (4, 3, LEVERAGE + ANY_TOOL),
    "binance_spot_cancel_order": (3, 2, ANY_TOOL),
    "binance_futures_close_position": (3, 2, ANY_TOOL),
    "binance_spot_price": (3, 2, ANY_TOOL),
}


def generated_policy() -> tuple[Policy, int]:
    tools: dict[str, Any] = {}
    count = 0
    for tool, (denies, approvals, pool) in GENERATED.items():
        conditions = itertools.cycle(pool)
        tools[tool] = {
            "deny_if": [{"when": next(conditions), "reason": f"rule {i}"} for i in range(denies)],
            "approve_if": [{"when": next(conditions)} for _ in range(approvals)],
        }
        if tool.endswith("place_order"):
            tools[tool]["action"] = "allow"  # so that its approve_if rules are evaluated
        count += denies + approvals
    data = {
        "version": 1,
        "mode": "enforce",
        "default": "deny",
        "classes": {"read": "allow", "write": "approve", "financial": "allow"},
        "hide": [
            "binance_spot_cancel_all_orders",
            "binance_futures_cancel_all_orders",
            "binance_futures_set_margin_type",
        ],
        "tools": tools,
        "limits": {
            "symbols": {"allow": ALLOWED_SYMBOLS},
            "max_order_notional": "5000",
            "max_leverage": 10,
            "daily_notional": "20000",
            "max_open_orders": 20,
            "futures": "allow",
        },
    }
    return parse_policy(data, "generated"), count


def facts_for(call: Call) -> dict[str, Any]:
    """The facts as the guard builds them for this call."""
    facts = base_facts(call.tool, call.args, "paper")
    if call.notional is not None:
        facts["notional"] = call.notional
    return facts


def timer_cost() -> float:
    timer = time.perf_counter_ns
    samples = []
    for _ in range(10_000):
        t0 = timer()
        samples.append(timer() - t0)
    return median(samples) / 1e9


def one_by_one(call: Callable[[], object], n: int) -> list[float]:
    timer = time.perf_counter_ns
    samples = [0] * n
    for i in range(n):
        t0 = timer()
        call()
        samples[i] = timer() - t0
    return [s / 1e9 for s in samples]


def per_second(call: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - started)


def measure(policy: Policy, call: Call, n: int) -> tuple[str, float, float, float]:
    """(outcome, p50 s, p99 s, decisions/s) of deciding `call` under `policy`."""
    decision = functools.partial(decide, policy, call.tool, call.risk, facts_for(call))
    outcome = decision().action
    for _ in range(min(n, 1000)):  # caches (compiled regexes), branch warm-up
        decision()
    samples = one_by_one(decision, n)
    return outcome, median(samples), percentile(samples, 99), per_second(decision, n)


def main(argv: list[str] | None = None) -> int:
    p = parser("guard", __doc__ or "")
    p.add_argument(
        "--decisions", type=int, default=20_000, help="per policy and call (default 20000)"
    )
    args = p.parse_args(argv)
    n = 300 if args.quick else max(100, args.decisions)
    header(
        "guard decision: policy_engine.decide(policy, tool, risk, facts), no I/O",
        f"{n} decisions timed one by one per row (p50/p99), {n} more in a loop (decisions/s)",
        args.quick,
    )
    generated, rules = generated_policy()
    # `*.cases.yaml` files are test cases for `binance-mcp policy test`, not policies.
    files = sorted(f for f in EXAMPLE_POLICIES.glob("*.yaml") if not f.name.endswith(".cases.yaml"))
    policies = [(f"examples/policies/{path.name}", load_policy(path)) for path in files]
    policies.append((f"generated, {rules} rules + limits", generated))
    floor = parse_policy({"version": 1, "default": "allow"}, "floor")

    base = measure(floor, CALLS[0], n)
    base_p50 = base[1]
    rows = [
        [
            "baseline: `default: allow` only",
            CALLS[0].label,
            base[0],
            us(base[1]),
            us(base[2]),
            f"{base[3]:,.0f}",
            "1.00",
        ]
    ]
    worst_p99 = 0.0
    generated_p50 = 0.0
    for name, policy in policies:
        for call in CALLS:
            outcome, p50, p99, rate = measure(policy, call, n)
            worst_p99 = max(worst_p99, p99)
            if policy is generated:
                generated_p50 = max(generated_p50, p50)
            rows.append(
                [
                    name,
                    call.label,
                    outcome,
                    us(p50),
                    us(p99),
                    f"{rate:,.0f}",
                    f"{p50 / base_p50:.2f}",
                ]
            )
    print(
        table(
            rows,
            ["policy", "call", "decision", "p50", "p99", "decisions/s", "p50 ÷ baseline"],
        )
    )
    print(
        f"\ntimer cost per sample (included in p50/p99): {us(timer_cost())}; p99 includes "
        "young-generation garbage collections, as in the server"
    )
    print(
        "generated policy: deny_if + approve_if per tool: "
        + ", ".join(f"{t.removeprefix('binance_')} {d}+{a}" for t, (d, a, _) in GENERATED.items())
    )
    print(f"worst p99 of any row: {us(worst_p99)}")
    ratio = generated_p50 / base_p50
    finish(
        args,
        Summary(
            bench="guard",
            figure=f"p99 ≤ {us(worst_p99)}; 50-rule p50 {us(generated_p50)}",
            baseline=f"`default: allow`-only policy, read call: p50 {us(base_p50)}",
            ratio=ratio,
            target=f"p99 < {us(TARGET_P99)} for every row",
            passed=worst_p99 < TARGET_P99,
        ),
        "slowest 50-rule p50 ÷ baseline p50",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
