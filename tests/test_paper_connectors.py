"""Binance's own Python connectors against the paper exchange: `binance-connector` (spot) and
`binance-futures-connector` (USD-M), each in an interpreter of its own (tests/connector_envs.py
says why), pointed at the exchange with their `base_url` and the paper account's keys, as the
README's "The paper exchange on its own" offers any Binance client. A scripted sequence per
connector (tests/connectors/) runs market data, the account, orders of every type, order lists,
cancels, history, positions and algo orders, and bad input, over real HTTP on 127.0.0.1; these
tests assert on what each step answered, and that every request the connectors sent reached
the paper exchange and was answered there."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from binance_mcp.paper.runner import PaperConfig, start_paper_exchange
from tests.connector_envs import connector_python

# The first run builds the two venvs with pip (seconds from a warm pip cache, longer from PyPI).
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).parent.parent
S = "BTCUSDT"
CLIENT_ERROR = "binance.error.ClientError"


@dataclass
class Run:
    """What one connector script did: each step's answer or error, the requests its HTTP
    session saw answered, and the requests the paper exchange logged."""

    results: dict[str, dict[str, Any]]
    calls: list[tuple[str, str, int]]
    logged: list[tuple[str, str, int]]
    config: PaperConfig

    def ok(self, step: str) -> Any:
        outcome = self.results[step]
        assert "ok" in outcome, f"{step} failed: {outcome['error']}"
        return outcome["ok"]

    def refused(self, step: str) -> dict[str, Any]:
        """The connector's ClientError for `step`: HTTP status, Binance code, message, data."""
        outcome = self.results[step]
        assert "error" in outcome, f"{step} was accepted: {outcome['ok']}"
        error: dict[str, Any] = outcome["error"]
        assert error["class"] == CLIENT_ERROR, f"{step}: {error}"
        return error

    def crashed(self) -> dict[str, dict[str, Any]]:
        """Steps that raised something other than the connector's ClientError: a step whose
        input an earlier failed step should have given, or a connector that broke."""
        return {
            step: outcome["error"]
            for step, outcome in self.results.items()
            if "error" in outcome and outcome["error"]["class"] != CLIENT_ERROR
        }

    def code(self, step: str) -> tuple[int, int, str]:
        error = self.refused(step)
        return error["status"], error["code"], error["msg"]


