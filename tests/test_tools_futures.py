"""The USD-M futures tools end to end: MCP client → server → python-binance → the paper
exchange over HTTP, in both protocol eras. What a user sees is checked against what the
exchange holds, and refused calls are checked never to have reached it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.runtime import Runtime
from tests.mcp_fixtures import fails, ok
from tests.paper_fixtures import binance_client

BTC = "BTCUSDT"


def mark(paper: PaperExchange, symbol: str = BTC, times: str = "1") -> str:
    """The mark price times a factor, on the symbol's tick."""
    spec = paper.state.futures_market.specs[symbol]
    value = paper.state.futures_market.mark(symbol) * Decimal(times)
    return f"{value.quantize(spec.tick):f}"


def requests(paper: PaperExchange, since: int = 0) -> list[dict[str, Any]]:
    return list(paper.state.requests)[since:]


def changes(paper: PaperExchange, since: int = 0) -> list[tuple[str, str]]:
    """Requests that could change the account (anything but a GET)."""
    return [(r["method"], r["path"]) for r in requests(paper, since) if r["method"] != "GET"]


def position(paper: PaperExchange, side: str = "BOTH", symbol: str = BTC) -> Decimal:
    held = paper.state.futures_account.positions.get(f"{symbol}:{side}")
    return held.amount if held else Decimal(0)


def open_orders(paper: PaperExchange) -> tuple[list[int], list[int]]:
    account = paper.state.futures_account
    return (
        [o.orderId for o in account.orders.values() if o.is_open],
        [a.algoId for a in account.algo_orders.values() if a.is_open],
    )


async def market(c: Client, side: str, qty: str, **extra: Any) -> dict[str, Any]:
    data = await ok(
        c,
        "binance_futures_place_order",
        {"symbol": BTC, "side": side, "type": "MARKET", "quantity": qty, **extra},
    )
    order: dict[str, Any] = data["order"]
    return order


# --- placing -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_market_order_fills_and_shows_in_history(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        order = await market(c, "BUY", "0.01", newClientOrderId="my-first-long")
        assert order["kind"] == "regular"
        assert (order["status"], order["origQty"], order["executedQty"]) == (
            "FILLED",
            "0.010",
            "0.010",
        )
        assert order["clientOrderId"] == "my-first-long"
        assert Decimal(order["avgPrice"]) > 0 and "reduceOnly" not in order
        assert position(paper) == Decimal("0.01")
        sent = [r for r in requests(paper) if r["path"] == "/fapi/v1/order"]
        assert len(sent) == 1
        assert sent[0]["params"]["newClientOrderId"] == "my-first-long"
        assert sent[0]["params"]["quantity"] == "0.01"
        assert "timeInForce" not in sent[0]["params"]  # never on MARKET

        trades = (await ok(c, "binance_futures_trade_history", {"symbol": BTC}))["trades"]
        assert [t["orderId"] for t in trades] == [order["orderId"]]
        assert trades[0]["side"] == "BUY" and trades[0]["qty"] == "0.010"
        assert Decimal(trades[0]["commission"]) > 0

        history = await ok(c, "binance_futures_order_history", {"symbol": BTC})
        assert [(o["orderId"], o["status"]) for o in history["orders"]] == [
            (order["orderId"], "FILLED")
        ]


