"""The API key itself (issue 18): at start on a hosted venue the server reads the key's
permissions (GET /sapi/v1/account/apiRestrictions), refuses a key that can withdraw unless told
to accept it, and warns — on stderr and in `binance_account_status` — about a key usable from
any IP or with trading rights the policy never uses.

End to end: `binance-mcp serve --venue testnet` as a subprocess, its URLs pointed at a paper
exchange started here, which reports the permissions the test gives it. Neither the key nor the
secret may appear in any message."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import SecretStr

from binance_mcp.config import ConfigError, resolve_settings
from binance_mcp.exchange.binance_api import make_async_client
from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.key_check import KeyPermissions, check_key, judge
from binance_mcp.exchange.venues import HOSTED_VENUES, Endpoints
from binance_mcp.guard.key_use import can_run, trading_use
from binance_mcp.guard.policy import DEFAULT_POLICY, load_policy, parse_policy
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from tests.mcp_fixtures import ALLOW_ALL, server_env

POLICIES = Path(__file__).parent.parent / "examples" / "policies"
CONSERVATIVE_SPOT = POLICIES / "conservative-spot.yaml"
PERMISSIONS = "/sapi/v1/account/apiRestrictions"
INITIALIZE = (
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":'
    '"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}\n'
)

IP_WARNING = "the API key is not restricted to trusted IPs"
FUTURES_WARNING = "the API key can trade futures (Enable Futures) but the policy allows no futures"
SPOT_WARNING = "the API key can trade spot (Enable Spot & Margin Trading) but the policy allows"
WITHDRAW_ACCEPTED = "the API key can withdraw funds (Enable Withdrawals), accepted by"
REFUSED = "binance-mcp: error: the API key can withdraw funds (Enable Withdrawals is on)"


# --- the pure parts ----------------------------------------------------------------------------


def answer(**changes: Any) -> dict[str, Any]:
    """Binance's answer for a key restricted to an IP that reads and trades spot and futures."""
    return {
        "ipRestrict": True,
        "createTime": 1698645219000,
        "enableReading": True,
        "enableWithdrawals": False,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": True,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": True,
        "enableSpotAndMarginTrading": True,
        "enablePortfolioMarginTrading": True,
    } | changes


def verdict(trades_spot: bool = True, trades_futures: bool = True, allow: bool = False, **changes: Any) -> Any:  # fmt: skip
    permissions = KeyPermissions.parse(answer(**changes))
    return judge(
        permissions, trades_spot=trades_spot, trades_futures=trades_futures, allow_withdrawal=allow
    )


def test_parse_reads_binances_answer() -> None:
    p = KeyPermissions.parse(answer(enableMargin=True, permitsUniversalTransfer=True))
    assert (p.ip_restricted, p.withdrawals, p.reading, p.spot_trading, p.futures) == (
        True, False, True, True, True,
    )  # fmt: skip
    assert p.unused == ("margin loans", "universal transfer")
    assert p.created_ms == 1698645219000


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "ok",
        {k: v for k, v in answer().items() if k != "enableWithdrawals"},
        {k: v for k, v in answer().items() if k != "ipRestrict"},
        answer(enableWithdrawals="false"),
        answer(ipRestrict=None),
    ],
)
def test_an_answer_without_the_deciding_fields_proves_nothing(bad: Any) -> None:
    with pytest.raises(ValueError):
        KeyPermissions.parse(bad)


def test_a_key_restricted_to_its_ip_used_as_the_policy_allows_is_fine() -> None:
    assert verdict() == verdict(trades_spot=True, trades_futures=True)
    assert verdict().fatal is None and verdict().warnings == ()


def test_a_key_that_can_withdraw_stops_the_server() -> None:
    v = verdict(enableWithdrawals=True)
    assert v.fatal is not None
    assert "can withdraw" in v.fatal and "--allow-withdrawal-key" in v.fatal
    assert "BINANCE_MCP_ALLOW_WITHDRAWAL_KEY=1" in v.fatal
    assert "\n" not in v.fatal


def test_a_key_that_can_withdraw_accepted_is_a_warning() -> None:
    v = verdict(allow=True, enableWithdrawals=True)
    assert v.fatal is None
    assert len(v.warnings) == 1 and v.warnings[0].startswith(WITHDRAW_ACCEPTED)


