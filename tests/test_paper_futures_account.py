"""The USD-M account over time: income (commission, realized PnL, funding), funding at funding
times, persistence across restarts, and the same wire rules and faults as the spot side."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.futures_market import FUNDING_INTERVAL_MS
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from tests.paper_fixtures import binance_client


def wallet(client: Any) -> Decimal:
    account = client.futures_account()
    return Decimal(account["totalWalletBalance"])


def income_total(client: Any) -> Decimal:
    return sum(
        (Decimal(i["income"]) for i in client.futures_income_history(limit=1000)), Decimal(0)
    )


def test_income_shows_commission_and_funding(paper: PaperExchange, client: Any) -> None:
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.02")
    client.futures_create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.5")
    commissions = client.futures_income_history(incomeType="COMMISSION")
    assert [c["symbol"] for c in commissions] == ["BTCUSDT", "ETHUSDT"]
    trades = {
        t["symbol"]: t
        for s in ("BTCUSDT", "ETHUSDT")
        for t in client.futures_account_trades(symbol=s)
    }
    for row in commissions:
        assert Decimal(row["income"]) == -Decimal(trades[row["symbol"]]["commission"])
        assert row["tradeId"] == str(trades[row["symbol"]]["id"]) and row["asset"] == "USDT"

    rates = {
        s: Decimal(client.futures_mark_price(symbol=s)["lastFundingRate"])
        for s in ("BTCUSDT", "ETHUSDT")
    }
    marks = {s: Decimal(client.futures_mark_price(symbol=s)["markPrice"]) for s in rates}
    settled = requests.post(
        f"{paper.base_url}/paper/funding",
        headers={"X-MBX-APIKEY": paper.config.api_key},
        timeout=5,
    )
    assert settled.status_code == 200 and len(settled.json()) == 2
    funding = {
        r["symbol"]: Decimal(r["income"])
        for r in client.futures_income_history(incomeType="FUNDING_FEE")
    }
    # Longs pay and shorts receive when the rate is positive.
    assert funding["BTCUSDT"] == (-Decimal("0.02") * marks["BTCUSDT"] * rates["BTCUSDT"]).quantize(
        Decimal("0.00000001")
    )
    assert funding["ETHUSDT"] == (Decimal("0.5") * marks["ETHUSDT"] * rates["ETHUSDT"]).quantize(
        Decimal("0.00000001")
    )
    assert funding["BTCUSDT"] < 0 < funding["ETHUSDT"]
    assert wallet(client) == Decimal(10000) + income_total(client)
    assert {r["incomeType"] for r in client.futures_income_history(symbol="BTCUSDT")} == {
        "COMMISSION",
        "FUNDING_FEE",
    }


def test_funding_is_settled_at_funding_times(paper: PaperExchange, client: Any) -> None:
    client.futures_create_order(symbol="SOLUSDT", side="BUY", type="MARKET", quantity="10")
    account = paper.state.futures_account
    with paper.state.lock:  # as if the exchange had been down over the last funding time
        account.funded_until -= FUNDING_INTERVAL_MS
    due = account.funded_until + FUNDING_INTERVAL_MS
    rows = client.futures_income_history(incomeType="FUNDING_FEE")
    assert [r["time"] for r in rows] == [due]
    history = client.futures_funding_rate(symbol="SOLUSDT", startTime=due, limit=1)
    assert history[0]["fundingTime"] == due
    mark = Decimal(client.futures_mark_price(symbol="SOLUSDT")["markPrice"])
    expected = -Decimal(10) * mark * Decimal(history[0]["fundingRate"])
    assert Decimal(rows[0]["income"]) == expected.quantize(Decimal("0.00000001"))
    assert len(client.futures_income_history(incomeType="FUNDING_FEE")) == 1  # settled once


def test_the_walk_moves_the_contract(paper: PaperExchange, client: Any) -> None:
    client.futures_create_order(symbol="XRPUSDT", side="BUY", type="MARKET", quantity="1000")
    before = client.futures_position_information(symbol="XRPUSDT")[0]
    for _ in range(200):
        paper.state.step_walk()
        if paper.state.walk.prices["XRPUSDT"] != Decimal("2.3"):
            break
    spot = Decimal(client.get_symbol_ticker(symbol="XRPUSDT")["price"])
    after = client.futures_position_information(symbol="XRPUSDT")[0]
    assert after["markPrice"] != before["markPrice"]
    assert Decimal(after["markPrice"]) == (spot * Decimal("1.0002")).quantize(Decimal("0.00000001"))
    upnl = (Decimal(after["markPrice"]) - Decimal(after["entryPrice"])) * 1000
    assert Decimal(after["unRealizedProfit"]) == upnl.quantize(Decimal("0.00000001"))


def test_futures_account_survives_a_restart(tmp_path: Path) -> None:
    config = PaperConfig(state_dir=tmp_path, walk_interval=0, api_key="k" * 64, api_secret="s" * 64)
    with start_paper_exchange(config) as first:
        c = binance_client(first)
        c.futures_change_leverage(symbol="ETHUSDT", leverage=10)
        c.futures_change_margin_type(symbol="ETHUSDT", marginType="ISOLATED")
        c.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1")
        last = Decimal(c.futures_symbol_ticker(symbol="BTCUSDT")["price"])
        resting = c.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price=str((last * Decimal("0.97")).quantize(Decimal("0.1"))),
        )
        eth_price = Decimal(c.futures_symbol_ticker(symbol="ETHUSDT")["price"])
        stop = c.futures_create_order(
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=str((eth_price * Decimal("0.9")).quantize(Decimal("0.01"))),
            closePosition="true",
        )
        balances = c.futures_account_balance()
        held = c.futures_position_information()
        incomes = c.futures_income_history()
    with start_paper_exchange(config) as second:
        c = binance_client(second)
        assert c.futures_account_balance() == balances
        assert c.futures_position_information() == held
        eth = next(r for r in held if r["symbol"] == "ETHUSDT")
        assert eth["positionAmt"] == "1.000" and Decimal(eth["isolatedWallet"]) > 0
        assert c.futures_income_history() == incomes
        assert [o["orderId"] for o in c.futures_get_open_orders()] == [resting["orderId"]]
        assert [o["algoId"] for o in c.futures_get_open_orders(conditional=True)] == [
            stop["algoId"]
        ]
        config_rows = {r["symbol"]: r for r in c.futures_symbol_config()}
        assert (config_rows["ETHUSDT"]["leverage"], config_rows["ETHUSDT"]["marginType"]) == (
            10,
            "ISOLATED",
        )
        newer = c.futures_create_order(symbol="BNBUSDT", side="BUY", type="MARKET", quantity="1")
        assert newer["orderId"] > resting["orderId"]
    fresh = PaperConfig(
        state_dir=tmp_path,
        walk_interval=0,
        reset=True,
        futures_balances={"USDT": Decimal(500)},
    )
    with start_paper_exchange(fresh) as third:
        c = binance_client(third)
        assert [(b["asset"], b["balance"]) for b in c.futures_account_balance()] == [
            ("USDT", "500.00000000")
        ]
        assert c.futures_position_information() == []


def test_an_account_file_from_before_futures_still_loads(tmp_path: Path) -> None:
    config = PaperConfig(state_dir=tmp_path, walk_interval=0, api_key="k" * 64, api_secret="s" * 64)
    with start_paper_exchange(config) as first:
        c = binance_client(first)
        c.create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1")
        spot = c.get_account()["balances"]
    path = tmp_path / "paper-account.json"
    saved = json.loads(path.read_text())
    del saved["futures"]
    path.write_text(json.dumps(saved))
    with start_paper_exchange(config) as second:
        c = binance_client(second)
        assert c.get_account()["balances"] == spot
        assert c.futures_account()["totalWalletBalance"] == "10000.00000000"


def test_futures_requests_follow_the_wire_rules(paper: PaperExchange, client: Any) -> None:
    url = f"{paper.futures_url}/v2/account?timestamp={int(time.time() * 1000)}&signature=00"
    bad = requests.get(url, headers={"X-MBX-APIKEY": paper.config.api_key}, timeout=5)
    assert (bad.status_code, bad.json()["code"]) == (400, -1022)
    wrong = requests.get(url, headers={"X-MBX-APIKEY": "n" * 64}, timeout=5)
    assert (wrong.status_code, wrong.json()["code"]) == (401, -2015)
    malformed = requests.get(url, headers={"X-MBX-APIKEY": "nope"}, timeout=5)
    assert (malformed.status_code, malformed.json()["code"]) == (401, -2014)
    client.timestamp_offset = -20_000
    with pytest.raises(BinanceAPIException) as exc:
        client.futures_account_balance()
    assert exc.value.code == -1021
    client.timestamp_offset = 0
    extra = requests.get(f"{paper.futures_url}/v1/depth?symbol=BTCUSDT&foo=1", timeout=5)
    assert extra.json()["code"] == -1104
    assert requests.get(f"{paper.futures_url}/v1/nothing", timeout=5).status_code == 404


def test_a_dropped_response_leaves_the_futures_order_placed(
    paper: PaperExchange, client: Any
) -> None:
    paper.state.faults.arm(Fault(path="/fapi/v1/order", kind="drop", method="POST"))
    with pytest.raises(requests.exceptions.ConnectionError):
        client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="lost-1"
        )
    placed = client.futures_get_order(symbol="BTCUSDT", origClientOrderId="lost-1")
    assert placed["status"] == "FILLED"
    paper.state.faults.arm(Fault(path="/fapi/v1/premiumIndex", kind="status", status=503))
    with pytest.raises(BinanceAPIException) as exc:
        client.futures_mark_price(symbol="BTCUSDT")
    assert exc.value.status_code == 503
    assert client.futures_mark_price(symbol="BTCUSDT")["symbol"] == "BTCUSDT"


def test_futures_weight_limit_gives_429(tmp_path: Path) -> None:
    with start_paper_exchange(
        PaperConfig(state_dir=tmp_path, walk_interval=0, weight_limit=45)
    ) as exchange:
        seconds_into_minute = time.time() % 60
        if seconds_into_minute > 55:
            time.sleep(60.5 - seconds_into_minute)
        c = binance_client(exchange)
        c.futures_ticker()  # weight 40
        c.futures_ping()
        with pytest.raises(BinanceAPIException) as exc:
            c.futures_ticker()
        assert exc.value.status_code == 429 and exc.value.code == -1003
        assert c.get_server_time()["serverTime"] > 0  # spot's budget is its own
