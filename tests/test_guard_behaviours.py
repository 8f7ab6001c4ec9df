"""Whole behaviours of the guard that no test pinned in either direction (issue 17), end to end
over MCP against the paper exchange (real HTTP on 127.0.0.1), the server driven by the SDK's
client: `max_leverage` on futures orders, the `BINANCE_MCP_HALT` kill switch, the denial when a
fact cannot be had, the `market` fact, orders exactly at a limit, and reducing orders that never
spend the daily budget. The paper exchange's own state shows that nothing refused was sent.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.store import StateStore
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok, server_env
from tests.paper_fixtures import binance_client, writes_since
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

SPOT = "binance_spot_place_order"
FUTURES = "binance_futures_place_order"
BTC = "BTCUSDT"
EVERYTHING = """
    version: 1
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
"""
# About 194 USDT at the paper exchange's BTCUSDT price: above the futures minimum of 100.
FUTURES_BUY = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.002"}


def position(paper: PaperExchange, symbol: str = BTC) -> Decimal:
    held = paper.state.futures_account.positions.get(f"{symbol}:BOTH")
    return Decimal(0) if held is None else held.amount


def mark_price(paper: PaperExchange) -> Decimal:
    return Decimal(binance_client(paper).futures_mark_price(symbol=BTC)["markPrice"])


def last_price(paper: PaperExchange) -> Decimal:
    return Decimal(binance_client(paper).get_symbol_ticker(symbol=BTC)["price"])


def leverage_of(paper: PaperExchange, symbol: str = BTC) -> int:
    return paper.state.futures_account.settings_of(symbol).leverage


# --- max_leverage on binance_futures_place_order ----------------------------------------------


async def test_max_leverage_holds_for_futures_orders_at_the_symbols_leverage(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, EVERYTHING + "    limits: { max_leverage: 5 }\n")
    default = leverage_of(paper)
    assert default > 5  # the account's leverage as the exchange keeps it
    async with Client(server, mode=mode) as c:
        text = await fails(c, FUTURES, FUTURES_BUY)
        assert f"Denied by policy: leverage {default} is above 5 (limits.max_leverage)" in text
        assert orders_sent(paper) == [] and position(paper) == 0
        # Exactly at the cap: the leverage change and then the order pass.
        await ok(c, "binance_futures_change_leverage", {"symbol": BTC, "leverage": 5})
        placed = await ok(c, FUTURES, FUTURES_BUY)
        assert placed["order"]["status"] == "FILLED"
        # The leverage of the order's own symbol is what counts.
        eth = {**FUTURES_BUY, "symbol": "ETHUSDT", "quantity": "0.1"}
        assert f"leverage {leverage_of(paper, 'ETHUSDT')} is above 5" in await fails(
            c, FUTURES, eth
        )
        # Raised by hand, outside the agent's reach: opening more is denied again...
        binance_client(paper).futures_change_leverage(symbol=BTC, leverage=6)
        assert "leverage 6 is above 5 (limits.max_leverage)" in await fails(c, FUTURES, FUTURES_BUY)
        # ...but closing is not: an order that can only reduce passes at any leverage.
        await ok(c, FUTURES, {**FUTURES_BUY, "side": "SELL", "reduceOnly": True})
    assert [(r["params"]["symbol"], r["params"]["side"]) for r in orders_sent(paper)] == [
        (BTC, "BUY"), (BTC, "SELL")]  # fmt: skip
    assert position(paper) == 0 and position(paper, "ETHUSDT") == 0
    assert leverage_of(paper) == 6
    denied = [line["rule"] for line in audit_lines(tmp_path) if line["decision"] == "deny"]
    assert denied == ["limits.max_leverage"] * 3


# --- the BINANCE_MCP_HALT kill switch ---------------------------------------------------------


@pytest.mark.parametrize("value", ["1", " True "])
async def test_the_environment_kill_switch_stops_trading_not_reads_or_cancels(
    paper: PaperExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HALT", raising=False)
    server = guarded_server(paper, tmp_path, EVERYTHING)
    binance_client(paper).futures_create_order(symbol=BTC, side="BUY", type="MARKET",
                                               quantity="0.002")  # fmt: skip
    async with Client(server, mode="legacy") as c:
        placed = await ok(c, SPOT, BUY_LIMIT)
        start = len(paper.state.requests)
        monkeypatch.setenv("BINANCE_MCP_HALT", value)
        halted = "Denied by policy: trading is halted: BINANCE_MCP_HALT is set (kill switch)"
        for tool, args in [
            (SPOT, BUY_LIMIT),
            (FUTURES, {**FUTURES_BUY, "side": "SELL", "reduceOnly": True}),
            ("binance_futures_close_position", {"symbol": BTC}),
            ("binance_futures_change_leverage", {"symbol": BTC, "leverage": 2}),
            ("binance_futures_set_margin_type", {"symbol": BTC, "marginType": "ISOLATED"}),
        ]:
            assert halted in await fails(c, tool, args), tool
        assert writes_since(paper, start) == []
        status = await ok(c, "binance_account_status")
        assert status["halted"] == "BINANCE_MCP_HALT is set"
        # Reads and cancels pass.
        await ok(c, "binance_spot_price", {"symbol": BTC})
        order_id = placed["order"]["orderId"]
        await ok(c, "binance_spot_cancel_order", {"symbol": BTC, "orderId": order_id})
        monkeypatch.setenv("BINANCE_MCP_HALT", "0")
        await ok(c, SPOT, BUY_LIMIT)
    # The futures order placed by hand before, and the two spot orders; nothing while halted.
    assert [r["path"] for r in orders_sent(paper)] == [
        "/fapi/v1/order", "/api/v3/order", "/api/v3/order"]  # fmt: skip
    assert position(paper) == Decimal("0.002")  # the position was neither reduced nor closed
    assert leverage_of(paper) != 2
    rules = [
        (line["tool"], line["rule"]) for line in audit_lines(tmp_path) if line["decision"] == "deny"
    ]
    assert len(rules) == 5 and {rule for _, rule in rules} == {"kill switch"}


async def test_the_environment_kill_switch_holds_in_monitor_mode(
    paper: PaperExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_MCP_HALT", "yes")
    server = guarded_server(paper, tmp_path, EVERYTHING + "    mode: monitor\n")
    async with Client(server, mode="auto") as c:
        assert "BINANCE_MCP_HALT is set (kill switch)" in await fails(c, SPOT, BUY_LIMIT)
    assert orders_sent(paper) == []


async def test_the_kill_switch_set_in_the_servers_environment(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """As an MCP host sets it: `BINANCE_MCP_HALT=1` in the env of the `binance-mcp` process."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(EVERYTHING)
    env = server_env(paper, tmp_path / "state", policy, BINANCE_MCP_HALT="1")
    params = StdioServerParameters(command=sys.executable, args=["-m", "binance_mcp"], env=env)
    async with Client(params) as c:
        text = await fails(c, SPOT, BUY_LIMIT)
        assert "Denied by policy: trading is halted: BINANCE_MCP_HALT is set (kill switch)" in text
        await ok(c, "binance_spot_price", {"symbol": BTC})
    assert orders_sent(paper) == []


