"""The tool list as a client sees it, and every one of the 35 tools called once with valid
arguments — in-process on both protocol eras and over real stdio."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from binance_mcp.guard.policy import tool_arguments
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server import app as server_module
from binance_mcp.server.guarded import build_guarded
from binance_mcp.tools import all_tools
from binance_mcp.tools import catalogue as catalogue_module
from binance_mcp.tools.catalogue import CATALOGUE_FILE, generate, render
from binance_mcp.tools.catalogue import main as catalogue_main
from binance_mcp.tools.risk import ANNOTATIONS
from tests.mcp_fixtures import ok, stdio_server

pytestmark = pytest.mark.anyio

# SPEC §3 and §4.1: the 35 names and their risk classes.
EXPECTED = {
    "read": [
        "binance_account_info", "binance_spot_balances", "binance_portfolio_account",
        "binance_futures_positions", "binance_account_status", "binance_spot_open_orders",
        "binance_spot_order_history", "binance_spot_trade_history",
        "binance_futures_open_orders", "binance_futures_order_history",
        "binance_futures_trade_history", "binance_spot_price", "binance_futures_price",
        "binance_spot_orderbook", "binance_spot_klines", "binance_futures_klines",
        "binance_spot_24hr_ticker", "binance_futures_24hr_ticker", "binance_exchange_info",
        "binance_server_time", "binance_calculate_position_size",
        "binance_analyze_portfolio_risk", "binance_compare_spot_futures_price",
        "binance_calculate_funding_cost", "binance_check_order_precision",
        "binance_get_optimal_trade_size",
    ],
    "write": ["binance_futures_set_margin_type"],
    "financial": [
        "binance_spot_place_order", "binance_futures_place_order",
        "binance_futures_change_leverage", "binance_futures_close_position",
    ],
    "destructive": [
        "binance_spot_cancel_order", "binance_spot_cancel_all_orders",
        "binance_futures_cancel_order", "binance_futures_cancel_all_orders",
    ],
}  # fmt: skip


async def test_tool_list(server: Any, mode: Any) -> None:
    async with Client(server, mode=mode) as c:
        listed = await c.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert len(listed.tools) == 35
    for risk, names in EXPECTED.items():
        for name in names:
            tool = tools[name]
            hints = tool.annotations
            assert hints is not None
            want = ANNOTATIONS[risk]
            got = (
                hints.read_only_hint,
                hints.destructive_hint,
                hints.idempotent_hint,
                hints.open_world_hint,
            )
            assert got == (want.read_only_hint, want.destructive_hint, want.idempotent_hint,
                           want.open_world_hint), name  # fmt: skip
            assert None not in got, name
            assert tool.output_schema is not None, name
            assert "venue" in tool.output_schema["properties"], name
            assert tool.description and len(tool.description) <= 200, name
    size = len(listed.model_dump_json(by_alias=True, exclude_none=True))
    assert size < 20_000, f"tools/list is {size} characters"


def test_listing_tools_does_not_import_python_binance(tmp_path: Path) -> None:
    script = """
import asyncio, sys
from mcp import Client
from binance_mcp.config import resolve_settings
from binance_mcp.server.app import build_server

async def main():
    server = build_server(resolve_settings({"BINANCE_MCP_STATE_DIR": sys.argv[1]}))
    async with Client(server, mode="legacy") as c:
        assert len((await c.list_tools()).tools) == 35
        print("binance" in sys.modules, "binance_mcp.tools.spot" in sys.modules)
        # The first call builds its own tool: its area's module, not the others.
        await c.call_tool("binance_spot_price", {"symbol": "BTCUSDT"})
        print("binance_mcp.tools.market" in sys.modules, "binance_mcp.tools.spot" in sys.modules)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "False"]


def test_catalogue_matches_the_declarations() -> None:
    """tools/list is served from catalogue.json; it must be what the declarations build."""
    assert render(generate()) == CATALOGUE_FILE.read_text(encoding="utf-8"), (
        "binance_mcp/tools/catalogue.json is out of date: run python -m binance_mcp.tools.catalogue"
    )
    assert catalogue_main(["--check"]) == 0


