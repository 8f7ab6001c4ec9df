"""Market-data tools end to end, checked against the paper exchange's market."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok
from tests.paper_fixtures import binance_client

pytestmark = pytest.mark.anyio


async def test_prices(server: Any, mode: Any, paper: PaperExchange) -> None:
    prices = paper.state.walk.prices
    async with Client(server, mode=mode) as c:
        one = await ok(c, "binance_spot_price", {"symbol": " ethusdt"})
        assert one["prices"] == [{"symbol": "ETHUSDT", "price": f"{prices['ETHUSDT']:.8f}"}]
        two = await ok(c, "binance_spot_price", {"symbols": ["BTCUSDT", "ETHBTC"]})
        assert [p["symbol"] for p in two["prices"]] == ["BTCUSDT", "ETHBTC"]
        every = await ok(c, "binance_spot_price")
        assert {p["symbol"] for p in every["prices"]} == set(paper.state.spot_specs)
        assert every["omitted"] == 0

        fut = (await ok(c, "binance_futures_price", {"symbol": "BTCUSDT"}))["prices"][0]
        premium = binance_client(paper).futures_mark_price(symbol="BTCUSDT")
        assert fut["markPrice"] == premium["markPrice"]
        assert fut["indexPrice"] == premium["indexPrice"]
        assert fut["fundingRate"] == premium["lastFundingRate"]
        assert (
            fut["lastPrice"]
            == binance_client(paper).futures_symbol_ticker(symbol="BTCUSDT")["price"]
        )
        every_future = await ok(c, "binance_futures_price")
        assert len(every_future["prices"]) == 5


async def test_order_book_and_klines(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    async with Client(server, mode=mode) as c:
        book = await ok(c, "binance_spot_orderbook", {"symbol": "BTCUSDT", "limit": 5})
        raw = direct.get_order_book(symbol="BTCUSDT", limit=5)
        assert book["bids"] == raw["bids"] and book["asks"] == raw["asks"]
        assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])
        assert "limit" in await fails(
            c, "binance_spot_orderbook", {"symbol": "BTCUSDT", "limit": 7}
        )

        klines = (
            await ok(c, "binance_spot_klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 3})
        )["klines"]
        raw_k = direct.get_klines(symbol="BTCUSDT", interval="1h", limit=3)
        assert [k["openTime"] for k in klines] == [r[0] for r in raw_k]
        assert [k["close"] for k in klines] == [r[4] for r in raw_k]
        mark = await ok(c, "binance_futures_klines",
                        {"symbol": "BTCUSDT", "interval": "5m", "limit": 2, "priceType": "mark"})  # fmt: skip
        assert mark["priceType"] == "mark" and len(mark["klines"]) == 2
        raw_m = direct.futures_mark_price_klines(symbol="BTCUSDT", interval="5m", limit=2)
        assert [k["close"] for k in mark["klines"]] == [r[4] for r in raw_m]
        last = await ok(
            c, "binance_futures_klines", {"symbol": "BTCUSDT", "interval": "5m", "limit": 2}
        )
        assert last["priceType"] == "last"
        raw_l = direct.futures_klines(symbol="BTCUSDT", interval="5m", limit=2)
        assert [k["volume"] for k in last["klines"]] == [r[5] for r in raw_l]

        assert "interval" in await fails(
            c, "binance_spot_klines", {"symbol": "BTCUSDT", "interval": "7m"}
        )
        assert "interval" in await fails(
            c, "binance_futures_klines", {"symbol": "BTCUSDT", "interval": "1s"}
        )
        text = await fails(
            c, "binance_spot_klines",
            {"symbol": "BTCUSDT", "interval": "1m", "startTime": 2000, "endTime": 1000},
        )  # fmt: skip
        assert "startTime 2000 is after endTime 1000" in text


async def test_tickers(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    async with Client(server, mode=mode) as c:
        spot = (await ok(c, "binance_spot_24hr_ticker", {"symbol": "BTCUSDT"}))["tickers"][0]
        raw = direct.get_ticker(symbol="BTCUSDT")
        for key in ("lastPrice", "openPrice", "highPrice", "lowPrice", "volume"):
            assert spot[key] == raw[key]
        every = await ok(c, "binance_spot_24hr_ticker")
        volumes = [Decimal(t["quoteVolume"]) for t in every["tickers"]]
        assert volumes == sorted(volumes, reverse=True)
        fut = (await ok(c, "binance_futures_24hr_ticker", {"symbol": "ETHUSDT"}))["tickers"][0]
        assert fut["lastPrice"] == direct.futures_ticker(symbol="ETHUSDT")["lastPrice"]


async def test_exchange_info_honours_market_and_has_filters(server: Any, mode: Any) -> None:
    async with Client(server, mode=mode) as c:
        spot = (await ok(c, "binance_exchange_info", {"symbol": "BTCUSDT"}))["symbols"][0]
        assert spot["filters"]["tickSize"] == "0.01"
        assert spot["filters"]["stepSize"] == "0.00001"
        assert spot["filters"]["minNotional"] == "5"
        assert spot["filters"]["percentPriceUp"] == "5"
        assert spot["filters"]["maxNumOrders"] == 200
        fut = (await ok(c, "binance_exchange_info", {"market": "futures", "symbol": "BTCUSDT"}))[
            "symbols"
        ][0]
        assert fut["filters"]["tickSize"] == "0.1"
        assert fut["filters"]["stepSize"] == "0.001"
        assert fut["filters"]["minNotional"] == "100"
        assert fut["filters"]["percentPriceUp"] == "1.05"
        assert "TRAILING_STOP_MARKET" in fut["orderTypes"]
        all_futures = await ok(c, "binance_exchange_info", {"market": "FUTURES"})
        assert {s["symbol"] for s in all_futures["symbols"]} == {
            "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"}  # fmt: skip
        some = await ok(c, "binance_exchange_info", {"symbols": ["ETHBTC", "BNBUSDT"]})
        assert [s["symbol"] for s in some["symbols"]] == ["ETHBTC", "BNBUSDT"]
        text = await fails(c, "binance_exchange_info", {"market": "futures", "symbol": "BTCUSDX"})
        assert "unknown symbol 'BTCUSDX' on the futures market; did you mean BTCUSDT?" in text
        assert "unknown symbol 'ETHBTC' on the futures market" in await fails(
            c, "binance_exchange_info", {"market": "futures", "symbol": "ETHBTC"}
        )
        assert "market" in await fails(c, "binance_exchange_info", {"market": "margin"})


async def test_exchange_info_is_cached(server: Any, paper: PaperExchange) -> None:
    async with Client(server, mode="legacy") as c:
        for _ in range(3):
            await ok(c, "binance_exchange_info", {"market": "futures", "symbol": "ETHUSDT"})
            await ok(c, "binance_exchange_info", {"symbol": "ETHUSDT"})
    paths = [r["path"] for r in paper.state.requests]
    assert paths.count("/fapi/v1/exchangeInfo") == 1
    assert paths.count("/api/v3/exchangeInfo") == 1


async def test_failures_carry_binance_codes(server: Any, paper: PaperExchange) -> None:
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_price", {"symbol": "NOPEUSDT"})
        assert "Binance error -1121 (HTTP 400)" in text and "Hint: unknown symbol" in text
        paper.state.faults.arm(Fault("/api/v3/depth", "status", status=503, count=10))
        assert "HTTP 503" in await fails(c, "binance_spot_orderbook", {"symbol": "BTCUSDT"})
        paper.state.faults.clear()
        assert "both" in await fails(
            c, "binance_spot_price", {"symbol": "BTCUSDT", "symbols": ["ETHUSDT"]}
        )
