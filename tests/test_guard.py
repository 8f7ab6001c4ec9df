"""The guard end to end: each decision path over MCP against the paper exchange, with the paper
exchange's own state proving that a denied call sent nothing."""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import ElicitRequestParams, ElicitResult
from pydantic import SecretStr

from binance_mcp.cli import guard_commands
from binance_mcp.exchange import client as exchange_module
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from binance_mcp.server.runtime import Runtime
from tests.mcp_fixtures import fails, ok, paper_settings

pytestmark = pytest.mark.anyio

BUY_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
             "price": "95000"}  # fmt: skip


def guarded_server(
    paper: PaperExchange, tmp_path: Path, policy: str, approval_timeout: float = 120.0
) -> MCPServer[Runtime]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(policy))
    settings = paper_settings(paper, tmp_path / "state", policy=path)
    settings = replace(settings, approval_timeout=approval_timeout)
    if os.environ.get("BINANCE_MCP_TEST_STATE_URL"):
        # The same guard tests against shared state in Redis (tests/test_shared_state.py).
        settings = replace(settings, state_url=SecretStr(os.environ["BINANCE_MCP_TEST_STATE_URL"]))
    return build_server(settings)


def orders_sent(paper: PaperExchange) -> list[dict[str, Any]]:
    return [
        r
        for r in paper.state.requests
        if r["method"] == "POST"
        and r["path"] in ("/api/v3/order", "/fapi/v1/order", "/fapi/v1/algoOrder")
    ]


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "state" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


ALLOW_TWO = """
    version: 1
    default: deny
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
    tools:
      binance_spot_place_order:
        deny_if:
          - when: { symbol: { not_in: [BTCUSDT, ETHUSDT] } }
            reason: only BTC and ETH may be traded
          - when: { notional: { gt: "250" } }
            reason: single orders above 250 USDT are not for agents
"""


@pytest.mark.parametrize("symbol", ["BNBUSDT", "bnbusdt", " BNBUSDT "])
async def test_deny_if_symbol_whatever_its_spelling(
    paper: PaperExchange, tmp_path: Path, mode: Any, symbol: str
) -> None:
    server = guarded_server(paper, tmp_path, ALLOW_TWO)
    async with Client(server, mode=mode) as c:
        text = await fails(
            c, "binance_spot_place_order", {**BUY_LIMIT, "symbol": symbol, "price": "600"}
        )
        assert text.split(": ", 1)[1].startswith("Denied by policy: only BTC and ETH may be traded")
        assert "tools.binance_spot_place_order.deny_if[0]" in text
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert placed["order"]["status"] == "NEW"
    assert len(orders_sent(paper)) == 1
    lines = audit_lines(tmp_path)
    assert [(line["decision"], line["outcome"][:6]) for line in lines] == [
        ("deny", "Denied"), ("allow", "ok")]  # fmt: skip
    assert lines[1]["orderId"] == placed["order"]["orderId"]


@pytest.mark.parametrize(
    "args",
    [
        {**BUY_LIMIT, "quantity": "0.003"},  # 0.003 x 95000 = 285
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.003"},  # x price
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "251"},
        {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e-1"},  # 340
    ],
)
async def test_notional_cap_covers_every_way_of_sizing(
    paper: PaperExchange, tmp_path: Path, args: dict[str, Any]
) -> None:
    server = guarded_server(paper, tmp_path, ALLOW_TWO)
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", args)
    assert "Denied by policy: single orders above 250 USDT are not for agents" in text
    assert orders_sent(paper) == []


@pytest.mark.parametrize("quantity", ["0x10", "NaN", "-1", "1e400000", "Infinity"])
async def test_malformed_quantities_never_reach_the_exchange(
    paper: PaperExchange, tmp_path: Path, quantity: str
) -> None:
    server = guarded_server(paper, tmp_path, ALLOW_TWO)
    async with Client(server, mode="legacy") as c:
        await fails(c, "binance_spot_place_order", {**BUY_LIMIT, "quantity": quantity})
    assert orders_sent(paper) == []


async def test_hidden_tools_are_not_listed_nor_callable(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, write: allow, financial: allow, destructive: allow}
        hide: [binance_futures_close_position, binance_spot_place_order]
    """)  # fmt: skip
    async with Client(server, mode=mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert len(names) == 33 and "binance_spot_place_order" not in names
        result = await c.call_tool("binance_spot_place_order", BUY_LIMIT)
        assert result.is_error
    assert orders_sent(paper) == []


async def test_action_deny_approve_and_dry_run(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        default: deny
        classes: {read: allow, write: deny, financial: approve, destructive: allow}
        tools:
          binance_futures_place_order: { action: dry_run }
          binance_futures_change_leverage: { action: dry_run }
    """, approval_timeout=1.0)  # fmt: skip
    async with Client(server, mode=mode) as c:
        text = await fails(
            c, "binance_futures_set_margin_type", {"symbol": "BTCUSDT", "marginType": "ISOLATED"}
        )
        assert (
            "Denied by policy: binance_futures_set_margin_type is not allowed "
            "(the policy denies the write class) (classes.write)" in text
        )
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        # This client cannot elicit and nobody answers in the approvals queue.
        assert "Denied by policy: approval required (classes.financial" in text
        assert "no approval for " in text and "within 1 s" in text
        tested = await ok(c, "binance_futures_place_order",
                          {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})  # fmt: skip
        assert tested["order"] is None and "nothing placed" in tested["note"]
        text = await fails(
            c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 3}
        )
        assert "Dry run by policy (tools.binance_futures_change_leverage.action)" in text
        assert "nothing sent" in text
    assert orders_sent(paper) == []
    assert [r["path"] for r in paper.state.requests if r["method"] == "POST"] == [
        "/fapi/v1/order/test"
    ]
    assert paper.state.futures_account.positions == {} or all(
        p.amount == 0 for p in paper.state.futures_account.positions.values()
    )


