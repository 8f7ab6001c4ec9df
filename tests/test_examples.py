"""The examples run as their docstrings say, against a real paper exchange; the example policies
pass `policy check` and their own cases; the client configurations launch this server with
settings it accepts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

from binance_mcp import config, logs
from binance_mcp.cli.main import main
from binance_mcp.exchange.venues import VENUES
from binance_mcp.guard import trading_state as halt
from binance_mcp.guard.engine import FUTURES_TRADING
from binance_mcp.guard.policy import Policy, load_policy
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.tools import all_tools

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "examples" / "policies"
CLIENTS = ROOT / "examples" / "clients"

EXPECTED_POLICIES = {
    "read-only",
    "paper-everything",
    "conservative-spot",
    "futures-reduce-only",
    "futures-limits",
    "monitor-mode",
}
POLICY_NAMES = sorted(p.stem for p in POLICIES.glob("*.yaml") if not p.name.endswith(".cases.yaml"))

# Every variable the server reads, from where it is defined.
SERVER_ENV = {
    value
    for module in (config, halt, logs)
    for name, value in vars(module).items()
    if name.startswith("ENV_") and isinstance(value, str)
}

# Where each client keeps its servers: VS Code says "servers", the others "mcpServers".
CLIENT_FILES = {
    "claude_desktop_config.json": "mcpServers",
    ".mcp.json": "mcpServers",
    ".cursor/mcp.json": "mcpServers",
    ".vscode/mcp.json": "servers",
}
CHECKOUT = "/path/to/binance-mcp"


def test_paper_with_python_binance(paper: PaperExchange) -> None:
    env = {
        **os.environ,
        "BINANCE_API_KEY": paper.config.api_key,
        "BINANCE_API_SECRET": paper.config.api_secret,
    }
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "paper_with_python_binance.py"), paper.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "BTCUSDT last price: " in run.stdout
    assert "NEW" in run.stdout and "CANCELED" in run.stdout
    assert "USDT free " in run.stdout


# --- example policies ----------------------------------------------------------------------------


def test_every_example_policy_has_its_cases() -> None:
    assert set(POLICY_NAMES) == EXPECTED_POLICIES
    cases = {p.name.removesuffix(".cases.yaml") for p in POLICIES.glob("*.cases.yaml")}
    assert cases == EXPECTED_POLICIES


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_check(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["policy", "check", str(POLICIES / f"{name}.yaml")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{name}.yaml: ok (mode " in out


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_cases_pass(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = POLICIES / f"{name}.cases.yaml"
    count = len(yaml.safe_load(cases.read_text(encoding="utf-8")))
    code = main(["policy", "test", str(POLICIES / f"{name}.yaml"), str(cases)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert f"\n{count} passed, 0 failed (" in out
    assert "FAIL" not in out


def rule_locations(policy: Policy) -> set[str]:
    """Every place in `policy` that can decide a call, as the decision's `rule` names it."""
    found = {"hide"} if policy.hide else set()
    for tool, rules in policy.tools.items():
        if policy.hidden(tool):
            continue  # `hide` decides first; its other rules are a second line of defence
        if rules.action is not None:
            found.add(f"tools.{tool}.action")
        found |= {f"tools.{tool}.deny_if[{i}]" for i in range(len(rules.deny_if))}
        found |= {f"tools.{tool}.approve_if[{i}]" for i in range(len(rules.approve_if))}
        if rules.rate_limit is not None:
            found.add(f"tools.{tool}.rate_limit")
    found |= {f"classes.{c}.rate_limit" for c, p in policy.classes.items() if p.rate_limit}
    limits = policy.limits
    if limits.symbols is not None:
        found.add("limits.symbols." + ("allow" if limits.symbols.allow is not None else "deny"))
    for key in ("max_order_notional", "daily_notional", "max_open_orders", "max_leverage"):
        if getattr(limits, key) is not None:
            found.add(f"limits.{key}")
    if limits.futures != "allow" and not all(policy.hidden(t) for t in FUTURES_TRADING):
        found.add("limits.futures")
    return found


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_cases_exercise_every_rule_of_their_policy(name: str) -> None:
    policy = load_policy(POLICIES / f"{name}.yaml")
    cases = yaml.safe_load((POLICIES / f"{name}.cases.yaml").read_text(encoding="utf-8"))
    asserted = {case["rule"] for case in cases if "rule" in case}
    assert rule_locations(policy) <= asserted
    if policy.mode == "enforce":
        assert {"allow", "deny"} <= {case["expect"] for case in cases}


