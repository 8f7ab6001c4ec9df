"""Talking to Binance reliably (SPEC §6, issue 7), over MCP against the paper exchange with
fault injection: orders whose answer is lost are never doubled, 5xx and 429 are retried as they
should be, a 418 ban stops every request to the host until it ends, and a clock that runs ahead
is caught up with."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.config import ConfigError, RetryPolicy, resolve_settings
from binance_mcp.exchange.binance_api import make_async_client
from binance_mcp.exchange.errors import HostBanned, RateLimited
from binance_mcp.exchange.gates import CALL_DEADLINE, HostGates
from binance_mcp.exchange.venues import Endpoints
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import fails, ok, paper_settings

pytestmark = pytest.mark.anyio

BTC = "BTCUSDT"
ROUNDS = 200  # the figure: lost answers in a row, per kind of order


def since(paper: PaperExchange, start: int) -> list[dict[str, Any]]:
    return list(paper.state.requests)[start:]


def posts(requests: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [r for r in requests if r["method"] == "POST" and r["path"] == path]


def mark(paper: PaperExchange, times: str) -> str:
    spec = paper.state.futures_market.specs[BTC]
    value = paper.state.futures_market.mark(BTC) * Decimal(times)
    return str(value.quantize(spec.tick))


# --- lost answers: exactly one order per call, never a duplicate ---------------------------------


async def test_lost_spot_answers_never_double_an_order(server: Any, paper: PaperExchange) -> None:
    """MARKET orders fill at once, so Binance's duplicate-id check could not catch a blind
    resend: only the lookup by client id can."""
    start = len(paper.state.requests)
    async with Client(server, mode="auto") as c:
        for i in range(ROUNDS):
            paper.state.faults.arm(Fault("/api/v3/order", "drop", method="POST"))
            cid = f"lost-spot-{i}"
            placed = await ok(
                c,
                "binance_spot_place_order",
                {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001",
                 "newClientOrderId": cid},
            )  # fmt: skip
            order = placed["order"]
            assert order["clientOrderId"] == cid and order["status"] == "FILLED"
            assert "placed once" in placed["note"] and "no answer" in placed["note"]
            held = paper.state.spot_account.orders[order["orderId"]]
            assert held.clientOrderId == cid
    orders = [
        o
        for o in paper.state.spot_account.orders.values()
        if o.clientOrderId.startswith("lost-spot-")
    ]
    assert sorted(o.clientOrderId for o in orders) == sorted(
        f"lost-spot-{i}" for i in range(ROUNDS)
    )
    # One POST per call: found by its id every time, never sent again.
    assert len(posts(since(paper, start), "/api/v3/order")) == ROUNDS


async def test_lost_futures_answers_never_double_an_order(
    server: Any, paper: PaperExchange
) -> None:
    start = len(paper.state.requests)
    async with Client(server, mode="legacy") as c:
        for i in range(ROUNDS):
            paper.state.faults.arm(Fault("/fapi/v1/order", "drop", method="POST"))
            cid = f"lost-fut-{i}"
            placed = await ok(
                c,
                "binance_futures_place_order",
                {"symbol": BTC, "side": "BUY" if i % 2 == 0 else "SELL", "type": "MARKET",
                 "quantity": "0.01", "newClientOrderId": cid},
            )  # fmt: skip
            order = placed["order"]
            assert order["kind"] == "regular" and order["clientOrderId"] == cid
            assert order["status"] == "FILLED" and "placed once" in placed["note"]
            assert paper.state.futures_account.orders[order["orderId"]].clientOrderId == cid
    orders = paper.state.futures_account.orders.values()
    assert sorted(o.clientOrderId for o in orders) == sorted(f"lost-fut-{i}" for i in range(ROUNDS))
    assert len(posts(since(paper, start), "/fapi/v1/order")) == ROUNDS
    # Every other order bought and sold 0.01: a doubled one would show as a position.
    assert paper.state.futures_account.positions[f"{BTC}:BOTH"].amount == 0


async def test_lost_conditional_answers_never_double_an_order(
    server: Any, paper: PaperExchange
) -> None:
    start = len(paper.state.requests)
    async with Client(server, mode="auto") as c:
        trigger = mark(paper, "1.1")
        for i in range(ROUNDS):
            paper.state.faults.arm(Fault("/fapi/v1/algoOrder", "drop", method="POST"))
            cid = f"lost-algo-{i}"
            placed = await ok(
                c,
                "binance_futures_place_order",
                {"symbol": BTC, "side": "BUY", "type": "STOP_MARKET", "quantity": "0.01",
                 "stopPrice": trigger, "newClientOrderId": cid},
            )  # fmt: skip
            order = placed["order"]
            assert order["kind"] == "conditional" and order["clientOrderId"] == cid
            assert order["status"] == "NEW" and "placed once" in placed["note"]
            assert paper.state.futures_account.algo_orders[order["algoId"]].clientAlgoId == cid
            # Cancelled at once: the symbol may hold only a few open conditional orders.
            await ok(c, "binance_futures_cancel_order", {"symbol": BTC, "algoId": order["algoId"]})
    algos = paper.state.futures_account.algo_orders.values()
    assert sorted(a.clientAlgoId for a in algos) == sorted(f"lost-algo-{i}" for i in range(ROUNDS))
    assert len(posts(since(paper, start), "/fapi/v1/algoOrder")) == ROUNDS


# --- ambiguous failures before acceptance --------------------------------------------------------


async def test_503_before_acceptance_places_the_order_once_on_the_retry(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    cases = [
        ("binance_spot_place_order", "/api/v3/order", "newClientOrderId",
         {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001"}),
        ("binance_futures_place_order", "/fapi/v1/order", "newClientOrderId",
         {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.01"}),
        ("binance_futures_place_order", "/fapi/v1/algoOrder", "clientAlgoId",
         {"symbol": BTC, "side": "SELL", "type": "STOP_MARKET", "quantity": "0.01",
          "stopPrice": mark(paper, "0.9")}),
    ]  # fmt: skip
    async with Client(server, mode=mode) as c:
        for n, (tool, path, id_param, args) in enumerate(cases):
            cid = f"after-503-{n}"
            start = len(paper.state.requests)
            paper.state.faults.arm(Fault(path, "status", method="POST", status=503))
            placed = await ok(c, tool, {**args, "newClientOrderId": cid})
            assert placed["order"]["clientOrderId"] == cid
            assert "HTTP 503" in placed["note"] and "sent once more" in placed["note"]
            sent = posts(since(paper, start), path)
            assert [(r["status"], r["params"][id_param]) for r in sent] == [(503, cid), (200, cid)]
    spot = [o for o in paper.state.spot_account.orders.values() if o.clientOrderId == "after-503-0"]
    assert len(spot) == 1
    assert [o.clientOrderId for o in paper.state.futures_account.orders.values()] == ["after-503-1"]
    algos = paper.state.futures_account.algo_orders.values()
    assert [a.clientAlgoId for a in algos] == ["after-503-2"]


async def test_order_that_lands_after_the_timeout_is_not_sent_again(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """The client gives up after 0.5 s; the exchange accepts the order at 0.8 s. Sending it
    again as soon as a lookup misses it would double it: the lookup is repeated once the
    order's recvWindow is over (when Binance would refuse it), and finds it."""
    settings = paper_settings(paper, tmp_path / "state")
    retry = dataclasses.replace(settings.retry, timeout=0.5)
    server = build_server(dataclasses.replace(settings, retry=retry))
    async with Client(server, mode="auto") as c:
        await ok(c, "binance_spot_balances")  # clock measured, rules and pools warm
        paper.state.faults.arm(Fault("/api/v3/order", "delay", method="POST", delay=0.8))
        placed = await ok(
            c,
            "binance_spot_place_order",
            {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001",
             "newClientOrderId": "late"},
        )  # fmt: skip
        assert placed["order"]["clientOrderId"] == "late"
        await anyio.sleep(1)  # long enough for a second copy to land, had one been sent
    assert [o.clientOrderId for o in paper.state.spot_account.orders.values()] == ["late"]