def run_script(name: str, state_dir: Path) -> Run:
    python = connector_python(name)
    config = PaperConfig(state_dir=state_dir, walk_interval=0)
    exchange = start_paper_exchange(config)
    try:
        env = {
            **os.environ,
            "PAPER_URL": exchange.base_url,
            "PAPER_API_KEY": config.api_key,
            "PAPER_API_SECRET": config.api_secret,
            # A proxy configured for pip must not take the connectors' loopback requests.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        # -E -s: none of this interpreter's PYTHONPATH or user site, so python-binance's
        # `binance` can never shadow the connector's; -m from the repository root finds the
        # script's package (tests.connectors) and nothing else of the project is imported.
        done = subprocess.run(
            [str(python), "-E", "-s", "-m", f"tests.connectors.{name}_script"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        logged = [(r["method"], r["path"], r.get("status", 0)) for r in exchange.state.requests]
    finally:
        exchange.stop()
    if done.returncode != 0:
        pytest.fail(f"{name}_script.py exited {done.returncode}:\n{done.stderr}", pytrace=False)
    out = json.loads(done.stdout)
    calls = [(m, p, s) for m, p, s in out["calls"]]
    return Run(out["results"], calls, logged, config)


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_script("spot", tmp_path_factory.mktemp("spot-connector"))


@pytest.fixture(scope="module")
def futures(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_script("futures", tmp_path_factory.mktemp("futures-connector"))


def by_client_id(orders: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["clientOrderId"]: o for o in orders}


def d(value: str) -> Decimal:
    return Decimal(value)


# ----- spot: binance-connector ------------------------------------------------------------


def test_spot_connector_reads_market_data(spot: Run) -> None:
    assert spot.ok("market.ping") == {}
    assert abs(spot.ok("market.time")["serverTime"] - time.time() * 1000) < 300_000
    (info,) = spot.ok("market.exchange_info")["symbols"]
    assert info["symbol"] == S and info["status"] == "TRADING"
    assert {"LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"} <= set(
        info["orderTypes"]
    )
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= {f["filterType"] for f in info["filters"]}

    book = spot.ok("market.depth")
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert d(book["bids"][0][0]) < d("97000") < d(book["asks"][0][0])
    # No trade yet: the walk is frozen and nothing has filled.
    assert spot.ok("market.trades") == spot.ok("market.agg_trades") == []
    candles = spot.ok("market.klines")
    assert len(candles) == 3 and all(len(c) == 12 for c in candles)
    assert candles[-1][4] == "97000.00000000"  # the last candle closes at the current price
    assert spot.ok("market.ui_klines") == candles
    assert spot.ok("market.avg_price")["price"] == "97000.00000000"

    ticker = spot.ok("market.ticker_24hr")
    assert ticker["symbol"] == S and ticker["lastPrice"] == "97000.00000000"
    assert d(ticker["bidPrice"]) < d(ticker["askPrice"])
    mini = spot.ok("market.ticker_24hr_mini")
    assert [t["symbol"] for t in mini] == [S, "ETHUSDT"]
    assert all("priceChange" not in t and "lastPrice" in t for t in mini)
    assert spot.ok("market.ticker_price") == {"symbol": S, "price": "97000.00000000"}
    assert [p["price"] for p in spot.ok("market.ticker_prices")] == [
        "97000.00000000",
        "3400.00000000",
    ]
    assert d(spot.ok("market.book_ticker")["bidPrice"]) < d(
        spot.ok("market.book_ticker")["askPrice"]
    )
    rolling = spot.ok("market.rolling_ticker")
    assert rolling["symbol"] == S and rolling["lastPrice"] == "97000.00000000"


def test_spot_connector_reads_the_account(spot: Run) -> None:
    account = spot.ok("account.before")
    assert account["canTrade"] and not account["canWithdraw"]
    free = {b["asset"]: d(b["free"]) for b in account["balances"]}
    for asset, amount in spot.config.spot_balances.items():
        assert free[asset] == amount
    assert spot.ok("account.commission")["standardCommission"]["taker"] == "0.00100000"
    limits = spot.ok("account.order_rate_limit")
    assert [(r["interval"], r["count"]) for r in limits] == [("SECOND", 0), ("DAY", 0)]


def test_spot_connector_places_every_order_type(spot: Run) -> None:
    assert spot.ok("orders.test") == {}
    assert spot.ok("orders.test_with_commission")["standardCommissionForOrder"]["taker"] == (
        "0.00100000"
    )

    limit = spot.ok("orders.limit")
    assert (limit["status"], limit["type"], limit["price"], limit["origQty"]) == (
        "NEW",
        "LIMIT",
        "90000.00000000",
        "0.00100000",
    )
    assert limit["fills"] == []  # LIMIT answers FULL by default
    assert spot.ok("orders.limit_by_id") == spot.ok("orders.limit_by_client_id")
    assert spot.ok("orders.limit_by_id")["status"] == "NEW"
    assert [o["clientOrderId"] for o in spot.ok("orders.open_after_limit")] == ["conn-limit"]

    by_quantity = spot.ok("orders.market_quantity")
    assert (by_quantity["status"], by_quantity["executedQty"]) == ("FILLED", "0.00100000")
    assert sum(d(f["qty"]) for f in by_quantity["fills"]) == d("0.001")
    by_quote = spot.ok("orders.market_quote")
    assert by_quote["status"] == "FILLED" and by_quote["origQuoteOrderQty"] == "100.00000000"
    assert 0 < d(by_quote["cummulativeQuoteQty"]) <= 100 and d(by_quote["executedQty"]) > 0

    # Other types answer ACK by default, as on Binance; the query shows the order.
    maker = spot.ok("orders.limit_maker")
    assert set(maker) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    maker_order = spot.ok("orders.limit_maker_query")
    assert (maker_order["type"], maker_order["status"], maker_order["price"]) == (
        "LIMIT_MAKER",
        "NEW",
        "120000.00000000",
    )
    assert spot.code("orders.limit_maker_would_take") == (
        400,
        -2010,
        "Order would immediately match and take.",
    )
    for kind, stop, price in [
        ("STOP_LOSS_LIMIT", "85000", "84900"),
        ("TAKE_PROFIT_LIMIT", "110000", "110000"),
        ("STOP_LOSS", "85000", "0"),
        ("TAKE_PROFIT", "110000", "0"),
    ]:
        assert set(spot.ok(f"orders.{kind.lower()}")) == set(maker)
        placed = spot.ok(f"orders.{kind.lower()}_query")
        assert (placed["type"], placed["side"], placed["status"]) == (kind, "SELL", "NEW")
        assert d(placed["stopPrice"]) == d(stop) and d(placed["price"]) == d(price)
        assert placed["workingTime"] == -1  # not triggered yet
    assert spot.code("orders.stop_would_trigger") == (
        400,
        -2010,
        "Stop price would trigger immediately.",
    )


def test_spot_connector_sees_fills_cancels_and_history(spot: Run) -> None:
    cancelled = spot.ok("orders.cancel")
    assert (cancelled["status"], cancelled["origClientOrderId"]) == ("CANCELED", "conn-cancel")
    # The market fell through the buy at 90 000, not through the stops at 85 000.
    filled = spot.ok("orders.limit_after_fall")
    assert (filled["status"], filled["executedQty"], filled["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.00100000",
        "90.00000000",
    )
    still_open = spot.ok("orders.open_before_cancel_all")
    assert sorted(o["type"] for o in still_open) == [
        "LIMIT_MAKER",
        "STOP_LOSS",
        "STOP_LOSS_LIMIT",
        "TAKE_PROFIT",
        "TAKE_PROFIT_LIMIT",
    ]
    cancel_all = spot.ok("orders.cancel_all")
    assert sorted(o["orderId"] for o in cancel_all) == sorted(o["orderId"] for o in still_open)
    assert {o["status"] for o in cancel_all} == {"CANCELED"}
    assert spot.ok("orders.open_after_cancel_all") == []

    history = spot.ok("orders.all")
    assert len(history) == 9
    assert by_client_id(history)["conn-limit"]["status"] == "FILLED"
    assert by_client_id(history)["conn-cancel"]["status"] == "CANCELED"
    assert sorted(o["status"] for o in history).count("FILLED") == 3

    trades = spot.ok("orders.my_trades")
    filled_ids = {spot.ok(s)["orderId"] for s in ("orders.market_quantity", "orders.market_quote")}
    assert {t["orderId"] for t in trades} == filled_ids | {filled["orderId"]}
    (maker_fill,) = [t for t in trades if t["orderId"] == filled["orderId"]]
    assert maker_fill["isMaker"] and maker_fill["price"] == "90000.00000000"
    assert len(spot.ok("orders.public_trades")) == 3  # the fills are on the tape

    # The balances add up to the trades: BTC bought less commission, USDT spent, nothing locked.
    balances = {b["asset"]: b for b in spot.ok("account.after")["balances"]}
    start = spot.config.spot_balances
    bought = sum(d(t["qty"]) - d(t["commission"]) for t in trades)
    spent = sum(d(t["quoteQty"]) for t in trades)
    assert d(balances["BTC"]["free"]) == start["BTC"] + bought
    assert d(balances["USDT"]["free"]) == start["USDT"] - spent
    assert d(balances["BTC"]["locked"]) == d(balances["USDT"]["locked"]) == 0


def test_spot_connector_order_lists(spot: Run) -> None:
    """OCO, OTO and OTOCO through the connector's own methods, and cancelling them."""
    (info,) = spot.ok("market.exchange_info")["symbols"]
    assert info["ocoAllowed"] and info["otoAllowed"]

    oco = spot.ok("lists.oco")
    assert (oco["contingencyType"], oco["listStatusType"], oco["listOrderStatus"]) == (
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
    )
    assert oco["listClientOrderId"] == "conn-oco" and len(oco["orders"]) == 2
    assert sorted(r["type"] for r in oco["orderReports"]) == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    assert {(r["status"], r["orderListId"]) for r in oco["orderReports"]} == {
        ("NEW", oco["orderListId"])
    }
    assert spot.code("lists.oco_prices_wrong_way") == (
        400,
        -2010,
        "The relationship of the prices for the orders is not correct.",
    )
    queried = spot.ok("lists.oco_by_id")
    assert queried == spot.ok("lists.oco_by_client_id")
    assert (queried["orderListId"], queried["orders"]) == (oco["orderListId"], oco["orders"])
    assert [lst["listClientOrderId"] for lst in spot.ok("lists.open_with_oco")] == ["conn-oco"]
    # Cancelling one leg cancels the list: both legs are gone from the book.
    assert spot.ok("lists.oco_cancel_leg")["orderListId"] == oco["orderListId"]
    after = spot.ok("lists.oco_after_leg_cancel")
    assert (after["listStatusType"], after["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert spot.ok("lists.oco_other_leg")["status"] in ("CANCELED", "EXPIRED")

    oto = spot.ok("lists.oto")
    assert (oto["contingencyType"], oto["listClientOrderId"]) == ("OTO", "conn-oto")
    assert [(r["clientOrderId"], r["type"], r["status"]) for r in oto["orderReports"]] == [
        ("conn-oto-working", "LIMIT", "NEW"),
        ("conn-oto-pending", "LIMIT_MAKER", "PENDING_NEW"),
    ]
    # The working buy filled when the market fell; the pending sell went on the book.
    working = spot.ok("lists.oto_working_filled")
    pending = spot.ok("lists.oto_pending_placed")
    assert (working["status"], pending["status"]) == ("FILLED", "NEW")
    assert working["orderListId"] == pending["orderListId"] == oto["orderListId"]

    otoco = spot.ok("lists.otoco")
    assert (otoco["contingencyType"], len(otoco["orders"])) == ("OTO", 3)
    assert sorted((r["type"], r["status"]) for r in otoco["orderReports"]) == [
        ("LIMIT", "NEW"),
        ("LIMIT_MAKER", "PENDING_NEW"),
        ("STOP_LOSS_LIMIT", "PENDING_NEW"),
    ]
    assert sorted(lst["listClientOrderId"] for lst in spot.ok("lists.open_with_oto_and_otoco")) == [
        "conn-oto",
        "conn-otoco",
    ]
    cancelled = spot.ok("lists.otoco_cancel")
    assert (cancelled["listStatusType"], cancelled["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert len(cancelled["orderReports"]) == 3
    assert sorted(lst["listClientOrderId"] for lst in spot.ok("lists.all")) == [
        "conn-oco",
        "conn-oto",
        "conn-otoco",
    ]
    # Cancelling all open orders reports the OTO's pending sell as its list, as Binance does.
    (remaining,) = spot.ok("lists.cancel_all")
    assert (remaining["contingencyType"], remaining["listClientOrderId"]) == ("OTO", "conn-oto")
    assert remaining["listStatusType"] == "ALL_DONE"
    reports = {r["origClientOrderId"]: r["status"] for r in remaining["orderReports"]}
    assert reports["conn-oto-pending"] == "CANCELED"
    assert spot.ok("lists.open_after_cancel_all") == []
    # -2018 is missing from Binance's errors.md but is what the live API answers here
    # (binance/binance-spot-api-docs#43).
    assert spot.code("lists.unknown_query") == (400, -2018, "Order list does not exist.")
    assert spot.code("lists.unknown_cancel")[:2] == (400, -2011)


def test_spot_connector_cancel_replace(spot: Run) -> None:
    (info,) = spot.ok("market.exchange_info")["symbols"]
    assert info["cancelReplaceAllowed"]
    replaced = spot.ok("replace.ok")
    assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert replaced["cancelResponse"]["origClientOrderId"] == "conn-replace-me"
    assert replaced["cancelResponse"]["status"] == "CANCELED"
    new = replaced["newOrderResponse"]
    assert (new["clientOrderId"], new["status"], new["price"], new["origQty"]) == (
        "conn-replaced",
        "NEW",
        "84000.00000000",
        "0.00200000",
    )
    # The cancel fails: nothing is placed, and Binance's details come in the error's data.
    failed = spot.refused("replace.unknown_order")
    assert (failed["status"], failed["code"], failed["msg"]) == (
        400,
        -2022,
        "Order cancel-replace failed.",
    )
    assert (failed["data"]["cancelResult"], failed["data"]["newOrderResult"]) == (
        "FAILURE",
        "NOT_ATTEMPTED",
    )
    assert failed["data"]["cancelResponse"]["code"] == -2011
    # The cancel succeeds and the new order fails: HTTP 409.
    partial = spot.refused("replace.new_order_fails")
    assert (partial["status"], partial["code"], partial["msg"]) == (
        409,
        -2021,
        "Order cancel-replace partially failed.",
    )
    assert (partial["data"]["cancelResult"], partial["data"]["newOrderResult"]) == (
        "SUCCESS",
        "FAILURE",
    )
    assert partial["data"]["newOrderResponse"]["code"] == -2010
    assert spot.ok("replace.replaced_after")["status"] == "CANCELED"
    assert spot.ok("replace.open_after") == []


SPOT_ERRORS = [
    ("unknown_symbol", 400, -1121, "Invalid symbol."),
    ("lot_size", 400, -1013, "Filter failure: LOT_SIZE"),
    ("notional", 400, -1013, "Filter failure: NOTIONAL"),
    ("price_filter", 400, -1013, "Filter failure: PRICE_FILTER"),
    (
        "illegal_characters",
        400,
        -1100,
        "Illegal characters found in parameter 'quantity'; legal range is "
        "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    ),
    ("too_much_precision", 400, -1111, "Parameter 'quantity' has too much precision."),
    (
        "missing_price",
        400,
        -1102,
        "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
    ),
    (
        "missing_time_in_force",
        400,
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    ),
    ("time_in_force_on_market", 400, -1106, "Parameter 'timeInForce' sent when not required."),
    ("bad_side", 400, -1117, "Invalid side."),
    ("bad_type", 400, -1116, "Invalid orderType."),
    ("insufficient_balance", 400, -2010, "Account has insufficient balance for requested action."),
    ("duplicate", 400, -2010, "Duplicate order sent."),
    ("unknown_order_query", 400, -2013, "Order does not exist."),
    ("unknown_order_cancel", 400, -2011, "Unknown order sent."),
    (
        "cancel_without_id",
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    ),
    ("bad_interval", 400, -1120, "Invalid interval."),
    (
        "unknown_parameter",
        400,
        -1104,
        "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.",
    ),
    ("recv_window_too_large", 400, -1131, "recvWindow must be less than 60000"),
    ("wrong_signature", 400, -1022, "Signature for this request is not valid."),
    ("malformed_key", 401, -2014, "API-key format invalid."),
    ("unknown_key", 401, -2015, "Invalid API-key, IP, or permissions for action."),
]


def test_spot_connector_raises_client_error_with_binances_codes(spot: Run) -> None:
    assert spot.ok("errors.duplicate_first")["clientOrderId"] == "conn-dup"
    seen = {name: spot.code(f"errors.{name}") for name, *_ in SPOT_ERRORS}
    assert seen == {name: (status, code, msg) for name, status, code, msg in SPOT_ERRORS}


def test_spot_connector_steps_all_reach_the_paper_exchange(spot: Run) -> None:
    assert spot.crashed() == {}
    assert len(spot.calls) > 90
    assert spot.calls == spot.logged


# ----- USD-M futures: binance-futures-connector -------------------------------------------


def test_futures_connector_reads_market_data(futures: Run) -> None:
    assert futures.ok("market.ping") == {}
    assert abs(futures.ok("market.time")["serverTime"] - time.time() * 1000) < 300_000
    info = futures.ok("market.exchange_info")
    assert info["futuresType"] == "U_MARGINED"
    (btc,) = [s for s in info["symbols"] if s["symbol"] == S]
    assert btc["contractType"] == "PERPETUAL" and btc["marginAsset"] == "USDT"

    book = futures.ok("market.depth")
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert d(book["bids"][0][0]) < d(book["asks"][0][0])
    assert futures.ok("market.trades") == futures.ok("market.agg_trades") == []
    assert len(futures.ok("market.klines")) == len(futures.ok("market.mark_price_klines")) == 3
    mark = futures.ok("market.mark_price")
    assert mark["symbol"] == S and mark["indexPrice"] == "97000.00000000"
    assert d(mark["markPrice"]) > 0 and mark["nextFundingTime"] > mark["time"]
    rates = futures.ok("market.funding_rate")
    assert len(rates) == 3 and [r["fundingTime"] for r in rates] == sorted(
        r["fundingTime"] for r in rates
    )
    info_rows = {r["symbol"]: r for r in futures.ok("market.funding_info")}
    assert info_rows[S]["fundingIntervalHours"] == 8
    assert futures.ok("market.open_interest")["symbol"] == S
    last = futures.ok("market.ticker_price")["price"]
    assert futures.ok("market.ticker_24hr")["lastPrice"] == last
    ticker = futures.ok("market.book_ticker")
    assert d(ticker["bidPrice"]) < d(last) < d(ticker["askPrice"])


def test_futures_connector_reads_the_account_and_changes_settings(futures: Run) -> None:
    wallet = futures.config.futures_balances["USDT"]
    assert d(futures.ok("account.account")["totalWalletBalance"]) == wallet
    (usdt,) = futures.ok("account.balance")
    assert usdt["asset"] == "USDT" and d(usdt["availableBalance"]) == wallet
    assert futures.ok("account.positions_before") == []
    assert futures.ok("account.leverage_brackets")["brackets"][0]["initialLeverage"] == 125
    assert futures.ok("account.commission")["takerCommissionRate"] == "0.0005"
    assert futures.ok("account.position_mode") == {"dualSidePosition": False}
    assert futures.ok("account.multi_assets_mode") == {"multiAssetsMargin": False}
    assert futures.ok("account.config")["canTrade"]
    (config,) = futures.ok("account.symbol_config")
    assert (config["marginType"], config["leverage"]) == ("CROSSED", 20)

    assert futures.ok("settings.leverage")["leverage"] == 10
    assert futures.ok("settings.isolated") == {"code": 200, "msg": "success"}
    assert futures.code("settings.isolated_again") == (400, -4046, "No need to change margin type.")
    assert futures.ok("settings.crossed") == {"code": 200, "msg": "success"}
    (after,) = futures.ok("settings.symbol_config_after")
    assert (after["marginType"], after["leverage"]) == ("CROSSED", 10)


def test_futures_connector_orders_open_and_grow_a_position(futures: Run) -> None:
    assert futures.ok("orders.test") == {}
    limit = futures.ok("orders.limit")
    assert (limit["status"], limit["type"], limit["price"], limit["origQty"]) == (
        "NEW",
        "LIMIT",
        "90000.00",
        "0.002",
    )
    assert futures.ok("orders.limit_query") == futures.ok("orders.limit_query_client_id")
    assert futures.ok("orders.open_order")["clientOrderId"] == "fut-limit"
    assert [o["clientOrderId"] for o in futures.ok("orders.open_orders")] == ["fut-limit"]
    assert futures.ok("orders.cancel")["status"] == "CANCELED"

    filled = futures.ok("orders.limit_after_fall")
    assert (filled["status"], filled["executedQty"], d(filled["avgPrice"])) == (
        "FILLED",
        "0.002",
        d("90000"),
    )
    market = futures.ok("orders.market")
    assert (market["status"], market["executedQty"]) == ("FILLED", "0.002")
    (position,) = futures.ok("orders.positions_long")
    assert (position["symbol"], position["positionSide"], position["positionAmt"]) == (
        S,
        "BOTH",
        "0.004",
    )
    assert d(position["entryPrice"]) == (d("90000") + d(market["avgPrice"])) / 2
    # Since December 2025 Binance takes conditional orders only on the algo-order endpoints.
    assert futures.code("orders.stop_on_order_endpoint") == (
        400,
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    )


def test_futures_connector_algo_orders_trigger_and_cancel(futures: Run) -> None:
    stop = futures.ok("algo.stop_market")
    assert (stop["algoType"], stop["orderType"], stop["algoStatus"], stop["clientAlgoId"]) == (
        "CONDITIONAL",
        "STOP_MARKET",
        "NEW",
        "fut-stop",
    )
    assert d(stop["triggerPrice"]) == d("85000") and stop["reduceOnly"]
    take_profit = futures.ok("algo.take_profit_market")
    assert take_profit["orderType"] == "TAKE_PROFIT_MARKET" and take_profit["closePosition"]
    assert futures.ok("algo.stop_limit")["orderType"] == "STOP"
    assert futures.ok("algo.query") == stop
    assert futures.ok("algo.query_client_id") == take_profit
    assert sorted(a["clientAlgoId"] for a in futures.ok("algo.open")) == [
        "fut-stop",
        "fut-stop-limit",
        "fut-tp",
    ]
    cancelled = futures.ok("algo.cancel")
    assert (cancelled["clientAlgoId"], cancelled["code"], cancelled["msg"]) == (
        "fut-stop-limit",
        "200",
        "success",
    )
    assert futures.code("algo.cancel_unknown")[:2] == (400, -2011)

    # The market fell through 85 000: the stop sold half the long at the market.
    fired = futures.ok("algo.stop_after_fall")
    assert fired["algoStatus"] == "FINISHED" and fired["actualOrderId"] != ""
    (position,) = futures.ok("algo.positions_after_stop")
    assert position["positionAmt"] == "0.002"
    assert futures.ok("algo.cancel_all")["code"] == 200
    assert futures.ok("algo.open_after_cancel_all") == []
    statuses = {a["clientAlgoId"]: a["algoStatus"] for a in futures.ok("algo.all")}
    assert statuses == {"fut-stop": "FINISHED", "fut-tp": "CANCELED", "fut-stop-limit": "CANCELED"}


def test_futures_connector_closes_the_position_and_reads_history(futures: Run) -> None:
    close = futures.ok("history.close")
    assert (close["status"], close["reduceOnly"], close["executedQty"]) == ("FILLED", True, "0.002")
    assert futures.ok("history.positions_after_close") == []

    orders = futures.ok("history.all_orders")
    # The limit, the cancelled limit, the market buy, the stop's market sell, the close.
    assert [o["status"] for o in orders] == ["FILLED", "CANCELED", "FILLED", "FILLED", "FILLED"]
    stop_order = orders[3]
    assert (stop_order["origType"], stop_order["side"]) == ("STOP_MARKET", "SELL")
    trades = futures.ok("history.user_trades")
    assert [t["side"] for t in trades] == ["BUY", "BUY", "SELL", "SELL"]
    assert trades[0]["maker"] and not trades[1]["maker"]
    realized = sum(d(t["realizedPnl"]) for t in trades)
    assert realized < 0  # bought near 89 800, sold near 84 900
    income = futures.ok("history.income")
    by_type: dict[str, Decimal] = {}
    for row in income:
        by_type[row["incomeType"]] = by_type.get(row["incomeType"], Decimal(0)) + d(row["income"])
    assert by_type["REALIZED_PNL"] == realized
    assert by_type["COMMISSION"] == -sum(d(t["commission"]) for t in trades)

    assert futures.ok("history.cancel_all") == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }
    assert futures.ok("history.open_after_cancel_all") == []
    assert futures.ok("history.countdown") == {"symbol": S, "countdownTime": "120000"}
    assert futures.ok("history.countdown_off") == {"symbol": S, "countdownTime": "0"}


FUTURES_ERRORS = [
    ("unknown_symbol", 400, -1121, "Invalid symbol."),
    ("too_much_precision", 400, -1111, "Precision is over the maximum defined for this asset."),
    (
        "below_min_notional",
        400,
        -4164,
        "Order's notional must be no smaller than 100 (unless you choose reduce only)",
    ),
    (
        "missing_quantity",
        400,
        -1102,
        "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
    ),
    ("bad_type", 400, -1116, "Invalid orderType."),
    (
        "position_side_in_one_way",
        400,
        -4061,
        "Order's position side does not match user's setting.",
    ),
    ("insufficient_margin", 400, -2019, "Margin is insufficient."),
    ("reduce_only_without_position", 400, -2022, "ReduceOnly Order is rejected."),
    ("leverage_too_high", 400, -4028, "Leverage 200 is not valid"),
    ("unknown_order_query", 400, -2013, "Order does not exist."),
    ("unknown_order_cancel", 400, -2011, "Unknown order sent."),
    ("unknown_algo_query", 400, -2013, "Order does not exist."),
    ("wrong_signature", 400, -1022, "Signature for this request is not valid."),
    ("malformed_key", 401, -2014, "API-key format invalid."),
    ("unknown_key", 401, -2015, "Invalid API-key, IP, or permissions for action."),
]


def test_futures_connector_raises_client_error_with_binances_codes(futures: Run) -> None:
    seen = {name: futures.code(f"errors.{name}") for name, *_ in FUTURES_ERRORS}
    assert seen == {name: (status, code, msg) for name, status, code, msg in FUTURES_ERRORS}


def test_futures_connector_steps_all_reach_the_paper_exchange(futures: Run) -> None:
    assert futures.crashed() == {}
    assert len(futures.calls) > 70
    assert futures.calls == futures.logged
