"""Spot trading on the paper exchange: balances move exactly with fills, commission and locks;
orders rest, fill, trigger and cancel as on Binance; bad orders get Binance's codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import rejected


def balances(client: Any) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        b["asset"]: (Decimal(b["free"]), Decimal(b["locked"]))
        for b in client.get_account()["balances"]
    }


def last_price(client: Any, symbol: str) -> Decimal:
    return Decimal(client.get_symbol_ticker(symbol=symbol)["price"])


def test_default_account(client: Any) -> None:
    b = balances(client)
    assert b["USDT"] == (Decimal(10000), 0)
    assert b["BTC"] == (Decimal("0.5"), 0)
    assert b["ETH"] == (Decimal(5), 0)
    account = client.get_account()
    assert account["canTrade"] is True and account["accountType"] == "SPOT"
    assert account["commissionRates"]["taker"] == "0.00100000"


def test_market_buy_moves_balances_by_fills_and_commission(client: Any) -> None:
    before = balances(client)
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.05")
    assert order["status"] == "FILLED" and order["fills"]
    cost = sum(Decimal(f["price"]) * Decimal(f["qty"]) for f in order["fills"])
    commission = sum(Decimal(f["commission"]) for f in order["fills"])
    assert {f["commissionAsset"] for f in order["fills"]} == {"BTC"}
    assert commission == Decimal("0.05") * Decimal("0.001")
    assert Decimal(order["cummulativeQuoteQty"]) == cost
    assert Decimal(order["executedQty"]) == Decimal("0.05")
    after = balances(client)
    assert after["USDT"][0] == before["USDT"][0] - cost
    assert after["BTC"][0] == before["BTC"][0] + Decimal("0.05") - commission
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [t["orderId"] for t in trades] == [order["orderId"]] * len(order["fills"])
    assert all(t["isBuyer"] and not t["isMaker"] for t in trades)


def test_market_sell_pays_commission_in_quote(client: Any) -> None:
    before = balances(client)
    order = client.create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1.2345")
    proceeds = sum(Decimal(f["price"]) * Decimal(f["qty"]) for f in order["fills"])
    commission = sum(Decimal(f["commission"]) for f in order["fills"])
    assert commission == proceeds * Decimal("0.001")
    after = balances(client)
    assert after["ETH"][0] == before["ETH"][0] - Decimal("1.2345")
    assert after["USDT"][0] == before["USDT"][0] + proceeds - commission


def test_market_buy_by_quote_order_qty(client: Any) -> None:
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quoteOrderQty="100")
    spent = Decimal(order["cummulativeQuoteQty"])
    assert Decimal(0) < spent <= Decimal(100)
    assert Decimal(order["executedQty"]) % Decimal("0.00001") == 0
    assert order["origQuoteOrderQty"] == "100.00000000"


def test_limit_rests_locks_then_fills_when_the_walk_crosses(
    paper: PaperExchange, client: Any
) -> None:
    price = (last_price(client, "BTCUSDT") * Decimal("0.998")).quantize(Decimal("0.01"))
    order = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str(price),
    )
    assert order["status"] == "NEW" and order["fills"] == []
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [order["orderId"]]
    locked = price * Decimal("0.01")
    assert balances(client)["USDT"] == (Decimal(10000) - locked, locked)

    for _ in range(5000):
        paper.state.step_walk()
        if paper.state.walk.prices["BTCUSDT"] <= price:
            break
    else:
        pytest.fail("the walk never reached the limit price")
    filled = client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert filled["status"] == "FILLED" and filled["executedQty"] == "0.01000000"
    assert client.get_open_orders(symbol="BTCUSDT") == []
    after = balances(client)
    assert after["USDT"] == (Decimal(10000) - locked, 0)
    assert after["BTC"][0] == Decimal("0.5") + Decimal("0.01") * Decimal("0.999")
    trade = client.get_my_trades(symbol="BTCUSDT")[-1]
    assert trade["isMaker"] is True and Decimal(trade["price"]) == price


def test_limit_sell_fills_when_the_price_rises(paper: PaperExchange, client: Any) -> None:
    price = (last_price(client, "ETHUSDT") * Decimal("1.002")).quantize(Decimal("0.01"))
    order = client.create_order(
        symbol="ETHUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="1",
        price=str(price),
    )
    assert balances(client)["ETH"] == (Decimal(4), Decimal(1))
    paper.state.set_price("ETHUSDT", price + 1)
    assert client.get_order(symbol="ETHUSDT", orderId=order["orderId"])["status"] == "FILLED"
    assert balances(client)["ETH"] == (Decimal(4), 0)
    assert balances(client)["USDT"][0] == Decimal(10000) + price * Decimal("0.999")


def test_cancel_frees_the_locked_balance(client: Any) -> None:
    order = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price="120000",
    )
    assert balances(client)["BTC"] == (Decimal("0.4"), Decimal("0.1"))
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED"
    assert cancelled["origClientOrderId"] == order["clientOrderId"]
    assert balances(client)["BTC"] == (Decimal("0.5"), 0)
    assert rejected(client.cancel_order, symbol="BTCUSDT", orderId=order["orderId"]) == (
        -2011,
        "Unknown order sent.",
    )


def test_cancel_by_client_order_id_and_cancel_all(client: Any) -> None:
    for i, price in enumerate(("90000", "91000", "92000")):
        client.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.001",
            price=price,
            newClientOrderId=f"mine-{i}",
        )
    one = client.cancel_order(symbol="BTCUSDT", origClientOrderId="mine-1")
    assert one["origClientOrderId"] == "mine-1"
    rest = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert sorted(o["origClientOrderId"] for o in rest) == ["mine-0", "mine-2"]
    assert all(o["status"] == "CANCELED" for o in rest)
    assert balances(client)["USDT"] == (Decimal(10000), 0)
    assert rejected(client.cancel_all_open_orders, symbol="BTCUSDT")[0] == -2011


def test_ioc_and_fok(paper: PaperExchange, client: Any) -> None:
    with paper.state.lock:
        paper.state.spot_account.balance("BTC").free += 10
    bid_price, bid_qty = (
        Decimal(x) for x in client.get_order_book(symbol="BTCUSDT", limit=1)["bids"][0]
    )
    # IOC at the best bid takes that level only; the rest expires and nothing stays locked.
    ioc = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="IOC",
        quantity="5",
        price=str(bid_price),
    )
    assert ioc["status"] == "EXPIRED"
    assert Decimal(ioc["executedQty"]) == bid_qty
    assert balances(client)["BTC"] == (Decimal("10.5") - bid_qty, 0)
    fok = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="FOK",
        quantity="5",
        price=str(bid_price),
    )
    assert fok["status"] == "EXPIRED" and fok["executedQty"] == "0.00000000"
    assert balances(client)["BTC"] == (Decimal("10.5") - bid_qty, 0)


def test_limit_maker_rejects_when_it_would_take(client: Any) -> None:
    ask = client.get_order_book(symbol="BTCUSDT", limit=1)["asks"][0][0]
    assert rejected(
        client.create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="0.001",
        price=ask,
    ) == (-2010, "Order would immediately match and take.")
    ok = client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT_MAKER", quantity="0.001", price="90000"
    )
    assert (
        ok["orderId"]
        and client.get_order(symbol="BTCUSDT", orderId=ok["orderId"])["status"] == "NEW"
    )


def test_stop_loss_limit_triggers_and_take_profit_triggers(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client, "ETHUSDT")
    stop = client.create_order(
        symbol="ETHUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="1",
        price=str(last - 60),
        stopPrice=str(last - 50),
    )
    assert set(stop) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    take = client.create_order(
        symbol="ETHUSDT", side="SELL", type="TAKE_PROFIT", quantity="0.5", stopPrice=str(last + 50)
    )
    view = client.get_order(symbol="ETHUSDT", orderId=stop["orderId"])
    assert view["isWorking"] is False and view["stopPrice"] == f"{last - 50:.8f}"
    assert balances(client)["ETH"] == (Decimal("3.5"), Decimal("1.5"))

    paper.state.set_price("ETHUSDT", last + 51)
    assert client.get_order(symbol="ETHUSDT", orderId=take["orderId"])["status"] == "FILLED"
    assert client.get_order(symbol="ETHUSDT", orderId=stop["orderId"])["status"] == "NEW"
    paper.state.set_price("ETHUSDT", last - 50)
    triggered = client.get_order(symbol="ETHUSDT", orderId=stop["orderId"])
    assert triggered["isWorking"] is True and triggered["status"] == "FILLED"
    assert balances(client)["ETH"] == (Decimal("3.5"), 0)


def test_stop_that_would_trigger_at_once_is_refused(client: Any) -> None:
    last = last_price(client, "BTCUSDT")
    code, _ = rejected(
        client.create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS",
        quantity="0.001",
        stopPrice=str(last + 100),
    )
    assert code == -2010


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"quantity": "0.000001"}, (-1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "0.000015"}, (-1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "0.00001", "price": "90000"}, (-1013, "Filter failure: NOTIONAL")),
        ({"quantity": "0.001", "price": "90000.001"}, (-1013, "Filter failure: PRICE_FILTER")),
        ({"quantity": "0.001", "price": "900"}, (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")),
        ({"quantity": "0.123456789"}, (-1111, "Parameter 'quantity' has too much precision.")),
        (
            {"quantity": "1.5", "price": "90000"},
            (-2010, "Account has insufficient balance for requested action."),
        ),
        ({"quantity": "abc"}, (-1100, None)),
    ],
)
def test_bad_orders_get_binance_codes(
    client: Any, order: dict[str, str], expected: tuple[int, str | None]
) -> None:
    params: dict[str, str] = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    if "price" in order:
        params |= {"type": "LIMIT", "timeInForce": "GTC"}
    code, message = rejected(client.create_order, **params, **order)
    assert code == expected[0]
    if expected[1] is not None:
        assert message == expected[1]
    assert client.get_open_orders() == []
    assert balances(client)["USDT"] == (Decimal(10000), 0)


def test_parameter_rules(client: Any) -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"}
    assert rejected(client.create_order, **base, type="MARKET", timeInForce="GTC") == (
        -1106,
        "Parameter 'timeInForce' sent when not required.",
    )
    assert rejected(client.create_order, **base, type="MARKET", price="90000")[0] == -1106
    assert rejected(client.create_order, **base, type="LIMIT", price="90000") == (
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    )
    assert rejected(client.create_order, symbol="BTCUSDT", side="BUY", type="MARKET")[0] == -1102
    assert rejected(client.create_order, **base, type="MARKET", symbol_="x")[0] == -1104
    assert rejected(client.create_order, **{**base, "symbol": "FOOBAR"}, type="MARKET") == (
        -1121,
        "Invalid symbol.",
    )
    assert rejected(client.create_order, **base, type="NOPE")[0] == -1116
    assert rejected(client.create_order, **{**base, "side": "HOLD"}, type="MARKET")[0] == -1117


def test_duplicate_client_order_id_and_unknown_orders(client: Any) -> None:
    args = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.001",
        "price": "90000",
        "newClientOrderId": "same-id",
    }
    client.create_order(**args)
    assert rejected(client.create_order, **args) == (-2010, "Duplicate order sent.")
    assert rejected(client.get_order, symbol="BTCUSDT", orderId=987654) == (
        -2013,
        "Order does not exist.",
    )
    found = client.get_order(symbol="BTCUSDT", origClientOrderId="same-id")
    assert found["clientOrderId"] == "same-id" and found["status"] == "NEW"


def test_test_order_validates_and_places_nothing(client: Any) -> None:
    assert (
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
        == {}
    )
    assert (
        rejected(
            client.create_test_order,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.0000001",
        )[0]
        == -1013
    )
    assert client.get_all_orders(symbol="BTCUSDT") == []
    assert balances(client)["USDT"] == (Decimal(10000), 0)


def test_response_types(client: Any) -> None:
    base = {"symbol": "XRPUSDT", "side": "BUY", "type": "MARKET", "quantity": "10"}
    ack = client.create_order(**base, newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = client.create_order(**base, newOrderRespType="RESULT")
    assert result["status"] == "FILLED" and "fills" not in result
    full = client.create_order(**base)
    assert full["fills"][0]["commissionAsset"] == "XRP"


def test_all_orders_and_trade_history_filters(client: Any) -> None:
    ids = [
        client.create_order(symbol="SOLUSDT", side="BUY", type="MARKET", quantity="0.1")["orderId"]
        for _ in range(3)
    ]
    everything = client.get_all_orders(symbol="SOLUSDT")
    assert [o["orderId"] for o in everything] == ids
    assert [o["orderId"] for o in client.get_all_orders(symbol="SOLUSDT", orderId=ids[1])] == ids[
        1:
    ]
    assert len(client.get_all_orders(symbol="SOLUSDT", limit=2)) == 2
    trades = client.get_my_trades(symbol="SOLUSDT")
    assert {t["orderId"] for t in trades} == set(ids)
    assert {t["orderId"] for t in client.get_my_trades(symbol="SOLUSDT", orderId=ids[2])} == {
        ids[2]
    }
    first = trades[0]["id"]
    assert client.get_my_trades(symbol="SOLUSDT", fromId=first + 1)[0]["id"] == first + 1
