"""Attempts to get past the guard (SPEC §4), table-driven: each row is one named attempt, the
refusal the agent must read, and the paper exchange's request log proving that nothing the
policy forbids reached the exchange. Then the races (rate limits, budgets, open orders raced by
concurrent calls in one server) and the ways an approval could be stretched (replayed, reused
for other arguments, outlived by a kill switch or a policy edit)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitResult

from binance_mcp.cli import guard_commands
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok
from tests.paper_fixtures import writes_since
from tests.test_approval import APPROVE_ORDERS, Progress, answering, cli
from tests.test_guard import BUY_LIMIT, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

ALLOW = "classes: {read: allow, write: allow, financial: allow, destructive: allow}"


def policy(*lines: str) -> str:
    return "\n".join(["version: 1", ALLOW, *lines]) + "\n"


DENY_BNB = policy("limits: {symbols: {deny: [BNBUSDT]}}")
ONLY_BTC = policy("limits: {symbols: {allow: [BTCUSDT]}}")
MAX_250 = policy('limits: {max_order_notional: "250"}')
MAX_280 = policy('limits: {max_order_notional: "280"}')
REDUCE_ONLY = policy("limits: {futures: reduce_only}")
HIDE = policy("hide: [binance_spot_place_order, binance_futures_place_order]")
HIDE_ALL = policy('hide: ["*"]')
APPROVE_ALL = "version: 1\nclasses: {read: allow, financial: approve, destructive: approve}\n"

BNB_LIMIT = {"side": "BUY", "type": "LIMIT", "quantity": "0.02", "price": "640"}
FUT_MARKET = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}

NOT_A_PAIR = "is not a trading pair"
BNB_DENIED = "Denied by policy: BNBUSDT is denied (limits.symbols.deny)"
OVER_250 = "is above 250 (limits.max_order_notional)"
REDUCE = "Denied by policy: futures are reduce-only"


def set_price(symbol: str, price: str) -> Callable[[PaperExchange], None]:
    def setup(paper: PaperExchange) -> None:
        paper.state.set_price(symbol, Decimal(price))

    return setup


def hedge_mode(paper: PaperExchange) -> None:
    paper.state.futures_account.dualSidePosition = True


def halt_trading(state_dir: Path) -> None:
    # Before the server starts: no server has used the state dir yet, so on purpose.
    assert guard_commands.halt(state_dir, "bypass test", create=True) == 0


@dataclass(frozen=True)
class Attempt:
    name: str
    policy: str
    tool: str
    args: dict[str, Any]
    # A part of the error text the agent must read.
    expect: str
    # "nothing": no request other than a GET reached the exchange during the call.
    # "no_exposure": the order may reach the exchange, which must refuse it (it is one the
    # policy allows: it can only reduce a position), and nothing may open or grow.
    sent: Literal["nothing", "no_exposure"] = "nothing"
    setup: Callable[[PaperExchange], None] | None = None
    state_setup: Callable[[Path], None] | None = None


ATTEMPTS = [
    # --- symbol rules: spelling, whitespace and look-alikes ------------------------------------
    Attempt("symbol-lowercase", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "bnbusdt"}, BNB_DENIED),
    Attempt("symbol-mixed-case", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BnBuSdT"}, BNB_DENIED),
    Attempt("symbol-whitespace", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": " \tBNBUSDT\n"}, BNB_DENIED),
    Attempt("symbol-nbsp", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "\u00a0BNBUSDT\u2003"}, BNB_DENIED),
    # U+017F LATIN SMALL LETTER LONG S upper-cases to "S": it must land on the denied symbol.
    Attempt("symbol-long-s", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "bnbu\u017fdt"}, BNB_DENIED),
    Attempt("symbol-fullwidth", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "ＢＮＢＵＳＤＴ"}, NOT_A_PAIR),
    Attempt("symbol-fullwidth-lower", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "ｂｎｂｕｓｄｔ"}, NOT_A_PAIR),
    Attempt("symbol-cyrillic-ve", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "\u0412NBUSDT"}, NOT_A_PAIR),
    Attempt("symbol-cyrillic-te", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BNBUSD\u0422"}, NOT_A_PAIR),
    Attempt("symbol-zero-width-space", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BNB\u200bUSDT"}, NOT_A_PAIR),
    Attempt("symbol-zero-width-joiner-end", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BNBUSDT\u200d"}, NOT_A_PAIR),
    Attempt("symbol-combining-accent", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BNBUSDT\u0301"}, NOT_A_PAIR),
    Attempt("symbol-nul", DENY_BNB, "binance_spot_place_order",
            {**BNB_LIMIT, "symbol": "BNBUSDT\x00"}, NOT_A_PAIR),
    Attempt("symbol-cyrillic-against-allow-list", ONLY_BTC, "binance_spot_place_order",
            {**BUY_LIMIT, "symbol": "\u0412TCUSDT"}, NOT_A_PAIR),
    Attempt("symbol-lowercase-against-allow-list", ONLY_BTC, "binance_spot_place_order",
            {**BUY_LIMIT, "symbol": "ethusdt", "price": "3400"},
            "Denied by policy: ETHUSDT is not among"),
    Attempt("symbol-futures-order-lowercase", DENY_BNB, "binance_futures_place_order",
            {"symbol": "bnbusdt", "side": "BUY", "type": "MARKET", "quantity": "0.2"},
            BNB_DENIED),
    Attempt("symbol-futures-leverage-fullwidth", DENY_BNB, "binance_futures_change_leverage",
            {"symbol": "ｂｎｂｕｓｄｔ", "leverage": 3}, NOT_A_PAIR),
    Attempt("symbol-futures-margin-type-lowercase", DENY_BNB,
            "binance_futures_set_margin_type", {"symbol": "bnbusdt", "marginType": "ISOLATED"},
            BNB_DENIED),
    Attempt("symbol-close-position-padded", DENY_BNB, "binance_futures_close_position",
            {"symbol": " bnbusdt "}, BNB_DENIED),
    Attempt("symbol-cancel-all-mixed-case", DENY_BNB, "binance_spot_cancel_all_orders",
            {"symbol": "Bnbusdt"}, BNB_DENIED),
    # --- notional: every way of sizing an order -----------------------------------------------
    Attempt("notional-quote-order-qty", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "251"},
            "order notional 251 is above 250"),
    Attempt("notional-quote-order-qty-number", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": 250.01},
            OVER_250),
    Attempt("notional-quote-order-qty-exponent", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "2.51E2"},
            OVER_250),
    Attempt("notional-quote-order-qty-leading-zeros", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "000251.0"},
            OVER_250),
    Attempt("notional-sell-quote-order-qty", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quoteOrderQty": "300"},
            OVER_250),
    Attempt("notional-limit-exponent-quantity", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "quantity": "3e-3"}, OVER_250),
    Attempt("notional-limit-exponent-price", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "quantity": 0.003, "price": "9.5E+4"}, OVER_250),
    Attempt("notional-market-at-the-moved-price", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"},
            "order notional 300", setup=set_price("BTCUSDT", "150000")),
    Attempt("notional-both-quantity-and-quote", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
             "quoteOrderQty": "10"}, "MARKET takes exactly one of quantity or quoteOrderQty"),
    Attempt("notional-stop-loss-at-its-trigger", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "0.0025",
             "stopPrice": "101000"}, OVER_250),
    # A SELL LIMIT far under the market is filled at the market: its notional is what it
    # trades, 0.002 x ~97000 = ~194, not 0.002 x 20000 = 40.
    Attempt("notional-marketable-sell-limit-below-market", policy('limits: {max_order_notional: "100"}'),
            "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.002",
             "price": "20000"}, "is above 100 (limits.max_order_notional)"),
    # The same with a stop: it triggers at 96000 and then sells at the market, not at 20000.
    Attempt("notional-stop-limit-sell-limit-far-below-its-trigger",
            policy('limits: {max_order_notional: "100"}'), "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.002",
             "stopPrice": "96000", "price": "20000"}, "is above 100 (limits.max_order_notional)"),
    Attempt("notional-futures-market-at-mark", MAX_250, "binance_futures_place_order",
            {**FUT_MARKET, "quantity": "0.003"}, OVER_250),
    Attempt("notional-futures-stop-market-at-trigger", MAX_250, "binance_futures_place_order",
            {**FUT_MARKET, "type": "STOP_MARKET", "quantity": "0.003", "stopPrice": "100000"},
            OVER_250),
    Attempt("notional-futures-trailing-stop-at-mark", MAX_250, "binance_futures_place_order",
            {**FUT_MARKET, "type": "TRAILING_STOP_MARKET", "quantity": "0.003",
             "callbackRate": "1"}, OVER_250),
    # 0.003 x 92200 = 276.6 declared; it fills at the bid, ~0.003 x 97000 = ~291.
    Attempt("notional-futures-marketable-sell-limit-below-mark", MAX_280,
            "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "type": "LIMIT", "quantity": "0.003",
             "price": "92200"}, "is above 280 (limits.max_order_notional)"),
    # --- futures reduce-only ----------------------------------------------------------------------
    Attempt("reduce-only-opening-market", REDUCE_ONLY, "binance_futures_place_order",
            FUT_MARKET, REDUCE),
    Attempt("reduce-only-flag-as-string-false", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "reduceOnly": "false"}, REDUCE),
    Attempt("reduce-only-position-side-both", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "positionSide": "BOTH"}, REDUCE),
    Attempt("reduce-only-opening-stop", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "type": "STOP_MARKET", "stopPrice": "100000"}, REDUCE),
    Attempt("reduce-only-leverage", REDUCE_ONLY, "binance_futures_change_leverage",
            {"symbol": "BTCUSDT", "leverage": 20}, REDUCE),
    Attempt("reduce-only-margin-type", REDUCE_ONLY, "binance_futures_set_margin_type",
            {"symbol": "BTCUSDT", "marginType": "ISOLATED"}, REDUCE),
    Attempt("reduce-only-close-position-on-market", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "closePosition": True},
            "closePosition is for STOP_MARKET and TAKE_PROFIT_MARKET only"),
    Attempt("reduce-only-close-position-with-quantity", REDUCE_ONLY,
            "binance_futures_place_order",
            {**FUT_MARKET, "type": "STOP_MARKET", "stopPrice": "100000", "closePosition": True},
            "closePosition closes the whole position: give no quantity"),
    Attempt("reduce-only-flag-with-hedge-side", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "reduceOnly": True, "positionSide": "LONG"},
            "reduceOnly is for one-way mode"),
    # Flagged reduce-only, so the policy lets it go: the exchange refuses to open with it.
    Attempt("reduce-only-flag-on-opening-order", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "reduceOnly": True}, "-2022", sent="no_exposure"),
    # (LONG, SELL) and (SHORT, BUY) can only close in hedge mode; in one-way mode the exchange
    # refuses the position side (-4061), and in hedge mode it refuses to close what is not held.
    Attempt("reduce-only-hedge-side-in-one-way-mode", REDUCE_ONLY,
            "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "positionSide": "LONG"}, "-4061",
            sent="no_exposure"),
    Attempt("reduce-only-short-buy-in-one-way-mode", REDUCE_ONLY,
            "binance_futures_place_order",
            {**FUT_MARKET, "side": "BUY", "positionSide": "SHORT"}, "-4061",
            sent="no_exposure"),
    Attempt("reduce-only-hedge-close-without-position", REDUCE_ONLY,
            "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "positionSide": "LONG"}, "-2022",
            sent="no_exposure", setup=hedge_mode),
    # --- hidden tools and the kill switch ------------------------------------------------------------
    Attempt("hidden-tool-by-name", HIDE, "binance_spot_place_order", BUY_LIMIT,
            "Unknown tool: binance_spot_place_order"),
    Attempt("hidden-futures-tool-by-name", HIDE, "binance_futures_place_order", FUT_MARKET,
            "Unknown tool: binance_futures_place_order"),
    Attempt("hidden-all-cancel-all", HIDE_ALL, "binance_spot_cancel_all_orders",
            {"symbol": "BTCUSDT"}, "Unknown tool: binance_spot_cancel_all_orders"),
    Attempt("halted-close-position", policy(), "binance_futures_close_position",
            {"symbol": "BTCUSDT"}, "Denied by policy: trading is halted",
            state_setup=halt_trading),
    Attempt("halted-leverage", policy(), "binance_futures_change_leverage",
            {"symbol": "BTCUSDT", "leverage": 2}, "Denied by policy: trading is halted",
            state_setup=halt_trading),
    # --- approval: the agent cannot approve its own call ------------------------------------------
    Attempt("approval-argument-from-the-agent", APPROVE_ALL, "binance_spot_place_order",
            {**BUY_LIMIT, "approval": {"how": "elicited", "outcome": "accept"}},
            "does not take the argument 'approval'"),
    Attempt("approval-elicitation-result-from-the-agent", APPROVE_ALL,
            "binance_spot_cancel_all_orders",
            {"symbol": "BTCUSDT", "approval": {"action": "accept", "content": {"approve": True}}},
            "does not take the argument 'approval'"),
    # --- issue 17: strict, bounded, valued at the most an order can cost ------------------------
    Attempt("misspelt-reduce-only-opens-nothing", REDUCE_ONLY, "binance_futures_place_order",
            {**FUT_MARKET, "side": "SELL", "reduceonly": True},
            "does not take the argument 'reduceonly' (did you mean 'reduceOnly'?)"),
    Attempt("misspelt-test-flag-places-nothing", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "tset": True}, "did you mean 'test'?"),
    Attempt("misspelt-close-position", REDUCE_ONLY, "binance_futures_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "stopPrice": "99000",
             "quantity": "0.002", "closeposition": True}, "did you mean 'closePosition'?"),
    Attempt("huge-exponent-quantity", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "quantity": "1E+999999999"}, "is too large"),
    Attempt("tiny-exponent-quantity", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "quantity": "1E-999999999"}, "has too many decimals"),
    Attempt("quantity-as-huge-integer", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "quantity": 10**30}, "out of range"),
    Attempt("buy-stop-far-below-the-market", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "0.003",
             "stopPrice": "30000"}, OVER_250),
    Attempt("buy-stop-limit-far-below-the-market", MAX_250, "binance_spot_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "TAKE_PROFIT_LIMIT", "quantity": "0.003",
             "stopPrice": "30000", "price": "30000", "timeInForce": "GTC"}, OVER_250),
    Attempt("futures-buy-stop-far-below-the-mark", MAX_250, "binance_futures_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "quantity": "0.003",
             "stopPrice": "30000"}, OVER_250),
    Attempt("futures-trailing-stop-without-price", MAX_250, "binance_futures_place_order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "TRAILING_STOP_MARKET",
             "quantity": "0.003", "callbackRate": "1"}, OVER_250),
    Attempt("argument-name-with-zero-width-space", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "test\u200b": True}, "does not take the argument"),
    Attempt("deeply-nested-extra", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "x": [[[[[[[[1]]]]]]]]}, "does not take the argument 'x'"),
    Attempt("deeply-nested-symbol", MAX_250, "binance_spot_place_order",
            {**BUY_LIMIT, "symbol": [[[[[["BTCUSDT"]]]]]]}, "nested deeper than 4 levels"),
]  # fmt: skip


def text_of(result: CallToolResult) -> str:
    return str(getattr(result.content[0], "text", "")) if result.content else ""


def exposure(paper: PaperExchange) -> dict[str, Decimal]:
    positions = paper.state.futures_account.positions
    return {k: p.amount for k, p in positions.items() if p.amount != 0}


# Every row on the 2025-11-25 era; on 2026-07-28 one or two of each kind (the guard is the
# same code on both, and each row costs a server start).
BOTH_ERAS = {
    "symbol-fullwidth", "symbol-cyrillic-ve", "symbol-lowercase", "notional-quote-order-qty",
    "notional-market-at-the-moved-price", "notional-marketable-sell-limit-below-market",
    "reduce-only-opening-market", "reduce-only-hedge-side-in-one-way-mode",
    "hidden-tool-by-name", "halted-close-position", "approval-argument-from-the-agent",
}  # fmt: skip
CASES = [
    pytest.param(era, a, id=f"{era}-{a.name}")
    for a in ATTEMPTS
    for era in ("legacy", "auto")
    if era == "legacy" or a.name in BOTH_ERAS
]


@pytest.mark.parametrize(("era", "attempt"), CASES)
async def test_bypass_attempt_is_refused(
    paper: PaperExchange, tmp_path: Path, era: Any, attempt: Attempt
) -> None:
    if attempt.setup is not None:
        attempt.setup(paper)
    if attempt.state_setup is not None:
        attempt.state_setup(tmp_path / "state")
    server = guarded_server(paper, tmp_path, attempt.policy, approval_timeout=0.3)
    held_before = exposure(paper)
    open_before = len(paper.state.spot.open_orders(None))
    async with Client(server, mode=era) as c:
        start = len(paper.state.requests)
        result = await c.call_tool(attempt.tool, attempt.args)
    text = text_of(result)
    assert result.is_error, f"{attempt.name} went through: {result.structured_content}"
    assert attempt.expect in text, text
    assert "Traceback" not in text
    sent = writes_since(paper, start)
    if attempt.sent == "nothing":
        assert sent == [], f"{attempt.name} reached the exchange: {sent}"
    else:
        assert all(r.get("status") != 200 for r in sent), sent
    assert exposure(paper) == held_before
    assert len(paper.state.spot.open_orders(None)) == open_before


# --- races: N calls at once in one server ------------------------------------------------------


async def call_all(c: Client, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    results: list[CallToolResult | None] = [None] * len(calls)

    async def one(i: int, tool: str, args: dict[str, Any]) -> None:
        results[i] = await c.call_tool(tool, args)

    async with anyio.create_task_group() as tg:
        for i, (tool, args) in enumerate(calls):
            tg.start_soon(one, i, tool, args)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def texts(results: list[CallToolResult]) -> list[str]:
    return [text_of(r) for r in results if r.is_error]


async def test_rate_limits_raced_by_concurrent_calls(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    server = guarded_server(paper, tmp_path, policy(
        "tools:",
        "  binance_spot_price: {rate_limit: 3/minute}",
        "  binance_spot_place_order: {rate_limit: 2/minute}",
    ))  # fmt: skip
    start = len(paper.state.requests)
    async with Client(server, mode=mode) as c:
        prices = await call_all(c, [("binance_spot_price", {"symbol": "BTCUSDT"})] * 10)
        orders = await call_all(c, [("binance_spot_place_order", BUY_LIMIT)] * 6)
    assert sum(not r.is_error for r in prices) == 3
    assert sum(not r.is_error for r in orders) == 2
    refused = texts(prices) + texts(orders)
    assert len(refused) == 11
    assert all(t.split(": ", 1)[1].startswith("Denied by policy: rate limit") for t in refused)
    sent = list(paper.state.requests)[start:]
    assert len([r for r in sent if r["path"] == "/api/v3/ticker/price"]) == 3
    assert len(orders_sent(paper)) == 2


@pytest.mark.parametrize(
    ("limit", "placed", "reason"),
    [
        ('daily_notional: "250"', 2, "daily notional budget 250 (UTC day)"),
        ("max_open_orders: 3", 3, "orders are open or being placed; the limit is 3"),
    ],
)
async def test_budgets_raced_by_concurrent_orders(
    paper: PaperExchange, tmp_path: Path, mode: Any, limit: str, placed: int, reason: str
) -> None:
    server = guarded_server(paper, tmp_path, policy(f"limits: {{{limit}}}"))
    async with Client(server, mode=mode) as c:
        results = await call_all(
            c,
            [
                ("binance_spot_place_order", {**BUY_LIMIT, "price": str(95000 - i)})
                for i in range(8)
            ],
        )
    assert sum(not r.is_error for r in results) == placed
    assert all(reason in t for t in texts(results)), texts(results)
    assert len(orders_sent(paper)) == placed
    assert len(paper.state.spot.open_orders(None)) == placed


# --- approvals: single use, bound to the call, and not outliving the policy --------------------


class Waiting:
    """One call waiting in the approvals queue (a client that cannot elicit)."""

    def __init__(self, c: Client, tool: str, args: dict[str, Any]) -> None:
        self.c, self.tool, self.args = c, tool, args
        self.progress = Progress()
        self.result: CallToolResult | None = None
        self.done = anyio.Event()

    async def run(self) -> None:
        self.result = await self.c.call_tool(self.tool, self.args, progress_callback=self.progress)
        self.done.set()

    def text(self) -> str:
        assert self.result is not None and self.result.is_error
        return text_of(self.result)


async def decide(state: Path, ident: str, verb: str) -> tuple[int, str]:
    return await anyio.to_thread.run_sync(cli, "approvals", verb, ident, "--state-dir", str(state))


async def test_an_approval_is_spent_by_one_call_and_bound_to_its_arguments(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    async with Client(server, mode="legacy") as c:
        first = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            ident = await first.progress.request_id()
            assert (await decide(state, ident, "approve"))[0] == 0
        assert first.result is not None and not first.result.is_error
        assert len(orders_sent(paper)) == 1

        # The same call again: asked again, under a new id; the spent one releases nothing.
        again = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        other = Waiting(c, "binance_spot_place_order", {**BUY_LIMIT, "price": "94000"})
        async with anyio.create_task_group() as tg:
            tg.start_soon(again.run)
            tg.start_soon(other.run)
            again_id = await again.progress.request_id()
            other_id = await other.progress.request_id()
            assert len({ident, again_id, other_id}) == 3
            code, out = await decide(state, ident, "approve")
            assert code == 1 and "already used" in out
            await anyio.sleep(0.8)  # the waiting calls poll the queue every 0.25 s
            assert again.result is None and other.result is None
            assert len(orders_sent(paper)) == 1
            # One approval releases exactly the call it was filed for.
            assert (await decide(state, again_id, "deny"))[0] == 0
            assert (await decide(state, other_id, "approve"))[0] == 0
        assert "denied from the approvals CLI" in again.text()
        assert other.result is not None and not other.result.is_error
    assert [r["params"]["price"] for r in orders_sent(paper)] == ["95000", "94000"]


async def test_one_approval_releases_one_of_two_identical_calls(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    async with Client(server, mode="legacy") as c:
        one = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        two = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        async with anyio.create_task_group() as tg:
            tg.start_soon(one.run)
            tg.start_soon(two.run)
            one_id = await one.progress.request_id()
            two_id = await two.progress.request_id()
            assert one_id != two_id
            assert (await decide(state, one_id, "approve"))[0] == 0
            with anyio.fail_after(5):
                await one.done.wait()
            await anyio.sleep(0.6)
            assert two.result is None
            assert len(orders_sent(paper)) == 1
            assert (await decide(state, two_id, "deny"))[0] == 0
        assert one.result is not None and not one.result.is_error
        assert "Denied by policy" in two.text()
    assert len(orders_sent(paper)) == 1


async def test_elicited_approval_is_asked_for_every_call(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    asked: list[str] = []
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS)
    accept = ElicitResult(action="accept", content={"approve": True})
    async with Client(server, mode=mode, elicitation_callback=answering(accept, asked)) as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        await ok(c, "binance_spot_place_order", {**BUY_LIMIT, "price": "94000"})
    assert len(asked) == 3
    assert len(orders_sent(paper)) == 3


async def test_kill_switch_during_an_approval_wait_stops_the_order(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """Halted while the call waited for a person: the halt is in force when the order would
    be sent, so the order must not go out, approved or not (SPEC §4.2 step 1)."""
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    async with Client(server, mode="legacy") as c:
        waiting = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiting.run)
            ident = await waiting.progress.request_id()
            assert guard_commands.halt(state, "market is mad") == 0
            assert (await decide(state, ident, "approve"))[0] == 0
        assert waiting.result is not None
        text = text_of(waiting.result)
        assert waiting.result.is_error, "the order went out while trading was halted"
        assert "Denied by policy" in text and "halted" in text and "market is mad" in text
    assert orders_sent(paper) == []


async def test_policy_edit_during_an_approval_wait_is_in_force(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """The policy now denies the call: an approval asked under the old one must not send it
    (approvals are bound to the policy in force; deny wins over approve)."""
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    async with Client(server, mode="legacy") as c:
        waiting = Waiting(c, "binance_spot_place_order", BUY_LIMIT)
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiting.run)
            ident = await waiting.progress.request_id()
            (tmp_path / "policy.yaml").write_text(
                textwrap.dedent("""
                    version: 1
                    classes: {read: allow, financial: deny}
                """)
            )
            assert (await decide(state, ident, "approve"))[0] == 0
        assert waiting.result is not None
        assert waiting.result.is_error, "the order went out although the policy now denies it"
        assert "Denied by policy" in waiting.text()
    assert orders_sent(paper) == []
    # And the next call meets the new policy at once.
    async with Client(server, mode="legacy") as c:
        assert "binance_spot_place_order is not allowed" in await fails(
            c, "binance_spot_place_order", BUY_LIMIT
        )
