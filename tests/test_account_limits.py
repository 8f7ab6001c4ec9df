"""Position, exposure and loss limits, and the trading states (issue 18), end to end over MCP
against the paper venue, moving the paper exchange's prices in the test."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.client.stdio import stdio_client

from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok, stdio_server
from tests.test_approval import cli
from tests.test_guard import audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

ALLOW = "version: 1\nclasses: {read: allow, write: allow, financial: allow, destructive: allow}\n"


def policy(limits: str) -> str:
    return ALLOW + f"limits: {{{limits}}}\n"


def futures(side: str, quantity: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": quantity, **extra}


async def position(c: Client, symbol: str = "BTCUSDT") -> Decimal:
    rows = (await ok(c, "binance_futures_positions"))["positions"]
    return sum((Decimal(r["positionAmt"]) for r in rows if r["symbol"] == symbol), Decimal(0))


async def test_a_position_cannot_grow_past_its_limit(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, policy('max_position_notional: "500"'))
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_futures_place_order", futures("BUY", "0.003"))  # ~291
        sent = len(orders_sent(paper))
        text = await fails(c, "binance_futures_place_order", futures("BUY", "0.003"))
        assert "(limits.max_position_notional)" in text
        assert "BTCUSDT position would be 58" in text and "above the limit 500" in text
        assert "(before it: 29" in text
        assert len(orders_sent(paper)) == sent  # nothing sent
        # Shrinking is always possible, flagged or not.
        await ok(c, "binance_futures_place_order", futures("SELL", "0.003"))
        assert await position(c) == 0


async def test_exposure_stops_orders_over_several_symbols(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, policy('max_exposure: "700"'))
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_futures_place_order", futures("BUY", "0.003"))  # ~291
        eth = {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1"}
        await ok(c, "binance_futures_place_order", eth)  # ~340: ~631 in all
        sent = len(orders_sent(paper))
        text = await fails(c, "binance_futures_place_order", futures("BUY", "0.002"))
        assert "gross futures exposure would be" in text and "(limits.max_exposure)" in text
        # A resting order counts as exposure too.
        limit = {**futures("BUY", "0.01"), "type": "LIMIT", "price": "90000", "timeInForce": "GTC"}
        text = await fails(c, "binance_futures_place_order", limit)
        assert "(limits.max_exposure)" in text
        assert len(orders_sent(paper)) == sent


async def test_the_daily_loss_switches_to_reducing_until_resume(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, policy('max_daily_loss: "100"'))
    state = str(tmp_path / "state")
    async with Client(server, mode="legacy") as c:
        # The day's first look at the account: its value is the high-water mark.
        await ok(c, "binance_futures_place_order", futures("BUY", "0.002"))
        status = await ok(c, "binance_account_status")
        assert status["trading"] == "trading is active"
        # The paper account holds 0.5 BTC: a 1 000 fall costs ~500.
        paper.state.set_price("BTCUSDT", Decimal("96000"))
        sent = len(orders_sent(paper))
        text = await fails(c, "binance_futures_place_order", futures("BUY", "0.002"))
        assert "trading is reducing until the end of the UTC day" in text
        assert "reached the limit 100 (limits.max_daily_loss)" in text
        assert len(orders_sent(paper)) == sent
        # Reducing orders and cancels pass; the state is visible.
        await ok(c, "binance_futures_place_order", futures("SELL", "0.002", reduceOnly=True))
        text = await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": 1})
        assert "Denied by policy" not in text
        status = await ok(c, "binance_account_status")
        assert status["trading"].startswith("trading is reducing until the end of the UTC day")
        code, out = await anyio.to_thread.run_sync(cli, "status", "--state-dir", state)
        assert "trading:   REDUCING: reducing until the end of the UTC day" in out
        code, out = await anyio.to_thread.run_sync(cli, "resume", "--state-dir", state)
        assert (code, out) == (0, "resumed from reducing\n")
        # Resumed, the loss is counted afresh from here.
        await ok(c, "binance_futures_place_order", futures("BUY", "0.002"))
    events = [a for a in audit_lines(tmp_path) if a.get("event") == "trading_state_changed"]
    assert len(events) == 1
    assert events[0]["from"] == "active" and events[0]["to"] == "reducing"
    assert Decimal(events[0]["daily_loss"]) >= 100 and events[0]["limit"] == "100"
    denied = [a for a in audit_lines(tmp_path) if a.get("rule") == "trading state"]
    assert denied and denied[0]["trading"].startswith("trading is reducing")
    # The audit reader shows the switch.
    code, out = cli("audit", "--state-dir", state)
    assert code == 0 and "trading_state_changed" in out


async def test_reducing_by_hand(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, ALLOW)
    state = str(tmp_path / "state")
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_futures_place_order", futures("BUY", "0.002"))
        code, out = await anyio.to_thread.run_sync(
            cli, "halt", "--reducing", "--reason", "end of the week", "--state-dir", state
        )
        assert code == 0 and out.startswith("reducing:")
        sent = len(orders_sent(paper))
        sell = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "price": "99000",
                "timeInForce": "GTC"}  # fmt: skip
        for denied in (
            ("binance_futures_place_order", futures("BUY", "0.001")),
            (
                "binance_spot_place_order",
                {**sell, "side": "BUY", "price": "95000", "quantity": "0.001"},
            ),
            ("binance_spot_place_order", {**sell, "quantity": "0.6"}),  # more than the 0.5 held
            ("binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 3}),
        ):
            text = await fails(c, *denied)
            assert (
                "trading is reducing (set with `binance-mcp halt --reducing`: end of the week)"
                in text
            )
            assert "(trading state)" in text
        assert len(orders_sent(paper)) == sent
        await ok(c, "binance_spot_place_order", {**sell, "quantity": "0.001"})
        await ok(c, "binance_futures_place_order", futures("SELL", "0.002", reduceOnly=True))
        code, out = await anyio.to_thread.run_sync(cli, "status", "--state-dir", state)
        assert "trading:   REDUCING: reducing (set with `binance-mcp halt --reducing`" in out
        assert cli("resume", "--state-dir", state) == (0, "resumed from reducing\n")
        await ok(c, "binance_futures_place_order", futures("BUY", "0.002"))


async def test_ten_concurrent_orders_never_pass_the_limit(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, policy('max_position_notional: "500"'))
    results: list[bool] = []
    async with Client(server, mode="legacy") as c:

        async def one() -> None:
            result = await c.call_tool("binance_futures_place_order", futures("BUY", "0.002"))
            results.append(not result.is_error)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
        held = await position(c)
    mark = paper.state.futures_market.mark("BTCUSDT")
    assert held * mark <= 500
    assert results.count(True) == 2 and held == Decimal("0.004")


async def test_two_processes_on_one_state_dir_share_the_limit(
    paper: PaperExchange, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(policy('max_position_notional: "500"')))
    state = tmp_path / "state"
    results: list[bool] = []

    async def process() -> None:
        async with (
            stdio_client(stdio_server(paper, state, path)) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()

            async def one() -> None:
                result = await session.call_tool(
                    "binance_futures_place_order", futures("BUY", "0.002")
                )
                results.append(not result.is_error)

            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(one)

    async with anyio.create_task_group() as tg:
        tg.start_soon(process)
        tg.start_soon(process)
    held = paper.state.futures_account.positions.get("BTCUSDT:BOTH")
    amount = held.amount if held else Decimal(0)
    assert amount * paper.state.futures_market.mark("BTCUSDT") <= 500
    assert results.count(True) == 2 and amount == Decimal("0.004")
    lines = [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]
    assert sum(1 for a in lines if a.get("rule") == "limits.max_position_notional") == 8


def test_policy_explain_shows_the_new_facts() -> None:
    policy_file = Path(__file__).parent.parent / "examples" / "policies" / "futures-limits.yaml"
    code, out = cli(
        "policy", "explain", str(policy_file), "binance_futures_place_order",
        "--args", json.dumps(futures("BUY", "0.003")),
        "--fact", "notional=291", "--fact", "leverage=5", "--fact", "daily_loss=20",
        "--fact", "position_notional=291", "--fact", "position_notional_after=582",
        "--fact", "exposure=291", "--fact", "exposure_after=582",
    )  # fmt: skip
    assert code == 0, out  # explained; the decision is in the text
    assert "decision: deny" in out and "rule:     limits.max_position_notional" in out
    assert "position_notional_after" in out and "582" in out
    assert "BTCUSDT position would be 582 after this order, above the limit 500" in out


def reads_since(paper: PaperExchange, start: int) -> list[str]:
    return [r["path"] for r in list(paper.state.requests)[start:] if r["method"] == "GET"]


@pytest.mark.parametrize("market", ["futures", "spot"])
async def test_every_limit_at_once_reads_each_figure_once_per_call(
    paper: PaperExchange, tmp_path: Path, market: str
) -> None:
    """Position, exposure, open orders and the day's loss, all set: the resolver and the guard
    read the account once for them all (one read per endpoint), and the next call afresh."""
    limits = (
        'max_position_notional: "100000", max_exposure: "100000", max_open_orders: 50, '
        'max_daily_loss: "100000"'
    )
    server = guarded_server(paper, tmp_path, policy(limits))
    tool = f"binance_{market}_place_order"
    order = futures("BUY", "0.002")
    async with Client(server, mode="legacy") as c:
        await ok(c, tool, order)  # the day's first value and the symbol's rules are read here
        for _ in range(2):
            start = len(paper.state.requests)
            await ok(c, tool, order)
            reads = reads_since(paper, start)
            repeated = {path for path in reads if reads.count(path) > 1}
            assert reads and repeated == set(), (reads, repeated)
            if market == "futures":
                # The symbol's position and open orders come from the reads of every symbol.
                expected = {"/fapi/v3/positionRisk", "/fapi/v1/openOrders", "/fapi/v1/premiumIndex"}
                assert expected <= set(reads), reads
    assert len(orders_sent(paper)) == 3
