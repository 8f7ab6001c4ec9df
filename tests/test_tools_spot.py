"""Spot trading tools end to end: MCP client → server → python-binance → paper exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok

pytestmark = pytest.mark.anyio


def order_posts(paper: PaperExchange) -> list[dict[str, Any]]:
    return [
        r for r in paper.state.requests if r["path"] == "/api/v3/order" and r["method"] == "POST"
    ]


async def test_scripted_limit_then_market_session(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    """Buy with LIMIT, see it open, cancel it; MARKET buy, see balances."""
    async with Client(server, mode=mode) as c:
        placed = await ok(
            c,
            "binance_spot_place_order",
            {
                "symbol": "btcusdt",
                "side": "buy",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": 95000,
            },
        )
        order = placed["order"]
        assert placed["test"] is False
        assert (order["symbol"], order["side"], order["type"], order["status"]) == (
            "BTCUSDT",
            "BUY",
            "LIMIT",
            "NEW",
        )
        assert order["timeInForce"] == "GTC" and Decimal(order["price"]) == Decimal("95000")
        held = paper.state.spot_account.orders[order["orderId"]]
        assert held.clientOrderId == order["clientOrderId"]
        assert order["clientOrderId"].startswith("bmcp-")

        opened = await ok(c, "binance_spot_open_orders", {"symbol": "BTCUSDT"})
        assert [o["orderId"] for o in opened["orders"]] == [order["orderId"]]
        usdt = await ok(c, "binance_spot_balances", {"asset": "USDT"})
        assert Decimal(usdt["balances"][0]["locked"]) == Decimal("95")

        cancelled = await ok(
            c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": order["orderId"]}
        )
        assert cancelled["order"]["status"] == "CANCELED"
        assert cancelled["order"]["clientOrderId"] == order["clientOrderId"]
        assert (await ok(c, "binance_spot_open_orders", {}))["orders"] == []

        before = {
            b["asset"]: Decimal(b["free"])
            for b in (await ok(c, "binance_spot_balances"))["balances"]
        }
        bought = (
            await ok(
                c,
                "binance_spot_place_order",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"},
            )
        )["order"]
        assert bought["status"] == "FILLED" and bought["timeInForce"] is None
        after = {
            b["asset"]: Decimal(b["free"])
            for b in (await ok(c, "binance_spot_balances"))["balances"]
        }
        spent = Decimal(bought["cummulativeQuoteQty"])
        assert after["USDT"] == before["USDT"] - spent
        assert after["BTC"] == before["BTC"] + Decimal("0.002") * Decimal("0.999")  # commission
        assert Decimal(bought["avgPrice"]) == spent / Decimal("0.002")

        trades = await ok(c, "binance_spot_trade_history", {"symbol": "BTCUSDT"})
        assert [t["orderId"] for t in trades["trades"]] == [bought["orderId"]]
        assert trades["trades"][0]["side"] == "BUY"
        history = await ok(c, "binance_spot_order_history", {"symbol": "BTCUSDT"})
        assert [o["status"] for o in history["orders"]] == ["CANCELED", "FILLED"]

    # MARKET never carried timeInForce on the wire.
    market = [r for r in order_posts(paper) if r["params"]["type"] == "MARKET"]
    assert market and all("timeInForce" not in r["params"] for r in market)


async def test_quote_order_qty_and_test_orders(server: Any, paper: PaperExchange) -> None:
    async with Client(server, mode="legacy") as c:
        spent = await ok(
            c,
            "binance_spot_place_order",
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "50"},
        )
        assert Decimal(spent["order"]["cummulativeQuoteQty"]) <= Decimal("50")
        tested = await ok(
            c,
            "binance_spot_place_order",
            {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.01",
             "price": "3500", "test": True},
        )  # fmt: skip
        assert tested == {"venue": "paper", "test": True, "order": None, "note": None}
    assert len(paper.state.spot_account.orders) == 1
    assert any(r["path"] == "/api/v3/order/test" for r in paper.state.requests)


async def test_cancel_all_lists_what_was_cancelled(server: Any, mode: Any) -> None:
    async with Client(server, mode=mode) as c:
        assert (await ok(c, "binance_spot_cancel_all_orders", {"symbol": "BTCUSDT"}))[
            "cancelled"
        ] == []
        ids = set()
        for price in ("90000", "91000"):
            placed = await ok(
                c,
                "binance_spot_place_order",
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "quantity": "0.001",
                    "price": price,
                },
            )
            ids.add(placed["order"]["orderId"])
        cancelled = await ok(c, "binance_spot_cancel_all_orders", {"symbol": "BTCUSDT"})
        assert {o["orderId"] for o in cancelled["cancelled"]} == ids
        assert all(o["status"] == "CANCELED" for o in cancelled["cancelled"])
        assert (await ok(c, "binance_spot_open_orders", {}))["orders"] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"symbol": "NOPEUSDT", "type": "MARKET", "quantity": "1"}, "unknown symbol 'NOPEUSDT'"),
        (
            {"type": "LIMIT", "quantity": "0.000015", "price": "95000"},
            "LOT_SIZE: quantity 0.000015 must be a multiple of the step size 0.00001; "
            "nearest valid: 0.00001 or 0.00002",
        ),
        (
            {"type": "LIMIT", "quantity": "0.001", "price": "95000.005"},
            "PRICE_FILTER: price 95000.005 must be a multiple of the tick size 0.01; "
            "nearest valid: 95000 or 95000.01",
        ),
        ({"type": "MARKET", "quantity": "0.001", "price": "95000"}, "MARKET takes no price"),
        (
            {"type": "MARKET", "quantity": "0.001", "timeInForce": "GTC"},
            "MARKET takes no timeInForce",
        ),
        ({"type": "MARKET", "quantity": "-0.001"}, "greater than 0"),
        ({"type": "MARKET", "quantity": "NaN"}, "finite number"),
        ({"type": "MARKET"}, "MARKET takes exactly one of quantity or quoteOrderQty"),
        ({"type": "LIMIT", "quantity": "0.001"}, "LIMIT needs price"),
        ({"type": "STOP_LOSS_LIMIT", "quantity": "0.001", "price": "90000"}, "needs stopPrice"),
        ({"type": "LIMIT", "quantity": "0.00001", "price": "95000"}, "NOTIONAL: notional 0.95"),
        ({"type": "LIMIT", "quantity": "0.001", "price": "10000"}, "PERCENT_PRICE_BY_SIDE"),
        ({"type": "MARKET", "quoteOrderQty": "1"}, "quoteOrderQty 1 must be at least 5"),
        ({"type": "OCO", "quantity": "1"}, "type"),
        ({"symbol": "ВTCUSDT", "type": "MARKET", "quantity": "1"}, "not a trading pair"),
    ],
)
async def test_invalid_orders_are_refused_before_sending(
    server: Any, paper: PaperExchange, args: dict[str, Any], expected: str
) -> None:
    async with Client(server, mode="legacy") as c:
        text = await fails(
            c, "binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", **args}
        )
    assert expected in text
    assert order_posts(paper) == []


async def test_exchange_rejection_carries_binance_code(server: Any, paper: PaperExchange) -> None:
    async with Client(server, mode="legacy") as c:
        text = await fails(
            c,
            "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "50"},
        )
        assert "Binance error -2010 (HTTP 400) from the paper venue" in text
        assert "Hint:" in text
        text = await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": 99})
        assert "Binance error -2011" in text and "no such open order" in text
        text = await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT"})
        assert "exactly one of orderId or origClientOrderId" in text
        # More 500s in a row than a read is tried: the last one is reported.
        paper.state.faults.arm(Fault("/api/v3/openOrders", "status", status=500, count=10))
        text = await fails(c, "binance_spot_open_orders", {"symbol": "BTCUSDT"})
        assert "HTTP 500" in text and "paper venue" in text
        paper.state.faults.clear()


async def test_history_filters_are_passed_through(server: Any, paper: PaperExchange) -> None:
    async with Client(server, mode="auto") as c:
        for _ in range(3):
            await ok(
                c,
                "binance_spot_place_order",
                {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
            )
        history = await ok(
            c, "binance_spot_order_history", {"symbol": "BNBUSDT", "orderId": 2, "limit": 1}
        )
        assert [o["orderId"] for o in history["orders"]] == [2]
        trades = await ok(c, "binance_spot_trade_history", {"symbol": "BNBUSDT", "fromId": 2})
        assert [t["id"] for t in trades["trades"]] == [2, 3]
        text = await fails(c, "binance_spot_order_history", {"symbol": "BNBUSDT", "limit": 5000})
        assert "limit" in text
