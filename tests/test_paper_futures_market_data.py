"""Public USD-M endpoints of the paper exchange, through python-binance's `futures_*` calls."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.runner import PaperExchange
from tests.paper_fixtures import filters_of

PERPETUALS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
EIGHT_HOURS = 8 * 3_600_000


def test_ping_time_and_exchange_info(client: Any) -> None:
    assert client.futures_ping() == {}
    assert abs(client.futures_time()["serverTime"] - time.time() * 1000) < 5_000
    info = client.futures_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} >= set(PERPETUALS)
    assert all(
        s["contractType"] == "PERPETUAL" and s["marginAsset"] == "USDT" for s in info["symbols"]
    )
    btc = filters_of(info, "BTCUSDT")
    assert btc["PRICE_FILTER"]["tickSize"] == "0.10"
    assert (btc["LOT_SIZE"]["stepSize"], btc["LOT_SIZE"]["minQty"]) == ("0.001", "0.001")
    assert btc["MARKET_LOT_SIZE"]["maxQty"] == "120"
    assert btc["MIN_NOTIONAL"]["notional"] == "100"
    assert btc["MAX_NUM_ORDERS"]["limit"] == 200 and btc["MAX_NUM_ALGO_ORDERS"]["limit"] == 10
    assert btc["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    eth = filters_of(info, "ETHUSDT")
    assert eth["PRICE_FILTER"]["tickSize"] == "0.01"
    assert eth["LOT_SIZE"]["stepSize"] == "0.001"
    assert eth["MIN_NOTIONAL"]["notional"] == "20"
    btc_entry = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc_entry["pricePrecision"], btc_entry["quantityPrecision"]) == (2, 3)
    assert "TRAILING_STOP_MARKET" in btc_entry["orderTypes"]
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}


def test_contract_price_follows_the_spot_walk_with_a_basis(
    paper: PaperExchange, client: Any
) -> None:
    for symbol in PERPETUALS:
        spot = Decimal(client.get_symbol_ticker(symbol=symbol)["price"])
        perp = Decimal(client.futures_symbol_ticker(symbol=symbol)["price"])
        assert spot < perp < spot * Decimal("1.001")  # a small premium over spot
    premium = client.futures_mark_price(symbol="BTCUSDT")
    spot = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    assert Decimal(premium["indexPrice"]) == spot
    mark, last = (
        Decimal(premium["markPrice"]),
        Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"]),
    )
    assert abs(mark - last) <= Decimal("0.05")  # the same price, off the contract's tick
    assert premium["nextFundingTime"] % EIGHT_HOURS == 0
    assert 0 < premium["nextFundingTime"] - premium["time"] <= EIGHT_HOURS
    assert Decimal(premium["lastFundingRate"]) > 0 and premium["interestRate"] == "0.00010000"

    paper.state.set_price("BTCUSDT", spot * 2 / 3)
    moved = Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    assert abs(moved - last * 2 / 3) < Decimal(1)
    everything = client.futures_mark_price()
    assert {row["symbol"] for row in everything} >= set(PERPETUALS)


def test_funding_rate_history_every_eight_hours(client: Any) -> None:
    rows = client.futures_funding_rate(symbol="BTCUSDT", limit=5)
    assert len(rows) == 5
    times = [r["fundingTime"] for r in rows]
    assert all(t % EIGHT_HOURS == 0 for t in times)
    assert [b - a for a, b in itertools.pairwise(times)] == [EIGHT_HOURS] * 4
    assert times[-1] <= time.time() * 1000 < times[-1] + EIGHT_HOURS
    assert all(Decimal(r["markPrice"]) > 0 and r["fundingRate"].count(".") == 1 for r in rows)
    later = client.futures_funding_rate(symbol="BTCUSDT", startTime=times[1], limit=2)
    assert later == rows[1:3]
    info = client.futures_v1_get_funding_info()
    assert {r["symbol"]: r["fundingIntervalHours"] for r in info}["ETHUSDT"] == 8


def test_klines_and_mark_price_klines(client: Any) -> None:
    rows = client.futures_klines(symbol="ETHUSDT", interval="15m", limit=10)
    assert len(rows) == 10 and all(len(r) == 12 for r in rows)
    for r in rows:
        o, h, low, c = (Decimal(x) for x in r[1:5])
        assert low <= min(o, c) <= max(o, c) <= h
        assert r[6] == r[0] + 900_000 - 1
        assert Decimal(r[1]) % Decimal("0.01") == 0
    last = Decimal(client.futures_symbol_ticker(symbol="ETHUSDT")["price"])
    assert Decimal(rows[-1][4]) == last
    marks = client.futures_mark_price_klines(symbol="ETHUSDT", interval="15m", limit=10)
    assert [m[0] for m in marks] == [r[0] for r in rows]
    assert all(m[5] == "0" for m in marks)
    with pytest.raises(BinanceAPIException) as exc:
        client.futures_klines(symbol="ETHUSDT", interval="7m")
    assert exc.value.code == -1120


def test_depth_book_ticker_and_24h(client: Any) -> None:
    book = client.futures_order_book(symbol="BTCUSDT", limit=10)
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 10
    last = Decimal(client.futures_symbol_ticker(symbol="BTCUSDT")["price"])
    assert bids[0] < last < asks[0]
    assert all(p % Decimal("0.1") == 0 for p in bids + asks)
    assert all(Decimal(q) % Decimal("0.001") == 0 for _, q in book["bids"])
    top = client.futures_orderbook_ticker(symbol="BTCUSDT")
    assert (Decimal(top["bidPrice"]), Decimal(top["askPrice"])) == (bids[0], asks[0])
    day = client.futures_ticker(symbol="BTCUSDT")
    assert Decimal(day["lastPrice"]) == last
    assert Decimal(day["lowPrice"]) <= last <= Decimal(day["highPrice"])
    assert len(client.futures_ticker()) >= len(PERPETUALS)
    with pytest.raises(BinanceAPIException) as exc:
        client.futures_ticker(symbol="NOPEUSDT")
    assert (exc.value.code, exc.value.message) == (-1121, "Invalid symbol.")


def test_leverage_brackets(client: Any) -> None:
    btc = client.futures_leverage_bracket(symbol="BTCUSDT")
    brackets = btc["brackets"]
    first = brackets[0]
    assert (first["initialLeverage"], first["notionalCap"], first["notionalFloor"]) == (
        125,
        50000,
        0,
    )
    levers = [b["initialLeverage"] for b in brackets]
    assert levers == sorted(levers, reverse=True) and levers[-1] == 1
    assert all(a["notionalCap"] == b["notionalFloor"] for a, b in itertools.pairwise(brackets))
    # cum makes maintenance margin continuous across bracket edges.
    for a, b in itertools.pairwise(brackets):
        edge = Decimal(b["notionalFloor"])
        left = edge * Decimal(str(a["maintMarginRatio"])) - Decimal(str(a["cum"]))
        right = edge * Decimal(str(b["maintMarginRatio"])) - Decimal(str(b["cum"]))
        assert left == right
    every = client.futures_leverage_bracket()
    assert {row["symbol"] for row in every} >= set(PERPETUALS)


def test_futures_weights_are_counted_apart_from_spot(client: Any) -> None:
    seconds_into_minute = time.time() % 60
    if seconds_into_minute > 55:  # weight counts per calendar minute: start a fresh one
        time.sleep(60.5 - seconds_into_minute)

    def used() -> int:
        return int(client.response.headers["X-MBX-USED-WEIGHT-1M"])

    client.futures_exchange_info()
    assert used() == 1
    client.futures_order_book(symbol="BTCUSDT", limit=1000)
    assert used() == 21
    client.get_exchange_info()
    assert used() == 20  # spot's own counter
    client.futures_ping()
    assert used() == 22