def test_paper_everything_allows_every_tool() -> None:
    cases = yaml.safe_load((POLICIES / "paper-everything.cases.yaml").read_text())
    allowed = {case["tool"] for case in cases if case["expect"] == "allow" and "halted" not in case}
    assert allowed == {t.name for t in all_tools()}


def test_read_only_hides_and_denies_everything_but_reads() -> None:
    policy = load_policy(POLICIES / "read-only.yaml")
    writers = {t.name for t in all_tools() if t.risk != "read"}
    assert set(policy.hide) == writers
    assert {policy.classes[r].action for r in ("write", "financial", "destructive")} == {"deny"}
    cases = yaml.safe_load((POLICIES / "read-only.cases.yaml").read_text())
    assert {c["tool"] for c in cases if c.get("rule") == "hide"} == writers


def test_conservative_spot_cases_cover_budgets_and_market_orders() -> None:
    cases = yaml.safe_load((POLICIES / "conservative-spot.cases.yaml").read_text())
    budget = [c for c in cases if c.get("used_today") and c["expect"] == "deny"]
    assert [c["rule"] for c in budget] == ["limits.daily_notional"]
    market = [c for c in cases if c["args"].get("type") == "MARKET" and "notional" in c["facts"]]
    assert {c["expect"] for c in market} == {"allow", "approve", "deny"}
    assert any(c.get("repeat", 1) > 1 and c["expect"] == "deny" for c in cases)


def test_futures_reduce_only_cases_allow_closing_and_deny_opening() -> None:
    cases = yaml.safe_load((POLICIES / "futures-reduce-only.cases.yaml").read_text())
    orders = [c for c in cases if c["tool"] == "binance_futures_place_order" and "repeat" not in c]
    closing = [c for c in orders if c["expect"] == "allow"]
    opening = [c for c in orders if c["expect"] == "deny"]
    closes = ("reduceOnly", "closePosition", "positionSide")
    assert all(any(c["args"].get(arg) for arg in closes) for c in closing)
    assert {c["rule"] for c in opening} == {"limits.futures"}
    assert len(closing) >= 4 and len(opening) >= 4


def test_monitor_mode_is_monitor() -> None:
    policy = load_policy(POLICIES / "monitor-mode.yaml")
    assert policy.mode == "monitor"
    assert policy.hide == []  # hiding would change what the agent sees, even in monitor mode


# --- client configurations -----------------------------------------------------------------------


def servers_in(relative: str) -> dict[str, dict[str, Any]]:
    data = json.loads((CLIENTS / relative).read_text(encoding="utf-8"))
    servers: dict[str, dict[str, Any]] = data[CLIENT_FILES[relative]]
    return servers


def filled(value: str, home: Path) -> str:
    """A config value with its placeholders and the hosts' variables filled in, as a user's
    edited copy and the host would give it to the server."""
    value = re.sub(r"\$\{BINANCE_MCP_HOME:-[^}]*\}", str(ROOT), value)
    value = value.replace("/path/to/binance-mcp-state", str(home)).replace(CHECKOUT, str(ROOT))
    value = value.replace("${userHome}", str(home)).replace("${HOME}", str(home))
    # Keys from the host's environment or prompts: a stand-in pair.
    value = re.sub(r"\$\{[^}]*API[_-]KEY[^}]*\}", "k" * 64, value, flags=re.I)
    value = re.sub(r"\$\{[^}]*API[_-]SECRET[^}]*\}", "s" * 64, value, flags=re.I)
    assert "${" not in value, f"a placeholder this test does not know: {value}"
    return value


