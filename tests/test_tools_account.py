"""Account tools end to end, checked against what the paper exchange holds."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import fails, ok, paper_settings
from tests.paper_fixtures import binance_client

pytestmark = pytest.mark.anyio


async def test_spot_account_and_balances(server: Any, mode: Any, paper: PaperExchange) -> None:
    async with Client(server, mode=mode) as c:
        info = (await ok(c, "binance_account_info"))["account"]
        assert info["accountType"] == "SPOT" and info["canTrade"] is True
        assert info["permissions"] == ["SPOT"]
        assert info["commissionRates"]["taker"] == "0.00100000"
        balances = (await ok(c, "binance_spot_balances"))["balances"]
        held = paper.state.spot_account.balances
        expected = {a for a, b in held.items() if b.free or b.locked}
        assert {b["asset"] for b in balances} == expected
        for b in balances:
            assert Decimal(b["free"]) == held[b["asset"]].free
        one = await ok(c, "binance_spot_balances", {"asset": " eth "})
        assert [b["asset"] for b in one["balances"]] == ["ETH"]
        assert (await ok(c, "binance_spot_balances", {"asset": "DOGE"}))["balances"] == []


async def test_futures_account_and_positions(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    direct.futures_change_leverage(symbol="ETHUSDT", leverage=7)
    direct.futures_create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.5")
    async with Client(server, mode=mode) as c:
        account = await ok(c, "binance_portfolio_account")
        raw = direct.futures_account()
        assert account["account"] == "USD-M futures"
        assert account["totals"]["totalWalletBalance"] == raw["totalWalletBalance"]
        assert account["totals"]["availableBalance"] == raw["availableBalance"]
        assert [a["asset"] for a in account["assets"]] == ["USDT"]
        positions = (await ok(c, "binance_futures_positions"))["positions"]
        assert len(positions) == 1
        p = positions[0]
        assert (p["symbol"], p["side"], p["positionSide"]) == ("ETHUSDT", "SHORT", "BOTH")
        assert Decimal(p["positionAmt"]) == Decimal("-0.5")
        assert p["leverage"] == 7 and p["marginType"] == "CROSSED"
        raw_pos = direct.futures_position_information(symbol="ETHUSDT")[0]
        assert p["entryPrice"] == raw_pos["entryPrice"]
        assert p["liquidationPrice"] == raw_pos["liquidationPrice"]
        assert (await ok(c, "binance_futures_positions", {"symbol": "BTCUSDT"}))["positions"] == []


async def test_account_status_reports_the_venue(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        status = await ok(c, "binance_account_status")
        origin = paper.base_url.rstrip("/")
        assert status["spot"] == {"url": origin, "reachable": True,
                                  "latencyMs": status["spot"]["latencyMs"], "error": None}  # fmt: skip
        assert status["futures"]["reachable"] is True
        assert abs(status["clockOffsetMs"]) < 2000
        assert status["keysSet"] is True
        assert status["policy"].endswith("paper-everything.yaml")
        assert (status["policyMode"], status["policyError"], status["halted"]) == (
            "enforce",
            None,
            None,
        )
        spot_host = status["hosts"][paper.spot_url]
        assert spot_host["usedWeight"] > 0 and spot_host["weightLimit"] == 6000
        assert spot_host["bannedUntil"] is None
        assert set(status["hosts"]) == {paper.spot_url, paper.futures_url}

        # More 503s in a row than a read is tried: the failure is reported, not hidden.
        paper.state.faults.arm(Fault("/fapi/v1/time", "status", status=503, count=10))
        degraded = await ok(c, "binance_account_status")
        paper.state.faults.clear()
        assert degraded["futures"]["reachable"] is False
        assert "HTTP 503" in degraded["futures"]["error"]
        assert degraded["spot"]["reachable"] is True


async def test_signed_calls_without_keys_say_what_to_set(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    settings = replace(paper_settings(paper, tmp_path / "state"), api_key=None, api_secret=None)
    async with Client(build_server(settings), mode=mode) as c:
        text = await fails(c, "binance_spot_balances")
        assert "this call needs API keys and none are set" in text
        assert "set BINANCE_API_KEY and BINANCE_API_SECRET" in text
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
                 "price": "95000"}  # fmt: skip
        assert "needs API keys" in await fails(c, "binance_spot_place_order", order)
        await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})  # market data still works
    assert not [r for r in paper.state.requests if r["method"] == "POST"]
