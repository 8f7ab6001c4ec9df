"""Spot order lists (OCO, OTO, OTOCO) and cancelReplace on the paper exchange, through
python-binance over HTTP: placed, queried and cancelled with Binance's answers; the legs
trigger and fill as the price moves, one-cancels-the-other and one-triggers-the-other; funds
locked once and released; lists kept across a killed exchange; Binance's codes on bad input."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import rejected
from tests.test_paper_store import KEY, PaperProcess

LIST_KEYS = {
    "orderListId",
    "contingencyType",
    "listStatusType",
    "listOrderStatus",
    "listClientOrderId",
    "transactionTime",
    "symbol",
    "orders",
}
Q = "0.01"  # BTC per order: about 970 USDT at the snapshot's price


def balances(client: Any) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        b["asset"]: (Decimal(b["free"]), Decimal(b["locked"]))
        for b in client.get_account()["balances"]
    }


def last_price(client: Any, symbol: str = "BTCUSDT") -> Decimal:
    return Decimal(client.get_symbol_ticker(symbol=symbol)["price"])


def status(client: Any, order_id: int, symbol: str = "BTCUSDT") -> str:
    return str(client.get_order(symbol=symbol, orderId=order_id)["status"])


def sell_oco(client: Any, last: Decimal, **extra: Any) -> dict[str, Any]:
    """Take profit 1000 above the market (LIMIT_MAKER), stop out 1000 below it."""
    params: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": Q,
        "aboveType": "LIMIT_MAKER",
        "abovePrice": str(last + 1000),
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": str(last - 1000),
        "belowPrice": str(last - 1100),
        "belowTimeInForce": "GTC",
    }
    answer: dict[str, Any] = client.create_oco_order(**(params | extra))
    return answer


def oto_params(last: Decimal) -> dict[str, Any]:
    """Buy 1000 below the market; once bought, sell 1000 above it."""
    return {
        "symbol": "BTCUSDT",
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingPrice": str(last - 1000),
        "workingQuantity": Q,
        "workingTimeInForce": "GTC",
        "pendingType": "LIMIT",
        "pendingSide": "SELL",
        "pendingPrice": str(last + 1000),
        "pendingQuantity": Q,
        "pendingTimeInForce": "GTC",
    }


def otoco_params(last: Decimal) -> dict[str, Any]:
    """Buy 1000 below the market; once bought, take profit at the market or stop out 1000
    below the purchase."""
    return {
        "symbol": "BTCUSDT",
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingPrice": str(last - 1000),
        "workingQuantity": Q,
        "workingTimeInForce": "GTC",
        "pendingSide": "SELL",
        "pendingQuantity": Q,
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAbovePrice": str(last),
        "pendingBelowType": "STOP_LOSS",
        "pendingBelowStopPrice": str(last - 2000),
    }


def buy_oto(client: Any, last: Decimal, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.v3_post_order_list_oto(**(oto_params(last) | extra))
    return answer


def buy_otoco(client: Any, last: Decimal, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.v3_post_order_list_otoco(**(otoco_params(last) | extra))
    return answer


def ids(answer: dict[str, Any]) -> list[int]:
    return [o["orderId"] for o in answer["orders"]]


# ----- OCO ------------------------------------------------------------------------------------


def test_an_oco_is_placed_locks_once_and_is_queried_every_way(client: Any) -> None:
    last = last_price(client)
    oco = sell_oco(
        client,
        last,
        listClientOrderId="my-oco",
        aboveClientOrderId="take-profit",
        belowClientOrderId="stop-loss",
    )
    assert set(oco) == LIST_KEYS | {"orderReports"}
    assert (oco["contingencyType"], oco["listStatusType"], oco["listOrderStatus"]) == (
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
    )
    assert oco["listClientOrderId"] == "my-oco" and oco["symbol"] == "BTCUSDT"
    # Binance's order: the stop-loss leg (below a sell) first, then the limit maker.
    assert [o["clientOrderId"] for o in oco["orders"]] == ["stop-loss", "take-profit"]
    stop, limit = oco["orderReports"]
    assert stop["type"] == "STOP_LOSS_LIMIT" and stop["stopPrice"] == f"{last - 1000:.8f}"
    assert stop["workingTime"] == -1 and stop["status"] == "NEW"
    assert limit["type"] == "LIMIT_MAKER" and "stopPrice" not in limit
    assert limit["workingTime"] == oco["transactionTime"] and limit["price"] == f"{last + 1000:.8f}"
    assert {r["orderListId"] for r in oco["orderReports"]} == {oco["orderListId"]}
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "2"  # an OCO counts 2 orders

    # Both legs sell the same BTC, so it is locked once.
    assert balances(client)["BTC"] == (Decimal("0.49"), Decimal(Q))
    listed = client.get_open_orders(symbol="BTCUSDT")
    assert [(o["orderId"], o["orderListId"]) for o in listed] == [
        (i, oco["orderListId"]) for i in ids(oco)
    ]
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="stop-loss")["isWorking"] is False
    assert {o["orderListId"] for o in client.get_all_orders(symbol="BTCUSDT")} == {
        oco["orderListId"]
    }

    by_id = client.v3_get_order_list(orderListId=oco["orderListId"])
    assert by_id == {k: oco[k] for k in LIST_KEYS}
    assert client.v3_get_order_list(origClientOrderId="my-oco") == by_id
    assert client.get_open_oco_orders() == [by_id]
    assert client.v3_get_all_order_list() == [by_id]


def test_the_stop_leg_triggered_by_a_fall_expires_the_limit_maker(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client)
    oco = sell_oco(client, last)
    stop_id, limit_id = ids(oco)
    paper.state.set_price("BTCUSDT", last - 1050)
    assert status(client, stop_id) == "FILLED"
    assert status(client, limit_id) == "EXPIRED"
    done = client.v3_get_order_list(orderListId=oco["orderListId"])
    assert (done["listStatusType"], done["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert client.get_open_oco_orders() == [] and client.get_open_orders(symbol="BTCUSDT") == []

    trades = client.get_my_trades(symbol="BTCUSDT")
    assert {(t["orderId"], t["orderListId"]) for t in trades} == {(stop_id, oco["orderListId"])}
    proceeds = sum(Decimal(t["quoteQty"]) for t in trades)
    commission = sum(Decimal(t["commission"]) for t in trades)
    assert Decimal(0) < proceeds <= Decimal(Q) * (last - 1000)
    assert balances(client)["BTC"] == (Decimal("0.49"), 0)
    assert balances(client)["USDT"] == (Decimal(10000) + proceeds - commission, 0)


def test_the_limit_maker_filled_by_a_rise_expires_the_stop(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client)
    oco = sell_oco(client, last)
    stop_id, limit_id = ids(oco)
    paper.state.set_price("BTCUSDT", last + 1000)
    assert (status(client, limit_id), status(client, stop_id)) == ("FILLED", "EXPIRED")
    (trade,) = client.get_my_trades(symbol="BTCUSDT")
    assert trade["isMaker"] is True and Decimal(trade["price"]) == last + 1000
    proceeds = Decimal(Q) * (last + 1000)
    assert balances(client)["BTC"] == (Decimal("0.49"), 0)
    assert balances(client)["USDT"] == (Decimal(10000) + proceeds * Decimal("0.999"), 0)


def test_a_buy_oco_locks_its_dearer_leg_and_its_stop_market_buys_on_a_rise(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client)
    oco = client.create_oco_order(
        symbol="BTCUSDT",
        side="BUY",
        quantity=Q,
        aboveType="STOP_LOSS",
        aboveStopPrice=str(last + 500),
        belowType="TAKE_PROFIT_LIMIT",
        belowStopPrice=str(last - 500),
        belowPrice=str(last - 400),
        belowTimeInForce="GTC",
        newOrderRespType="ACK",
    )
    stop, take = oco["orderReports"]  # the stop-loss leg (above a buy) first
    assert set(stop) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    # One lock for the pair, at the dearer of the two: the stop-market at its stop price.
    assert balances(client)["USDT"] == (
        Decimal(10000) - Decimal(Q) * (last + 500),
        Decimal(Q) * (last + 500),
    )
    paper.state.set_price("BTCUSDT", last + 500)
    assert status(client, stop["orderId"]) == "FILLED"
    assert status(client, take["orderId"]) == "EXPIRED"
    spent = sum(Decimal(t["quoteQty"]) for t in client.get_my_trades(symbol="BTCUSDT"))
    assert balances(client)["USDT"] == (Decimal(10000) - spent, 0)
    assert balances(client)["BTC"] == (Decimal("0.5") + Decimal(Q) * Decimal("0.999"), 0)


def test_cancelling_an_oco_by_list_id_by_client_id_by_leg_and_all_at_once(client: Any) -> None:
    last = last_price(client)
    first = sell_oco(client, last, listClientOrderId="one")
    cancelled = client.v3_delete_order_list(
        symbol="BTCUSDT", listClientOrderId="one", newClientOrderId="why-not"
    )
    assert set(cancelled) == LIST_KEYS | {"orderReports"}
    assert (cancelled["listStatusType"], cancelled["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert [r["status"] for r in cancelled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert {r["clientOrderId"] for r in cancelled["orderReports"]} == {"why-not"}
    assert [r["origClientOrderId"] for r in cancelled["orderReports"]] == [
        o["clientOrderId"] for o in first["orders"]
    ]
    assert balances(client)["BTC"] == (Decimal("0.5"), 0)
    assert rejected(
        client.v3_delete_order_list, symbol="BTCUSDT", orderListId=first["orderListId"]
    ) == (-2011, "Unknown order list sent.")

    # The list client id is free again once its list is done.
    second = sell_oco(client, last, listClientOrderId="one")
    leg = client.cancel_order(symbol="BTCUSDT", orderId=ids(second)[1])
    assert leg["orderListId"] == second["orderListId"] and leg["contingencyType"] == "OCO"
    assert [status(client, i) for i in ids(second)] == ["CANCELED", "CANCELED"]

    third = sell_oco(client, last)
    plain = client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=Q, price="90000"
    )
    everything = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert [r.get("orderListId") for r in everything] == [third["orderListId"], -1]
    assert everything[1]["orderId"] == plain["orderId"]
    assert balances(client)["BTC"] == (Decimal("0.5"), 0)
    assert balances(client)["USDT"] == (Decimal(10000), 0)


# ----- OTO and OTOCO --------------------------------------------------------------------------


def test_an_oto_places_its_pending_order_once_the_working_one_fills(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client)
    oto = buy_oto(client, last, listClientOrderId="entry-exit", pendingClientOrderId="exit")
    assert oto["contingencyType"] == "OTO" and oto["listOrderStatus"] == "EXECUTING"
    working, pending = oto["orderReports"]
    assert (working["status"], working["side"]) == ("NEW", "BUY")
    assert (pending["status"], pending["workingTime"]) == ("PENDING_NEW", -1)
    # Only the working order holds funds; the pending one waits, open, off the book.
    assert balances(client)["USDT"][1] == Decimal(Q) * (last - 1000)
    assert balances(client)["BTC"] == (Decimal("0.5"), 0)
    assert [o["status"] for o in client.get_open_orders(symbol="BTCUSDT")] == [
        "NEW",
        "PENDING_NEW",
    ]
    paper.state.set_price("BTCUSDT", last - 500)  # neither crosses
    assert status(client, pending["orderId"]) == "PENDING_NEW"

    paper.state.set_price("BTCUSDT", last - 1000)
    assert status(client, working["orderId"]) == "FILLED"
    placed = client.get_order(symbol="BTCUSDT", origClientOrderId="exit")
    assert (placed["status"], placed["isWorking"]) == ("NEW", True)
    bought = Decimal(Q) * Decimal("0.999")
    assert balances(client)["BTC"] == (Decimal("0.5") + bought - Decimal(Q), Decimal(Q))
    assert client.get_open_oco_orders()[0]["orderListId"] == oto["orderListId"]

    paper.state.set_price("BTCUSDT", last + 1000)
    assert status(client, pending["orderId"]) == "FILLED"
    assert client.v3_get_order_list(orderListId=oto["orderListId"])["listOrderStatus"] == (
        "ALL_DONE"
    )
    assert balances(client)["BTC"] == (Decimal("0.5") + bought - Decimal(Q), 0)


def test_a_working_order_filled_at_once_answers_pending_then_places_it(client: Any) -> None:
    last = last_price(client)
    oto = buy_oto(client, last, workingPrice=str(last + 100), pendingPrice=str(last + 1000))
    working, pending = oto["orderReports"]
    assert working["status"] == "FILLED" and working["fills"]
    assert pending["status"] == "PENDING_NEW"  # as Binance answers; placed right after
    assert status(client, pending["orderId"]) == "NEW"
    assert client.get_open_oco_orders()[0]["listOrderStatus"] == "EXECUTING"


def test_an_otoco_arms_its_pair_when_the_working_order_fills(
    paper: PaperExchange, client: Any
) -> None:
    last = last_price(client)
    otoco = buy_otoco(client, last)
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "3"
    assert otoco["contingencyType"] == "OTO"
    stop, limit = otoco["orderReports"][1:]  # after the working order: the stop-loss first
    assert (stop["type"], limit["type"]) == ("STOP_LOSS", "LIMIT_MAKER")
    assert [r["status"] for r in otoco["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]

    paper.state.set_price("BTCUSDT", last - 1000)
    assert [status(client, i) for i in ids(otoco)] == ["FILLED", "NEW", "NEW"]
    assert balances(client)["BTC"][1] == Decimal(Q)  # the pair sells the same BTC: one lock

    paper.state.set_price("BTCUSDT", last - 2000)
    assert [status(client, i) for i in ids(otoco)] == ["FILLED", "FILLED", "EXPIRED"]
    done = client.v3_get_order_list(orderListId=otoco["orderListId"])
    assert done["listOrderStatus"] == "ALL_DONE"
    assert balances(client)["BTC"][1] == 0


def test_cancelling_the_working_order_cancels_its_pending_orders(client: Any) -> None:
    last = last_price(client)
    otoco = buy_otoco(client, last)
    answer = client.cancel_order(symbol="BTCUSDT", orderId=ids(otoco)[0])
    assert answer["orderListId"] == otoco["orderListId"] and answer["listOrderStatus"] == "ALL_DONE"
    assert [r["status"] for r in answer["orderReports"]] == ["CANCELED"] * 3
    assert balances(client)["USDT"] == (Decimal(10000), 0)
    assert client.get_open_orders(symbol="BTCUSDT") == []


def test_a_working_order_that_expires_expires_its_pending_orders(client: Any) -> None:
    last = last_price(client)
    oto = buy_oto(client, last, workingTimeInForce="IOC")  # below the market: nothing to take
    assert [r["status"] for r in oto["orderReports"]] == ["EXPIRED", "EXPIRED"]
    assert oto["listOrderStatus"] == "ALL_DONE"
    assert balances(client)["USDT"] == (Decimal(10000), 0)


# ----- a killed exchange ---------------------------------------------------------------------


def test_a_killed_exchange_keeps_its_order_lists_and_their_contingencies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = PaperProcess(state)
    try:
        c = first.client()
        last = last_price(c)
        oco = sell_oco(c, last, listClientOrderId="kept-oco")
        otoco = buy_otoco(c, last, listClientOrderId="kept-otoco")
        before = (c.get_open_oco_orders(), c.get_open_orders(symbol="BTCUSDT"), balances(c))
    finally:
        first.kill()

    second = PaperProcess(state)
    try:
        c = second.client()
        assert (c.get_open_oco_orders(), c.get_open_orders(symbol="BTCUSDT"), balances(c)) == before

        def move(price: Decimal) -> None:
            requests.post(
                second.url + "/paper/price",
                json={"symbol": "BTCUSDT", "price": str(price)},
                headers={"X-MBX-APIKEY": KEY},
                timeout=10,
            ).raise_for_status()

        move(last - 1000)  # the OTOCO's entry fills; the OCO's stop triggers
        assert status(c, ids(otoco)[0]) == "FILLED"
        assert [status(c, i) for i in ids(oco)] == ["FILLED", "EXPIRED"]
        assert [status(c, i) for i in ids(otoco)[1:]] == ["NEW", "NEW"]
        assert [o["listClientOrderId"] for o in c.get_open_oco_orders()] == ["kept-otoco"]
        everything = c.v3_get_all_order_list()
        assert [(x["listClientOrderId"], x["listOrderStatus"]) for x in everything] == [
            ("kept-oco", "ALL_DONE"),
            ("kept-otoco", "EXECUTING"),
        ]
    finally:
        second.kill()


# ----- bad input -----------------------------------------------------------------------------


def _oco(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": Q,
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "98000",
        "belowType": "STOP_LOSS",
        "belowStopPrice": "96000",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            _oco(aboveType=None),
            (-1102, "Mandatory parameter 'aboveType' was not sent, was empty/null, or malformed."),
        ),
        (_oco(aboveType="NOPE"), (-1116, "Invalid orderType.")),
        (_oco(aboveType="LIMIT"), (-1158, "Order type not supported in OCO.")),
        (
            _oco(belowType="LIMIT_MAKER", belowStopPrice=None, belowPrice="96000"),
            (-1168, "At least one OCO order must be contingent."),
        ),
        (
            _oco(aboveType="STOP_LOSS", abovePrice=None, aboveStopPrice="98000"),
            (-1197, "A stop loss order in a sell OCO must be below."),
        ),
        (
            _oco(belowType="TAKE_PROFIT"),
            (-1199, "A take profit order in a sell OCO must be above."),
        ),
        (
            _oco(side="BUY"),
            (-1165, "A limit order in a buy OCO must be below."),
        ),
        (
            _oco(
                side="BUY",
                aboveType="STOP_LOSS",
                abovePrice=None,
                aboveStopPrice="98000",
                belowType="STOP_LOSS",
            ),
            (-1196, "A stop loss order in a buy OCO must be above."),
        ),
        (
            _oco(abovePrice=None),
            (-1102, "Mandatory parameter 'abovePrice' was not sent, was empty/null, or malformed."),
        ),
        (
            _oco(belowType="STOP_LOSS_LIMIT", belowPrice="95900"),
            (
                -1102,
                "Mandatory parameter 'belowTimeInForce' was not sent, was empty/null, or malformed.",
            ),
        ),
        (
            _oco(aboveTimeInForce="GTC"),
            (-1106, "Parameter 'aboveTimeInForce' sent when not required."),
        ),
        (_oco(belowPrice="95000"), (-1106, "Parameter 'belowPrice' sent when not required.")),
        (
            _oco(abovePrice="98000.000000001"),
            (-1111, "Parameter 'abovePrice' has too much precision."),
        ),
        (_oco(abovePrice="98000.001"), (-1013, "Filter failure: PRICE_FILTER")),
        (_oco(quantity="0.000001"), (-1013, "Filter failure: LOT_SIZE")),
        (
            _oco(abovePrice="96500"),
            (-2010, "The relationship of the prices for the orders is not correct."),
        ),
        (
            _oco(belowStopPrice="97500"),
            (-2010, "The relationship of the prices for the orders is not correct."),
        ),
        (_oco(quantity="1"), (-2010, "Account has insufficient balance for requested action.")),
        (
            _oco(aboveClientOrderId="same", belowClientOrderId="same"),
            (-2010, "Duplicate order sent."),
        ),
        (
            _oco(aboveIcebergQty="0.001"),
            (-1104, "Not all sent parameters were read; read '11' parameter(s) but was sent '12'."),
        ),
    ],
)
def test_bad_ocos_get_binance_codes_and_place_nothing(
    client: Any, params: dict[str, Any], expected: tuple[int, str]
) -> None:
    # python-binance adds listClientOrderId and signs with timestamp and recvWindow.
    assert rejected(client.create_oco_order, **params) == expected
    assert client.get_open_orders(symbol="BTCUSDT") == []
    assert balances(client)["BTC"] == (Decimal("0.5"), 0)


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        (
            "v3_post_order_list_oto",
            {"workingType": "MARKET", "workingPrice": None, "workingTimeInForce": None},
            (-1116, "Invalid orderType."),
        ),
        (
            "v3_post_order_list_oto",
            {"pendingQuantity": None},
            (
                -1102,
                "Mandatory parameter 'pendingQuantity' was not sent, was empty/null, or malformed.",
            ),
        ),
        (
            "v3_post_order_list_oto",
            {"pendingTimeInForce": None},
            (
                -1102,
                "Mandatory parameter 'pendingTimeInForce' was not sent, was empty/null, or "
                "malformed.",
            ),
        ),
        (
            "v3_post_order_list_oto",
            {"workingQuantity": "1"},
            (-2010, "Account has insufficient balance for requested action."),
        ),
        (
            "v3_post_order_list_otoco",
            {"pendingBelowType": None, "pendingBelowStopPrice": None},
            (
                -1102,
                "Mandatory parameter 'pendingBelowType' was not sent, was empty/null, or "
                "malformed.",
            ),
        ),
        (
            "v3_post_order_list_otoco",
            {
                "pendingAboveType": "STOP_LOSS",
                "pendingAbovePrice": None,
                "pendingAboveStopPrice": "99000",
            },
            (-1197, "A stop loss order in a sell OCO must be below."),
        ),
    ],
)
def test_bad_otos_get_binance_codes_and_place_nothing(
    client: Any, method: str, params: dict[str, Any], expected: tuple[int, str]
) -> None:
    last = last_price(client)
    base = oto_params(last) if method.endswith("_oto") else otoco_params(last)
    sent = {k: v for k, v in (base | params).items() if v is not None}
    assert rejected(getattr(client, method), **sent) == expected
    assert client.get_open_orders(symbol="BTCUSDT") == []


def test_order_list_lookups_refuse_with_binance_codes(client: Any) -> None:
    assert rejected(client.v3_delete_order_list, symbol="BTCUSDT") == (
        -1102,
        "Param 'listClientOrderId' or 'orderListId' must be sent, but both were empty/null!",
    )
    assert rejected(client.v3_delete_order_list, symbol="BTCUSDT", orderListId=7) == (
        -2011,
        "Unknown order list sent.",
    )
    assert rejected(client.v3_get_order_list)[0] == -1128
    assert rejected(client.v3_get_order_list, orderListId=7) == (
        -2018,
        "Order list does not exist.",
    )
    assert rejected(client.v3_get_all_order_list, fromId=1, startTime=1) == (
        -1128,
        "Combination of optional parameters invalid.",
    )
    last = last_price(client)
    sell_oco(client, last, listClientOrderId="taken")
    assert rejected(sell_oco, client=client, last=last, listClientOrderId="taken") == (
        -2010,
        "Duplicate order sent.",
    )


def test_order_list_weights(client: Any) -> None:
    client.get_open_oco_orders()
    first = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    client.v3_get_all_order_list()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 20
    with pytest.raises(BinanceAPIException):
        client.v3_get_order_list(orderListId=1)
    client.get_open_oco_orders()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 20 + 4 + 6


def test_cancel_restrictions_on_a_plain_cancel(client: Any) -> None:
    order = client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=Q, price="90000"
    )
    assert rejected(
        client.cancel_order,
        symbol="BTCUSDT",
        orderId=order["orderId"],
        cancelRestrictions="ONLY_PARTIALLY_FILLED",
    ) == (-2011, "Order was not canceled due to cancel restrictions.")
    assert rejected(
        client.cancel_order, symbol="BTCUSDT", orderId=order["orderId"], cancelRestrictions="NEVER"
    ) == (-1145, "Invalid cancelRestrictions")
    cancelled = client.cancel_order(
        symbol="BTCUSDT", orderId=order["orderId"], cancelRestrictions="ONLY_NEW"
    )
    assert cancelled["status"] == "CANCELED"


# ----- cancelReplace -------------------------------------------------------------------------


def _resting_buy(client: Any, price: str = "90000", **extra: Any) -> dict[str, Any]:
    order: dict[str, Any] = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity=Q,
        price=price,
        **extra,
    )
    return order


def _replace(client: Any, **params: Any) -> dict[str, Any]:
    base = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": Q,
        "price": "91000",
    }
    answer: dict[str, Any] = client.cancel_replace_order(**(base | params))
    return answer


def _refusal(call: Any, **params: Any) -> tuple[int, int, str, dict[str, Any]]:
    """HTTP status, Binance code and message, and the `data` of a refused cancelReplace."""
    with pytest.raises(BinanceAPIException) as exc:
        call(**params)
    body = exc.value.response.json()
    return exc.value.status_code, exc.value.code, exc.value.message, body["data"]


def test_cancel_replace_swaps_an_order(client: Any) -> None:
    old = _resting_buy(client)
    answer = _replace(
        client,
        cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrderId=old["orderId"],
        cancelNewClientOrderId="replaced",
        newClientOrderId="replacement",
    )
    assert set(answer) == {"cancelResult", "newOrderResult", "cancelResponse", "newOrderResponse"}
    assert (answer["cancelResult"], answer["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    cancelled, placed = answer["cancelResponse"], answer["newOrderResponse"]
    assert (cancelled["orderId"], cancelled["status"]) == (old["orderId"], "CANCELED")
    assert cancelled["clientOrderId"] == "replaced"
    assert (placed["clientOrderId"], placed["status"], placed["fills"]) == (
        "replacement",
        "NEW",
        [],
    )
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "2"
    assert balances(client)["USDT"] == (
        Decimal(10000) - Decimal(Q) * 91000,
        Decimal(Q) * 91000,
    )
    # By the cancelled order's client id, and reusing it for the new order.
    again = _replace(
        client,
        cancelReplaceMode="ALLOW_FAILURE",
        cancelOrigClientOrderId="replacement",
        newClientOrderId="replacement",
        price="92000",
    )
    assert again["newOrderResponse"]["clientOrderId"] == "replacement"
    assert [o["price"] for o in client.get_open_orders(symbol="BTCUSDT")] == ["92000.00000000"]


def test_cancel_replace_stop_on_failure_when_the_cancel_fails(client: Any) -> None:
    assert _refusal(
        _replace, client=client, cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=999
    ) == (
        400,
        -2022,
        "Order cancel-replace failed.",
        {
            "cancelResult": "FAILURE",
            "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": None,
        },
    )
    assert client.get_open_orders(symbol="BTCUSDT") == []
    usage = {r["interval"]: r["count"] for r in client.get_current_order_count()}
    assert usage["SECOND"] == 1  # not attempted, still counted


def test_cancel_replace_allow_failure_places_the_new_order_anyway(client: Any) -> None:
    status_code, code, msg, data = _refusal(
        _replace, client=client, cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=999
    )
    assert (status_code, code, msg) == (409, -2021, "Order cancel-replace partially failed.")
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    placed = data["newOrderResponse"]
    assert status(client, placed["orderId"]) == "NEW" and placed["price"] == "91000.00000000"


def test_cancel_replace_reports_a_new_order_refused_after_the_cancel(client: Any) -> None:
    old = _resting_buy(client)
    ask = client.get_order_book(symbol="BTCUSDT", limit=1)["asks"][0][0]
    status_code, code, msg, data = _refusal(
        _replace,
        client=client,
        cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrderId=old["orderId"],
        type="LIMIT_MAKER",
        timeInForce=None,
        price=ask,
    )
    assert (status_code, code, msg) == (409, -2021, "Order cancel-replace partially failed.")
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["status"] == "CANCELED"
    assert data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    # Not transactional, as on Binance: the old order stays cancelled, its funds freed.
    assert status(client, old["orderId"]) == "CANCELED"
    assert balances(client)["USDT"] == (Decimal(10000), 0)


def test_cancel_replace_when_both_fail_and_with_cancel_restrictions(client: Any) -> None:
    old = _resting_buy(client)
    status_code, code, msg, data = _refusal(
        _replace,
        client=client,
        cancelReplaceMode="ALLOW_FAILURE",
        cancelOrderId=old["orderId"],
        cancelRestrictions="ONLY_PARTIALLY_FILLED",
        quantity="1",  # 91 000 USDT: more than the account has
    )
    assert (status_code, code, msg) == (400, -2022, "Order cancel-replace failed.")
    assert data == {
        "cancelResult": "FAILURE",
        "newOrderResult": "FAILURE",
        "cancelResponse": {
            "code": -2011,
            "msg": "Order was not canceled due to cancel restrictions.",
        },
        "newOrderResponse": {
            "code": -2010,
            "msg": "Account has insufficient balance for requested action.",
        },
    }
    assert status(client, old["orderId"]) == "NEW"


def test_cancel_replace_of_an_oco_leg_cancels_the_list(client: Any) -> None:
    oco = sell_oco(client, last_price(client))
    answer = _replace(client, cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=ids(oco)[0])
    assert answer["cancelResponse"]["orderListId"] == oco["orderListId"]
    assert [r["status"] for r in answer["cancelResponse"]["orderReports"]] == ["CANCELED"] * 2
    assert answer["newOrderResponse"]["orderListId"] == -1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"cancelReplaceMode": None, "cancelOrderId": 1},
            (
                -1102,
                "Mandatory parameter 'cancelReplaceMode' was not sent, was empty/null, or "
                "malformed.",
            ),
        ),
        (
            {"cancelReplaceMode": "SOMETIMES", "cancelOrderId": 1},
            (
                -1100,
                "Illegal characters found in parameter 'cancelReplaceMode'; legal range is "
                "'STOP_ON_FAILURE, ALLOW_FAILURE'.",
            ),
        ),
        (
            {"cancelReplaceMode": "STOP_ON_FAILURE"},
            (
                -1102,
                "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were "
                "empty/null!",
            ),
        ),
        (
            {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": 1, "price": "91000.001"},
            (-1013, "Filter failure: PRICE_FILTER"),
        ),
        (
            {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": 1, "quantity": "0.000001"},
            (-1013, "Filter failure: LOT_SIZE"),
        ),
    ],
)
def test_cancel_replace_checks_its_parameters_and_filters_before_cancelling(
    client: Any, params: dict[str, Any], expected: tuple[int, str]
) -> None:
    old = _resting_buy(client)
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    base |= {"quantity": Q, "price": "91000"}
    sent = {k: v for k, v in (base | params).items() if v is not None}
    assert rejected(client.cancel_replace_order, **sent) == expected
    assert status(client, old["orderId"]) == "NEW"
