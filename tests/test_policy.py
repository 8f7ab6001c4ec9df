"""The policy file and the decision, without an exchange: loading with located errors, the
`policy check` command, and the order of the decision (SPEC §4.2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from binance_mcp.guard.engine import Unknown, decide
from binance_mcp.guard.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy

BROKEN = """
version: 1
classes: {read: allow, bogus: allow}
hide: [binance_nope]
tools:
  binance_spot_place_order:
    deny_if:
      - when: { notional: { gtt: "250" } }
      - when: { colour: { eq: red } }
    rate_limit: 5/fortnight
limits: { max_leverage: 500, extra: 1 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_every_error_is_listed_with_its_location(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, BROKEN))
    assert set(info.value.errors) == {
        "classes.bogus: unknown risk class; use read, write, financial or destructive",
        "tools.binance_spot_place_order.deny_if[0].when.notional: unknown operator 'gtt'",
        "tools.binance_spot_place_order.rate_limit: rate limit '5/fortnight' must look like "
        "N/second, N/minute, N/hour or N/day",
        "limits.max_leverage: Input should be less than or equal to 125",
        "limits: unknown key 'extra'",
        "hide[0]: unknown tool 'binance_nope'",
        info.value.errors[-1],
    }
    assert info.value.errors[-1].startswith(
        "tools.binance_spot_place_order.deny_if[1].when.colour: unknown fact 'colour'"
    )


def test_yaml_errors_and_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, "version: 1\nclasses: {read: allow\n"))
    assert info.value.errors[0].startswith("line 3, column 1: not valid YAML")
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_policy(["version", 1])
    with pytest.raises(PolicyError, match="version: Input should be 1"):
        parse_policy({"version": 2})
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "missing.yaml")


def test_json_is_accepted(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, '{"version": 1, "classes": {"read": "allow"}}'))
    assert policy.classes["read"].action == "allow"


def test_policy_check_command(tmp_path: Path) -> None:
    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "binance_mcp", "policy", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    bad = run(write(tmp_path, BROKEN))
    assert bad.returncode == 1
    assert "7 error(s)" in bad.stderr
    assert "deny_if[0].when.notional: unknown operator 'gtt'" in bad.stderr
    example = Path(__file__).parent.parent / "examples" / "policies" / "paper-everything.yaml"
    good = run(example)
    assert good.returncode == 0 and good.stdout.startswith(f"{example}: ok")


def test_default_policy_reads_run_everything_else_asks() -> None:
    assert decide(DEFAULT_POLICY, "binance_spot_price", "read", {}).action == "allow"
    for tool, risk in (
        ("binance_spot_place_order", "financial"),
        ("binance_spot_cancel_order", "destructive"),
        ("binance_futures_set_margin_type", "write"),
    ):
        assert decide(DEFAULT_POLICY, tool, risk, {}).action == "approve"  # type: ignore[arg-type]


POLICY = parse_policy(
    {
        "version": 1,
        "classes": {"read": "allow", "financial": "allow", "destructive": "allow"},
        "tools": {
            "binance_spot_place_order": {
                "deny_if": [
                    {"when": {"symbol": {"regex": ".*DOWN"}}, "reason": "no leveraged tokens"}
                ],
                "approve_if": [{"when": {"notional": {"gt": 50}}}],
            }
        },
    }
)


@pytest.mark.parametrize(
    ("facts", "halted", "expected"),
    [
        ({"symbol": "BTCUSDT", "notional": Decimal(10)}, None, ("allow", "classes.financial")),
        ({"symbol": "BTCUSDT", "notional": "50.0000001"}, None, ("approve", "tools.binance_spot_place_order.approve_if[0]")),
        ({"symbol": "BTCDOWNUSDT", "notional": 1}, None, ("deny", "tools.binance_spot_place_order.deny_if[0]")),
        ({"symbol": "BTCUSDT", "notional": Unknown("notional", "no price")}, None, ("deny", "tools.binance_spot_place_order.approve_if[0]")),
        ({"symbol": "BTCUSDT", "notional": 1}, "halted", ("deny", "kill switch")),
    ],
)  # fmt: skip
def test_decision_order(
    facts: dict[str, object], halted: str | None, expected: tuple[str, str]
) -> None:
    decision = decide(POLICY, "binance_spot_place_order", "financial", facts, halted=halted)
    assert (decision.action, decision.rule) == expected


def test_unknown_fact_says_why() -> None:
    decision = decide(
        POLICY,
        "binance_spot_place_order",
        "financial",
        {"symbol": "BTCUSDT", "notional": Unknown("notional", "the exchange could not say")},
    )
    assert decision.denial() == (
        "Denied by policy: cannot evaluate notional: the exchange could not say "
        "(tools.binance_spot_place_order.approve_if[0])"
    )


def test_halt_lets_reads_and_cancels_through() -> None:
    assert decide(POLICY, "binance_spot_price", "read", {}, halted="x").action == "allow"
    assert (
        decide(POLICY, "binance_spot_cancel_order", "destructive", {}, halted="x").action == "allow"
    )