async def test_duplicate_answer_to_the_resend_reports_the_first_order(
    server: Any, paper: PaperExchange
) -> None:
    """The order landed but the lookups miss it: the resend is refused as a duplicate, which
    proves the first one landed, and that one is reported."""
    faults = paper.state.faults
    async with Client(server, mode="auto") as c:
        await ok(c, "binance_spot_balances")
        for tool, post, get, args, code, msg in [
            ("binance_spot_place_order", "/api/v3/order", "/api/v3/order",
             {"price": "50000", "timeInForce": "GTC"}, -2013, "Order does not exist."),
            ("binance_futures_place_order", "/fapi/v1/order", "/fapi/v1/order",
             {"price": mark(paper, "0.97")}, -2013, "Order does not exist."),
        ]:  # fmt: skip
            faults.arm(Fault(post, "drop", method="POST"))
            faults.arm(Fault(get, "status", method="GET", status=400, code=code, msg=msg, count=2))
            qty = "0.001" if tool == "binance_spot_place_order" else "0.01"
            placed = await ok(
                c,
                tool,
                {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": qty,
                 "newClientOrderId": f"dup-{post}", **args},
            )  # fmt: skip
            assert placed["order"]["clientOrderId"] == f"dup-{post}"
            assert "already has it" in placed["note"] and "first attempt" in placed["note"]
    assert len(paper.state.spot_account.orders) == 1
    assert len(paper.state.futures_account.orders) == 1