@pytest.mark.parametrize("asks", [True, False])
async def test_listed_as_the_sdk_lists_the_built_tools(server: Any, mode: Any, asks: bool) -> None:
    """Both builds of each tool, with and without the approval resolver, list the same."""
    sdk = MCPServer(tools=[build_guarded(t, asks=asks) for t in all_tools()])
    async with Client(server, mode=mode) as ours, Client(sdk, mode=mode) as theirs:
        assert (await ours.list_tools()).tools == (await theirs.list_tools()).tools


async def test_a_tool_built_unlike_its_listing_is_reported(
    server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """catalogue.json made with other library versions than the installed ones: the call
    still works, validated as built, and the log says to regenerate the list."""
    entries = dict(catalogue_module.catalogue())
    entry = entries["binance_spot_price"]
    other = entry.listed.model_copy(update={"input_schema": {"type": "object"}})
    entries["binance_spot_price"] = replace(entry, listed=other)
    monkeypatch.setattr(server_module, "catalogue", lambda: entries)
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
        await ok(c, "binance_server_time", {})
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "binance_spot_price is built with other schemas than tools/list showed; regenerate "
        "the list with `python -m binance_mcp.tools.catalogue`"
    ]


def test_policy_names_the_arguments_of_each_tool() -> None:
    table = tool_arguments()
    assert list(table) == [t.name for t in all_tools()]
    for t in all_tools():
        params = [p for p in inspect.signature(t.fn).parameters if p != "ctx"]
        assert table[t.name] == (t.risk, frozenset(params)), t.name


def test_catalogue_check_fails_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "catalogue.json"
    stale.write_text(CATALOGUE_FILE.read_text(encoding="utf-8").replace("Spot account", "Spot"))
    monkeypatch.setattr(catalogue_module, "CATALOGUE_FILE", stale)
    assert catalogue_main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert catalogue_main([]) == 0
    assert stale.read_text(encoding="utf-8") == CATALOGUE_FILE.read_text(encoding="utf-8")


