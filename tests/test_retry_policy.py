"""Unit tests of one piece, `Exchange`'s retry policy (SPEC §6): which failures are sent again,
how often, after what wait, and within what time — with a stand-in for python-binance's client
whose method answers from a script. The end-to-end behaviour over HTTP is in test_reliability."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import SecretStr

from binance_mcp.config import RetryPolicy
from binance_mcp.exchange.client import SHARED_READS, Exchange, oldest_account_read
from binance_mcp.exchange.errors import ExchangeError, ExchangeUnreachable, ToolFailure
from binance_mcp.exchange.gates import HostGates
from binance_mcp.exchange.venues import Endpoints

pytestmark = pytest.mark.anyio

SPOT, FUTURES = "http://127.0.0.1:9/api", "http://127.0.0.1:9/fapi"
POLICY = RetryPolicy(attempts=4, budget=60.0, backoff=0.25, backoff_max=4.0)


def unavailable() -> ExchangeError:
    return ExchangeError("paper", -1, 503, "Service Unavailable")


def rate_limited(retry_after: float) -> ExchangeError:
    return ExchangeError("paper", -1003, 429, "Too many requests", retry_after=retry_after)


class ScriptedClient:
    """Answers `call` from `script` in turn: an exception is raised, anything else returned;
    `took` seconds pass (really) before each answer."""

    def __init__(self, *script: Any, took: float = 0.0) -> None:
        self.gates = HostGates("paper", SPOT, FUTURES)
        self.script = list(script)
        self.took = took
        self.sent = 0

    async def call(self, **params: Any) -> Any:
        self.sent += 1
        if self.took:
            await asyncio.sleep(self.took)
        answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    # Reads shared within a tool call (SHARED_READS).
    get_symbol_ticker = get_all_tickers = futures_position_information = get_account = call


def exchange(client: ScriptedClient, policy: RetryPolicy = POLICY) -> tuple[Exchange, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    endpoints = Endpoints("paper", SPOT, FUTURES, SecretStr("k"), SecretStr("s"))
    return Exchange(endpoints, client, policy=policy, sleep=sleep), waits  # type: ignore[arg-type]


async def test_an_answer_at_once_is_sent_once_without_waiting() -> None:
    client = ScriptedClient({"price": "1"})
    ex, waits = exchange(client)
    assert await ex.read("call", symbol="BTCUSDT") == {"price": "1"}
    assert (client.sent, waits) == (1, [])


async def test_a_read_is_retried_after_server_errors_with_growing_backoff() -> None:
    client = ScriptedClient(unavailable(), ExchangeUnreachable("reset"), {"ok": True})
    ex, waits = exchange(client)
    assert await ex.read("call") == {"ok": True}
    assert client.sent == 3
    # backoff × 2^n plus up to one backoff of jitter
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 0.75, waits


async def test_a_read_that_keeps_failing_stops_after_its_attempts() -> None:
    client = ScriptedClient(*(unavailable() for _ in range(10)))
    ex, waits = exchange(client)
    with pytest.raises(ExchangeError) as failed:
        await ex.read("call")
    assert (client.sent, failed.value.attempts, len(waits)) == (4, 4, 3)


async def test_retry_after_is_waited_out_in_full() -> None:
    client = ScriptedClient(rate_limited(7.0), {"ok": True})
    ex, waits = exchange(client)
    assert await ex.read("call") == {"ok": True}
    assert waits == [7.0]


async def test_a_wait_past_the_budget_is_not_started() -> None:
    client = ScriptedClient(rate_limited(120.0), {"ok": True})
    ex, waits = exchange(client)
    with pytest.raises(ExchangeError) as failed:
        await ex.read("call")
    assert (client.sent, failed.value.attempts, waits) == (1, 1, [])


async def test_the_budget_counts_the_first_attempt() -> None:
    # 0.3 s spent on the first try + 0.8 s asked for = past a 1 s budget: reported at once.
    client = ScriptedClient(rate_limited(0.8), {"ok": True}, took=0.3)
    ex, waits = exchange(client, RetryPolicy(attempts=4, budget=1.0))
    with pytest.raises(ExchangeError):
        await ex.read("call")
    assert (client.sent, waits) == (1, [])
    # Asked for less, it is waited out and sent again.
    client = ScriptedClient(rate_limited(0.5), {"ok": True}, took=0.3)
    ex, waits = exchange(client, RetryPolicy(attempts=4, budget=1.0))
    assert await ex.read("call") == {"ok": True}
    assert (client.sent, waits) == (2, [0.5])


async def test_a_refusal_is_not_retried() -> None:
    refused = ExchangeError("paper", -1013, 400, "Filter failure: LOT_SIZE")
    client = ScriptedClient(refused, {"ok": True})
    ex, waits = exchange(client)
    with pytest.raises(ExchangeError) as failed:
        await ex.read("call")
    assert (client.sent, failed.value.attempts, waits) == (1, 1, [])


@pytest.mark.parametrize(
    ("failure", "sent"),
    [
        (unavailable(), 1),  # may have been accepted: never sent blind again
        (ExchangeUnreachable("timed out", sent=True), 1),
        (ExchangeUnreachable("connection refused", sent=False), 2),  # certainly never left
        (rate_limited(1.0), 2),  # refused before it was looked at
    ],
)
async def test_a_new_order_is_sent_again_only_when_it_certainly_did_not_get_through(
    failure: ToolFailure, sent: int
) -> None:
    client = ScriptedClient(failure, {"orderId": 1})
    ex, _ = exchange(client)
    if sent == 1:
        with pytest.raises(type(failure)) as failed:
            await ex.place("call", symbol="BTCUSDT")
        assert failed.value.attempts == 1
    else:
        assert await ex.place("call", symbol="BTCUSDT") == {"orderId": 1}
    assert client.sent == sent


async def test_one_attempt_means_no_retry() -> None:
    client = ScriptedClient(unavailable(), {"ok": True})
    ex, waits = exchange(client, RetryPolicy(attempts=1))
    with pytest.raises(ExchangeError):
        await ex.read("call")
    assert (client.sent, waits) == (1, [])


async def test_a_price_read_is_shared_within_a_call_only() -> None:
    client = ScriptedClient(*({"price": str(n)} for n in range(5)))
    ex, _ = exchange(client)
    assert await ex.read("get_symbol_ticker", symbol="BTCUSDT") == {"price": "0"}  # no scope
    token = SHARED_READS.set({})
    try:
        first = await ex.read("get_symbol_ticker", symbol="BTCUSDT")
        assert await ex.read("get_symbol_ticker", symbol="BTCUSDT") == first == {"price": "1"}
        assert await ex.read("get_symbol_ticker", symbol="ETHUSDT") == {"price": "2"}
        # An argument that cannot be a key is read each time, not refused.
        assert await ex.read("get_symbol_ticker", symbols=["BTCUSDT"]) == {"price": "3"}
    finally:
        SHARED_READS.reset(token)
    assert await ex.read("get_symbol_ticker", symbol="BTCUSDT") == {"price": "4"}
    assert client.sent == 5


async def test_one_symbol_is_answered_from_every_symbol_within_a_call() -> None:
    every = [{"symbol": "BTCUSDT", "price": "1"}, {"symbol": "ETHUSDT", "price": "2"}]
    positions = [
        {"symbol": "BTCUSDT", "positionAmt": "1"},
        {"symbol": "BTCUSDT", "positionAmt": "-2"},
    ]
    client = ScriptedClient(every, positions, {"symbol": "XRPUSDT", "price": "3"}, [], {"b": 1})
    ex, _ = exchange(client)
    token = SHARED_READS.set({})
    try:
        assert oldest_account_read() is None
        before = time.time()
        assert await ex.read("get_all_tickers") == every
        assert await ex.read("get_symbol_ticker", symbol="ETHUSDT") == every[1]
        assert await ex.read("get_symbol_ticker", symbol="ETHUSDT") == every[1]
        assert oldest_account_read() is None  # prices say nothing of the account
        assert await ex.read("futures_position_information") == positions
        read_at = oldest_account_read()
        assert read_at is not None and before <= read_at <= time.time()
        # Both rows of the symbol (hedge mode), none of another: an empty list, not a read.
        rows = await ex.read("futures_position_information", symbol="BTCUSDT")
        assert rows == positions
        assert await ex.read("futures_position_information", symbol="ETHUSDT") == []
        # A symbol missing from every symbol's prices is read on its own.
        assert await ex.read("get_symbol_ticker", symbol="XRPUSDT") == {
            "price": "3",
            "symbol": "XRPUSDT",
        }
        assert client.sent == 3
        # A read with other parameters is its own.
        assert await ex.read("futures_position_information", recvWindow=5000) == []
        assert client.sent == 4
    finally:
        SHARED_READS.reset(token)
    assert oldest_account_read() is None


async def test_a_shared_account_read_goes_stale_after_the_ttl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import binance_mcp.exchange.client as exchange_module

    monkeypatch.setattr(exchange_module, "SHARED_READ_TTL", 0.05)
    client = ScriptedClient({"balances": []}, {"balances": [{"asset": "BTC"}]})
    ex, _ = exchange(client)
    token = SHARED_READS.set({})
    try:
        assert await ex.read("get_account") == {"balances": []}
        assert oldest_account_read() is not None
        await asyncio.sleep(0.1)
        assert oldest_account_read() is None  # what is stale is read again, not shared
        assert await ex.read("get_account") == {"balances": [{"asset": "BTC"}]}
    finally:
        SHARED_READS.reset(token)
    assert client.sent == 2
