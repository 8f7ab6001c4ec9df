"""ccxt with its defaults: `ccxt.binance()` and `ccxt.binanceusdm()`, with only their URLs
pointed at the paper exchange, load markets and trade (README: "The paper exchange on its
own"). Nothing leaves 127.0.0.1: every request ccxt makes is checked to have reached the paper
exchange and been answered there."""

from __future__ import annotations

from typing import Any

import pytest

from binance_mcp.paper.runner import PaperExchange

ccxt = pytest.importorskip("ccxt")

BINANCE_HOSTS = (
    "https://api.binance.com",
    "https://fapi.binance.com",
    "https://dapi.binance.com",
    "https://eapi.binance.com",
    "https://papi.binance.com",
)


def point_at(exchange: Any, base_url: str) -> Any:
    """Replace Binance's hosts with the paper exchange's in every API URL, as the README shows."""

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str):
            for host in BINANCE_HOSTS:
                value = value.replace(host, base_url)
        return value

    exchange.urls["api"] = swap(exchange.urls["api"])
    return exchange


def stock(name: str, paper: PaperExchange) -> Any:
    exchange = getattr(ccxt, name)(
        {"apiKey": paper.config.api_key, "secret": paper.config.api_secret, "timeout": 10_000}
    )
    return point_at(exchange, paper.base_url)


def assert_all_answered(paper: PaperExchange) -> None:
    """Every request ccxt made was served (no 404, no error), so none went elsewhere."""
    failed = [(r["method"], r["path"], r.get("status")) for r in paper.state.requests]
    assert failed and all(status == 200 for *_, status in failed), [
        f for f in failed if f[2] != 200
    ]


def test_ccxt_binance_spot_with_its_defaults(paper: PaperExchange) -> None:
    exchange = stock("binance", paper)
    markets = exchange.load_markets()
    assert {"BTC/USDT", "ETH/BTC", "BTC/USDT:USDT"} <= set(markets)
    assert markets["BTC/USDT"]["spot"] and markets["BTC/USDT:USDT"]["swap"]
    # load_markets read the coins, the margin pairs and COIN-M's (empty) exchange info too.
    paths = {r["path"] for r in paper.state.requests}
    assert {
        "/sapi/v1/capital/config/getall",
        "/sapi/v1/margin/allPairs",
        "/dapi/v1/exchangeInfo",
        "/api/v3/exchangeInfo",
        "/fapi/v1/exchangeInfo",
    } <= paths
    btc = exchange.currencies["BTC"]
    assert btc["networks"] and not any(
        n["deposit"] or n["withdraw"] for n in btc["networks"].values()
    )

    ticker = exchange.fetch_ticker("BTC/USDT")
    last = ticker["last"]
    assert last > 0 and ticker["bid"] < ticker["ask"]
    book = exchange.fetch_order_book("BTC/USDT", 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert len(exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3)) == 3
    assert exchange.fetch_trades("BTC/USDT", limit=5) == []  # the walk has not moved yet
    assert exchange.fetch_status()["status"] == "ok"
    assert exchange.fetch_trading_fee("BTC/USDT")["taker"] == 0.001

    before = exchange.fetch_balance()
    price = exchange.price_to_precision("BTC/USDT", last * 0.9)
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, float(price))
    assert order["status"] == "open" and order["type"] == "limit"
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    locked = exchange.fetch_balance()["USDT"]["used"]
    assert locked == pytest.approx(0.001 * float(price))
    assert exchange.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert exchange.fetch_open_orders("BTC/USDT") == []

    filled = exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    assert filled["status"] == "closed" and filled["filled"] == 0.001
    assert len(exchange.fetch_my_trades("BTC/USDT")) == 1
    after = exchange.fetch_balance()
    assert after["BTC"]["total"] > before["BTC"]["total"]
    assert after["USDT"]["total"] < before["USDT"]["total"]
    assert len(exchange.fetch_trades("BTC/USDT", limit=5)) == 1  # the fill is on the tape
    assert_all_answered(paper)


def test_ccxt_binanceusdm_with_its_defaults(paper: PaperExchange) -> None:
    exchange = stock("binanceusdm", paper)
    assert "BTC/USDT:USDT" in exchange.load_markets()
    symbol = "BTC/USDT:USDT"
    last = exchange.fetch_ticker(symbol)["last"]
    assert last > 0
    assert exchange.fetch_funding_rate(symbol)["fundingRate"] is not None
    exchange.set_leverage(5, symbol)

    price = float(exchange.price_to_precision(symbol, last * 0.9))
    order = exchange.create_order(symbol, "limit", "buy", 0.002, price)
    assert exchange.fetch_order(order["id"], symbol)["status"] == "open"
    assert exchange.cancel_order(order["id"], symbol)["status"] == "canceled"
    assert exchange.create_order(symbol, "market", "buy", 0.002)["status"] == "closed"
    positions = exchange.fetch_positions([symbol])
    assert [(p["side"], p["contracts"]) for p in positions] == [("long", 0.002)]
    assert exchange.fetch_balance()["USDT"]["used"] > 0
    assert exchange.fetch_trading_fee(symbol)["taker"] == 0.0005
    assert exchange.fetch_trades(symbol, limit=5) == []
    assert_all_answered(paper)
