"""Analysis tools end to end over MCP, checked against figures computed here from what the paper
exchange holds (its prices, books, rules and accounts, read with python-binance)."""

from __future__ import annotations

import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange
from tests.mcp_fixtures import fails
from tests.mcp_fixtures import ok as ok_result
from tests.paper_fixtures import binance_client

# Results whose figures sit under one key next to `venue`.
NESTED = {
    "binance_calculate_position_size": "size",
    "binance_compare_spot_futures_price": "comparison",
    "binance_calculate_funding_cost": "funding",
    "binance_get_optimal_trade_size": "trade",
}


async def ok(client: Any, tool: str, args: dict[str, Any] | None = None) -> Any:
    data = await ok_result(client, tool, args)
    key = NESTED.get(tool)
    if key is None:
        return data
    assert set(data) == {"venue", key}
    return {"venue": data["venue"], **data[key]}


pytestmark = pytest.mark.anyio

EIGHT = Decimal("0.00000001")


@pytest.fixture
def paper_config(tmp_path: Path) -> PaperConfig:
    """Spot holdings that need every way of pricing: direct pairs (BTC, ETH in USDT), an inverse
    one (USDT in BTC), a bridge (SOL has no BTC pair) and none at all (XYZ)."""
    return PaperConfig(
        state_dir=tmp_path / "paper",
        walk_interval=0,
        spot_balances={
            "USDT": Decimal("1000"),
            "BTC": Decimal("0.5"),
            "ETH": Decimal("5"),
            "SOL": Decimal("10"),
            "XYZ": Decimal("3"),
        },
    )


def money(value: Decimal) -> str:
    text = f"{value.quantize(EIGHT):f}".rstrip("0").rstrip(".")
    return text or "0"


def plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def filters(info: dict[str, Any], symbol: str) -> dict[str, dict[str, Any]]:
    row = next(s for s in info["symbols"] if s["symbol"] == symbol)
    return {f["filterType"]: f for f in row["filters"]}


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_CEILING) * step


# --- binance_calculate_position_size ------------------------------------------------------------