def every_tool_once() -> list[tuple[str, dict[str, Any]]]:
    """A session that calls each of the 35 tools with valid arguments, in an order where each
    call has what it needs (an order to cancel, a position to close)."""
    return [
        ("binance_server_time", {}),
        ("binance_account_status", {}),
        ("binance_account_info", {}),
        ("binance_spot_balances", {}),
        ("binance_portfolio_account", {}),
        ("binance_exchange_info", {"market": "spot", "symbol": "BTCUSDT"}),
        ("binance_spot_price", {"symbol": "BTCUSDT"}),
        ("binance_futures_price", {"symbol": "BTCUSDT"}),
        ("binance_spot_orderbook", {"symbol": "BTCUSDT", "limit": 10}),
        ("binance_spot_klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 5}),
        ("binance_futures_klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 5}),
        ("binance_spot_24hr_ticker", {"symbol": "BTCUSDT"}),
        ("binance_futures_24hr_ticker", {"symbol": "BTCUSDT"}),
        ("binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                      "quantity": "0.001", "price": "90000",
                                      "newClientOrderId": "e2e-limit-1"}),
        ("binance_spot_open_orders", {"symbol": "BTCUSDT"}),
        ("binance_spot_cancel_order", {"symbol": "BTCUSDT", "origClientOrderId": "e2e-limit-1"}),
        ("binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                      "quantity": "0.001", "price": "90000"}),
        ("binance_spot_cancel_all_orders", {"symbol": "BTCUSDT"}),
        ("binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                      "quantity": "0.001"}),
        ("binance_spot_order_history", {"symbol": "BTCUSDT"}),
        ("binance_spot_trade_history", {"symbol": "BTCUSDT"}),
        ("binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 5}),
        ("binance_futures_set_margin_type", {"symbol": "BTCUSDT", "marginType": "ISOLATED"}),
        ("binance_futures_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                         "quantity": "0.01"}),
        ("binance_futures_positions", {"symbol": "BTCUSDT"}),
        ("binance_futures_place_order", {"symbol": "BTCUSDT", "side": "SELL",
                                         "type": "STOP_MARKET", "stopPrice": "90000",
                                         "closePosition": True}),
        ("binance_futures_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                         "quantity": "0.01", "price": "95000",
                                         "newClientOrderId": "e2e-futures-1"}),
        ("binance_futures_open_orders", {"symbol": "BTCUSDT"}),
        ("binance_futures_cancel_order", {"symbol": "BTCUSDT",
                                          "origClientOrderId": "e2e-futures-1"}),
        ("binance_futures_cancel_all_orders", {"symbol": "BTCUSDT"}),
        ("binance_futures_order_history", {"symbol": "BTCUSDT"}),
        ("binance_futures_trade_history", {"symbol": "BTCUSDT"}),
        ("binance_analyze_portfolio_risk", {}),
        ("binance_futures_close_position", {"symbol": "BTCUSDT"}),
        ("binance_calculate_position_size", {"symbol": "BTCUSDT", "riskAmount": "100",
                                             "entryPrice": "97000", "stopLossPrice": "95000",
                                             "leverage": 5}),
        ("binance_compare_spot_futures_price", {"symbol": "BTCUSDT"}),
        ("binance_calculate_funding_cost", {"symbol": "BTCUSDT", "positionSize": "0.5",
                                            "holdHours": 24}),
        ("binance_check_order_precision", {"symbol": "BTCUSDT", "market": "spot",
                                           "price": "97000.01", "quantity": "0.001"}),
        ("binance_get_optimal_trade_size", {"symbol": "BTCUSDT", "side": "BUY",
                                            "maxPriceImpact": "0.1"}),
    ]  # fmt: skip


def check_session_effects(paper: PaperExchange, results: dict[str, Any]) -> None:
    assert {name for name, _ in every_tool_once()} == {n for ns in EXPECTED.values() for n in ns}
    spot = paper.state.spot_account
    assert [o.status for o in spot.orders.values()] == ["CANCELED", "CANCELED", "FILLED"]
    assert not any(o.is_open for o in spot.orders.values())
    positions = binance_client_positions(paper)
    assert positions == [], "the position was closed"
    assert results["binance_futures_close_position"]


def binance_client_positions(paper: PaperExchange) -> list[dict[str, Any]]:
    from tests.paper_fixtures import binance_client

    rows = binance_client(paper).futures_position_information(symbol="BTCUSDT")
    return [r for r in rows if float(r["positionAmt"]) != 0]


async def run_session(c: Client) -> dict[str, Any]:
    results = {}
    for name, args in every_tool_once():
        results[name] = await ok(c, name, args)
    return results


async def test_every_tool_in_process(server: Any, mode: Any, paper: PaperExchange) -> None:
    async with Client(server, mode=mode) as c:
        results = await run_session(c)
    check_session_effects(paper, results)


async def test_every_tool_over_stdio(paper: PaperExchange, tmp_path: Path) -> None:
    params = stdio_server(paper, tmp_path / "state")
    async with Client(params, mode="legacy") as c:
        assert len((await c.list_tools()).tools) == 35
        results = await run_session(c)
    check_session_effects(paper, results)
    assert json.dumps(results)  # structured results are plain JSON


def render_tool_table() -> str:

    rows = ["| tool | class | what it does |", "|---|---|---|"]
    rows += [f"| `{t.name}` | {t.risk} | {t.description} |" for t in all_tools()]
    return "\n".join(rows)


def test_readme_tool_table_matches_the_server() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start, end = "<!-- tools:start -->\n", "\n<!-- tools:end -->"
    assert start in readme and end in readme, "README.md has no generated tool table"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    expected = render_tool_table()
    assert table == expected, "README tool table is stale; replace it with:\n" + expected


def test_output_schemas_read_from_annotations_match_pydantic() -> None:
    """The published output schemas are read from the result models' annotations (start-up
    cost); they must be what cutting pydantic's full schema down gives."""
    import typing

    from pydantic import TypeAdapter

    from binance_mcp.tools.schemas import shallow, shallow_model

    for t in all_tools():
        model = typing.get_type_hints(t.fn)["return"]
        assert shallow_model(model) == shallow(TypeAdapter(model).json_schema()), t.name
