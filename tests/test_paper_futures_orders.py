"""USD-M trading on the paper exchange through python-binance: positions in one-way and hedge
mode, margin and leverage, reduce-only, and Binance's codes for what it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import rejected

TAKER = Decimal("0.0005")
MAKER = Decimal("0.0002")


def positions(client: Any, symbol: str | None = None) -> dict[str, dict[str, Any]]:
    """positionRisk v3 rows by position side."""
    rows = client.futures_position_information(**({"symbol": symbol} if symbol else {}))
    return {r["positionSide"]: r for r in rows}


def wallet(client: Any) -> Decimal:
    row = next(b for b in client.futures_account_balance() if b["asset"] == "USDT")
    return Decimal(row["balance"])


def incomes(client: Any, kind: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.futures_income_history(
        **({"incomeType": kind} if kind else {})
    )
    return rows


def market(client: Any, side: str, qty: str, **kwargs: Any) -> dict[str, Any]:
    order: dict[str, Any] = client.futures_create_order(
        symbol=kwargs.pop("symbol", "BTCUSDT"),
        side=side,
        type="MARKET",
        quantity=qty,
        newOrderRespType="RESULT",
        **kwargs,
    )
    return order


def test_default_futures_account(client: Any) -> None:
    balances = client.futures_account_balance()
    usdt = next(b for b in balances if b["asset"] == "USDT")
    assert (usdt["balance"], usdt["availableBalance"]) == ("10000.00000000", "10000.00000000")
    account = client.futures_account()
    assert account["canTrade"] is True and account["multiAssetsMargin"] is False
    assert account["totalWalletBalance"] == "10000.00000000"
    assert account["totalUnrealizedProfit"] == "0.00000000"
    assert {p["positionSide"] for p in account["positions"]} == {"BOTH"}
    assert client.futures_get_position_mode() == {"dualSidePosition": False}
    assert client.futures_position_information() == []  # v3: only what is held or ordered
    every = client.futures_position_information(version=2)
    btc = next(r for r in every if r["symbol"] == "BTCUSDT")
    assert (btc["leverage"], btc["marginType"], btc["positionAmt"]) == ("20", "cross", "0.000")


def test_market_long_shows_up_in_position_risk(client: Any) -> None:
    ack = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    # Binance's default ACK answers before matching, as Binance does.
    assert (ack["status"], ack["executedQty"], ack["origQty"]) == ("NEW", "0.000", "0.010")
    order = client.futures_get_order(symbol="BTCUSDT", orderId=ack["orderId"])
    assert order["status"] == "FILLED" and order["executedQty"] == "0.010"
    entry = Decimal(order["avgPrice"])
    row = positions(client, "BTCUSDT")["BOTH"]
    mark = Decimal(client.futures_mark_price(symbol="BTCUSDT")["markPrice"])
    assert row["positionAmt"] == "0.010"
    assert Decimal(row["entryPrice"]) == entry
    assert Decimal(row["markPrice"]) == mark
    assert Decimal(row["unRealizedProfit"]) == ((mark - entry) * Decimal("0.01")).quantize(
        Decimal("0.00000001")
    )
    assert Decimal(row["notional"]) == mark * Decimal("0.01")
    assert Decimal(row["positionInitialMargin"]) == mark * Decimal("0.01") / 20
    assert row["liquidationPrice"] == "0.00000000"  # 20x in cross on a 10 000 USDT wallet
    commission = (entry * Decimal("0.01") * TAKER).quantize(Decimal("0.00000001"))
    assert wallet(client) == Decimal(10000) - commission
    trade = client.futures_account_trades(symbol="BTCUSDT")[-1]
    assert trade["buyer"] is True and trade["maker"] is False
    assert Decimal(trade["commission"]) == commission and trade["commissionAsset"] == "USDT"
    assert [(i["incomeType"], Decimal(i["income"])) for i in incomes(client)] == [
        ("COMMISSION", -commission)
    ]


def test_result_response_and_closing_realizes_pnl(paper: PaperExchange, client: Any) -> None:
    opened = market(client, "BUY", "0.02")
    assert opened["status"] == "FILLED" and opened["cumQty"] == "0.020"
    entry = Decimal(opened["avgPrice"])
    spot = paper.state.walk.prices["BTCUSDT"]
    paper.state.set_price("BTCUSDT", spot * Decimal("1.01"))
    closed = market(client, "SELL", "0.02", reduceOnly="true")
    assert closed["status"] == "FILLED" and closed["reduceOnly"] is True
    exit_price = Decimal(closed["avgPrice"])
    assert client.futures_position_information(symbol="BTCUSDT") == []
    realized = [Decimal(i["income"]) for i in incomes(client, "REALIZED_PNL")]
    assert realized == [(exit_price - entry) * Decimal("0.02")]
    assert realized[0] > 0
    assert wallet(client) == Decimal(10000) + sum(Decimal(i["income"]) for i in incomes(client))


def test_short_in_cross_has_a_liquidation_price_above(client: Any) -> None:
    market(client, "SELL", "0.05")
    row = positions(client, "BTCUSDT")["BOTH"]
    assert row["positionAmt"] == "-0.050"
    entry, liquidation = Decimal(row["entryPrice"]), Decimal(row["liquidationPrice"])
    balance = wallet(client)
    # Binance's formula with the whole cross wallet behind one position (bracket 1: 0.4%).
    expected = (balance + Decimal("0.05") * entry) / (Decimal("0.05") * Decimal("1.004"))
    assert liquidation == expected.quantize(Decimal("0.00000001"))
    assert liquidation > entry * 2


def test_isolated_long_liquidation_price(paper: PaperExchange, client: Any) -> None:
    assert client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED") == {
        "code": 200,
        "msg": "success",
    }
    client.futures_change_leverage(symbol="BTCUSDT", leverage=10)
    market(client, "BUY", "0.05")
    row = positions(client, "BTCUSDT")["BOTH"]
    entry = Decimal(row["entryPrice"])
    margin = Decimal(row["isolatedWallet"])
    assert margin == (entry * Decimal("0.05") / 10).quantize(Decimal("0.00000001"))
    expected = (margin - Decimal("0.05") * entry) / (
        Decimal("0.05") * Decimal("0.004") - Decimal("0.05")
    )
    liquidation = Decimal(row["liquidationPrice"])
    assert abs(liquidation - expected) < Decimal("0.0001")
    assert entry * Decimal("0.89") < liquidation < entry * Decimal("0.91")  # ~10% away at 10x
    paper.state.set_price("BTCUSDT", paper.state.walk.prices["BTCUSDT"] * Decimal("0.95"))
    row = positions(client, "BTCUSDT")["BOTH"]
    assert Decimal(row["unRealizedProfit"]) < 0
    assert Decimal(row["isolatedMargin"]) == margin + Decimal(row["unRealizedProfit"])
    v2 = client.futures_position_information(symbol="BTCUSDT", version=2)[0]
    assert (v2["marginType"], v2["leverage"]) == ("isolated", "10")


def test_leverage_within_the_bracket_and_refused_above(client: Any) -> None:
    assert client.futures_change_leverage(symbol="BTCUSDT", leverage=125) == {
        "leverage": 125,
        "maxNotionalValue": "50000",
        "symbol": "BTCUSDT",
    }
    assert rejected(client.futures_change_leverage, symbol="BTCUSDT", leverage=126) == (
        -4028,
        "Leverage 126 is not valid",
    )
    assert rejected(client.futures_change_leverage, symbol="BTCUSDT", leverage=0)[0] == -4028
    assert client.futures_change_leverage(symbol="ETHUSDT", leverage=20)["leverage"] == 20
    client.futures_change_leverage(symbol="BTCUSDT", leverage=20)
    market(client, "BUY", "0.6")  # ~58 000 USDT: past the 125x bracket's 50 000 cap
    assert rejected(client.futures_change_leverage, symbol="BTCUSDT", leverage=125) == (
        -4028,
        "Leverage 125 is not valid",
    )
    raised = client.futures_change_leverage(symbol="BTCUSDT", leverage=100)
    assert raised == {"leverage": 100, "maxNotionalValue": "600000", "symbol": "BTCUSDT"}
    row = client.futures_position_information(symbol="BTCUSDT", version=2)[0]
    assert row["leverage"] == "100" and row["maxNotionalValue"] == "600000"
    assert rejected(client.futures_change_leverage, symbol="BTCUSDT", leverage=1) == (
        -2028,
        "Leverage is smaller than permitted: insufficient margin balance.",
    )


def test_margin_type_changes_and_refusals(client: Any) -> None:
    assert rejected(client.futures_change_margin_type, symbol="BTCUSDT", marginType="CROSSED") == (
        -4046,
        "No need to change margin type.",
    )
    client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
    assert rejected(client.futures_change_margin_type, symbol="BTCUSDT", marginType="ISOLATED") == (
        -4046,
        "No need to change margin type.",
    )
    market(client, "BUY", "0.01")
    assert rejected(client.futures_change_margin_type, symbol="BTCUSDT", marginType="CROSSED") == (
        -4048,
        "Margin type cannot be changed if there exists position.",
    )
    last = Decimal(client.futures_symbol_ticker(symbol="ETHUSDT")["price"])
    client.futures_create_order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price=str((last * Decimal("0.98")).quantize(Decimal("0.01"))),
    )
    assert rejected(client.futures_change_margin_type, symbol="ETHUSDT", marginType="ISOLATED") == (
        -4047,
        "Margin type cannot be changed if there exists open orders.",
    )
    config = {r["symbol"]: r for r in client.futures_symbol_config()}
    assert config["BTCUSDT"]["marginType"] == "ISOLATED"
    assert config["ETHUSDT"]["marginType"] == "CROSSED"


def test_margin_and_filter_refusals(client: Any) -> None:
    assert rejected(market, client=client, side="BUY", qty="3") == (
        -2019,
        "Margin is insufficient.",
    )
    assert rejected(market, client=client, side="BUY", qty="0.001") == (
        -4164,
        "Order's notional must be no smaller than 100 (unless you choose reduce only)",
    )
    assert rejected(market, client=client, side="BUY", qty="0.0001") == (
        -1111,
        "Precision is over the maximum defined for this asset.",
    )
    assert rejected(market, client=client, side="BUY", qty="121") == (
        -4005,
        "Quantity greater than max quantity.",
    )
    last = Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    below = (last * Decimal("0.99")).quantize(Decimal("0.1"))
    assert rejected(
        client.futures_create_order, **limit, quantity="0.01", price=f"{below + Decimal('0.05')}"
    ) == (-4014, "Price not increased by tick size.")
    assert rejected(
        client.futures_create_order,
        **limit,
        quantity="0.01",
        price=str((last * Decimal("1.2")).quantize(Decimal("0.1"))),
    ) == (-4016, "Price is higher than mark price multiplier cap.")
    assert rejected(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.01",
        timeInForce="GTC",
    ) == (-1106, "Parameter 'timeInForce' sent when not required.")
    assert rejected(
        client.futures_create_order, symbol="NOPEUSDT", side="BUY", type="MARKET", quantity="1"
    ) == (-1121, "Invalid symbol.")
    # The plain order endpoint no longer takes conditional types (python-binance reroutes
    # them to the algo service; a raw call shows what Binance answers).
    assert rejected(
        client._request_futures_api,
        method="post",
        path="order",
        signed=True,
        data={"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "1000"},
    ) == (
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    )
    assert (
        client.futures_create_test_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
        == {}
    )
    assert client.futures_get_all_orders(symbol="BTCUSDT") == []
    assert wallet(client) == Decimal(10000)


def test_reduce_only_never_increases(client: Any) -> None:
    assert rejected(market, client=client, side="SELL", qty="0.01", reduceOnly="true") == (
        -2022,
        "ReduceOnly Order is rejected.",
    )
    market(client, "BUY", "0.01")
    assert rejected(market, client=client, side="BUY", qty="0.01", reduceOnly="true") == (
        -2022,
        "ReduceOnly Order is rejected.",
    )
    # More than the position: only the position is closed, never turned round.
    capped = market(client, "SELL", "0.05", reduceOnly="true")
    assert capped["executedQty"] == "0.010"
    assert client.futures_position_information(symbol="BTCUSDT") == []


def test_one_way_mode_turns_a_position_round(client: Any) -> None:
    market(client, "BUY", "0.01")
    market(client, "SELL", "0.03")
    row = positions(client, "BTCUSDT")["BOTH"]
    assert row["positionAmt"] == "-0.020"
    assert rejected(market, client=client, side="BUY", qty="0.01", positionSide="LONG") == (
        -4061,
        "Order's position side does not match user's setting.",
    )


def test_hedge_mode_holds_long_and_short(paper: PaperExchange, client: Any) -> None:
    assert client.futures_change_position_mode(dualSidePosition="true") == {
        "code": 200,
        "msg": "success",
    }
    assert client.futures_get_position_mode() == {"dualSidePosition": True}
    assert rejected(client.futures_change_position_mode, dualSidePosition="true") == (
        -4059,
        "No need to change position side.",
    )
    assert rejected(market, client=client, side="BUY", qty="0.01") == (
        -4061,
        "Order's position side does not match user's setting.",
    )
    assert rejected(market, client=client, side="BUY", qty="0.01", positionSide="BOTH")[0] == -4061
    assert rejected(
        market, client=client, side="SELL", qty="0.01", positionSide="LONG", reduceOnly="true"
    ) == (-1106, "Parameter 'reduceOnly' sent when not required.")

    market(client, "BUY", "0.02", positionSide="LONG")
    market(client, "SELL", "0.01", positionSide="SHORT")
    held = positions(client, "BTCUSDT")
    assert (held["LONG"]["positionAmt"], held["SHORT"]["positionAmt"]) == ("0.020", "-0.010")
    account = client.futures_account()
    assert {p["positionSide"] for p in account["positions"]} == {"LONG", "SHORT"}

    # Closing goes through positionSide: SELL on LONG, BUY on SHORT; never past the position.
    assert rejected(market, client=client, side="SELL", qty="0.03", positionSide="LONG") == (
        -2022,
        "ReduceOnly Order is rejected.",
    )
    market(client, "SELL", "0.02", positionSide="LONG")
    held = positions(client, "BTCUSDT")
    assert set(held) == {"SHORT"}
    assert rejected(client.futures_change_position_mode, dualSidePosition="false") == (
        -4068,
        "Position side cannot be changed if there exists position.",
    )
    market(client, "BUY", "0.01", positionSide="SHORT")
    last = Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        positionSide="LONG",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str((last * Decimal("0.98")).quantize(Decimal("0.1"))),
    )
    assert rejected(client.futures_change_position_mode, dualSidePosition="false") == (
        -4067,
        "Position side cannot be changed if there exists open orders.",
    )
    client.futures_cancel_all_open_orders(symbol="BTCUSDT")
    client.futures_change_position_mode(dualSidePosition="false")
    assert client.futures_get_position_mode() == {"dualSidePosition": False}


def test_limit_order_rests_then_fills_as_maker(paper: PaperExchange, client: Any) -> None:
    last = Decimal(client.futures_symbol_ticker(symbol="ETHUSDT")["price"])
    price = (last * Decimal("0.995")).quantize(Decimal("0.01"))
    order = client.futures_create_order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="1",
        price=str(price),
        newClientOrderId="eth-dip-1",
    )
    assert order["status"] == "NEW" and order["clientOrderId"] == "eth-dip-1"
    assert [o["orderId"] for o in client.futures_get_open_orders(symbol="ETHUSDT")] == [
        order["orderId"]
    ]
    account = client.futures_account()
    assert Decimal(account["totalOpenOrderInitialMargin"]) == price / 20
    row = positions(client, "ETHUSDT")["BOTH"]  # listed for its open order
    assert row["positionAmt"] == "0.000" and Decimal(row["openOrderInitialMargin"]) == price / 20
    assert rejected(
        client.futures_create_order,
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="1",
        price=str(price),
        newClientOrderId="eth-dip-1",
    ) == (-4116, "clientOrderId is duplicated.")

    paper.state.set_price("ETHUSDT", paper.state.walk.prices["ETHUSDT"] * Decimal("0.99"))
    filled = client.futures_get_order(symbol="ETHUSDT", origClientOrderId="eth-dip-1")
    assert filled["status"] == "FILLED" and Decimal(filled["avgPrice"]) == price
    trade = client.futures_account_trades(symbol="ETHUSDT")[-1]
    assert trade["maker"] is True and Decimal(trade["commission"]) == price * MAKER
    assert positions(client, "ETHUSDT")["BOTH"]["positionAmt"] == "1.000"
    assert client.futures_get_open_orders() == []


def test_cancel_orders(client: Any) -> None:
    last = Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    placed = [
        client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price=str((last * (1 + Decimal(k) / 100)).quantize(Decimal("0.1"))),
        )
        for k in (1, 2, 3)
    ]
    cancelled = client.futures_cancel_order(symbol="BTCUSDT", orderId=placed[0]["orderId"])
    assert cancelled["status"] == "CANCELED" and cancelled["orderId"] == placed[0]["orderId"]
    assert rejected(
        client.futures_cancel_order, symbol="BTCUSDT", orderId=placed[0]["orderId"]
    ) == (-2011, "Unknown order sent.")
    assert rejected(client.futures_get_order, symbol="BTCUSDT", orderId=999999) == (
        -2013,
        "Order does not exist.",
    )
    assert client.futures_cancel_all_open_orders(symbol="BTCUSDT") == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }
    assert client.futures_get_open_orders(symbol="BTCUSDT") == []
    statuses = [o["status"] for o in client.futures_get_all_orders(symbol="BTCUSDT")]
    assert statuses == ["CANCELED"] * 3


def test_time_in_force_ioc_fok_and_post_only(client: Any) -> None:
    book = client.futures_order_book(symbol="BNBUSDT", limit=5)
    best_ask = Decimal(book["asks"][0][0])
    first_level = Decimal(book["asks"][0][1])
    limit = {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "newOrderRespType": "RESULT"}
    assert rejected(
        client.futures_create_order, **limit, timeInForce="GTX", quantity="1", price=str(best_ask)
    ) == (
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
    )
    below = str((best_ask * Decimal("0.99")).quantize(Decimal("0.01")))
    ioc = client.futures_create_order(**limit, timeInForce="IOC", quantity="1", price=below)
    assert (ioc["status"], ioc["executedQty"]) == ("EXPIRED", "0.00")
    # More than the best level holds, priced at that level: FOK takes nothing, IOC takes it.
    too_much = str(first_level + Decimal("0.01"))
    fok = client.futures_create_order(
        **limit, timeInForce="FOK", quantity=too_much, price=str(best_ask)
    )
    assert (fok["status"], fok["executedQty"]) == ("EXPIRED", "0.00")
    part = client.futures_create_order(
        **limit, timeInForce="IOC", quantity=too_much, price=str(best_ask)
    )
    assert (part["status"], Decimal(part["executedQty"])) == ("EXPIRED", first_level)
    maker = client.futures_create_order(**limit, timeInForce="GTX", quantity="1", price=below)
    assert maker["status"] == "NEW" and maker["timeInForce"] == "GTX"
    assert positions(client, "BNBUSDT")["BOTH"]["positionAmt"] == f"{first_level:.2f}"