async def test_an_older_order_with_the_same_client_id_is_not_taken_for_this_one(
    server: Any, paper: PaperExchange
) -> None:
    """Binance keeps a client id unique among open orders only: a caller may use one again
    once its order has filled. After a 503 the lookup finds that old order, which must not pass
    for the new one."""
    market = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001"}
    async with Client(server, mode="auto") as c:
        old = await ok(c, "binance_spot_place_order", {**market, "newClientOrderId": "reused"})
        await anyio.sleep(1.2)  # more than the clock tolerance of the lookup
        paper.state.faults.arm(Fault("/api/v3/order", "status", method="POST", status=503))
        new = await ok(c, "binance_spot_place_order", {**market, "newClientOrderId": "reused"})
    assert new["order"]["orderId"] != old["order"]["orderId"]
    assert "sent once more" in new["note"]
    reused = [o for o in paper.state.spot_account.orders.values() if o.clientOrderId == "reused"]
    assert len(reused) == 2


async def test_unknown_outcome_names_the_client_id(server: Any, paper: PaperExchange) -> None:
    faults = paper.state.faults
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_balances")
        faults.arm(Fault("/api/v3/order", "drop", method="POST"))
        faults.arm(Fault("/api/v3/order", "status", method="GET", status=503, count=50))
        text = await fails(
            c,
            "binance_spot_place_order",
            {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001",
             "newClientOrderId": "who-knows"},
        )  # fmt: skip
        faults.clear()
    assert "UNKNOWN" in text and "client id who-knows" in text
    # Not sent again while its fate was unknown.
    assert len(paper.state.spot_account.orders) == 1


async def test_lost_cancel_answer_is_reported_as_cancelled(
    server: Any, paper: PaperExchange
) -> None:
    async with Client(server, mode="auto") as c:
        placed = await ok(
            c,
            "binance_spot_place_order",
            {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "50000"},
        )
        paper.state.faults.arm(Fault("/api/v3/order", "drop", method="DELETE"))
        order_id = placed["order"]["orderId"]
        cancelled = await ok(c, "binance_spot_cancel_order", {"symbol": BTC, "orderId": order_id})
        assert cancelled["order"]["status"] == "CANCELED"

        placed = await ok(
            c,
            "binance_futures_place_order",
            {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.01",
             "price": mark(paper, "0.97")},
        )  # fmt: skip
        paper.state.faults.arm(Fault("/fapi/v1/order", "drop", method="DELETE"))
        order_id = placed["order"]["orderId"]
        cancelled = await ok(
            c, "binance_futures_cancel_order", {"symbol": BTC, "orderId": order_id}
        )
        assert cancelled["order"]["status"] == "CANCELED"