async def test_monitor_mode_records_but_lets_through(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        mode: monitor
        classes: {read: allow, financial: deny}
        hide: [binance_futures_close_position]
    """)  # fmt: skip
    async with Client(server, mode="legacy") as c:
        # Nothing is hidden in monitor mode: the call goes through and is recorded.
        listed = {t.name for t in (await c.list_tools()).tools}
        assert "binance_futures_close_position" in listed
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert len(orders_sent(paper)) == 1
    line = audit_lines(tmp_path)[-1]
    assert (line["decision"], line["mode"], line["outcome"]) == ("deny", "monitor", "ok")


async def test_kill_switch_stops_orders_but_not_cancels(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = build_server(paper_settings(paper, tmp_path / "state"))
    async with Client(server, mode="auto") as c:
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert guard_commands.halt(tmp_path / "state", "market is mad") == 0
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert (
            "Denied by policy: trading is halted: halted with `binance-mcp halt`: market is mad"
            in text
        )
        status = await ok(c, "binance_account_status")
        assert "market is mad" in status["halted"]
        await ok(
            c,
            "binance_spot_cancel_order",
            {"symbol": "BTCUSDT", "orderId": placed["order"]["orderId"]},
        )
        await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
        assert guard_commands.resume(tmp_path / "state") == 0
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert len(orders_sent(paper)) == 2


async def test_rate_limit(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, financial: allow, destructive: allow}
        tools:
          binance_spot_place_order: { rate_limit: 2/minute }
    """)  # fmt: skip
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert "rate limit 2/minute for binance_spot_place_order reached; retry in" in text
    assert "tools.binance_spot_place_order.rate_limit" in text
    assert len(orders_sent(paper)) == 2


async def test_limits_futures_reduce_only_and_leverage(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, write: allow, financial: allow, destructive: allow}
        limits: { futures: reduce_only, max_leverage: 5 }
    """)  # fmt: skip
    from tests.paper_fixtures import binance_client

    binance_client(paper).futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
    )
    async with Client(server, mode="legacy") as c:
        opening = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        assert "futures are reduce-only" in await fails(c, "binance_futures_place_order", opening)
        text = await fails(
            c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 3}
        )
        assert "futures are reduce-only" in text
        closing = {**opening, "side": "SELL", "reduceOnly": True}
        await ok(c, "binance_futures_place_order", closing)
    assert [r["params"]["side"] for r in orders_sent(paper)] == ["BUY", "SELL"]
    server = guarded_server(paper, tmp_path / "second", """
        version: 1
        classes: {read: allow, financial: allow}
        limits: { max_leverage: 5 }
    """)  # fmt: skip
    async with Client(server, mode="legacy") as c:
        text = await fails(
            c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 10}
        )
        assert "leverage 10 is above 5 (limits.max_leverage)" in text
        await ok(c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 5})
    assert paper.state.futures_account.settings["BTCUSDT"].leverage == 5


async def test_policy_reload_and_broken_edit(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, ALLOW_TWO)
    path = tmp_path / "policy.yaml"
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        path.write_text(ALLOW_TWO.replace("not_in: [BTCUSDT, ETHUSDT]", "not_in: [ETHUSDT]") + "\n")
        assert "only BTC and ETH" in await fails(c, "binance_spot_place_order", BUY_LIMIT)
        path.write_text("version: 1\nclasses: {financial: allwo}\n")
        assert "only BTC and ETH" in await fails(c, "binance_spot_place_order", BUY_LIMIT)
        status = await ok(c, "binance_account_status")
        assert status["policyError"].startswith("classes.financial.action: Input should be")
    assert len(orders_sent(paper)) == 1


CAP_FUTURES = """
    version: 1
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
    limits: {max_order_notional: "100000"}
    tools:
      binance_futures_place_order:
        approve_if:
          - when: { notional: { gt: "50000" } }
"""
FUTURES_MARKET = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


def mark_price_reads(paper: PaperExchange) -> int:
    return sum(1 for r in paper.state.requests if r["path"] == "/fapi/v1/premiumIndex")


async def test_one_price_read_values_and_checks_an_order(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    """The approval resolver and the guard value the order, the tool pre-checks it: one mark
    price read for all three within a call, a fresh one for the next call."""
    server = guarded_server(paper, tmp_path, CAP_FUTURES)
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_futures_place_order", FUTURES_MARKET)
        assert mark_price_reads(paper) == 1
        await ok(c, "binance_futures_place_order", FUTURES_MARKET)
        assert mark_price_reads(paper) == 2
    assert len(orders_sent(paper)) == 2


async def test_a_price_read_before_an_approval_is_read_again_after_it(
    paper: PaperExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange_module, "SHARED_READ_TTL", 0.2)
    server = guarded_server(paper, tmp_path, CAP_FUTURES.replace('gt: "50000"', 'gt: "1"'))

    async def approve_slowly(context: Any, params: ElicitRequestParams) -> ElicitResult:
        await anyio.sleep(0.5)
        return ElicitResult(action="accept", content={"approve": True})

    async with Client(server, mode="legacy", elicitation_callback=approve_slowly) as c:
        await ok(c, "binance_futures_place_order", FUTURES_MARKET)
    # Read to ask, then afresh by the guard and the tool once the person said yes.
    assert mark_price_reads(paper) == 2
    assert len(orders_sent(paper)) == 1