async def test_position_size(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    fut_step = Decimal(filters(direct.futures_exchange_info(), "BTCUSDT")["LOT_SIZE"]["stepSize"])
    spot_step = Decimal(filters(direct.get_exchange_info(), "ETHUSDT")["LOT_SIZE"]["stepSize"])
    async with Client(server, mode=mode) as c:
        # A long on futures: 50 / 1500 = 0.0333... rounded down to the 0.001 step.
        data = await ok(
            c,
            "binance_calculate_position_size",
            {
                "symbol": "btcusdt",
                "riskAmount": "50",
                "entryPrice": "97000",
                "stopLossPrice": 95500,
                "leverage": 5,
            },
        )
        qty = floor_to(Decimal(50) / Decimal(1500), fut_step)
        assert qty == Decimal("0.033")
        assert data["quantity"] == plain(qty)
        assert data["notional"] == money(qty * 97000)
        assert data["margin"] == money(qty * 97000 / 5)
        assert data["risk"] == money(qty * 1500)
        assert Decimal(data["risk"]) <= 50

        # A short on spot (stop above entry), unleveraged: margin is the whole notional.
        spot = await ok(
            c,
            "binance_calculate_position_size",
            {
                "symbol": "ETHUSDT",
                "riskAmount": "25",
                "entryPrice": "3412.5",
                "stopLossPrice": "3523.3",
                "market": "spot",
            },
        )
        qty = floor_to(Decimal(25) / Decimal("110.8"), spot_step)
        assert spot["quantity"] == plain(qty) == "0.2256"
        assert spot["notional"] == spot["margin"] == money(qty * Decimal("3412.5"))
        assert spot["risk"] == money(qty * Decimal("110.8"))


async def test_position_size_rejections(server: Any, mode: Any, paper: PaperExchange) -> None:
    base = {"symbol": "BTCUSDT", "riskAmount": "1", "entryPrice": "97000"}
    async with Client(server, mode=mode) as c:
        text = await fails(c, "binance_calculate_position_size", {**base, "stopLossPrice": "97000"})
        assert "entryPrice equals stopLossPrice" in text

        # 1 / 1000 = 0.001 BTC is the minimum quantity, but 97 USDT is under the futures
        # minimum notional of 100: 0.002 BTC is the least, reached by risking 2 USDT.
        text = await fails(c, "binance_calculate_position_size", {**base, "stopLossPrice": "96000"})
        assert "below the minimum quantity 0.002" in text
        assert "min notional 100 USDT" in text
        assert "riskAmount of at least 2 USDT" in text
        assert (
            await ok(
                c,
                "binance_calculate_position_size",
                {**base, "riskAmount": "2", "stopLossPrice": "96000"},
            )
        )["quantity"] == "0.002"

        # Too large: 10M over a 1 USDT stop is above spot's 9M USDT maximum notional.
        text = await fails(
            c,
            "binance_calculate_position_size",
            {**base, "riskAmount": "10000000", "stopLossPrice": "96999", "market": "spot"},
        )
        assert "NOTIONAL: notional 970000000000 USDT must be at most 9000000" in text
        largest = floor_to(Decimal(9000000) / 97000, Decimal("0.00001"))
        assert f"riskAmount of at most {plain(largest)} USDT stays within" in text

        text = await fails(
            c,
            "binance_calculate_position_size",
            {**base, "stopLossPrice": "96000", "market": "spot", "leverage": 3},
        )
        assert "leverage must be 1" in text
        text = await fails(
            c,
            "binance_calculate_position_size",
            {**base, "symbol": "BNBUSDT", "entryPrice": "640", "stopLossPrice": "600",
             "leverage": 100},
        )  # fmt: skip
        assert "maximum of 75" in text
        text = await fails(
            c, "binance_calculate_position_size", {**base, "symbol": "BTCUSDX", "stopLossPrice": 1}
        )
        assert "unknown symbol 'BTCUSDX' on the futures market" in text
        assert "market" in await fails(
            c, "binance_calculate_position_size", {**base, "stopLossPrice": 1, "market": "margin"}
        )
        assert "leverage" in await fails(
            c, "binance_calculate_position_size", {**base, "stopLossPrice": 1, "leverage": 126}
        )
        assert "riskAmount" in await fails(
            c, "binance_calculate_position_size", {**base, "riskAmount": "-5", "stopLossPrice": 1}
        )


# --- binance_analyze_portfolio_risk -------------------------------------------------------------


async def test_portfolio_risk(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    direct.futures_change_leverage(symbol="BTCUSDT", leverage=20)
    direct.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1")
    prices = {t["symbol"]: Decimal(t["price"]) for t in direct.get_symbol_ticker()}
    account = direct.futures_account()
    (position,) = [
        p for p in direct.futures_position_information() if Decimal(p["positionAmt"]) != 0
    ]
    async with Client(server, mode=mode) as c:
        data = await ok(c, "binance_analyze_portfolio_risk")
        values = {
            "USDT": Decimal(1000),
            "BTC": Decimal("0.5") * prices["BTCUSDT"],
            "ETH": 5 * prices["ETHUSDT"],
            "SOL": 10 * prices["SOLUSDT"],
        }
        total = sum(values.values())
        assert data["spotValue"] == money(total)
        assert data["spotValues"] == {a: money(v) for a, v in values.items()}
        assert list(data["spotValues"]) == ["BTC", "ETH", "SOL", "USDT"]  # largest first
        assert data["unpriced"] == ["XYZ"]
        share = (values["BTC"] / total * 100).quantize(Decimal("0.01"))
        assert data["concentration"] == {"asset": "BTC", "pct": plain(share)}

        futures = data["futures"]
        balance = Decimal(account["totalMarginBalance"])
        assert futures["marginBalance"] == money(balance)
        assert futures["initialMargin"] == money(Decimal(account["totalInitialMargin"]))
        assert futures["maintMargin"] == money(Decimal(account["totalMaintMargin"]))
        used = Decimal(account["totalInitialMargin"]) / balance * 100
        assert futures["marginUsedPct"] == plain(used.quantize(Decimal("0.01")))
        ratio = Decimal(account["totalMaintMargin"]) / balance * 100
        assert futures["marginRatioPct"] == plain(ratio.quantize(Decimal("0.01")))

        mark, liq = Decimal(position["markPrice"]), Decimal(position["liquidationPrice"])
        assert 0 < liq < mark
        distance = ((mark - liq) / mark * 100).quantize(Decimal("0.01"))
        assert 0 < distance < 15  # 1 BTC at 20x on 10000 USDT: close to liquidation
        assert data["positions"] == [
            {
                "symbol": "BTCUSDT",
                "positionAmt": position["positionAmt"],
                "markPrice": position["markPrice"],
                "liquidationPrice": position["liquidationPrice"],
                "liquidationDistancePct": plain(distance),
            }
        ]
        assert data["flags"] == [
            f"{plain(share)}% of spot value is in one asset, BTC",
            "no price in USDT for XYZ: left out of spotValue",
            f"position BTCUSDT (long) is {plain(distance)}% from liquidation at {plain(liq)}",
        ]

        # Priced in BTC: USDT through the inverse pair, ETH directly (ETHBTC), SOL through USDT.
        in_btc = await ok(c, "binance_analyze_portfolio_risk", {"quoteAsset": " btc"})
        btc_usdt = prices["BTCUSDT"]
        expected = {
            "BTC": Decimal("0.5"),
            "ETH": 5 * prices["ETHBTC"],
            "SOL": 10 * prices["SOLUSDT"] / btc_usdt,
            "USDT": 1000 / btc_usdt,
        }
        assert in_btc["spotValues"] == {a: money(v) for a, v in expected.items()}
        assert in_btc["spotValue"] == money(sum(expected.values()))
        assert in_btc["unpriced"] == ["XYZ"]

        assert "no spot pair trades against EUR" in await fails(
            c, "binance_analyze_portfolio_risk", {"quoteAsset": "EUR"}
        )
        assert "asset name" in await fails(
            c, "binance_analyze_portfolio_risk", {"quoteAsset": "US-DT"}
        )


async def test_portfolio_risk_without_positions(server: Any, paper: PaperExchange) -> None:
    async with Client(server) as c:
        data = await ok(c, "binance_analyze_portfolio_risk", {"quoteAsset": "ETH"})
    prices = paper.state.walk.prices
    assert data["positions"] == []
    assert data["futures"]["initialMargin"] == "0"
    assert data["futures"]["marginUsedPct"] == "0"
    # ETH priced in ETH is 1; BTC through the inverse ETHBTC pair; USDT through ETHUSDT.
    assert data["spotValues"]["ETH"] == "5"
    assert data["spotValues"]["BTC"] == money(Decimal("0.5") / prices["ETHBTC"])
    assert data["spotValues"]["USDT"] == money(1000 / prices["ETHUSDT"])
    assert data["spotValues"]["SOL"] == money(10 * prices["SOLUSDT"] / prices["ETHUSDT"])


async def test_portfolio_risk_reports_an_unreadable_side(server: Any, paper: PaperExchange) -> None:
    """Testnet keys belong to one market: the side that answers is still analysed."""
    paper.state.faults.arm(Fault("/fapi/v2/account", "status", status=400))
    async with Client(server) as c:
        data = await ok(c, "binance_analyze_portfolio_risk")
        assert data["futures"] is None and data["positions"] == []
        assert Decimal(data["spotValue"]) > 0
        assert data["flags"][-1].startswith("futures account not read: Binance error -1001")

        paper.state.faults.arm(Fault("/fapi/v2/account", "status", status=400))
        paper.state.faults.arm(Fault("/api/v3/account", "status", status=400))
        assert "Binance error -1001" in await fails(c, "binance_analyze_portfolio_risk")


# --- binance_compare_spot_futures_price ---------------------------------------------------------


async def test_compare_spot_futures_price(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    async with Client(server, mode=mode) as c:
        for price in (None, Decimal("90000.5")):
            if price is not None:
                paper.state.set_price("BTCUSDT", price)
            data = await ok(c, "binance_compare_spot_futures_price", {"symbol": "BTCUSDT"})
            spot = direct.get_symbol_ticker(symbol="BTCUSDT")["price"]
            last = direct.futures_symbol_ticker(symbol="BTCUSDT")["price"]
            premium = direct.futures_mark_price(symbol="BTCUSDT")
            if price is not None:
                assert Decimal(spot) == price
            assert data["spotPrice"] == spot
            assert data["futuresPrice"] == last
            assert data["markPrice"] == premium["markPrice"]
            basis = Decimal(last) - Decimal(spot)
            assert data["basis"] == plain(basis)
            assert data["basisPct"] == plain(
                (basis / Decimal(spot) * 100).quantize(Decimal("0.0001"))
            )
            assert data["markBasis"] == plain(Decimal(premium["markPrice"]) - Decimal(spot))
            assert data["fundingRate"] == premium["lastFundingRate"]
            assert data["nextFundingTime"] == premium["nextFundingTime"]
            assert Decimal(data["basis"]) > 0  # the paper contracts trade at a premium

        text = await fails(c, "binance_compare_spot_futures_price", {"symbol": "ETHBTC"})
        assert "unknown symbol 'ETHBTC' on the futures market" in text


# --- binance_calculate_funding_cost --------------------------------------------------------------


async def test_funding_cost(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    async with Client(server, mode=mode) as c:
        long = await ok(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "BTCUSDT", "positionSize": "0.5", "holdHours": 24},
        )
        premium = direct.futures_mark_price(symbol="BTCUSDT")
        rate, mark = Decimal(premium["lastFundingRate"]), Decimal(premium["markPrice"])
        assert rate > 0
        per = Decimal("0.5") * mark * rate
        # Every 8 hours: a 24-hour hold meets exactly three funding times.
        assert long["intervalHours"] == 8
        assert long["fundings"] == 3
        assert long["fundingRate"] == premium["lastFundingRate"]
        assert long["markPrice"] == premium["markPrice"]
        assert long["perFunding"] == money(per)
        assert long["total"] == money(per * 3)
        assert long["summary"] == f"you pay {money(per * 3)} USDT over 3 funding(s)"

        short = await ok(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "BTCUSDT", "positionSize": "-0.5", "holdHours": "8"},
        )
        assert short["fundings"] == 1
        assert short["total"] == money(-per)
        assert short["summary"] == f"you receive {money(per)} USDT over 1 funding(s)"

        # XRP's paper rate is negative: longs receive.
        xrp = await ok(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "XRPUSDT", "positionSize": "1000", "holdHours": "16"},
        )
        assert Decimal(xrp["fundingRate"]) < 0 and Decimal(xrp["total"]) < 0
        assert xrp["fundings"] == 2 and xrp["summary"].startswith("you receive ")

        # A hold that ends just before the next funding time pays nothing.
        hours_left = Decimal(premium["nextFundingTime"] - int(time.time() * 1000)) / 3_600_000
        brief = await ok(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "BTCUSDT", "positionSize": "1", "holdHours": "0.001"},
        )
        if hours_left > Decimal("0.01"):
            assert brief["fundings"] == 0 and brief["total"] == "0"
            assert brief["summary"] == "no funding time falls within 0.001 h"
        else:  # within 36 s of a funding time: it may fall inside the 3.6 s hold
            assert brief["fundings"] in (0, 1)

        assert "positionSize is 0" in await fails(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "BTCUSDT", "positionSize": "0", "holdHours": 8},
        )
        assert "holdHours" in await fails(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "BTCUSDT", "positionSize": "1", "holdHours": 0},
        )
        assert "unknown symbol" in await fails(
            c,
            "binance_calculate_funding_cost",
            {"symbol": "ETHBTC", "positionSize": "1", "holdHours": 8},
        )


