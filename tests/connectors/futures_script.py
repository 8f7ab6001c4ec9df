"""Binance's own USD-M futures connector (`binance-futures-connector`,
`binance.um_futures.UMFutures`) against the paper exchange: market data, the account, leverage
and margin type, orders, a position opened and closed, conditional orders on the algo-order
endpoints, history, and bad input. Run by tests/test_paper_connectors.py in the connector's own
interpreter; prints the outcome of every step as JSON (see sequence.py)."""

from __future__ import annotations

from typing import Any

from binance.um_futures import UMFutures

from tests.connectors.sequence import Sequence

S = "BTCUSDT"


def main() -> None:
    run = Sequence()
    c = run.watch(UMFutures(run.api_key, run.api_secret, base_url=run.base_url, timeout=10))
    step = run.step

    def algo(method: str, path: str, **params: Any) -> Any:
        # The connector has no methods for the algo-order endpoints, where Binance moved
        # conditional orders in December 2025; its generic signed request reaches them.
        return c.sign_request(method, f"/fapi/v1/{path}", params)

    # The contract follows the spot price (with a small basis); the steps below move it.
    run.set_price(S, "97000")

    # ----- market data ---------------------------------------------------------------------
    step("market.ping", c.ping)
    step("market.time", c.time)
    step("market.exchange_info", c.exchange_info)
    step("market.depth", lambda: c.depth(S, limit=5))
    step("market.trades", lambda: c.trades(S, limit=5))
    step("market.agg_trades", lambda: c.agg_trades(S, limit=5))
    step("market.klines", lambda: c.klines(S, "1h", limit=3))
    step("market.mark_price_klines", lambda: c.mark_price_klines(S, "1h", limit=3))
    step("market.mark_price", lambda: c.mark_price(S))
    step("market.funding_rate", lambda: c.funding_rate(S, limit=3))
    # The connector's funding_info() asks /fapi/v1/fundingRate (a bug in 4.2.0), so the
    # endpoint is asked directly, as a user of the connector would have to.
    step("market.funding_info", lambda: c.query("/fapi/v1/fundingInfo"))
    step("market.open_interest", lambda: c.open_interest(S))
    step("market.ticker_24hr", lambda: c.ticker_24hr_price_change(S))
    step("market.ticker_price", lambda: c.ticker_price(S))
    step("market.book_ticker", lambda: c.book_ticker(S))

    # ----- account and settings ------------------------------------------------------------
    step("account.account", c.account)
    step("account.balance", c.balance)
    step("account.positions_before", lambda: c.get_position_risk(symbol=S))
    step("account.leverage_brackets", lambda: c.leverage_brackets(symbol=S))
    step("account.commission", lambda: c.commission_rate(S))
    step("account.position_mode", c.get_position_mode)
    step("account.multi_assets_mode", c.get_multi_asset_mode)
    step("account.config", c.futures_account_configuration)
    step("account.symbol_config", lambda: c.symbol_configuration(symbol=S))
    step("settings.leverage", lambda: c.change_leverage(S, 10))
    step("settings.isolated", lambda: c.change_margin_type(S, "ISOLATED"))
    step("settings.isolated_again", lambda: c.change_margin_type(S, "ISOLATED"))
    step("settings.crossed", lambda: c.change_margin_type(S, "CROSSED"))
    step("settings.symbol_config_after", lambda: c.symbol_configuration(symbol=S))

    # ----- orders, and a position ----------------------------------------------------------
    step(
        "orders.test",
        lambda: c.new_order_test(
            S, "BUY", "LIMIT", quantity="0.002", price="90000", timeInForce="GTC"
        ),
    )
    limit = step(
        "orders.limit",
        lambda: c.new_order(
            symbol=S,
            side="BUY",
            type="LIMIT",
            quantity="0.002",
            price="90000",
            timeInForce="GTC",
            newClientOrderId="fut-limit",
        ),
    )
    step("orders.limit_query", lambda: c.query_order(S, orderId=limit["orderId"]))
    step("orders.limit_query_client_id", lambda: c.query_order(S, origClientOrderId="fut-limit"))
    step("orders.open_order", lambda: c.get_open_orders(S, orderId=limit["orderId"]))
    step("orders.open_orders", lambda: c.get_orders(symbol=S))
    step(
        "orders.to_cancel",
        lambda: c.new_order(
            symbol=S,
            side="BUY",
            type="LIMIT",
            quantity="0.002",
            price="80000",
            timeInForce="GTC",
            newClientOrderId="fut-cancel",
        ),
    )
    step("orders.cancel", lambda: c.cancel_order(S, origClientOrderId="fut-cancel"))
    # The contract falls through the resting buy at 90 000: it fills and opens a long.
    run.set_price(S, "89500")
    step("orders.limit_after_fall", lambda: c.query_order(S, origClientOrderId="fut-limit"))
    step(
        "orders.market",
        lambda: c.new_order(
            symbol=S, side="BUY", type="MARKET", quantity="0.002", newOrderRespType="RESULT"
        ),
    )
    step("orders.positions_long", lambda: c.get_position_risk(symbol=S))
    step(
        "orders.stop_on_order_endpoint",
        lambda: c.new_order(
            symbol=S,
            side="SELL",
            type="STOP_MARKET",
            quantity="0.002",
            stopPrice="85000",
            reduceOnly="true",
        ),
    )

    # ----- conditional orders on the algo-order endpoints ----------------------------------
    stop = step(
        "algo.stop_market",
        lambda: algo(
            "POST",
            "algoOrder",
            algoType="CONDITIONAL",
            symbol=S,
            side="SELL",
            type="STOP_MARKET",
            quantity="0.002",
            triggerPrice="85000",
            reduceOnly="true",
            clientAlgoId="fut-stop",
        ),
    )
    step(
        "algo.take_profit_market",
        lambda: algo(
            "POST",
            "algoOrder",
            algoType="CONDITIONAL",
            symbol=S,
            side="SELL",
            type="TAKE_PROFIT_MARKET",
            triggerPrice="100000",
            closePosition="true",
            clientAlgoId="fut-tp",
        ),
    )
    step(
        "algo.stop_limit",
        lambda: algo(
            "POST",
            "algoOrder",
            algoType="CONDITIONAL",
            symbol=S,
            side="SELL",
            type="STOP",
            quantity="0.002",
            price="85500",
            triggerPrice="85200",
            timeInForce="GTC",
            reduceOnly="true",
            clientAlgoId="fut-stop-limit",
        ),
    )
    step("algo.query", lambda: algo("GET", "algoOrder", algoId=stop["algoId"]))
    step("algo.query_client_id", lambda: algo("GET", "algoOrder", clientAlgoId="fut-tp"))
    step("algo.open", lambda: algo("GET", "openAlgoOrders", symbol=S))
    step("algo.cancel", lambda: algo("DELETE", "algoOrder", clientAlgoId="fut-stop-limit"))
    step("algo.cancel_unknown", lambda: algo("DELETE", "algoOrder", algoId=1))
    # Below the stop's trigger at 85 000: it sells half the long at the market.
    run.set_price(S, "84900")
    step("algo.stop_after_fall", lambda: algo("GET", "algoOrder", clientAlgoId="fut-stop"))
    step("algo.positions_after_stop", lambda: c.get_position_risk(symbol=S))
    step("algo.cancel_all", lambda: algo("DELETE", "algoOpenOrders", symbol=S))
    step("algo.open_after_cancel_all", lambda: algo("GET", "openAlgoOrders", symbol=S))
    step("algo.all", lambda: algo("GET", "allAlgoOrders", symbol=S))

    # ----- closing, history ----------------------------------------------------------------
    step(
        "history.close",
        lambda: c.new_order(
            symbol=S,
            side="SELL",
            type="MARKET",
            quantity="0.002",
            reduceOnly="true",
            newOrderRespType="RESULT",
        ),
    )
    step("history.positions_after_close", lambda: c.get_position_risk(symbol=S))
    step("history.all_orders", lambda: c.get_all_orders(S))
    step("history.user_trades", lambda: c.get_account_trades(S))
    step("history.income", lambda: c.get_income_history(symbol=S))
    step(
        "history.resting",
        lambda: c.new_order(
            symbol=S, side="BUY", type="LIMIT", quantity="0.002", price="80000", timeInForce="GTC"
        ),
    )
    step("history.cancel_all", lambda: c.cancel_open_orders(S))
    step("history.open_after_cancel_all", lambda: c.get_orders(symbol=S))
    step("history.countdown", lambda: c.countdown_cancel_order(S, 120000))
    step("history.countdown_off", lambda: c.countdown_cancel_order(S, 0))

    # ----- Binance's error codes on bad input ----------------------------------------------
    def order(**params: str) -> object:
        return c.new_order(**{"symbol": S, "side": "BUY", "type": "MARKET", **params})

    step("errors.unknown_symbol", lambda: order(symbol="NOPEUSDT", quantity="0.002"))
    step("errors.too_much_precision", lambda: order(quantity="0.0001"))
    step("errors.below_min_notional", lambda: order(quantity="0.001"))
    step("errors.missing_quantity", lambda: order())
    step("errors.bad_type", lambda: order(type="ICEBERG", quantity="0.002"))
    step("errors.position_side_in_one_way", lambda: order(quantity="0.002", positionSide="LONG"))
    step("errors.insufficient_margin", lambda: order(quantity="50"))
    step(
        "errors.reduce_only_without_position",
        lambda: order(side="SELL", quantity="0.002", reduceOnly="true"),
    )
    step("errors.leverage_too_high", lambda: c.change_leverage(S, 200))
    step("errors.unknown_order_query", lambda: c.query_order(S, orderId=999999))
    step("errors.unknown_order_cancel", lambda: c.cancel_order(S, orderId=999999))
    step("errors.unknown_algo_query", lambda: algo("GET", "algoOrder", algoId=999999))
    wrong_secret = run.watch(UMFutures(run.api_key, "0" * 64, base_url=run.base_url, timeout=10))
    step("errors.wrong_signature", wrong_secret.balance)
    malformed = run.watch(UMFutures("not-a-key", run.api_secret, base_url=run.base_url, timeout=10))
    step("errors.malformed_key", malformed.balance)
    unknown = run.watch(UMFutures("A" * 64, run.api_secret, base_url=run.base_url, timeout=10))
    step("errors.unknown_key", unknown.balance)

    run.report()


if __name__ == "__main__":
    main()