def test_a_key_without_ip_restriction_is_warned_about() -> None:
    v = verdict(ipRestrict=False)
    assert v.fatal is None
    assert len(v.warnings) == 1 and v.warnings[0].startswith(IP_WARNING)


@pytest.mark.parametrize(
    ("spot", "futures", "expected"),
    [
        (True, True, []),
        (True, False, [FUTURES_WARNING]),
        (False, True, [SPOT_WARNING]),
        (False, False, [SPOT_WARNING, FUTURES_WARNING]),
    ],
)
def test_trading_rights_the_policy_never_uses_are_warned_about(
    spot: bool, futures: bool, expected: list[str]
) -> None:
    v = verdict(trades_spot=spot, trades_futures=futures)
    assert v.fatal is None
    assert [w[: len(e)] for w, e in zip(v.warnings, expected, strict=True)] == expected


def test_rights_the_policy_does_not_need_are_only_warned_about_when_the_key_has_them() -> None:
    v = verdict(
        trades_spot=False, trades_futures=False,
        enableSpotAndMarginTrading=False, enableFutures=False,
    )  # fmt: skip
    assert v.warnings == ()


def test_rights_binance_mcp_never_uses_are_warned_about() -> None:
    v = verdict(enableMargin=True, enableInternalTransfer=True, enableVanillaOptions=True)
    assert v.warnings == (
        "the API key has rights binance-mcp never uses (margin loans, internal transfer, "
        "options); turn them off",
    )


def test_every_problem_at_once() -> None:
    v = verdict(
        trades_spot=False, trades_futures=False, allow=True,
        enableWithdrawals=True, ipRestrict=False, permitsUniversalTransfer=True,
    )  # fmt: skip
    assert v.fatal is None
    assert [w.split(" (")[0].split(":")[0] for w in v.warnings] == [
        "the API key can withdraw funds",
        "the API key is not restricted to trusted IPs",
        "the API key can trade spot",
        "the API key can trade futures",
        "the API key has rights binance-mcp never uses",
    ]


@pytest.mark.parametrize(
    ("name", "spot", "futures"),
    [
        ("paper-everything.yaml", True, True),
        ("conservative-spot.yaml", True, False),
        ("read-only.yaml", False, False),
        # Spot orders hidden, but spot cancels allowed: they need the spot trading right too.
        ("futures-reduce-only.yaml", True, True),
        # Monitor mode lets every call through.
        ("monitor-mode.yaml", True, True),
    ],
)
def test_which_trading_the_example_policies_use(name: str, spot: bool, futures: bool) -> None:
    use = trading_use(load_policy(POLICIES / name))
    assert (use.spot, use.futures) == (spot, futures)


def test_the_built_in_policy_asks_for_approval_so_it_trades_both() -> None:
    use = trading_use(DEFAULT_POLICY)
    assert (use.spot, use.futures) == (True, True)


def test_limits_futures_deny_stops_futures_orders_not_cancels() -> None:
    p = parse_policy({"version": 1, "classes": {"financial": "allow", "write": "allow",
                                                "destructive": "allow"},
                      "limits": {"futures": "deny"}})  # fmt: skip
    assert not can_run(p, "binance_futures_place_order")
    assert not can_run(p, "binance_futures_set_margin_type")
    assert can_run(p, "binance_futures_cancel_order")
    assert trading_use(p).futures
    no_cancels = parse_policy({"version": 1, "classes": {"financial": "allow", "write": "allow"},
                               "limits": {"futures": "deny"}})  # fmt: skip
    assert not trading_use(no_cancels).futures
    assert trading_use(no_cancels).spot


def test_a_tool_action_wins_over_its_class_and_hiding_wins_over_both() -> None:
    p = parse_policy({"version": 1, "default": "deny",
                      "tools": {"binance_spot_place_order": {"action": "dry_run"},
                                "binance_futures_close_position": {"action": "allow"}},
                      "hide": ["binance_futures_close_position"]})  # fmt: skip
    assert can_run(p, "binance_spot_place_order")
    assert not can_run(p, "binance_futures_close_position")
    assert (trading_use(p).spot, trading_use(p).futures) == (True, False)


