"""Failing closed (SPEC §4.2): whatever the guard cannot use — the state store, the audit log,
the halt flag, the policy file, the exchange's clock, the exchange itself, the paper account —
denies writes with a reason the agent can act on, and keeps reads working where it can. The
breakage is structural (a directory or garbage where a file should be), which holds even when
the tests run as root."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.config import ConfigError, Settings, resolve_settings
from binance_mcp.guard.policy import PolicyError
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import FAST_RETRY, fails, ok, paper_settings, server_env
from tests.paper_fixtures import closed_port, writes_since
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

BTC = "BTCUSDT"
MARKET = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001"}


# --- the state store ------------------------------------------------------------------------------


def _directory(path: Path) -> None:
    path.mkdir(parents=True)


def _garbage(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database\x00" * 64)


def _foreign_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE calls (x); CREATE TABLE orders (y); CREATE TABLE approvals (z);")
    db.close()


STORE_POLICY = """
    version: 1
    classes:
      read: {action: allow, rate_limit: 100/minute}
      financial: allow
      destructive: approve
    tools:
      binance_futures_change_leverage: {rate_limit: 10/minute}
    limits: { daily_notional: "1000" }
"""


@pytest.mark.parametrize("breakage", [_directory, _garbage, _foreign_schema])
async def test_broken_state_store_denies_writes_and_keeps_reads(
    paper: PaperExchange, tmp_path: Path, breakage: Any
) -> None:
    server = guarded_server(paper, tmp_path, STORE_POLICY, approval_timeout=1.0)
    store = tmp_path / "state" / "state.sqlite3"
    breakage(store)
    # Garbage stays as it was: never replaced by a fresh, empty store.
    before = store.read_bytes() if breakage is _garbage else None
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert "Denied by policy: cannot check budgets: state store" in text
        assert str(store) in text and "(limits)" in text
        text = await fails(c, "binance_futures_change_leverage", {"symbol": BTC, "leverage": 3})
        assert "Denied by policy: cannot count calls: state store" in text
        # A call that needs a person: the approvals queue lives in the same store.
        text = await fails(c, "binance_spot_cancel_all_orders", {"symbol": BTC})
        assert "Denied by policy: approval required" in text
        assert "the approvals queue is unavailable" in text
        # Reads (rate-limited too) are counted in this process meanwhile.
        price = await ok(c, "binance_spot_price", {"symbol": BTC})
        assert Decimal(price["prices"][0]["price"]) > 0
        await ok(c, "binance_spot_balances")
    assert writes_since(paper) == []
    if before is not None:
        assert store.read_bytes() == before
    decisions = [(a["tool"], a["decision"], a["outcome"][:16]) for a in audit_lines(tmp_path)]
    assert decisions[:3] == [
        ("binance_spot_place_order", "deny", "Denied by policy"),
        ("binance_futures_change_leverage", "deny", "Denied by policy"),
        ("binance_spot_cancel_all_orders", "approve", "Denied by policy"),
    ]


# --- the audit log and the halt flag ---------------------------------------------------------------


async def test_unwritable_audit_log_denies_writes_and_keeps_reads(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """SPEC §4.7: every non-read call is audited before its result returns. When the audit log
    cannot be written, a write must be refused before anything is sent (not sent, then
    reported as an opaque failure that invites the agent to send it again)."""
    server = guarded_server(
        paper, tmp_path, "version: 1\nclasses: {read: allow, financial: allow}\n"
    )
    (tmp_path / "state" / "audit.jsonl").mkdir(parents=True)
    async with Client(server, mode="legacy") as c:
        result = await c.call_tool("binance_spot_place_order", MARKET)
        text = str(getattr(result.content[0], "text", "")) if result.content else ""
        assert orders_sent(paper) == [], f"the order was placed, and the agent read: {text!r}"
        assert result.is_error
        assert "Denied by policy" in text and "audit" in text
        price = await ok(c, "binance_spot_price", {"symbol": BTC})
        assert price["prices"][0]["symbol"] == BTC
    assert writes_since(paper) == []


async def test_unreadable_halt_flag_halts(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, "version: 1\nclasses: {read: allow, financial: allow, destructive: allow}\n")  # fmt: skip
    flag = tmp_path / "state" / "halt.json"
    flag.mkdir(parents=True)
    async with Client(server, mode="auto") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert "Denied by policy: trading is halted: the halt flag" in text
        assert str(flag) in text and "cannot be read" in text
        # Cancels and reads pass.
        text = await fails(c, "binance_spot_cancel_order", {"symbol": BTC, "orderId": 12345})
        assert "Denied by policy" not in text and "-2011" in text
        await ok(c, "binance_spot_open_orders", {"symbol": BTC})
        status = await ok(c, "binance_account_status")
        assert "cannot be read" in status["halted"]
    assert orders_sent(paper) == []


# --- the policy file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "the policy must be a mapping", id="empty"),
        pytest.param(b"version: 1\nclasses: {financial: [allow\n", "not valid YAML", id="yaml"),
        pytest.param(b"version: 2\n", "version", id="version"),
        pytest.param(b"- version: 1\n", "the policy must be a mapping", id="list"),
        pytest.param(b"version: 1\nclasses: {financial: allwo}\n", "classes.financial.action",
                     id="action"),
        pytest.param(b"version: 1\nlimits: {max_order_notional: NaN}\n",
                     "limits.max_order_notional", id="nan-limit"),
        pytest.param(b"version: 1\nhide: [binance_spot_place_ordr]\n", "binance_spot_place_ordr",
                     id="unknown-tool"),
        pytest.param(b"version: 1\ntools: {binance_spot_place_order: "
                     b"{deny_if: [{when: {notional: {gtt: 1}}}]}}\n", "unknown operator 'gtt'",
                     id="operator"),
        # Not UTF-8 text: refused like any other broken policy (a PolicyError naming the file).
        pytest.param(b"\xff\xfe\x00garbage\x00", "", id="not-utf8"),
    ],
)  # fmt: skip
def test_broken_policy_at_start_refuses_to_build(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    settings = Settings(venue="paper", venue_source="test", state_dir=tmp_path, policy_path=path)
    with pytest.raises(PolicyError) as refused:
        build_server(settings)
    assert message in str(refused.value)
    assert str(path) in str(refused.value)


def test_policy_path_that_is_not_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path)}
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="is not a regular file"):
        resolve_settings(env, policy=tmp_path / "dir.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_settings(env, policy=tmp_path / "missing.yaml")


@pytest.mark.parametrize("variant", ["invalid", "directory", "not-utf8"])
def test_cli_refuses_to_serve_with_a_broken_policy(
    paper: PaperExchange, tmp_path: Path, variant: str
) -> None:
    """What the MCP host shows: exit code 2, one line on stderr saying what is wrong and
    where, and nothing on stdout (no JSON-RPC from a server that should not exist)."""
    policy, why = {
        "invalid": (tmp_path / "policy.yaml", "classes.financial.action"),
        "directory": (tmp_path, "is not a regular file"),
        "not-utf8": (tmp_path / "binary.yaml", str(tmp_path / "binary.yaml")),
    }[variant]
    (tmp_path / "policy.yaml").write_text("version: 1\nclasses:\n  financial: allwo\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage\x00")
    env = server_env(paper, tmp_path / "state", policy, HOME=str(tmp_path))
    initialize = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":'
        '"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "binance_mcp"],
        env=env,
        input=initialize,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("binance-mcp: error: policy "), lines
    assert why in lines[0]
    assert len(paper.state.requests) == 0


async def test_policy_file_removed_or_emptied_while_running_keeps_the_last_good(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, financial: allow}
        limits: {symbols: {allow: [BTCUSDT]}}
    """)  # fmt: skip
    path = tmp_path / "policy.yaml"
    eth = {**BUY_LIMIT, "symbol": "ETHUSDT", "price": "3000", "quantity": "0.01"}
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        path.unlink()
        assert "Denied by policy: ETHUSDT is not among" in await fails(
            c, "binance_spot_place_order", eth
        )
        status = await ok(c, "binance_account_status")
        assert "cannot read the file" in status["policyError"]
        path.write_text("")
        assert "Denied by policy: ETHUSDT is not among" in await fails(
            c, "binance_spot_place_order", eth
        )
        status = await ok(c, "binance_account_status")
        assert "the policy must be a mapping" in status["policyError"]
    assert [r["params"]["symbol"] for r in orders_sent(paper)] == [BTC]


