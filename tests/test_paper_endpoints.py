"""Endpoints clients of every kind call (Binance's connectors, ccxt, raw HTTP), with
Binance's weights and shapes: book tickers, uiKlines, commission, the order-rate usage,
futures openOrder, openInterest and multiAssetsMargin."""

from __future__ import annotations

from pathlib import Path
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


# ----- trades tapes and the rolling-window ticker ----------------------------------------------


def _walk(paper: PaperExchange, steps: int) -> None:
    headers = {"X-MBX-APIKEY": paper.config.api_key}
    url = f"{paper.base_url}/paper/walk"
    requests.post(url, json={"steps": steps}, headers=headers, timeout=5).raise_for_status()


def _get(paper: PaperExchange, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{paper.base_url}{path}", params=params, timeout=5)


def test_spot_agg_trades(paper: PaperExchange) -> None:
    _walk(paper, 6)
    answer = _get(paper, "/api/v3/aggTrades", symbol="BTCUSDT")
    assert answer.headers["X-MBX-USED-WEIGHT-1M"] == "4"
    rows = answer.json()
    assert len(rows) == 6 and set(rows[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    assert [r["a"] for r in rows] == sorted(r["a"] for r in rows)
    assert all(r["f"] == r["l"] == r["a"] for r in rows)
    recent = paper.state.walk.trades["BTCUSDT"][-1]
    assert rows[-1]["p"] == f"{recent.price:.8f}"
    # fromId: from that id on, oldest first; limit counts from there.
    from_third = _get(paper, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=rows[2]["a"], limit=2)
    assert [r["a"] for r in from_third.json()] == [rows[2]["a"], rows[3]["a"]]
    # Without fromId or startTime: the most recent `limit`.
    last_two = _get(paper, "/api/v3/aggTrades", symbol="BTCUSDT", limit=2).json()
    assert [r["a"] for r in last_two] == [rows[4]["a"], rows[5]["a"]]
    t = rows[0]["T"]
    timed = _get(paper, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=t, endTime=t + 1)
    assert all(t <= r["T"] <= t + 1 for r in timed.json()) and timed.json()
    for params, code in [
        ({}, -1102),
        ({"symbol": "NOPE"}, -1121),
        ({"symbol": "BTCUSDT", "startTime": 2, "endTime": 1}, -1023),
        ({"symbol": "BTCUSDT", "limit": 0}, -1100),
        ({"symbol": "BTCUSDT", "page": 1}, -1104),
    ]:
        refused = _get(paper, "/api/v3/aggTrades", **params)
        assert (refused.status_code, refused.json()["code"]) == (400, code), params


def test_spot_rolling_window_ticker(paper: PaperExchange) -> None:
    answer = _get(paper, "/api/v3/ticker", symbol="BTCUSDT", windowSize="4h")
    assert answer.headers["X-MBX-USED-WEIGHT-1M"] == "4"
    row = answer.json()
    assert list(row) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice",
        "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
        "closeTime", "firstId", "lastId", "count",
    ]  # fmt: skip
    assert row["openTime"] % 60_000 == 0
    assert 4 * 3_600_000 <= row["closeTime"] - row["openTime"] < 4 * 3_600_000 + 60_000
    assert float(row["lowPrice"]) <= float(row["lastPrice"]) <= float(row["highPrice"])
    assert row["lastPrice"] == _get(paper, "/api/v3/ticker/price", symbol="BTCUSDT").json()["price"]
    # Default window: one day; MINI drops the change figures; `symbols` answers a list.
    day = _get(paper, "/api/v3/ticker", symbol="ETHBTC").json()
    assert 86_400_000 <= day["closeTime"] - day["openTime"] < 86_400_000 + 60_000
    both = _get(
        paper, "/api/v3/ticker", symbols='["BTCUSDT","ETHUSDT"]', windowSize="15m", type="MINI"
    )
    # The minute's weight so far: 4 + 2 + 4, then 4 for each of the two symbols.
    assert both.headers["X-MBX-USED-WEIGHT-1M"] == "18"
    assert [r["symbol"] for r in both.json()] == ["BTCUSDT", "ETHUSDT"]
    assert "priceChange" not in both.json()[0] and "openPrice" in both.json()[0]
    for params, code in [
        ({}, -1102),
        ({"symbol": "BTCUSDT", "windowSize": "60m"}, -1100),
        ({"symbol": "BTCUSDT", "windowSize": "1d2h"}, -1100),
        ({"symbol": "BTCUSDT", "windowSize": "8d"}, -1100),
        ({"symbol": "BTCUSDT", "type": "HALF"}, -1100),
        ({"symbol": "BTCUSDT", "symbols": '["ETHUSDT"]'}, -1128),
        ({"symbol": "NOPE"}, -1121),
    ]:
        refused = _get(paper, "/api/v3/ticker", **params)
        assert (refused.status_code, refused.json()["code"]) == (400, code), params


def test_futures_trades_and_agg_trades(paper: PaperExchange) -> None:
    _walk(paper, 4)
    trades = _get(paper, "/fapi/v1/trades", symbol="BTCUSDT", limit=3)
    assert trades.headers["X-MBX-USED-WEIGHT-1M"] == "5"
    rows = trades.json()
    assert len(rows) == 3
    assert set(rows[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker"}
    assert all(len(r["price"].split(".")[1]) == 2 for r in rows)  # the contract's precision
    agg = _get(paper, "/fapi/v1/aggTrades", symbol="BTCUSDT")
    assert agg.headers["X-MBX-USED-WEIGHT-1M"] == "25"  # 5, then 20
    aggs = agg.json()
    assert len(aggs) == 4 and set(aggs[0]) == {"a", "p", "q", "f", "l", "T", "m"}
    assert [(a["a"], a["p"], a["q"]) for a in aggs[1:]] == [
        (r["id"], r["price"], r["qty"]) for r in rows
    ]
    for params, code in [
        ({"symbol": "BTCUSDT", "startTime": 0, "endTime": 3_600_001}, -1127),
        ({"symbol": "BTCUSDT", "startTime": 2, "endTime": 1}, -1023),
        ({"symbol": "NOPE"}, -1121),
        ({}, -1102),
    ]:
        refused = _get(paper, "/fapi/v1/aggTrades", **params)
        assert (refused.status_code, refused.json()["code"]) == (400, code), params
    assert _get(paper, "/fapi/v1/aggTrades", symbol="BTCUSDT", startTime=0, endTime=3_600_000).ok


# ----- the README's list of served endpoints ---------------------------------------------------


def render_endpoint_table() -> str:
    """README's list of the Binance endpoints the paper exchange serves, from its route table."""
    from binance_mcp.paper.app import ROUTES

    rows = ["| method | endpoint | weight | signed |", "|---|---|---|---|"]
    for (method, path), endpoint in ROUTES.items():
        weight = endpoint.weight if isinstance(endpoint.weight, int) else "by parameters"
        rows.append(f"| {method} | `{path}` | {weight} | {'yes' if endpoint.signed else ''} |")
    return "\n".join(rows)


def test_readme_endpoint_list_matches_the_route_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start, end = "<!-- paper-endpoints:start -->\n", "\n<!-- paper-endpoints:end -->"
    assert start in readme and end in readme, "README.md has no generated endpoint list"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    expected = render_endpoint_table()
    assert table == expected, "README endpoint list is stale; replace it with:\n" + expected