# --- binance_check_order_precision ---------------------------------------------------------------


async def test_check_order_precision(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    async with Client(server, mode=mode) as c:
        good = await ok(
            c,
            "binance_check_order_precision",
            {"symbol": "BTCUSDT", "price": "96000", "quantity": "0.001"},
        )
        assert good["valid"] is True
        assert {ch["filter"] for ch in good["checks"]} == {
            "PRICE_FILTER",
            "LOT_SIZE",
            "NOTIONAL",
            "PERCENT_PRICE_BY_SIDE",
        }
        assert all(ch["ok"] for ch in good["checks"])
        assert good["nearestValidPrice"] == "96000"
        assert good["nearestValidQuantity"] == "0.001"

        # Off the tick, off the step, and 0.000015 x 97000 is under the 5 USDT minimum: a failed
        # check is the tool's answer, not an error.
        bad = await ok(
            c,
            "binance_check_order_precision",
            {"symbol": "BTCUSDT", "price": "97000.004", "quantity": "0.000015", "side": "sell"},
        )
        assert bad["valid"] is False
        failed = {ch["filter"]: ch["detail"] for ch in bad["checks"] if not ch["ok"]}
        assert set(failed) == {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"}
        assert "multiple of the tick size 0.01" in failed["PRICE_FILTER"]
        assert "multiple of the step size 0.00001" in failed["LOT_SIZE"]
        assert "must be at least 5" in failed["NOTIONAL"]
        assert bad["nearestValidPrice"] == "97000"
        # The nearest step (0.00001) is worth under 5 USDT: the least that reaches it.
        least = ceil_to(Decimal(5) / Decimal("97000.004"), Decimal("0.00001"))
        assert bad["nearestValidQuantity"] == plain(least) == "0.00006"

        # Futures LIMIT far below the mark: outside PERCENT_PRICE, nearest is the band's edge.
        mark = Decimal(direct.futures_mark_price(symbol="BTCUSDT")["markPrice"])
        far = await ok(
            c,
            "binance_check_order_precision",
            {"symbol": "BTCUSDT", "market": "futures", "price": "50000", "quantity": "0.01"},
        )
        band = {ch["filter"]: ch for ch in far["checks"]}["PERCENT_PRICE"]
        assert not far["valid"] and not band["ok"]
        assert far["nearestValidPrice"] == plain(ceil_to(mark * Decimal("0.95"), Decimal("0.1")))

        # Futures MARKET: market lot size and the minimum notional at the mark price.
        market = await ok(
            c,
            "binance_check_order_precision",
            {"symbol": "BTCUSDT", "market": "futures", "type": "market", "quantity": "0.0005"},
        )
        assert [(ch["filter"], ch["ok"]) for ch in market["checks"]] == [
            ("LOT_SIZE", False),
            ("MARKET_LOT_SIZE", False),
            ("MIN_NOTIONAL", False),
        ]
        assert market["nearestValidPrice"] is None
        assert market["nearestValidQuantity"] == plain(ceil_to(100 / mark, Decimal("0.001")))

        assert "needs a price" in await fails(
            c, "binance_check_order_precision", {"symbol": "BTCUSDT", "quantity": "1"}
        )
        assert "takes no price" in await fails(
            c,
            "binance_check_order_precision",
            {"symbol": "BTCUSDT", "quantity": "1", "price": "1", "type": "MARKET"},
        )
        assert "unknown symbol" in await fails(
            c,
            "binance_check_order_precision",
            {"symbol": "DOGEUSDT", "quantity": "1", "price": "1"},
        )


# --- binance_get_optimal_trade_size --------------------------------------------------------------


def walk_book(
    levels: list[list[str]], side: str, impact: Decimal, step: Decimal, max_qty: Decimal
) -> dict[str, Any]:
    book = [(Decimal(p), Decimal(q)) for p, q in levels]
    best = book[0][0]
    bound = best * (1 + impact / 100) if side == "BUY" else best * (1 - impact / 100)
    inside = [lv for lv in book if (lv[0] <= bound if side == "BUY" else lv[0] >= bound)]
    qty = floor_to(sum(q for _, q in inside), step)
    limited = "priceImpact" if len(inside) < len(book) else "bookDepth"
    if qty > max_qty:
        qty, limited = floor_to(max_qty, step), "maxQty"
    left, notional, used = qty, Decimal(0), 0
    for price, q in book:
        take = min(left, q)
        notional += take * price
        left -= take
        used += 1
        worst = price
        if left == 0:
            break
    return {
        "quantity": plain(qty),
        "notional": money(notional),
        "worst": worst,
        "avg": notional / qty,
        "levels": used,
        "best": best,
        "limitedBy": limited,
    }


async def test_optimal_trade_size(server: Any, mode: Any, paper: PaperExchange) -> None:
    direct = binance_client(paper)
    spot_info = filters(direct.get_exchange_info(), "BTCUSDT")
    fut_info = filters(direct.futures_exchange_info(), "ETHUSDT")
    async with Client(server, mode=mode) as c:
        cases = [
            ("spot", "BTCUSDT", "BUY", "0.5", spot_info),
            ("futures", "ETHUSDT", "SELL", "0.2", fut_info),
            ("spot", "BTCUSDT", "SELL", "5", spot_info),  # more than the market maximum
        ]
        for market, symbol, side, impact, info in cases:
            data = await ok(
                c,
                "binance_get_optimal_trade_size",
                {"symbol": symbol, "side": side, "maxPriceImpact": impact, "market": market},
            )
            if market == "spot":
                book = direct.get_order_book(symbol=symbol, limit=5000)
            else:
                book = direct.futures_order_book(symbol=symbol, limit=1000)
            want = walk_book(
                book["asks" if side == "BUY" else "bids"],
                side,
                Decimal(impact),
                Decimal(info["LOT_SIZE"]["stepSize"]),
                Decimal(info["MARKET_LOT_SIZE"]["maxQty"]),
            )
            assert data["quantity"] == want["quantity"]
            assert data["notional"] == want["notional"]
            assert data["levels"] == want["levels"]
            assert data["limitedBy"] == want["limitedBy"]
            assert Decimal(data["worstPrice"]) == want["worst"]
            assert abs(Decimal(data["avgPrice"]) - want["avg"]) < Decimal("0.00001")
            impact_pct = abs(want["worst"] - want["best"]) / want["best"] * 100
            assert Decimal(data["impactPct"]) == impact_pct.quantize(Decimal("0.0001"))
            assert Decimal(data["impactPct"]) <= Decimal(impact)
        assert data["limitedBy"] == "maxQty"

        # Without a binding market maximum, selling into every bid the book served exhausts it.
        spec = paper.state.spot_specs["ETHBTC"]
        spec.filters = [
            {**f, "maxQty": "100000000"} if f["filterType"] == "MARKET_LOT_SIZE" else f
            for f in spec.filters
        ]
        deep = await ok(
            c,
            "binance_get_optimal_trade_size",
            {"symbol": "ETHBTC", "side": "SELL", "maxPriceImpact": 100},
        )
        bids = direct.get_order_book(symbol="ETHBTC", limit=5000)["bids"]
        assert deep["limitedBy"] == "bookDepth"
        assert deep["levels"] == len(bids)
        assert deep["quantity"] == plain(sum(Decimal(q) for _, q in bids))
        assert deep["worstPrice"] == plain(Decimal(bids[-1][0]))

        assert "at most 100" in await fails(
            c,
            "binance_get_optimal_trade_size",
            {"symbol": "BTCUSDT", "side": "BUY", "maxPriceImpact": 150},
        )
        assert "maxPriceImpact" in await fails(
            c,
            "binance_get_optimal_trade_size",
            {"symbol": "BTCUSDT", "side": "BUY", "maxPriceImpact": 0},
        )
        assert "side" in await fails(
            c,
            "binance_get_optimal_trade_size",
            {"symbol": "BTCUSDT", "side": "HOLD", "maxPriceImpact": 1},
        )
