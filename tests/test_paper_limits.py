"""Binance's order-rate limits on the paper exchange: the ORDERS limits exchangeInfo lists,
the X-MBX-ORDER-COUNT-* headers on accepted orders, -1015 past them, spot's unfilled-order
rule, and `--limits` to raise or lift them."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.cli.main import _limit_scale
from binance_mcp.paper.config import PaperConfig
from binance_mcp.paper.runner import PaperExchange, start_paper_exchange
from tests.paper_fixtures import binance_client


def _start(scale: float | None) -> PaperExchange:
    exchange = start_paper_exchange(PaperConfig(walk_interval=0, limit_scale=scale))
    # Half a second into a 10-second window, so the whole test runs inside one.
    now = int(time.time() * 1000)
    offset = 10_500 - now % 10_000
    exchange.state.clock_offset_ms = offset
    return exchange


@pytest.fixture
def small() -> Iterator[PaperExchange]:
    """Limits at 5 % of Binance's: 5 spot orders per 10 s, 15 futures ones."""
    exchange = _start(0.05)
    try:
        yield exchange
    finally:
        exchange.stop()


def _client(exchange: PaperExchange) -> Any:
    c = binance_client(exchange)
    c.timestamp_offset = exchange.state.clock_offset_ms
    return c


def _below(c: Any, symbol: str) -> str:
    price = Decimal(c.get_symbol_ticker(symbol=symbol)["price"])
    return str((price * Decimal("0.9")).quantize(Decimal("0.01")))


def test_spot_orders_are_counted_and_refused_past_the_limit(small: PaperExchange) -> None:
    c = _client(small)
    limits = [r for r in c.get_exchange_info()["rateLimits"] if r["rateLimitType"] == "ORDERS"]
    assert [(r["interval"], r["intervalNum"], r["limit"]) for r in limits] == [
        ("SECOND", 10, 5),
        ("DAY", 1, 10_000),
    ]
    price = _below(c, "BTCUSDT")
    seen = []
    for _ in range(5):
        c.create_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
            quantity="0.0001", price=price,
        )  # fmt: skip
        seen.append((c.response.headers["X-MBX-ORDER-COUNT-10S"],
                     c.response.headers["X-MBX-ORDER-COUNT-1D"]))  # fmt: skip
    assert seen == [(str(n), str(n)) for n in range(1, 6)]
    with pytest.raises(BinanceAPIException) as refused:
        c.create_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
            quantity="0.0001", price=price,
        )  # fmt: skip
    assert (refused.value.status_code, refused.value.code) == (429, -1015)
    assert refused.value.message == "Too many new orders; current limit is 5 orders per 10 SECOND."
    assert "Retry-After" not in refused.value.response.headers
    assert len(c.get_open_orders(symbol="BTCUSDT")) == 5
    # Cancels and reads are not orders.
    c.cancel_all_open_orders(symbol="BTCUSDT")
    assert "X-MBX-ORDER-COUNT-10S" not in c.response.headers


def test_spot_counts_only_unfilled_orders(small: PaperExchange) -> None:
    """Binance's spot rule: an order's first fill takes it off the counts (after its own
    answer, which still counts it)."""
    c = _client(small)
    for _ in range(8):
        c.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001")
        assert c.response.headers["X-MBX-ORDER-COUNT-10S"] == "1"


def test_futures_orders_are_counted_per_10_seconds_and_minute(small: PaperExchange) -> None:
    c = _client(small)
    limits = [r for r in c.futures_exchange_info()["rateLimits"] if r["rateLimitType"] == "ORDERS"]
    assert [(r["interval"], r["intervalNum"], r["limit"]) for r in limits] == [
        ("MINUTE", 1, 60),
        ("SECOND", 10, 15),
    ]
    for n in range(1, 16):
        c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002")
        headers = c.response.headers
        assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1M"]) == (
            str(n),
            str(n),
        )
    with pytest.raises(BinanceAPIException) as refused:
        c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002")
    assert (refused.value.status_code, refused.value.code) == (429, -1015)


def test_lifted_limits_still_report_the_counts() -> None:
    exchange = _start(None)
    try:
        c = _client(exchange)
        price = _below(c, "BTCUSDT")
        for _ in range(130):
            c.create_order(
                symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                quantity="0.0001", price=price,
            )  # fmt: skip
        assert c.response.headers["X-MBX-ORDER-COUNT-10S"] == "130"
        weights = [r for r in c.get_exchange_info()["rateLimits"]]
        assert weights[0]["limit"] == 6000  # Binance's figures, as nothing is enforced
    finally:
        exchange.stop()


def test_the_limits_option() -> None:
    assert _limit_scale("off") is None
    assert _limit_scale("10") == 10.0
    for bad in ("0", "-1", "many", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            _limit_scale(bad)


def test_exchange_info_advertises_only_what_is_served(small: PaperExchange) -> None:
    info = _client(small).get_exchange_info()["symbols"][0]
    served = ("ocoAllowed", "otoAllowed", "cancelReplaceAllowed")
    assert {f: info[f] for f in served} == dict.fromkeys(served, True)
    unserved = ("icebergAllowed", "allowTrailingStop", "amendAllowed")
    assert {f: info[f] for f in unserved} == dict.fromkeys(unserved, False)
    base = small.spot_url.removesuffix("/api")
    assert requests.put(base + "/api/v3/order/amend/keepPriority", timeout=5).status_code == 404
    for path in ("/api/v3/orderList/oco", "/api/v3/order/cancelReplace"):
        assert requests.post(base + path, timeout=5).status_code != 404
