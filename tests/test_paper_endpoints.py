"""Endpoints clients of every kind call (Binance's connectors, ccxt, raw HTTP), with
Binance's weights and shapes: book tickers, uiKlines, commission, the order-rate usage,
futures openOrder, openInterest and multiAssetsMargin."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.runner import PaperExchange


def test_spot_book_ticker(paper: PaperExchange, client: Any) -> None:
    one = client.get_orderbook_ticker(symbol="BTCUSDT")
    assert set(one) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert float(one["bidPrice"]) < float(one["askPrice"])
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "2"
    every = client.get_orderbook_tickers()
    assert [r["symbol"] for r in every] == list(paper.state.spot_specs)


def test_ui_klines_are_klines(paper: PaperExchange) -> None:
    url = f"{paper.spot_url}/v3/uiKlines?symbol=BTCUSDT&interval=1h&limit=3"
    rows = requests.get(url, timeout=5).json()
    assert len(rows) == 3 and len(rows[0]) == 12


def test_commission_and_order_rate_usage(paper: PaperExchange, client: Any) -> None:
    rates = client._get("account/commission", True, data={"symbol": "BTCUSDT"})
    assert rates["standardCommission"]["maker"] == "0.00100000"
    assert rates["symbol"] == "BTCUSDT"
    client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        quantity="0.0001", price=str(int(float(client.get_symbol_ticker(symbol="BTCUSDT")["price"]) * 0.9)),
    )  # fmt: skip
    usage = client._get("rateLimit/order", True, data={})
    assert [(u["interval"], u["limit"], u["count"]) for u in usage] == [
        ("SECOND", 100, 1),
        ("DAY", 200_000, 1),
    ]
    with pytest.raises(BinanceAPIException) as unknown:
        client._get("account/commission", True, data={"symbol": "NOPE"})
    assert unknown.value.code == -1121


def test_futures_open_order_open_interest_and_multi_assets(client: Any) -> None:
    price = float(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    placed = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        quantity="0.002", price=str(int(price * 0.9)),
    )  # fmt: skip
    shown = client._request_futures_api(
        "get", "openOrder", True, data={"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert (shown["orderId"], shown["status"]) == (placed["orderId"], "NEW")
    client.futures_cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
    with pytest.raises(BinanceAPIException) as gone:
        client._request_futures_api(
            "get", "openOrder", True, data={"symbol": "BTCUSDT", "orderId": placed["orderId"]}
        )
    assert (gone.value.code, gone.value.message) == (-2013, "Order does not exist.")
    interest = client.futures_open_interest(symbol="BTCUSDT")
    assert (
        set(interest) == {"openInterest", "symbol", "time"} and float(interest["openInterest"]) > 0
    )
    assert client.futures_get_multi_assets_mode() == {"multiAssetsMargin": False}