@pytest.mark.parametrize(
    ("env", "flag", "accepted"),
    [({}, False, False), ({}, True, True), ({"BINANCE_MCP_ALLOW_WITHDRAWAL_KEY": "1"}, False, True),
     ({"BINANCE_MCP_ALLOW_WITHDRAWAL_KEY": "false"}, True, True)],
)  # fmt: skip
def test_the_withdrawal_key_is_accepted_by_the_flag_or_the_variable(
    tmp_path: Path, env: dict[str, str], flag: bool, accepted: bool
) -> None:
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path), **env}
    assert resolve_settings(env, allow_withdrawal_key=flag).allow_withdrawal_key is accepted


def test_a_malformed_acceptance_is_refused(tmp_path: Path) -> None:
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path), "BINANCE_MCP_ALLOW_WITHDRAWAL_KEY": "sure"}
    with pytest.raises(ConfigError, match="BINANCE_MCP_ALLOW_WITHDRAWAL_KEY must be true or false"):
        resolve_settings(env, allow_withdrawal_key=True)


@pytest.mark.anyio
async def test_the_spot_testnet_is_not_asked_it_has_no_sapi() -> None:
    hosts = HOSTED_VENUES["testnet"]
    endpoints = Endpoints(
        "testnet", hosts.spot_url, hosts.futures_url, SecretStr("k" * 64), SecretStr("s" * 64)
    )
    ex = Exchange(endpoints, make_async_client(endpoints))
    try:
        v = await check_key(ex, trades_spot=True, trades_futures=True)
    finally:
        await ex.close()
    assert v.fatal is None
    assert v.warnings == (
        "the API key's permissions could not be checked: the spot testnet does not report them "
        "(it has no /sapi endpoints)",
    )


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture
def restrictions() -> dict[str, Any]:
    """What the paper exchange reports of its key; a test changes it before the exchange
    starts."""
    return {}


@pytest.fixture
def exchange(tmp_path: Path, restrictions: dict[str, Any]) -> Iterator[PaperExchange]:
    # Distinctive keys, so that any copy of them in a message is found.
    config = PaperConfig(
        state_dir=tmp_path / "paper",
        walk_interval=0,
        api_key="KEYcanary" + secrets.token_hex(24),
        api_secret="SECcanary" + secrets.token_hex(24),
        api_restrictions=restrictions,
    )
    ex = start_paper_exchange(config)
    try:
        yield ex
    finally:
        ex.stop()


def hosted_env(ex: PaperExchange, tmp_path: Path, policy: Path = ALLOW_ALL, **extra: str) -> dict[str, str]:  # fmt: skip
    env = server_env(ex, tmp_path / "state", policy, **extra)
    env["BINANCE_MCP_VENUE"] = "testnet"
    return env


def assert_no_secret(ex: PaperExchange, *texts: str) -> None:
    for text in texts:
        assert ex.config.api_key not in text
        assert ex.config.api_secret not in text


def paths(ex: PaperExchange) -> list[str]:
    return [r["path"] for r in ex.state.requests]