async def test_policy_edit_that_is_not_utf8_is_rejected_like_any_broken_edit(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, financial: allow}
        limits: {symbols: {allow: [BTCUSDT]}}
    """)  # fmt: skip
    eth = {**BUY_LIMIT, "symbol": "ETHUSDT", "price": "3000", "quantity": "0.01"}
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_price", {"symbol": BTC})
        (tmp_path / "policy.yaml").write_bytes(b"\xff\xfe\x00garbage\x00")
        # The call that notices the edit works under the last good policy...
        await ok(c, "binance_spot_price", {"symbol": BTC})
        # ...and the refusal is reported, as for any broken edit.
        status = await ok(c, "binance_account_status")
        assert status["policyError"], "the broken edit is not reported"
        assert "Denied by policy: ETHUSDT is not among" in await fails(
            c, "binance_spot_place_order", eth
        )
    assert orders_sent(paper) == []


# --- the exchange's clock ------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [3_600_000, -3_600_000])
async def test_exchange_clock_far_off_is_measured_not_fatal(
    paper: PaperExchange, tmp_path: Path, offset_ms: int
) -> None:
    """An hour apart: signed calls carry the measured offset, so reads and orders work, each
    order placed exactly once; the offset is shown."""
    paper.state.clock_offset_ms = offset_ms
    server = build_server(paper_settings(paper, tmp_path / "state"))
    async with Client(server, mode="auto") as c:
        await ok(c, "binance_spot_balances")
        placed = await ok(c, "binance_spot_place_order", {**MARKET, "newClientOrderId": "far"})
        assert placed["order"]["status"] == "FILLED"
        time = await ok(c, "binance_server_time")
        assert abs(time["offsetMs"] - offset_ms) < 2000, time
    assert [r["params"]["newClientOrderId"] for r in orders_sent(paper)] == ["far"]
    assert all(r.get("code") != -1021 for r in paper.state.requests)


async def test_clock_jump_mid_session_is_resynced(paper: PaperExchange, tmp_path: Path) -> None:
    server = build_server(paper_settings(paper, tmp_path / "state"))
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_balances")
        paper.state.clock_offset_ms = -3_600_000
        start = len(paper.state.requests)
        await ok(c, "binance_spot_place_order", {**MARKET, "newClientOrderId": "jump"})
    sent = list(paper.state.requests)[start:]
    posts = [(r.get("code"), r["status"]) for r in sent if r["path"] == "/api/v3/order"]
    assert posts == [(-1021, 400), (None, 200)]  # refused, clock measured, sent once more
    assert len(paper.state.spot_account.orders) == 1


async def test_timestamp_refused_again_denies_the_order_clearly(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = build_server(paper_settings(paper, tmp_path / "state"))
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_balances")
        paper.state.faults.arm(
            Fault("/api/v3/order", "status", method="POST", status=400, code=-1021, count=2,
                  msg="Timestamp for this request is outside of the recvWindow.")
        )  # fmt: skip
        text = await fails(c, "binance_spot_place_order", MARKET)
        assert "Binance error -1021" in text and "clock" in text
        # Reads still work.
        await ok(c, "binance_spot_balances")
    posts = [r for r in paper.state.requests if r["path"] == "/api/v3/order"]
    assert len(posts) == 2 and paper.state.spot_account.orders == {}


# --- the exchange down ------------------------------------------------------------------------


NOTIONAL_POLICY = """
    version: 1
    classes: {read: allow, financial: allow, destructive: allow}
    limits: { max_order_notional: "500" }
