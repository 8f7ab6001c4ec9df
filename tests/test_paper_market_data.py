"""Public spot endpoints of the paper exchange, through python-binance's real clients."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import filters_of, point_client_at

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")


def test_ping_and_time(client: Any) -> None:
    assert client.ping() == {}
    server = client.get_server_time()["serverTime"]
    assert abs(server - time.time() * 1000) < 5_000


def test_exchange_info_has_real_filters(client: Any) -> None:
    info = client.get_exchange_info()
    names = {s["symbol"] for s in info["symbols"]}
    assert set(SYMBOLS) <= names
    btc = filters_of(info, "BTCUSDT")
    assert btc["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert btc["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert btc["LOT_SIZE"]["minQty"] == "0.00001000"
    assert btc["NOTIONAL"]["minNotional"] == "5.00000000"
    assert {"PERCENT_PRICE_BY_SIDE", "MARKET_LOT_SIZE", "MAX_NUM_ORDERS"} <= set(btc)
    xrp = filters_of(info, "XRPUSDT")
    assert xrp["PRICE_FILTER"]["tickSize"] == "0.00010000"
    assert xrp["LOT_SIZE"]["stepSize"] == "0.10000000"
    assert {r["rateLimitType"] for r in info["rateLimits"]} >= {"REQUEST_WEIGHT", "ORDERS"}


def test_exchange_info_symbol_and_symbols(client: Any) -> None:
    one = client._get("exchangeInfo", data={"symbol": "ETHUSDT"})
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    two = client._get("exchangeInfo", data={"symbols": '["BTCUSDT","SOLUSDT"]'})
    assert [s["symbol"] for s in two["symbols"]] == ["BTCUSDT", "SOLUSDT"]
    with pytest.raises(BinanceAPIException) as exc:
        client._get("exchangeInfo", data={"symbol": "NOPEUSDT"})
    assert (exc.value.code, exc.value.message) == (-1121, "Invalid symbol.")


def test_ticker_price_one_some_all(client: Any) -> None:
    one = client.get_symbol_ticker(symbol="BTCUSDT")
    assert one["symbol"] == "BTCUSDT" and Decimal(one["price"]) > 0
    assert one["price"].count(".") == 1 and len(one["price"].split(".")[1]) == 8
    some = client.get_symbol_ticker(symbols='["BTCUSDT","ETHUSDT"]')
    assert [r["symbol"] for r in some] == ["BTCUSDT", "ETHUSDT"]
    everything = client.get_symbol_ticker()
    assert set(SYMBOLS) <= {r["symbol"] for r in everything}


def test_24hr_ticker_is_consistent(client: Any) -> None:
    t = client.get_ticker(symbol="ETHUSDT")
    last, open_ = Decimal(t["lastPrice"]), Decimal(t["openPrice"])
    assert Decimal(t["priceChange"]) == last - open_
    assert Decimal(t["lowPrice"]) <= last <= Decimal(t["highPrice"])
    assert Decimal(t["bidPrice"]) < Decimal(t["askPrice"])
    assert t["closeTime"] - t["openTime"] == 86_400_000
    assert len(client.get_ticker()) >= len(SYMBOLS)


def test_tickers_number_the_window_trades_as_binance_does(
    paper: PaperExchange, client: Any
) -> None:
    """count = lastId - firstId + 1, lastId the symbol's last trade; none yet: -1, -1, 0."""

    def tickers() -> list[dict[str, Any]]:
        rolling = client._get("ticker", data={"symbol": "ETHUSDT", "windowSize": "1h"})
        return [client.get_ticker(symbol="ETHUSDT"), rolling]

    for t in tickers():
        assert (t["firstId"], t["lastId"], t["count"]) == (-1, -1, 0)
    paper.state.step_walk(5)
    last_trade = client.get_recent_trades(symbol="ETHUSDT", limit=1)[-1]["id"]
    for t in tickers():
        assert t["count"] == t["lastId"] - t["firstId"] + 1 > 0, t
        assert t["firstId"] >= 0 and t["lastId"] == last_trade


def test_depth_is_an_ordered_book_around_the_price(client: Any) -> None:
    book = client.get_order_book(symbol="BTCUSDT", limit=10)
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 10
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    last = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    assert bids[0] < last < asks[0]
    assert all(p % Decimal("0.01") == 0 for p in bids + asks)
    assert all(Decimal(q) > 0 for _, q in book["bids"] + book["asks"])


def test_klines_shape_and_ranges(client: Any) -> None:
    rows = client.get_klines(symbol="BTCUSDT", interval="1h", limit=24)
    assert len(rows) == 24 and all(len(r) == 12 for r in rows)
    for r in rows:
        o, h, low, c = (Decimal(x) for x in r[1:5])
        assert low <= min(o, c) <= max(o, c) <= h
        assert r[6] == r[0] + 3_600_000 - 1
    assert [b[0] - a[0] for a, b in itertools.pairwise(rows)] == [3_600_000] * 23
    last = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    assert Decimal(rows[-1][4]) == last
    start = rows[0][0]
    window = client.get_klines(symbol="BTCUSDT", interval="1h", startTime=start, limit=3)
    assert [r[0] for r in window] == [start, start + 3_600_000, start + 7_200_000]
    assert window == rows[:3]
    with pytest.raises(BinanceAPIException) as exc:
        client.get_klines(symbol="BTCUSDT", interval="7m")
    assert exc.value.code == -1120


def test_recent_trades_follow_the_walk(paper: PaperExchange, client: Any) -> None:
    paper.state.step_walk(5)
    trades = client.get_recent_trades(symbol="SOLUSDT", limit=3)
    assert len(trades) == 3
    assert [t["id"] for t in trades] == sorted(t["id"] for t in trades)
    assert trades[-1]["price"] == client.get_symbol_ticker(symbol="SOLUSDT")["price"]


def test_weight_header_on_every_answer(client: Any) -> None:
    client.get_order_book(symbol="BTCUSDT", limit=100)
    first = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    client.get_exchange_info()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 20


def test_walk_is_seeded() -> None:
    from binance_mcp.paper.runner import PaperConfig
    from binance_mcp.paper.state import PaperState

    a = PaperState(PaperConfig(seed=11, walk_interval=0))
    b = PaperState(PaperConfig(seed=11, walk_interval=0))
    c = PaperState(PaperConfig(seed=12, walk_interval=0))
    for s in (a, b, c):
        s.step_walk(50)
    assert a.walk.prices == b.walk.prices
    assert a.walk.prices != c.walk.prices
    assert a.walk.prices["BTCUSDT"] != Decimal("97000.00")


@pytest.mark.anyio
async def test_async_client_reads_and_signs(paper: PaperExchange) -> None:
    from binance import AsyncClient

    client = point_client_at(
        AsyncClient(paper.config.api_key, paper.config.api_secret),
        paper.spot_url,
        paper.futures_url,
    )
    try:
        assert (await client.get_symbol_ticker(symbol="ETHUSDT"))["symbol"] == "ETHUSDT"
        account = await client.get_account()
        usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
        assert usdt["free"] == "10000.00000000"
        order = await client.create_order(
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
        assert order["status"] == "FILLED"
    finally:
        await client.close_connection()
