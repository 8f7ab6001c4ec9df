"""Budgets and counters shared through the SQLite store (SPEC §4.4): the daily notional budget,
max open orders and rate limits, end to end over MCP against the paper exchange — and shared
by two servers, in one process and in two."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.config import Settings
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.guard.gate import Guard, PolicyHolder
from binance_mcp.guard.store import OrderSlot, StateStore
from binance_mcp.guard.tool_index import ToolSpec
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import fails, ok, paper_settings, stdio_server
from tests.test_guard import BUY_LIMIT, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

# BUY_LIMIT is 0.001 BTC at 95000: a notional of 95 USDT.
BUDGET = """
    version: 1
    classes: {read: allow, financial: allow, destructive: allow}
    limits: { daily_notional: "250" }
"""


def open_spot(paper: PaperExchange) -> int:
    return len(paper.state.spot.open_orders(None))


async def test_daily_budget_is_spent_by_placed_orders_only(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, BUDGET)
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        # Rejected by the exchange: its reservation is released.
        paper.state.faults.arm(
            Fault("/api/v3/order", "status", method="POST", status=400, code=-2010,
                  msg="Account has insufficient balance for requested action.")
        )  # fmt: skip
        assert "-2010" in await fails(c, "binance_spot_place_order", BUY_LIMIT)
        # Denied locally (above the tick): reserves nothing either.
        await fails(c, "binance_spot_place_order", {**BUY_LIMIT, "price": "95000.001"})
        # A test order places nothing and spends nothing.
        await ok(c, "binance_spot_place_order", {**BUY_LIMIT, "test": True})
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert "Denied by policy: daily notional budget 250 (UTC day): 190 used, 60 left, " \
        "this order needs 95 (limits.daily_notional)" in text  # fmt: skip
    assert open_spot(paper) == 2
    # Two placed, one rejected by the exchange; the denied ones never left.
    assert len(orders_sent(paper)) == 3


async def test_max_open_orders_counts_what_the_exchange_lists(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: allow, financial: allow, destructive: allow}
        limits: { max_open_orders: 2 }
    """)  # fmt: skip
    async with Client(server, mode="legacy") as c:
        first = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert "2 spot orders are open or being placed; the limit is 2" in text
        assert "(limits.max_open_orders)" in text
        # Futures orders are counted in their own market.
        await ok(c, "binance_futures_place_order", {**BUY_LIMIT, "quantity": "0.002"})
        await ok(
            c,
            "binance_spot_cancel_order",
            {"symbol": "BTCUSDT", "orderId": first["order"]["orderId"]},
        )
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert open_spot(paper) == 2


async def test_dry_runs_spend_nothing_of_the_budget(paper: PaperExchange, tmp_path: Path) -> None:
    dry = BUDGET.replace("financial: allow", "financial: dry_run")
    server = guarded_server(paper, tmp_path, dry)
    async with Client(server, mode="legacy") as c:
        for _ in range(4):  # 4 x 95 would be past 250 if dry runs counted
            await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert orders_sent(paper) == []
    assert open_spot(paper) == 0