async def status_over_stdio(
    ex: PaperExchange, tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[dict[str, Any], str]:
    """`binance_account_status` called over MCP on a server started as a host starts it, and
    the server's stderr."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "binance_mcp", "serve", *args], env=env
    )
    errlog = tmp_path / "stderr.log"
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), mode="legacy") as c:
            result = await c.call_tool("binance_account_status", {})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None and data["venue"] == "testnet"
    stderr = errlog.read_text()
    assert_no_secret(ex, stderr, json.dumps(data))
    return data, stderr


@pytest.mark.parametrize("restrictions", [{"enableWithdrawals": True, "ipRestrict": True}])
def test_a_key_that_can_withdraw_stops_the_server_before_anything_is_served(
    exchange: PaperExchange, tmp_path: Path
) -> None:
    env = hosted_env(exchange, tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "binance_mcp", "serve", "--venue", "testnet"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    try:
        # As a host does: the initialize request at once, and the input kept open.
        server.stdin.write(INITIALIZE)
        server.stdin.flush()
        code = server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
        stdout, stderr = server.communicate()
    assert code == 2
    assert stdout == ""  # not even the handshake was answered
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(REFUSED), stderr
    assert "--allow-withdrawal-key" in errors[0]
    assert "Traceback" not in stderr
    assert_no_secret(exchange, stderr)
    # The clock, then the key's permissions: nothing else reached the exchange.
    assert paths(exchange) == ["/api/v3/time", PERMISSIONS]
    # The server had listed itself in the state dir, and its entry went away with it.
    assert (tmp_path / "state" / "servers").is_dir()
    assert not list((tmp_path / "state" / "servers").glob("*.json"))


@pytest.mark.anyio
@pytest.mark.parametrize("restrictions", [{"enableWithdrawals": True, "ipRestrict": True}])
@pytest.mark.parametrize("how", ["flag", "env"])
async def test_a_key_that_can_withdraw_starts_when_accepted_and_is_warned_about(
    exchange: PaperExchange, tmp_path: Path, how: str
) -> None:
    args = ["--allow-withdrawal-key"] if how == "flag" else []
    extra = {} if how == "flag" else {"BINANCE_MCP_ALLOW_WITHDRAWAL_KEY": "1"}
    env = hosted_env(exchange, tmp_path, ALLOW_ALL, **extra)
    data, stderr = await status_over_stdio(exchange, tmp_path, env, *args)
    assert len(data["keyWarnings"]) == 1
    assert data["keyWarnings"][0].startswith(WITHDRAW_ACCEPTED)
    assert f"WARNING binance_mcp.exchange.key_check: {data['keyWarnings'][0]}" in stderr


@pytest.mark.anyio
async def test_a_key_without_ip_restriction_starts_with_a_warning(
    exchange: PaperExchange, tmp_path: Path
) -> None:
    # The paper key's own permissions: no IP restriction, reads and trades spot and futures.
    data, stderr = await status_over_stdio(exchange, tmp_path, hosted_env(exchange, tmp_path))
    assert len(data["keyWarnings"]) == 1
    assert data["keyWarnings"][0].startswith(IP_WARNING)
    assert IP_WARNING in stderr
    assert paths(exchange).count(PERMISSIONS) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("restrictions", [{"ipRestrict": True}])
async def test_a_policy_that_never_trades_futures_warns_about_a_key_with_futures(
    exchange: PaperExchange, tmp_path: Path
) -> None:
    env = hosted_env(exchange, tmp_path, CONSERVATIVE_SPOT)
    data, stderr = await status_over_stdio(exchange, tmp_path, env)
    assert len(data["keyWarnings"]) == 1
    assert data["keyWarnings"][0].startswith(FUTURES_WARNING)
    assert FUTURES_WARNING in stderr


@pytest.mark.anyio
@pytest.mark.parametrize("restrictions", [{"ipRestrict": True}])
async def test_a_key_used_as_the_policy_allows_starts_without_warnings(
    exchange: PaperExchange, tmp_path: Path
) -> None:
    data, stderr = await status_over_stdio(exchange, tmp_path, hosted_env(exchange, tmp_path))
    assert data["keyWarnings"] == []
    assert "key_check" not in stderr


@pytest.mark.anyio
@pytest.mark.parametrize("restrictions", [{"enableWithdrawals": True, "ipRestrict": True}])
async def test_permissions_that_cannot_be_read_are_a_warning_not_a_refusal(
    exchange: PaperExchange, tmp_path: Path
) -> None:
    # Even a key that can withdraw: the check could not tell, and says so.
    exchange.state.faults.arm(Fault(PERMISSIONS, "status", status=500))
    data, stderr = await status_over_stdio(exchange, tmp_path, hosted_env(exchange, tmp_path))
    assert len(data["keyWarnings"]) == 1
    warning = data["keyWarnings"][0]
    assert warning.startswith("the API key's permissions could not be checked: Binance error")
    assert warning in stderr
    # Asked once: a start is not held up by retries.
    assert paths(exchange).count(PERMISSIONS) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("restrictions", [{"enableWithdrawals": True}])
async def test_a_paper_venue_is_not_checked(exchange: PaperExchange, tmp_path: Path) -> None:
    env = server_env(exchange, tmp_path / "state", ALLOW_ALL)
    params = StdioServerParameters(command=sys.executable, args=["-m", "binance_mcp"], env=env)
    async with Client(params, mode="legacy") as c:
        result = await c.call_tool("binance_account_status", {})
    data = result.structured_content
    assert data is not None and data["venue"] == "paper"
    assert data["keyWarnings"] == []
    assert PERMISSIONS not in paths(exchange)
