"""Conditional USD-M orders through the algo-order service, as python-binance 1.0.37 places,
lists, queries and cancels them, and what happens when the price crosses their trigger."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import rejected

TICK = Decimal("0.1")


def last(client: Any, symbol: str = "BTCUSDT") -> Decimal:
    return Decimal(client.futures_symbol_ticker(symbol=symbol)["price"])


def open_long(client: Any, qty: str = "0.01") -> dict[str, Any]:
    order: dict[str, Any] = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity=qty, newOrderRespType="RESULT"
    )
    return order


def stop_below(client: Any, fraction: str = "0.98", **kwargs: Any) -> dict[str, Any]:
    trigger = (last(client) * Decimal(fraction)).quantize(TICK)
    order: dict[str, Any] = client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice=str(trigger), **kwargs
    )
    return order


def test_stop_market_goes_to_the_algo_service(paper: PaperExchange, client: Any) -> None:
    open_long(client)
    stop = stop_below(client, closePosition="true", clientAlgoId="sl-btc-1")
    trigger = (last(client) * Decimal("0.98")).quantize(TICK)
    assert stop["algoType"] == "CONDITIONAL" and stop["orderType"] == "STOP_MARKET"
    assert (stop["clientAlgoId"], stop["algoStatus"]) == ("sl-btc-1", "NEW")
    assert Decimal(stop["triggerPrice"]) == trigger and stop["closePosition"] is True
    sent = next(r for r in reversed(paper.state.requests) if r["path"] == "/fapi/v1/algoOrder")
    # python-binance renamed stopPrice to triggerPrice and dropped newClientOrderId.
    assert sent["params"]["triggerPrice"] == str(trigger)
    assert "stopPrice" not in sent["params"] and "newClientOrderId" not in sent["params"]

    listed = client.futures_get_open_orders(conditional=True)
    assert [o["algoId"] for o in listed] == [stop["algoId"]]
    assert client.futures_get_open_algo_orders(symbol="BTCUSDT") == listed
    assert client.futures_get_open_orders(symbol="BTCUSDT") == []  # regular orders only
    got = client.futures_get_order(symbol="BTCUSDT", algoId=stop["algoId"])
    assert got["clientAlgoId"] == "sl-btc-1" and got["actualOrderId"] == ""
    assert client.futures_get_algo_order(clientAlgoId="sl-btc-1")["algoId"] == stop["algoId"]

    cancelled = client.futures_cancel_order(symbol="BTCUSDT", clientAlgoId="sl-btc-1")
    assert cancelled == {
        "algoId": stop["algoId"],
        "clientAlgoId": "sl-btc-1",
        "code": "200",
        "msg": "success",
    }
    assert client.futures_get_open_orders(conditional=True) == []
    assert rejected(client.futures_cancel_order, symbol="BTCUSDT", clientAlgoId="sl-btc-1") == (
        -2011,
        "Unknown order sent.",
    )
    history = client.futures_get_all_orders(symbol="BTCUSDT", conditional=True)
    assert [(o["clientAlgoId"], o["algoStatus"]) for o in history] == [("sl-btc-1", "CANCELED")]
    assert rejected(client.futures_get_algo_order, algoId=1) == (-2013, "Order does not exist.")


def test_stop_triggers_when_the_price_crosses(paper: PaperExchange, client: Any) -> None:
    entry = Decimal(open_long(client, "0.02")["avgPrice"])
    stop = stop_below(client, "0.99", closePosition="true")
    spot = paper.state.walk.prices["BTCUSDT"]
    paper.state.set_price("BTCUSDT", spot * Decimal("0.995"))
    assert client.futures_get_algo_order(algoId=stop["algoId"])["algoStatus"] == "NEW"
    paper.state.set_price("BTCUSDT", spot * Decimal("0.985"))

    fired = client.futures_get_algo_order(algoId=stop["algoId"])
    assert fired["algoStatus"] == "FINISHED" and fired["triggerTime"] > 0
    placed = client.futures_get_order(symbol="BTCUSDT", orderId=int(fired["actualOrderId"]))
    assert (placed["type"], placed["origType"], placed["status"]) == (
        "MARKET",
        "STOP_MARKET",
        "FILLED",
    )
    assert placed["closePosition"] is True and placed["executedQty"] == "0.020"
    assert Decimal(fired["actualPrice"]) == Decimal(placed["avgPrice"])
    assert client.futures_position_information(symbol="BTCUSDT") == []
    assert client.futures_get_open_orders(conditional=True) == []
    loss = [Decimal(i["income"]) for i in client.futures_income_history(incomeType="REALIZED_PNL")]
    assert loss == [(Decimal(placed["avgPrice"]) - entry) * Decimal("0.02")] and loss[0] < 0


def test_take_profit_with_quantity_and_reduce_only(paper: PaperExchange, client: Any) -> None:
    open_long(client, "0.03")
    target = (last(client) * Decimal("1.01")).quantize(TICK)
    tp = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT_MARKET",
        stopPrice=str(target),
        quantity="0.01",
        reduceOnly="true",
    )
    assert tp["reduceOnly"] is True and tp["quantity"] == "0.010"
    paper.state.set_price("BTCUSDT", paper.state.walk.prices["BTCUSDT"] * Decimal("1.02"))
    assert client.futures_get_algo_order(algoId=tp["algoId"])["algoStatus"] == "FINISHED"
    held = client.futures_position_information(symbol="BTCUSDT")[0]
    assert held["positionAmt"] == "0.020"


def test_stop_limit_places_a_resting_limit(paper: PaperExchange, client: Any) -> None:
    now = last(client)
    trigger, limit = (now * Decimal("1.01")).quantize(TICK), (now * Decimal("1.03")).quantize(TICK)
    stop = client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="STOP",
        stopPrice=str(trigger),
        price=str(limit),
        quantity="0.01",
        timeInForce="GTC",
    )
    assert stop["orderType"] == "STOP" and stop["timeInForce"] == "GTC"
    paper.state.set_price("BTCUSDT", paper.state.walk.prices["BTCUSDT"] * Decimal("1.02"))
    fired = client.futures_get_algo_order(algoId=stop["algoId"])
    assert fired["algoStatus"] == "FINISHED"  # the limit was above the market: it filled
    order = client.futures_get_order(symbol="BTCUSDT", orderId=int(fired["actualOrderId"]))
    assert (order["type"], order["origType"], order["status"]) == ("LIMIT", "STOP", "FILLED")


def test_trailing_stop_follows_the_high(paper: PaperExchange, client: Any) -> None:
    open_long(client)
    trail = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TRAILING_STOP_MARKET",
        quantity="0.01",
        callbackRate="1",
        reduceOnly="true",
    )
    assert trail["callbackRate"] == "1" and "activatePrice" in trail
    spot = paper.state.walk.prices["BTCUSDT"]
    paper.state.set_price("BTCUSDT", spot * Decimal("1.05"))  # a new high to trail
    paper.state.set_price("BTCUSDT", spot * Decimal("1.045"))  # -0.5%: not yet
    assert client.futures_get_algo_order(algoId=trail["algoId"])["algoStatus"] == "NEW"
    paper.state.set_price("BTCUSDT", spot * Decimal("1.035"))  # -1.4% from the high
    assert client.futures_get_algo_order(algoId=trail["algoId"])["algoStatus"] == "FINISHED"
    assert client.futures_position_information(symbol="BTCUSDT") == []


def test_conditional_order_refusals(client: Any) -> None:
    open_long(client)
    above = (last(client) * Decimal("1.01")).quantize(TICK)
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(above),
        closePosition="true",
    ) == (-2021, "Order would immediately trigger.")
    below = (last(client) * Decimal("0.99")).quantize(TICK)
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(below),
        closePosition="true",
        quantity="0.01",
    ) == (-4137, "Quantity must be zero with closePosition equals true")
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP",
        stopPrice=str(below),
        price=str(below),
        closePosition="true",
    ) == (-1106, "Parameter 'closePosition' sent when not required.")
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(below),
    ) == (-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(below + Decimal("0.001")),
        quantity="0.01",
    ) == (-1111, "Precision is over the maximum defined for this asset.")
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(below + Decimal("0.05")),
        quantity="0.01",
    ) == (-4014, "Price not increased by tick size.")
    for k in range(10):
        client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=str(below - k),
            quantity="0.01",
            reduceOnly="true",
        )
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(below - 20),
        quantity="0.01",
    ) == (-4045, "Reach max stop order limit.")


def test_cancel_all_regular_then_conditional(client: Any) -> None:
    open_long(client)
    price = (last(client) * Decimal("1.02")).quantize(TICK)
    client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str(price),
    )
    stop_below(client, closePosition="true")
    client.futures_cancel_all_open_orders(symbol="BTCUSDT")
    assert client.futures_get_open_orders(symbol="BTCUSDT") == []
    assert len(client.futures_get_open_orders(conditional=True)) == 1  # algo orders stay
    done = client.futures_cancel_all_open_orders(symbol="BTCUSDT", conditional=True)
    assert done == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert client.futures_get_open_orders(conditional=True) == []


def test_countdown_cancel_all(client: Any) -> None:
    price = str((last(client) * Decimal("0.98")).quantize(TICK))
    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    kept = client.futures_create_order(**limit, quantity="0.01", price=price)
    assert client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=60000) == {
        "symbol": "BTCUSDT",
        "countdownTime": "60000",
    }
    client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=0)  # stops the timer
    client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=300)
    time.sleep(0.5)
    assert client.futures_get_open_orders(symbol="BTCUSDT") == []
    assert client.futures_get_order(symbol="BTCUSDT", orderId=kept["orderId"])["status"] == (
        "CANCELED"
    )
    again = client.futures_create_order(**limit, quantity="0.01", price=price)
    client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=300)
    client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=0)
    time.sleep(0.5)
    assert [o["orderId"] for o in client.futures_get_open_orders()] == [again["orderId"]]
