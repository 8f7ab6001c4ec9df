"""`binance-mcp policy explain`, `policy test` and `tools --policy`: the policy's decisions,
offline, as a user reads them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from binance_mcp.cli.main import main

POLICY = """
    version: 1
    classes: {read: allow, write: approve, financial: allow, destructive: allow}
    hide: [binance_futures_close_position]
    tools:
      binance_spot_place_order:
        deny_if:
          - when: { symbol: { not_in: [BTCUSDT, ETHUSDT] } }
            reason: only BTC and ETH may be traded
        approve_if:
          - when: { notional: { gt: "50" } }
            reason: above 50 USDT a human decides
        rate_limit: 2/minute
    limits: { max_order_notional: "250", daily_notional: "1000", max_open_orders: 3 }
"""
MARKET = {"symbol": " ethusdt", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(POLICY))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_names_decision_rule_reason_and_facts(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = json.dumps(MARKET)
    code, out, _ = run(capsys, "policy", "explain", str(policy), "binance_spot_place_order",
                       "--args", args)  # fmt: skip
    assert code == 0
    assert "decision: deny\nrule:     limits.max_order_notional\n" in out
    assert "reason:   cannot evaluate notional: the server would ask the exchange" in out
    assert "  symbol = ETHUSDT\n" in out  # normalised before any rule saw it
    code, out, _ = run(capsys, "policy", "explain", str(policy), "binance_spot_place_order",
                       "--args", args, "--fact", "notional=30", "--fact", "open_orders=1")  # fmt: skip
    assert out.splitlines()[:3] == [
        "decision: allow", "rule:     classes.financial", "reason:   allowed"]  # fmt: skip
    assert "  notional = 30\n  open_orders = 1\n" in out
    limit = {**MARKET, "type": "LIMIT", "price": "9000", "timeInForce": "GTC"}
    code, out, _ = run(capsys, "policy", "explain", str(policy), "binance_spot_place_order",
                       "--args", json.dumps(limit), "--fact", "open_orders=3")  # fmt: skip
    assert "decision: deny\nrule:     limits.max_open_orders\n" in out
    assert "the agent reads: Denied by policy: 3 spot orders are open" in out
    code, out, _ = run(capsys, "policy", "explain", str(policy), "binance_spot_place_order",
                       "--args", json.dumps({**limit, "symbol": "BNBUSDT"}))  # fmt: skip
    assert "reason:   only BTC and ETH may be traded" in out
    code, out, _ = run(capsys, "policy", "explain", str(policy), "binance_spot_price",
                       "--halted", "lunch")  # fmt: skip
    assert out.startswith("decision: allow\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["binance_spot_place_order", "--args", "{bad"], "--args: 1 error(s)\n  not valid JSON"),
        (["binance_spot_place_order", "--args", "[1]"], "--args must be a JSON object"),
        (["binance_nope"], "unknown tool 'binance_nope'"),
        (
            ["binance_spot_place_order", "--args", json.dumps({**MARKET, "quantity": "NaN"})],
            "quantity: Input should be a finite number",
        ),
        (["binance_spot_price", "--fact", "oops"], "expected NAME=VALUE"),
    ],
)
def test_explain_bad_input_says_what_is_wrong(
    policy: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "policy", "explain", str(policy), *argv)
    assert code == 1
    assert out == ""
    assert message in err


CASES = """
    - name: BTC limit order within every limit
      tool: binance_spot_place_order
      args: {symbol: btcusdt, side: BUY, type: LIMIT, timeInForce: GTC, quantity: "0.0001",
             price: "90000"}
      facts: {open_orders: 0}
      expect: allow
    - name: above 50 USDT asks a human
      tool: binance_spot_place_order
      args: {symbol: BTCUSDT, side: BUY, type: LIMIT, timeInForce: GTC, quantity: "0.001",
             price: "90000"}
      facts: {open_orders: 0}
      expect: approve
      rule: tools.binance_spot_place_order.approve_if[0]
    - name: the daily budget is nearly spent
      tool: binance_spot_place_order
      args: {symbol: BTCUSDT, side: BUY, type: MARKET, quantity: "0.0001"}
      facts: {notional: "9", open_orders: 0}
      used_today: "995"
      expect: deny
      rule: limits.daily_notional
    - name: the third order in a minute
      tool: binance_spot_place_order
      args: {symbol: BTCUSDT, side: BUY, type: MARKET, quoteOrderQty: "10"}
      facts: {open_orders: 0}
      repeat: 3
      expect: deny
      reason: rate limit 2/minute
    - name: halted
      tool: binance_futures_set_margin_type
      args: {symbol: BTCUSDT, marginType: ISOLATED}
      halted: maintenance
      expect: deny
      reason: "trading is halted: maintenance"
    - tool: binance_futures_close_position
      args: {symbol: BTCUSDT}
      expect: deny
      rule: hide
"""


def test_policy_test_runs_every_case(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(textwrap.dedent(CASES))
    code, out, _ = run(capsys, "policy", "test", str(policy), str(cases))
    assert out.splitlines() == [
        "ok    BTC limit order within every limit",
        "ok    above 50 USDT asks a human",
        "ok    the daily budget is nearly spent",
        "ok    the third order in a minute",
        "ok    halted",
        "ok    binance_futures_close_position #6",
        f"6 passed, 0 failed ({cases})",
    ]
    assert code == 0
    # The same cases against a policy that allows everything: each expectation is checked.
    cases.write_text(textwrap.dedent(CASES).replace("expect: approve", "expect: allow"))
    code, out, _ = run(capsys, "policy", "test", str(policy), str(cases))
    assert code == 1
    assert (
        "FAIL  above 50 USDT asks a human: expected allow, got approve "
        "(tools.binance_spot_place_order.approve_if[0]: above 50 USDT a human decides)"
    ) in out
    assert out.endswith(f"5 passed, 1 failed ({cases})\n")


def test_policy_test_rejects_a_malformed_cases_file(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("- {tool: binance_spot_price, expect: allwo, argz: {}}\n")
    code, _, err = run(capsys, "policy", "test", str(policy), str(cases))
    assert code == 1
    assert "cases.0.expect: Input should be 'allow', 'deny', 'approve' or 'dry_run'" in err
    assert "cases.0.argz: Extra inputs are not permitted" in err


def test_tools_shows_each_tool_class_and_decision(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "tools", "--policy", str(policy))
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"policy: {policy}"
    assert len(lines) == 36
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in lines[1:]}
    assert rows["binance_futures_close_position"][:2] == ["financial", "hidden"]
    assert rows["binance_futures_set_margin_type"][:2] == ["write", "approve"]
    order = rows["binance_spot_place_order"]
    assert order[:2] == ["financial", "allow"]
    assert order[2] == (
        "classes.financial; deny_if: 1 rule(s); approve_if: 1 rule(s); "
        "limits.max_order_notional; limits.daily_notional; limits.max_open_orders; rate 2/minute"
    )
    code, out, _ = run(capsys, "tools")
    assert "binance_spot_place_order" in out and "financial    approve" in out
    assert "binance_spot_price" in out and "read         allow" in out