# --- a fact that cannot be had denies ---------------------------------------------------------


def refuse_next(paper: PaperExchange, path: str) -> None:
    """The exchange answers the next request to `path` with a definite error (not retried)."""
    paper.state.faults.arm(
        Fault(path, "status", status=400, code=-1000, msg="An unknown error occurred.")
    )


async def test_a_market_order_whose_price_cannot_be_had_is_denied(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(
        paper, tmp_path, EVERYTHING + '    limits: { max_order_notional: "500" }\n'
    )
    market = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    async with Client(server, mode="legacy") as c:
        refuse_next(paper, "/api/v3/ticker/price")
        text = await fails(c, SPOT, market)
        assert "Denied by policy: cannot evaluate notional: the exchange could not say (" in text
        assert "-1000" in text and text.endswith("(limits.max_order_notional)")
        assert orders_sent(paper) == []
        # The same order, once the price can be had, is valued and placed.
        placed = await ok(c, SPOT, market)
        assert placed["order"]["status"] == "FILLED"
        # A LIMIT BUY is valued at its own price: the exchange is not asked.
        refuse_next(paper, "/api/v3/ticker/price")
        asked = sum(r["path"] == "/api/v3/ticker/price" for r in paper.state.requests)
        await ok(c, SPOT, BUY_LIMIT)
        assert sum(r["path"] == "/api/v3/ticker/price" for r in paper.state.requests) == asked
    assert len(orders_sent(paper)) == 2
    decisions = [(line["decision"], line["rule"]) for line in audit_lines(tmp_path)]
    assert decisions[0] == ("deny", "limits.max_order_notional")


async def test_a_futures_order_whose_leverage_or_size_cannot_be_had_is_denied(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, EVERYTHING + """
    limits: { max_leverage: 125, max_order_notional: "100000" }
""")  # fmt: skip
    async with Client(server, mode="auto") as c:
        refuse_next(paper, "/fapi/v1/symbolConfig")
        text = await fails(c, FUTURES, FUTURES_BUY)
        assert "Denied by policy: cannot evaluate leverage: the exchange could not say (" in text
        assert text.endswith("(limits.max_leverage)")
        no_quantity = {"symbol": BTC, "side": "BUY", "type": "MARKET"}
        text = await fails(c, FUTURES, no_quantity)
        assert text.endswith(
            "Denied by policy: cannot evaluate notional: the order has no quantity "
            "(limits.max_order_notional)"
        )
        assert orders_sent(paper) == []
        await ok(c, FUTURES, FUTURES_BUY)
    assert position(paper) == Decimal("0.002")


async def test_open_orders_that_cannot_be_listed_deny(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, EVERYTHING + "    limits: { max_open_orders: 3 }\n")
    async with Client(server, mode="legacy") as c:
        refuse_next(paper, "/api/v3/openOrders")
        text = await fails(c, SPOT, BUY_LIMIT)
        assert "Denied by policy: cannot evaluate open_orders: the exchange could not say (" in text
        assert text.endswith("(limits.max_open_orders)")
        assert orders_sent(paper) == []
        await ok(c, SPOT, BUY_LIMIT)
    assert len(paper.state.spot.open_orders(None)) == 1


# --- the market fact --------------------------------------------------------------------------


MARKETS = (
    EVERYTHING
    + """
    tools:
      binance_spot_place_order:
        deny_if: [{when: {market: {ne: spot}}, reason: not the spot market}]
      binance_spot_cancel_all_orders:
        deny_if: [{when: {market: {eq: SPOT}}, reason: no spot cancel-all}]
      binance_futures_cancel_all_orders:
        deny_if: [{when: {market: {eq: spot}}, reason: never for futures}]
      binance_account_info:
        deny_if: [{when: {market: {in: [spot]}}, reason: spot account info is off}]
      binance_portfolio_account:
        deny_if: [{when: {market: {eq: spot}}, reason: never for futures}]
      binance_exchange_info:
        deny_if: [{when: {market: {eq: futures}}, reason: futures exchange info is off}]
      binance_server_time:
        deny_if: [{when: {market: {exists: true}}, reason: never without a market}]
"""
)


async def test_the_market_fact_on_spot_and_futures_tools(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, MARKETS)
    async with Client(server, mode=mode) as c:
        placed = await ok(c, SPOT, BUY_LIMIT)
        text = await fails(c, "binance_spot_cancel_all_orders", {"symbol": BTC})
        assert (
            "Denied by policy: no spot cancel-all (tools.binance_spot_cancel_all_orders.deny_if[0])"
            in text
        )
        await ok(c, "binance_futures_cancel_all_orders", {"symbol": BTC})
        text = await fails(c, "binance_account_info")
        assert "Denied by policy: spot account info is off" in text
        await ok(c, "binance_portfolio_account")
        text = await fails(c, "binance_exchange_info", {"market": "futures", "symbol": BTC})
        assert "Denied by policy: futures exchange info is off" in text
        await ok(c, "binance_exchange_info", {"market": "spot", "symbol": BTC})
        await ok(c, "binance_server_time")
    # The spot cancel-all never reached the exchange: the order is still open.
    assert [o["orderId"] for o in binance_client(paper).get_open_orders(symbol=BTC)] == [
        placed["order"]["orderId"]
    ]
    assert [r["path"] for r in writes_since(paper)] == [
        "/api/v3/order", "/fapi/v1/allOpenOrders", "/fapi/v1/algoOpenOrders"]  # fmt: skip


# --- exactly at a limit -----------------------------------------------------------------------


async def test_an_order_exactly_at_max_order_notional_passes(
    paper: PaperExchange, tmp_path: Path
) -> None:
    # BUY_LIMIT is 0.001 at 95000: 95 exactly.
    server = guarded_server(
        paper, tmp_path, EVERYTHING + '    limits: { max_order_notional: "95" }\n'
    )
    async with Client(server, mode="legacy") as c:
        await ok(c, SPOT, BUY_LIMIT)
        text = await fails(c, SPOT, {**BUY_LIMIT, "price": "95000.01"})
        assert text.endswith(
            "Denied by policy: order notional 95.00001 is above 95 (limits.max_order_notional)"
        )
    assert [r["params"]["price"] for r in orders_sent(paper)] == ["95000"]


async def test_a_market_order_at_the_cap_by_the_exchanges_own_price(
    paper: PaperExchange, tmp_path: Path
) -> None:
    price = last_price(paper)
    cap = price * Decimal("0.001")
    server = guarded_server(
        paper, tmp_path, EVERYTHING + f'    limits: {{ max_order_notional: "{cap}" }}\n'
    )
    market = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    async with Client(server, mode="legacy") as c:
        await ok(c, SPOT, market)
        text = await fails(c, SPOT, {**market, "quantity": "0.00101"})
        above = dec_str(price * Decimal("0.00101"))
        assert text.endswith(
            f"Denied by policy: order notional {above} is above {dec_str(cap)} "
            "(limits.max_order_notional)"
        )
    assert [r["params"]["quantity"] for r in orders_sent(paper)] == ["0.001"]


BOUNDS = (
    EVERYTHING
    + """
    tools:
      binance_spot_place_order:
        deny_if:
          - when: { notional: { gte: "190" } }
            reason: 190 or more is too much
          - when: { price: { lte: "90000" } }
            reason: no bids at 90000 or below
          - when: { quantity: { lt: "0.001" } }
            reason: at least 0.001
"""
)


@pytest.mark.parametrize(
    ("price", "quantity", "denied"),
    [("95000", "0.002", "190 or more is too much (tools.binance_spot_place_order.deny_if[0])"),
     ("94999.99", "0.002", None),
     ("90000", "0.001", "no bids at 90000 or below (tools.binance_spot_place_order.deny_if[1])"),
     ("90000.01", "0.001", None),
     ("95000", "0.00099", "at least 0.001 (tools.binance_spot_place_order.deny_if[2])"),
     ("95000", "0.0010", None)],
)  # fmt: skip
async def test_gte_lte_and_lt_at_the_boundary(
    paper: PaperExchange, tmp_path: Path, price: str, quantity: str, denied: str | None
) -> None:
    server = guarded_server(paper, tmp_path, BOUNDS)
    order = {**BUY_LIMIT, "price": price, "quantity": quantity}
    async with Client(server, mode="legacy") as c:
        if denied is None:
            await ok(c, SPOT, order)
        else:
            assert (await fails(c, SPOT, order)).endswith(f"Denied by policy: {denied}")
    assert len(orders_sent(paper)) == (0 if denied else 1)


async def test_the_daily_budget_can_be_spent_exactly(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, EVERYTHING + '    limits: { daily_notional: "190" }\n')
    async with Client(server, mode="legacy") as c:
        await ok(c, SPOT, BUY_LIMIT)
        await ok(c, SPOT, BUY_LIMIT)
        text = await fails(c, SPOT, {**BUY_LIMIT, "quantity": "0.00001", "price": "95000"})
    assert text.endswith(
        "Denied by policy: daily notional budget 190 (UTC day): 190 used, 0 left, this order "
        "needs 0.95 (limits.daily_notional)"
    )
    assert len(orders_sent(paper)) == 2


# --- a reducing order never spends the daily budget --------------------------------------------


async def test_a_reducing_order_never_spends_the_daily_budget(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, EVERYTHING + """
    limits: { daily_notional: "250", max_order_notional: "250" }
""")  # fmt: skip
    # A long opened outside the agent, worth far more than the day's budget.
    binance_client(paper).futures_create_order(symbol=BTC, side="BUY", type="MARKET",
                                               quantity="0.01")  # fmt: skip
    one = mark_price(paper) * Decimal("0.002")  # what FUTURES_BUY is valued at
    assert one <= 250 < 2 * one
    async with Client(server, mode="legacy") as c:
        # Reducing orders above the budget and the cap, and a close: none is charged.
        await ok(
            c, FUTURES, {**FUTURES_BUY, "side": "SELL", "quantity": "0.004", "reduceOnly": True}
        )
        await ok(
            c, FUTURES, {**FUTURES_BUY, "side": "SELL", "quantity": "0.003", "reduceOnly": True}
        )
        await ok(c, "binance_futures_close_position", {"symbol": BTC})
        assert position(paper) == 0
        store = StateStore(tmp_path / "state", "paper")
        assert store.used_today() == 0
        store.close()
        # The whole budget is still there: one opening order fits, a second does not.
        await ok(c, FUTURES, FUTURES_BUY)
        text = await fails(c, FUTURES, FUTURES_BUY)
        assert "Denied by policy: daily notional budget 250 (UTC day): " in text
        assert "(limits.daily_notional)" in text
    assert position(paper) == Decimal("0.002")
    store = StateStore(tmp_path / "state", "paper")
    assert store.used_today() == one
    store.close()
    sides = [(r["params"]["side"], r["params"].get("reduceOnly")) for r in orders_sent(paper)]
    assert [side for side, _ in sides] == ["BUY", "SELL", "SELL", "SELL", "BUY"]