"""


async def check_venue_down(c: Client, where: str) -> None:
    # An order whose notional needs the current price: the guard cannot evaluate it.
    text = await fails(c, "binance_spot_place_order", MARKET)
    assert "Denied by policy: cannot evaluate notional: the exchange could not say" in text
    assert where in text
    # One that does not: the tool itself cannot reach the venue; nothing was placed.
    text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert where in text and "Denied by policy" not in text
    text = await fails(c, "binance_spot_price", {"symbol": BTC})
    assert where in text
    # The status tool still answers, and says what is wrong.
    status = await ok(c, "binance_account_status")
    assert status["spot"]["reachable"] is False and where in status["spot"]["error"]
    assert status["futures"]["reachable"] is False


async def test_venue_unreachable_from_the_start(paper: PaperExchange, tmp_path: Path) -> None:
    port = closed_port()
    settings = dataclasses.replace(
        paper_settings(paper, tmp_path / "state", policy=None),
        spot_url_override=f"http://127.0.0.1:{port}/api",
        futures_url_override=f"http://127.0.0.1:{port}/fapi",
        policy_path=tmp_path / "policy.yaml",
    )
    (tmp_path / "policy.yaml").write_text(textwrap.dedent(NOTIONAL_POLICY))
    async with Client(build_server(settings), mode="legacy") as c:
        await check_venue_down(c, f"could not connect to the paper venue at 127.0.0.1:{port}")
    assert audit_lines(tmp_path)[0]["decision"] == "deny"


async def test_venue_going_down_mid_session(tmp_path: Path) -> None:
    paper = start_paper_exchange(PaperConfig(state_dir=tmp_path / "paper", walk_interval=0))
    server = guarded_server(paper, tmp_path, NOTIONAL_POLICY)
    async with Client(server, mode="auto") as c:
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        paper.stop()  # once: the exchange is gone for the rest of the test
        await check_venue_down(c, f"could not connect to the paper venue at 127.0.0.1:{paper.port}")
        text = await fails(
            c, "binance_spot_cancel_order", {"symbol": BTC, "orderId": placed["order"]["orderId"]}
        )
        assert "could not connect" in text


async def test_unreadable_paper_account_stops_the_venue_not_the_data(tmp_path: Path) -> None:
    """The in-process paper venue with a damaged account file: it does not start (and does not
    replace the file with a fresh account); every tool says why; orders are denied."""
    state = tmp_path / "state"
    account = state / "paper" / "paper-account.json"
    account.parent.mkdir(parents=True)
    account.write_text('{"version": 1, "spot": {"balances": ')
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(NOTIONAL_POLICY))
    settings = Settings(
        venue="paper", venue_source="test", state_dir=state, policy_path=policy, retry=FAST_RETRY
    )
    async with Client(build_server(settings), mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", MARKET)
        assert "Denied by policy: cannot evaluate notional" in text
        assert "the paper exchange failed to start" in text and "unreadable" in text
        text = await fails(c, "binance_spot_balances")
        assert "the paper exchange failed to start" in text and "paper-account.json" in text
    assert account.read_text() == '{"version": 1, "spot": {"balances": '