@pytest.mark.anyio
async def test_limit_and_conditional_orders_listed_and_cancelled_one_by_one(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        place = "binance_futures_place_order"
        limit = (
            await ok(
                c,
                place,
                {
                    "symbol": BTC,
                    "side": "BUY",
                    "type": "LIMIT",
                    "quantity": "0.002",
                    "price": mark(paper, times="0.97"),
                },
            )
        )["order"]
        assert (limit["kind"], limit["status"], limit["type"]) == ("regular", "NEW", "LIMIT")
        sent = next(r for r in requests(paper) if r["path"] == "/fapi/v1/order")
        assert sent["params"]["timeInForce"] == "GTC"  # the default for LIMIT types

        stop = (
            await ok(
                c,
                place,
                {
                    "symbol": BTC,
                    "side": "SELL",
                    "type": "STOP_MARKET",
                    "quantity": 0.002,
                    "stopPrice": mark(paper, times="0.9"),
                    "workingType": "MARK_PRICE",
                    "newClientOrderId": "my-stop",
                },
            )
        )["order"]
        assert (stop["kind"], stop["type"], stop["status"]) == (
            "conditional",
            "STOP_MARKET",
            "NEW",
        )
        assert Decimal(stop["stopPrice"]) == Decimal(mark(paper, times="0.9"))
        assert "orderId" not in stop and stop["clientOrderId"] == "my-stop"
        algo = paper.state.futures_account.algo_orders[stop["algoId"]]
        assert (algo.clientAlgoId, algo.workingType) == ("my-stop", "MARK_PRICE")

        trailing = (
            await ok(
                c,
                place,
                {
                    "symbol": BTC,
                    "side": "SELL",
                    "type": "TRAILING_STOP_MARKET",
                    "quantity": "0.002",
                    "callbackRate": "1.5",
                },
            )
        )["order"]
        assert trailing["kind"] == "conditional"
        # The id was chosen before sending, and it is what the exchange holds.
        held = paper.state.futures_account.algo_orders[trailing["algoId"]]
        assert held.clientAlgoId == trailing["clientOrderId"]
        assert trailing["clientOrderId"].startswith("bmcp-")

        listed = (await ok(c, "binance_futures_open_orders", {}))["orders"]
        assert [(o["kind"], o["type"]) for o in listed] == [
            ("regular", "LIMIT"),
            ("conditional", "STOP_MARKET"),
            ("conditional", "TRAILING_STOP_MARKET"),
        ]
        history = (await ok(c, "binance_futures_order_history", {"symbol": BTC}))["orders"]
        assert {o["kind"] for o in history} == {"regular", "conditional"} and len(history) == 3
        only_regular = await ok(
            c, "binance_futures_order_history", {"symbol": BTC, "orderId": limit["orderId"]}
        )
        assert [o["orderId"] for o in only_regular["orders"]] == [limit["orderId"]]

        cancel = "binance_futures_cancel_order"
        gone = (await ok(c, cancel, {"symbol": BTC, "orderId": limit["orderId"]}))["order"]
        assert (gone["orderId"], gone["status"]) == (limit["orderId"], "CANCELED")
        # A conditional order by the client id our results show for it.
        gone = (await ok(c, cancel, {"symbol": BTC, "origClientOrderId": "my-stop"}))["order"]
        assert (gone["algoId"], gone["status"], gone["type"]) == (
            stop["algoId"],
            "CANCELED",
            "STOP_MARKET",
        )
        gone = (await ok(c, cancel, {"symbol": BTC, "algoId": trailing["algoId"]}))["order"]
        assert gone["status"] == "CANCELED"
        assert open_orders(paper) == ([], [])
        # Binance's algo cancel takes the id alone.
        algo_cancels = [
            r["params"]
            for r in requests(paper)
            if (r["method"], r["path"]) == ("DELETE", "/fapi/v1/algoOrder")
        ]
        assert [sorted(set(p) - {"timestamp", "recvWindow"}) for p in algo_cancels] == [
            ["algoId"],
            ["algoId"],
        ]
        text = await fails(c, cancel, {"symbol": BTC, "algoId": trailing["algoId"]})
        assert f"no open conditional order with algoId {trailing['algoId']} on BTCUSDT" in text

        again = await fails(c, cancel, {"symbol": BTC, "orderId": limit["orderId"]})
        assert "-2011" in again
        both = await fails(c, cancel, {"symbol": BTC, "orderId": 1, "algoId": 2})
        assert "exactly one of orderId, origClientOrderId or algoId" in both


@pytest.mark.anyio
async def test_test_orders_place_nothing(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        args = {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.002"}
        data = await ok(
            c,
            "binance_futures_place_order",
            {**args, "price": mark(paper, times="0.98"), "test": True},
        )
        assert data["order"] is None and "accepted by Binance's test endpoint" in data["note"]
        assert changes(paper) == [("POST", "/fapi/v1/order/test")]

        stop = {"symbol": BTC, "side": "SELL", "type": "STOP_MARKET", "closePosition": True}
        data = await ok(
            c,
            "binance_futures_place_order",
            {**stop, "stopPrice": mark(paper, times="0.9"), "test": True},
        )
        assert data["order"] is None and "no test endpoint for conditional" in data["note"]
        assert changes(paper) == [("POST", "/fapi/v1/order/test")]
        assert open_orders(paper) == ([], [])


# --- refusals --------------------------------------------------------------------------------------

M = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.01"}
PLACE = "binance_futures_place_order"
LEVERAGE = "binance_futures_change_leverage"
# Caught by the arguments alone: not a single request is sent.
REFUSED_LOCALLY = [
    (PLACE, {**M, "price": "50000"}, "MARKET takes no price"),
    (PLACE, {**M, "timeInForce": "GTC"}, "MARKET takes no timeInForce"),
    (PLACE, {**M, "quantity": "-0.01"}, "must be greater than 0"),
    (PLACE, {**M, "type": "LIMIT"}, "LIMIT needs price"),
    (PLACE, {**M, "type": "STOP_MARKET"}, "STOP_MARKET needs stopPrice"),
    (
        PLACE,
        {**M, "type": "TAKE_PROFIT_MARKET", "stopPrice": "1", "closePosition": True},
        "give no quantity",
    ),
    (
        PLACE,
        {**M, "closePosition": True},
        "closePosition is for STOP_MARKET and TAKE_PROFIT_MARKET",
    ),
    (PLACE, {**M, "callbackRate": "1"}, "callbackRate is for TRAILING_STOP_MARKET"),
    (PLACE, {**M, "reduceOnly": True, "positionSide": "LONG"}, "hedge mode"),
    (PLACE, {**M, "workingType": "MARK_PRICE"}, "MARKET takes no workingType"),
    (LEVERAGE, {"symbol": BTC, "leverage": 0}, "greater than or equal to 1"),
    (LEVERAGE, {"symbol": BTC, "leverage": 500}, "less than or equal to 125"),
    ("binance_futures_trade_history", {"symbol": BTC, "fromId": 1, "startTime": 1}, "not both"),
    ("binance_futures_cancel_order", {"symbol": BTC}, "exactly one of"),
]
# Caught against the symbol's rules (read from the exchange): nothing that changes anything.
REFUSED_BY_RULES = [
    (PLACE, {**M, "symbol": "BTCUSDX"}, "unknown symbol 'BTCUSDX' on the futures market"),
    (PLACE, {**M, "quantity": "0.0105"}, "nearest valid: 0.01 or 0.011"),
    (PLACE, {**M, "quantity": "0.001"}, "must be at least 100"),
    (LEVERAGE, {"symbol": "BNBUSDT", "leverage": 100}, "BNBUSDT allows at most 75x"),
    ("binance_futures_close_position", {"symbol": "NOPEUSDT"}, "unknown symbol"),
    ("binance_futures_cancel_all_orders", {"symbol": "NOPEUSDT"}, "unknown symbol"),
]


@pytest.mark.anyio
async def test_invalid_arguments_never_reach_the_exchange(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        for tool, args, expected in REFUSED_LOCALLY:
            before = len(paper.state.requests)
            text = await fails(c, tool, args)
            assert expected in text, (args, text)
            assert requests(paper, before) == [], (args, requests(paper, before))
        for tool, args, expected in REFUSED_BY_RULES:
            text = await fails(c, tool, args)
            assert expected in text, (args, text)
        assert changes(paper) == []
        assert position(paper) == 0 and open_orders(paper) == ([], [])


@pytest.mark.anyio
async def test_exchange_refusals_carry_binance_codes(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        # A sell stop above the price would fire at once: Binance's -2021.
        text = await fails(
            c,
            PLACE,
            {**M, "side": "SELL", "type": "STOP_MARKET", "stopPrice": mark(paper, times="1.02")},
        )
        assert "Binance error -2021" in text and "immediately trigger" in text
        # Reduce-only with nothing to reduce: -2022, with the hint.
        text = await fails(c, PLACE, {**M, "side": "SELL", "reduceOnly": True})
        assert "-2022" in text and "reduce" in text


# --- a whole session -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_session_leverage_margin_open_protect_cancel_close(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        lev = await ok(c, LEVERAGE, {"symbol": "btcusdt", "leverage": 10})
        assert lev["leverage"] == 10 and Decimal(lev["maxNotionalValue"]) > 0
        assert paper.state.futures_account.settings_of(BTC).leverage == 10

        margin = "binance_futures_set_margin_type"
        first = await ok(c, margin, {"symbol": BTC, "marginType": "ISOLATED"})
        second = await ok(c, margin, {"symbol": BTC, "marginType": "ISOLATED"})
        assert (first["alreadySet"], second["alreadySet"]) == (False, True)
        assert first["marginType"] == second["marginType"] == "ISOLATED"
        assert paper.state.futures_account.settings_of(BTC).marginType == "ISOLATED"

        opened = await market(c, "BUY", "0.01")
        assert opened["status"] == "FILLED" and position(paper) == Decimal("0.01")
        stop = await ok(
            c,
            PLACE,
            {
                "symbol": BTC,
                "side": "SELL",
                "type": "STOP_MARKET",
                "stopPrice": mark(paper, times="0.95"),
                "closePosition": True,
            },
        )
        assert stop["order"]["closePosition"] is True and "origQty" not in stop["order"]
        bid = await ok(
            c,
            PLACE,
            {**M, "type": "LIMIT", "quantity": "0.002", "price": mark(paper, times="0.96")},
        )

        listed = (await ok(c, "binance_futures_open_orders", {"symbol": BTC}))["orders"]
        assert {o["kind"] for o in listed} == {"regular", "conditional"} and len(listed) == 2

        before = len(paper.state.requests)
        cancelled = await ok(c, "binance_futures_cancel_all_orders", {"symbol": BTC})
        assert sorted((o["kind"], o["status"]) for o in cancelled["cancelled"]) == [
            ("conditional", "CANCELED"),
            ("regular", "CANCELED"),
        ]
        assert {o.get("orderId") or o.get("algoId") for o in cancelled["cancelled"]} == {
            bid["order"]["orderId"],
            stop["order"]["algoId"],
        }
        # Binance's own cancel-all endpoints, one per kind.
        assert changes(paper, before) == [
            ("DELETE", "/fapi/v1/allOpenOrders"),
            ("DELETE", "/fapi/v1/algoOpenOrders"),
        ]
        assert open_orders(paper) == ([], [])
        assert (await ok(c, "binance_futures_open_orders", {}))["orders"] == []

        before = len(paper.state.requests)
        closed = await ok(c, "binance_futures_close_position", {"symbol": BTC})
        assert [(o["side"], o["status"], o["executedQty"]) for o in closed["closed"]] == [
            ("SELL", "FILLED", "0.010")
        ]
        assert closed["closed"][0]["reduceOnly"] is True
        assert "closed BOTH 0.01" in closed["message"]
        assert position(paper) == 0
        sent = [r["params"] for r in requests(paper, before) if r["path"] == "/fapi/v1/order"]
        assert [(p["reduceOnly"], "positionSide" in p) for p in sent] == [("true", False)]

        again = await ok(c, "binance_futures_close_position", {"symbol": BTC})
        assert (
            again["closed"] == [] and "no open BTCUSDT position; nothing sent" in again["message"]
        )


@pytest.mark.anyio
async def test_hedge_mode_closes_by_position_side(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    binance_client(paper).futures_change_position_mode(dualSidePosition="true")
    async with Client(server, mode=mode) as c:
        await market(c, "BUY", "0.01", positionSide="LONG")
        await market(c, "SELL", "0.02", positionSide="SHORT")
        assert (position(paper, "LONG"), position(paper, "SHORT")) == (
            Decimal("0.01"),
            Decimal("-0.02"),
        )

        # reduceOnly without a positionSide: the mode is read, and the order refused.
        before = len(paper.state.requests)
        text = await fails(c, PLACE, {**M, "side": "SELL", "reduceOnly": True})
        assert "hedge mode" in text and "positionSide" in text
        assert changes(paper, before) == []

        wrong = await fails(
            c, "binance_futures_close_position", {"symbol": BTC, "positionSide": "BOTH"}
        )
        assert "hedge mode" in wrong

        before = len(paper.state.requests)
        closed = await ok(c, "binance_futures_close_position", {"symbol": BTC})
        assert sorted(
            (o["positionSide"], o["side"], o["executedQty"]) for o in closed["closed"]
        ) == [
            ("LONG", "SELL", "0.010"),
            ("SHORT", "BUY", "0.020"),
        ]
        sent = [r["params"] for r in requests(paper, before) if r["path"] == "/fapi/v1/order"]
        assert len(sent) == 2 and all("reduceOnly" not in p for p in sent)
        assert all(p["newClientOrderId"].startswith("bmcp-") for p in sent)
        assert (position(paper, "LONG"), position(paper, "SHORT")) == (0, 0)


@pytest.mark.anyio
async def test_close_one_hedge_side(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    binance_client(paper).futures_change_position_mode(dualSidePosition="true")
    async with Client(server, mode=mode) as c:
        await market(c, "BUY", "0.01", positionSide="LONG")
        await market(c, "SELL", "0.01", positionSide="SHORT")
        closed = await ok(
            c, "binance_futures_close_position", {"symbol": BTC, "positionSide": "short"}
        )
        assert [o["positionSide"] for o in closed["closed"]] == ["SHORT"]
        assert (position(paper, "LONG"), position(paper, "SHORT")) == (Decimal("0.01"), 0)


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_failed_placement_is_looked_up_not_repeated(
    server: MCPServer[Runtime], mode: str, paper: PaperExchange
) -> None:
    faults = paper.state.faults
    async with Client(server, mode=mode) as c:
        # A 5xx before acceptance: looked up by its client id, found missing, sent once more.
        faults.arm(Fault(path="/fapi/v1/order", kind="status", status=503, method="POST"))
        placed = await ok(c, PLACE, {**M, "newClientOrderId": "after-503"})
        assert placed["order"]["clientOrderId"] == "after-503"
        assert "HTTP 503" in placed["note"] and "sent once more" in placed["note"]
        assert len(paper.state.futures_account.orders) == 1
        assert position(paper) == Decimal("0.01")

        # The order is accepted and its answer lost: found by client id, placed once.
        faults.arm(Fault(path="/fapi/v1/order", kind="drop", method="POST"))
        order = await ok(c, PLACE, {**M, "newClientOrderId": "lost-answer"})
        assert order["order"]["clientOrderId"] == "lost-answer"
        assert order["order"]["status"] == "FILLED" and "placed once" in order["note"]
        assert len(paper.state.futures_account.orders) == 2
        assert position(paper) == Decimal("0.02")

        # The same for a conditional order on the algo service.
        faults.arm(Fault(path="/fapi/v1/algoOrder", kind="drop", method="POST"))
        stop = await ok(
            c,
            PLACE,
            {
                **M,
                "side": "SELL",
                "type": "STOP_MARKET",
                "stopPrice": mark(paper, times="0.9"),
                "reduceOnly": True,
            },
        )
        assert stop["order"]["kind"] == "conditional" and "placed once" in stop["note"]
        assert len(paper.state.futures_account.algo_orders) == 1

        # A 4xx-class failure of a setting carries Binance's code through.
        faults.arm(Fault(path="/fapi/v1/leverage", kind="status", status=400, count=5))
        text = await fails(c, LEVERAGE, {"symbol": BTC, "leverage": 5})
        assert "Binance error -1001 (HTTP 400)" in text
        faults.clear()