# --- 429, 418 --------------------------------------------------------------------------------------


async def test_429_with_retry_after_waits_as_told(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_spot_price", {"symbol": BTC})
        start = len(paper.state.requests)
        paper.state.faults.arm(Fault("/api/v3/ticker/price", "status", status=429, retry_after=2))
        began = time.monotonic()
        price = await ok(c, "binance_spot_price", {"symbol": BTC})
        waited = time.monotonic() - began
    assert price["prices"][0]["symbol"] == BTC
    assert waited >= 1.9
    sent = [r for r in since(paper, start) if r["path"] == "/api/v3/ticker/price"]
    assert [r["status"] for r in sent] == [429, 200]
    assert sent[1]["time"] - sent[0]["time"] >= 1900


async def test_5xx_and_dropped_answers_to_reads_are_retried(
    server: Any, paper: PaperExchange
) -> None:
    async with Client(server, mode="auto") as c:
        start = len(paper.state.requests)
        paper.state.faults.arm(Fault("/api/v3/ticker/price", "status", status=503, count=2))
        paper.state.faults.arm(Fault("/api/v3/ticker/price", "drop"))
        await ok(c, "binance_spot_price", {"symbol": BTC})
        # A 4xx with a Binance code is final: not sent again.
        paper.state.faults.arm(Fault("/api/v3/ticker/price", "status", status=400, count=5))
        assert "HTTP 400" in await fails(c, "binance_spot_price", {"symbol": BTC})
        paper.state.faults.clear()
    sent = [r for r in since(paper, start) if r["path"] == "/api/v3/ticker/price"]
    assert [(r.get("status"), r.get("fault")) for r in sent] == [
        (503, "status"),
        (503, "status"),
        (None, "drop"),
        (200, None),
        (400, "status"),
    ]


async def test_429_on_an_order_is_waited_out_and_the_order_placed_once(
    server: Any, paper: PaperExchange
) -> None:
    """A 429 proves the order was not looked at: it is sent again after Retry-After."""
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_balances")
        start = len(paper.state.requests)
        paper.state.faults.arm(
            Fault("/api/v3/order", "status", method="POST", status=429, retry_after=1)
        )
        began = time.monotonic()
        placed = await ok(
            c,
            "binance_spot_place_order",
            {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001",
             "newClientOrderId": "after-429"},
        )  # fmt: skip
        assert time.monotonic() - began >= 0.9
    assert placed["order"]["clientOrderId"] == "after-429" and placed["note"] is None
    assert [r["status"] for r in posts(since(paper, start), "/api/v3/order")] == [429, 200]
    assert len(paper.state.spot_account.orders) == 1


def _ban_end(text: str) -> float:
    found = re.search(r"until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", text)
    assert found, text
    return datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


async def test_418_stops_all_requests_to_the_host_until_the_ban_ends(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    ban = 2
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_spot_balances")
        await ok(c, "binance_exchange_info", {"symbol": BTC})
        paper.state.faults.arm(Fault("/api/v3/ticker/price", "status", status=418, retry_after=ban))
        first = await fails(c, "binance_spot_price", {"symbol": BTC})
        end = _ban_end(first)
        assert "HTTP 418" in first and abs(end - (time.time() + ban)) <= 2

        start = len(paper.state.requests)
        for tool, args in [
            ("binance_spot_price", {"symbol": BTC}),
            ("binance_spot_balances", {}),
            ("binance_spot_open_orders", {"symbol": BTC}),
            ("binance_spot_place_order",
             {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.0001"}),
        ]:  # fmt: skip
            began = time.monotonic()
            text = await fails(c, tool, args)
            assert time.monotonic() - began < 1, tool
            assert "HTTP 418" in text and "sends it nothing until then" in text, tool
            assert _ban_end(text) == end, tool
        status = await ok(c, "binance_account_status")
        assert status["hosts"][paper.spot_url]["bannedUntil"] is not None
        assert _ban_end("until " + status["hosts"][paper.spot_url]["bannedUntil"]) == end
        assert status["hosts"][paper.futures_url]["bannedUntil"] is None
        assert status["spot"]["reachable"] is False and "HTTP 418" in status["spot"]["error"]
        assert status["clockOffsetMs"] is not None  # from the futures host's clock
        # The futures host did not ban us and still answers.
        assert status["futures"]["reachable"] is True
        await ok(c, "binance_futures_price", {"symbol": BTC})
        # Nothing reached the banned host meanwhile.
        assert [r for r in since(paper, start) if r["path"].startswith("/api/")] == []

        # The end is shown to the second: past it by a second, the host is free again.
        await anyio.sleep(max(0.0, end - time.time()) + 1.1)
        assert (await ok(c, "binance_spot_price", {"symbol": BTC}))["prices"][0]["symbol"] == BTC
        status = await ok(c, "binance_account_status")
        assert status["hosts"][paper.spot_url]["bannedUntil"] is None


# --- slowing down before the limit ----------------------------------------------------------------


@pytest.fixture
def low_limit(tmp_path: Path) -> Iterator[PaperExchange]:
    exchange = start_paper_exchange(
        PaperConfig(state_dir=tmp_path / "low", walk_interval=0, weight_limit=200)
    )
    yield exchange
    exchange.stop()


async def test_weight_near_the_limit_is_not_exceeded(
    low_limit: PaperExchange, tmp_path: Path
) -> None:
    """With the limit learnt from exchange info, the server holds back before the exchange
    would answer 429: when the wait for the next minute is longer than the call may take, it
    refuses without sending."""
    settings = paper_settings(low_limit, tmp_path / "state")
    retry = dataclasses.replace(settings.retry, budget=0.5)
    server = build_server(dataclasses.replace(settings, retry=retry))
    refused = None
    async with Client(server, mode="auto") as c:
        info = await ok(c, "binance_exchange_info", {"symbol": BTC})
        assert info
        for _ in range(400):
            sent_before = len(low_limit.state.requests)
            result = await c.call_tool("binance_spot_orderbook", {"symbol": BTC, "limit": 100})
            if result.is_error:
                refused = result.content[0].text
                assert len(low_limit.state.requests) == sent_before
                break
    assert refused is not None and "nothing was sent" in refused
    assert "request weight" in refused and "of 200 this minute" in refused
    assert {r.get("status") for r in low_limit.state.requests} == {200}


async def test_gate_paces_then_waits_for_the_next_minute() -> None:
    now = [120.0]  # two minutes after the epoch, on the exchange's minute boundary
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gates = HostGates("paper", "http://x/api", "http://x/fapi", clock=lambda: now[0], sleep=sleep)
    url = "http://x/api/v3/depth"
    gates.record(url, 200, {"X-MBX-USED-WEIGHT-1M": "100"})
    await gates.before(url)
    assert slept == []  # far from the limit: no delay
    gates.record(url, 200, {"X-MBX-USED-WEIGHT-1M": str(int(6000 * 0.875))})
    await gates.before(url)
    assert slept == [pytest.approx(0.5)]  # halfway between slowing and stopping
    gates.record(url, 200, {"X-MBX-USED-WEIGHT-1M": "5800"})
    token = CALL_DEADLINE.set(now[0] + 5)
    try:
        with pytest.raises(RateLimited, match="5800 of 6000"):
            await gates.before(url)
    finally:
        CALL_DEADLINE.reset(token)
    await gates.before(url)  # no deadline: waits for the next minute
    assert slept[-1] == pytest.approx(60 - 0.5 + 0.1)
    # The futures host counts apart.
    await gates.before("http://x/fapi/v1/depth")
    assert len(slept) == 2
    gates.ban("http://x/fapi/v1/depth", {"Retry-After": "60"}, "banned")
    with pytest.raises(HostBanned, match="USD-M futures API"):
        await gates.before("http://x/fapi/v1/depth")


# --- the clock ----------------------------------------------------------------------------------


async def test_exchange_clock_ahead_from_the_start(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    paper.state.clock_offset_ms = 5000
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_spot_balances")
        await ok(c, "binance_portfolio_account")
        status = await ok(c, "binance_account_status")
    requests = list(paper.state.requests)
    # Measured once before the first signed call; no signed call was refused.
    assert [r["path"] for r in requests].count("/api/v3/time") == 2  # + the status probe
    assert requests[0]["path"] == "/api/v3/time"
    assert all(r.get("code") != -1021 for r in requests)
    assert abs(status["clockOffsetMs"] - 5000) < 1000


async def test_exchange_clock_jumping_ahead_is_resynced_once(
    server: Any, mode: Any, paper: PaperExchange
) -> None:
    async with Client(server, mode=mode) as c:
        await ok(c, "binance_spot_balances")
        paper.state.clock_offset_ms = 5000
        start = len(paper.state.requests)
        await ok(c, "binance_spot_balances")
        first = since(paper, start)
        await ok(c, "binance_portfolio_account")
        await ok(c, "binance_spot_open_orders", {"symbol": BTC})
        later = since(paper, start + len(first))
    # Refused once (-1021), clock measured once, sent again and answered.
    assert [(r["path"], r.get("code"), r["status"]) for r in first] == [
        ("/api/v3/account", -1021, 400),
        ("/api/v3/time", None, 200),
        ("/api/v3/account", None, 200),
    ]
    assert [r for r in later if r["path"].endswith("/time") or r.get("code") == -1021] == []


# --- configuration ---------------------------------------------------------------------------------


def test_timeout_is_configurable(tmp_path: Path) -> None:
    base = {"BINANCE_MCP_STATE_DIR": str(tmp_path)}
    assert resolve_settings(base).retry == RetryPolicy()
    assert RetryPolicy().timeout == 10 and RetryPolicy().recv_window_ms == 5000
    slow = resolve_settings({**base, "BINANCE_MCP_TIMEOUT": "20"}).retry
    assert (slow.timeout, slow.budget) == (20, 60)
    for bad in ("0", "-3", "abc", "nan", "1000"):
        with pytest.raises(ConfigError, match="BINANCE_MCP_TIMEOUT"):
            resolve_settings({**base, "BINANCE_MCP_TIMEOUT": bad})


async def test_read_that_times_out_is_retried(paper: PaperExchange, tmp_path: Path) -> None:
    settings = paper_settings(paper, tmp_path / "state")
    retry = dataclasses.replace(settings.retry, timeout=0.5)
    server = build_server(dataclasses.replace(settings, retry=retry))
    paper.state.faults.arm(Fault("/api/v3/ticker/price", "delay", delay=1.5))
    async with Client(server, mode="legacy") as c:
        began = time.monotonic()
        await ok(c, "binance_spot_price", {"symbol": BTC})
        assert time.monotonic() - began < 1.4


async def test_client_is_built_for_reliability() -> None:
    endpoints = Endpoints("paper", "http://127.0.0.1:9/api", "http://127.0.0.1:9/fapi")
    client = make_async_client(endpoints, RetryPolicy(timeout=3, recv_window_ms=4000))
    try:
        assert (client.REQUEST_TIMEOUT.total, client.REQUEST_TIMEOUT.sock_connect) == (3, 3)
        assert client.REQUEST_RECVWINDOW == 4000
        # Only the retry policy sends anything twice, never aiohttp behind its back.
        assert client.session._retry_connection is False
        assert client.clock_synced is False
    finally:
        await client.close_connection()