async def test_two_servers_on_one_state_dir_share_budget_and_rate_limits(
    paper: PaperExchange, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("""
version: 1
classes: {read: allow, financial: allow, destructive: allow}
tools: { binance_spot_price: { rate_limit: 3/minute } }
limits: { daily_notional: "200" }
""")
    state = tmp_path / "state"
    one = build_server(paper_settings(paper, state, policy=policy))
    two = build_server(paper_settings(paper, state, policy=policy))
    async with Client(one, mode="legacy") as a, Client(two) as b:
        await ok(a, "binance_spot_place_order", BUY_LIMIT)
        await ok(b, "binance_spot_place_order", BUY_LIMIT)
        assert "daily notional budget" in await fails(a, "binance_spot_place_order", BUY_LIMIT)
        for client in (a, b, a):
            await ok(client, "binance_spot_price", {"symbol": "BTCUSDT"})
        text = await fails(b, "binance_spot_price", {"symbol": "BTCUSDT"})
        assert "rate limit 3/minute for binance_spot_price reached" in text
    assert open_spot(paper) == 2


async def test_two_processes_never_exceed_the_budget_together(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """Two `binance-mcp` processes (say Claude Desktop and Cursor) on one state dir, each
    placing eight orders at once against a budget that fits ten."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("""
version: 1
classes: {read: allow, financial: allow}
limits: { daily_notional: "950" }
""")
    outcomes: list[bool] = []

    async def one_process() -> None:
        async with Client(stdio_server(paper, tmp_path / "state", policy)) as c:

            async def order() -> None:
                result = await c.call_tool("binance_spot_place_order", BUY_LIMIT)
                if result.is_error:
                    assert "daily notional budget 950" in result.content[0].text  # type: ignore[union-attr]
                outcomes.append(not result.is_error)

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(order)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one_process)
        tg.start_soon(one_process)
    assert sorted(outcomes) == [False] * 6 + [True] * 10
    assert open_spot(paper) == 10
    assert len(orders_sent(paper)) == 10


async def test_unreadable_store_denies_writes_keeps_reads(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, """
        version: 1
        classes: {read: {action: allow, rate_limit: 100/minute}, financial: allow}
        limits: { daily_notional: "1000" }
    """)  # fmt: skip
    # A directory where the database should be: SQLite cannot open it.
    (tmp_path / "state" / "state.sqlite3").mkdir(parents=True)
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert "Denied by policy: cannot check budgets: state store" in text
        assert "unavailable" in text
        price = await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
        assert Decimal(price["prices"][0]["price"]) > 0
    assert orders_sent(paper) == []


def _slot(notional: str) -> OrderSlot:
    return OrderSlot("spot", Decimal(notional), Decimal("100"), None, None, None)


async def test_uncertain_outcome_keeps_the_reservation(tmp_path: Path) -> None:
    """A unit test of the guard's settlement: the tool is a stand-in that fails one way or the
    other; what matters is what stays reserved."""
    settings = Settings(venue="paper", venue_source="test", state_dir=tmp_path)
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(
        "version: 1\nclasses: {financial: allow}\nlimits: {daily_notional: '100'}\n"
    )
    guard = Guard(
        PolicyHolder(policy_file),
        state_dir=settings.state_dir,
        venue=settings.venue,
        approval_timeout=settings.approval_timeout,
    )

    async def lost(args: dict[str, Any]) -> Any:
        failure = ToolFailure("no answer; UNKNOWN")
        failure.uncertain = True
        raise failure

    async def rejected(args: dict[str, Any]) -> Any:
        raise ToolFailure("rejected")

    args = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "40"}
    for fn in (rejected, lost, rejected):
        tool = ToolSpec("binance_spot_place_order", "financial", frozenset(args))
        with pytest.raises(ToolFailure):
            await guard.run(tool, dict(args), fn)
    store = StateStore(tmp_path, "paper")
    assert store.used_today() == Decimal("40")
    assert isinstance(store.reserve(_slot("60")), str)
    assert not isinstance(store.reserve(_slot("1")), str)
    store.close()


def test_each_venue_has_its_own_budget_and_rates(tmp_path: Path) -> None:
    from binance_mcp.guard.policy import RateLimit

    live, paper = StateStore(tmp_path, "live"), StateStore(tmp_path, "paper")
    assert isinstance(paper.reserve(_slot("100")), str)
    assert isinstance(live.reserve(_slot("100")), str)  # paper spent nothing of live's budget
    once = [("tool:binance_spot_price", RateLimit(count=1, seconds=60, text="1/minute"))]
    assert paper.take_calls(once) is None
    assert live.take_calls(once) is None
    assert paper.take_calls(once) is not None
    live.close()
    paper.close()


def test_store_counts_across_connections_and_recovers_stale_reservations(tmp_path: Path) -> None:
    one, two = StateStore(tmp_path, "live"), StateStore(tmp_path, "live")
    first = one.reserve(_slot("60"))
    assert isinstance(first, str)
    hit = two.reserve(_slot("50"))
    assert not isinstance(hit, str)
    assert hit.rule == "limits.daily_notional"
    one.settle(first, placed=False)
    assert isinstance(two.reserve(_slot("50")), str)
    # A reservation left by a server that died mid-call counts as spent once stale.
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    db.execute("UPDATE orders SET reserved_at = reserved_at - 3600")
    db.commit()
    db.close()
    assert one.used_today() == Decimal("50")
    assert not isinstance(one.reserve(_slot("60")), str)
    one.close()
    two.close()