@pytest.mark.parametrize("relative", sorted(CLIENT_FILES))
def test_client_config_launches_this_server(relative: str, tmp_path: Path) -> None:
    servers = servers_in(relative)
    assert set(servers) == {"binance-paper", "binance-testnet"}
    state_dirs = set()
    for name, server in servers.items():
        env: dict[str, str] = server["env"]
        assert set(env) <= SERVER_ENV, f"{name}: unknown variables {set(env) - SERVER_ENV}"
        venue = env[config.ENV_VENUE]
        assert venue in VENUES and name == f"binance-{venue}"
        has_keys = {config.ENV_API_KEY, config.ENV_API_SECRET} <= set(env)
        assert has_keys == (venue != "paper"), f"{name}: keys for testnet only, none for paper"
        assert re.search(r"/examples/policies/[a-z-]+\.yaml$", env[config.ENV_POLICY])
        state_dirs.add(env[config.ENV_STATE_DIR])
        # Launched from the checkout, never by bare name: `binance-mcp` on PyPI is another
        # project, which `uvx binance-mcp` would download and hand the keys to.
        command = [server["command"], *server["args"]]
        if command[0] == "uvx":
            assert command[1:3] == ["--from", command[2]] and CHECKOUT in command[2]
            assert command[3:] == ["binance-guard-mcp"]
        elif command[0] == "pipx":
            assert command[1:4] == ["run", "--spec", command[3]] and CHECKOUT in command[3]
            assert command[4:] == ["binance-guard-mcp"]
        else:
            assert command[0].startswith(CHECKOUT) and command[1:] == ["-m", "binance_mcp"]
        # What the server makes of it, once the user has filled in their paths (and, for
        # Claude Desktop, pasted the keys over the empty placeholders, which mean "unset").
        values = {k: filled(v, tmp_path) for k, v in env.items()}
        assert config.resolve_settings(values).venue == venue
        for key, stand_in in ((config.ENV_API_KEY, "k" * 64), (config.ENV_API_SECRET, "s" * 64)):
            if values.get(key) == "":
                values[key] = stand_in
        settings = config.resolve_settings(values)
        assert settings.venue == venue
        assert settings.has_keys == has_keys
        assert settings.policy_path is not None and settings.policy_path.parent == POLICIES
        assert settings.state_dir.is_relative_to(tmp_path)
        load_policy(settings.policy_path)
    assert len(state_dirs) == 2, "one state dir per venue: budgets are counted per state dir"


def test_vscode_prompts_for_every_input_it_uses() -> None:
    data = json.loads((CLIENTS / ".vscode" / "mcp.json").read_text(encoding="utf-8"))
    declared = {i["id"] for i in data["inputs"] if i["type"] == "promptString" and i["password"]}
    used = set(re.findall(r"\$\{input:([^}]+)\}", json.dumps(data["servers"])))
    assert used and used == declared


def test_clients_readme_names_every_file_and_warns_about_keys() -> None:
    readme = (CLIENTS / "README.md").read_text(encoding="utf-8")
    for relative in CLIENT_FILES:
        assert f"`{relative}`" in readme
    assert "without withdrawal permission" in readme
    assert "IP access" in readme and "restriction" in readme
    # The `claude mcp add` commands name real variables too.
    given = set(re.findall(r"-e ([A-Z_]+)=", readme))
    assert given and given <= SERVER_ENV


@pytest.mark.anyio
async def test_claude_desktop_paper_server_starts_and_answers(tmp_path: Path) -> None:
    server = servers_in("claude_desktop_config.json")["binance-paper"]
    assert server["command"] == f"{CHECKOUT}/.venv/bin/python"
    env = {k: filled(v, tmp_path) for k, v in server["env"].items()}
    params = StdioServerParameters(
        command=sys.executable,
        args=server["args"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        tools = await client.list_tools()
        status = await client.call_tool("binance_account_status", {})
    assert len(tools.tools) == 35
    data = status.structured_content
    assert data is not None and data["venue"] == "paper"
    assert data["policy"] == str(POLICIES / "paper-everything.yaml")


# --- the scripted agent session ------------------------------------------------------------------


def test_agent_session_runs_end_to_end() -> None:
    # No real keys or venue settings of the developer's may reach the example.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "agent_session.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "35 tools" in out
    assert re.search(r"BTCUSDT \d+\.\d+ \(venue paper\)", out)
    assert re.search(r"order 1 NEW\n", out) and "order 1 CANCELED" in out
    assert "Denied by policy: SOLUSDT is not among" in out and "(limits.symbols.allow)" in out
    assert "(limits.max_order_notional)" in out
    assert "    | Approve binance_spot_place_order on paper?\n" in out
    assert "the person accepts\n    order 2 NEW" in out
    assert "approval elicitation" in out
    assert re.search(r"\nOK: all \d+ steps behaved as expected", out)
    assert "FAILED" not in out
