"""Binance's own spot connector (`binance-connector`, `binance.spot.Spot`) against the paper
exchange, as a user would script it: market data, the account, orders of every type, order
lists, cancel-replace, and bad input. Run by tests/test_paper_connectors.py in the connector's
own interpreter; prints the outcome of every step as JSON (see sequence.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

from binance.spot import Spot

from tests.connectors.sequence import Sequence

S = "BTCUSDT"


def query_placed(c: Any, placed: Any) -> Any:
    """The order an earlier step placed (an ACK answer carries only its ids)."""
    return c.get_order(S, orderId=placed["orderId"])


def main() -> None:
    run = Sequence()
    c = run.watch(Spot(run.api_key, run.api_secret, base_url=run.base_url, timeout=10))
    step = run.step
    # Where the market starts, whatever the bundled snapshot says; the steps below move it.
    run.set_price(S, "97000")

    # ----- market data ---------------------------------------------------------------------
    step("market.ping", c.ping)
    step("market.time", c.time)
    step("market.exchange_info", lambda: c.exchange_info(symbol=S))
    step("market.depth", lambda: c.depth(S, limit=5))
    step("market.trades", lambda: c.trades(S, limit=5))
    step("market.agg_trades", lambda: c.agg_trades(S, limit=5))
    step("market.klines", lambda: c.klines(S, "1h", limit=3))
    step("market.ui_klines", lambda: c.ui_klines(S, "1h", limit=3))
    step("market.avg_price", lambda: c.avg_price(S))
    step("market.ticker_24hr", lambda: c.ticker_24hr(S))
    step("market.ticker_24hr_mini", lambda: c.ticker_24hr(symbols=[S, "ETHUSDT"], type="MINI"))
    step("market.ticker_price", lambda: c.ticker_price(S))
    step("market.ticker_prices", lambda: c.ticker_price(symbols=[S, "ETHUSDT"]))
    step("market.book_ticker", lambda: c.book_ticker(S))
    step("market.rolling_ticker", lambda: c.rolling_window_ticker(S, windowSize="1h"))

    # ----- account -------------------------------------------------------------------------
    step("account.before", c.account)
    step("account.commission", lambda: c.query_commission_rates(S))
    step("account.order_rate_limit", c.get_order_rate_limit)

    # ----- orders of every type ------------------------------------------------------------
    step("orders.test", lambda: c.new_order_test(S, "BUY", "MARKET", quantity="0.001"))
    step(
        "orders.test_with_commission",
        lambda: c.new_order_test(
            S,
            "BUY",
            "LIMIT",
            quantity="0.001",
            price="90000",
            timeInForce="GTC",
            computeCommissionRates="true",
        ),
    )
    limit = step(
        "orders.limit",
        lambda: c.new_order(
            S,
            "BUY",
            "LIMIT",
            quantity="0.001",
            price="90000",
            timeInForce="GTC",
            newClientOrderId="conn-limit",
        ),
    )
    step("orders.limit_by_id", lambda: c.get_order(S, orderId=limit["orderId"]))
    step("orders.limit_by_client_id", lambda: c.get_order(S, origClientOrderId="conn-limit"))
    step("orders.open_after_limit", lambda: c.get_open_orders(S))
    step(
        "orders.to_cancel",
        lambda: c.new_order(
            S,
            "BUY",
            "LIMIT",
            quantity="0.001",
            price="80000",
            timeInForce="GTC",
            newClientOrderId="conn-cancel",
        ),
    )
    step("orders.cancel", lambda: c.cancel_order(S, origClientOrderId="conn-cancel"))
    step(
        "orders.market_quantity",
        lambda: c.new_order(S, "BUY", "MARKET", quantity="0.001", newOrderRespType="FULL"),
    )
    step("orders.market_quote", lambda: c.new_order(S, "BUY", "MARKET", quoteOrderQty="100"))
    maker = step(
        "orders.limit_maker",
        lambda: c.new_order(S, "SELL", "LIMIT_MAKER", quantity="0.001", price="120000"),
    )
    step("orders.limit_maker_query", lambda: c.get_order(S, orderId=maker["orderId"]))
    step(
        "orders.limit_maker_would_take",
        lambda: c.new_order(S, "BUY", "LIMIT_MAKER", quantity="0.001", price="120000"),
    )
    stops = {
        "STOP_LOSS_LIMIT": {"stopPrice": "85000", "price": "84900", "timeInForce": "GTC"},
        "TAKE_PROFIT_LIMIT": {"stopPrice": "110000", "price": "110000", "timeInForce": "GTC"},
        "STOP_LOSS": {"stopPrice": "85000"},
        "TAKE_PROFIT": {"stopPrice": "110000"},
    }
    for kind, extra in stops.items():
        name = f"orders.{kind.lower()}"
        placed = step(name, partial(c.new_order, S, "SELL", kind, quantity="0.001", **extra))
        step(f"{name}_query", partial(query_placed, c, placed))
    step(
        "orders.stop_would_trigger",
        lambda: c.new_order(
            S,
            "SELL",
            "STOP_LOSS_LIMIT",
            quantity="0.001",
            price="99000",
            stopPrice="99000",
            timeInForce="GTC",
        ),
    )
    # The market falls through the resting buy at 90 000, above the stops at 85 000.
    run.set_price(S, "89500")
    step("orders.limit_after_fall", lambda: c.get_order(S, origClientOrderId="conn-limit"))
    step("orders.open_before_cancel_all", lambda: c.get_open_orders(S))
    step("orders.cancel_all", lambda: c.cancel_open_orders(S))
    step("orders.open_after_cancel_all", lambda: c.get_open_orders(S))
    step("orders.all", lambda: c.get_orders(S))
    step("orders.my_trades", lambda: c.my_trades(S))
    step("orders.public_trades", lambda: c.trades(S))
    step("account.after", c.account)

    # ----- order lists (the market is at 89 500) -------------------------------------------
    oco = step(
        "lists.oco",
        lambda: c.new_oco_order(
            S,
            "SELL",
            "0.001",
            "LIMIT_MAKER",
            "STOP_LOSS_LIMIT",
            listClientOrderId="conn-oco",
            abovePrice="95000",
            belowStopPrice="85000",
            belowPrice="84900",
            belowTimeInForce="GTC",
        ),
    )
    step(
        "lists.oco_prices_wrong_way",
        lambda: c.new_oco_order(
            S,
            "SELL",
            "0.001",
            "LIMIT_MAKER",
            "STOP_LOSS",
            abovePrice="88000",
            belowStopPrice="85000",
        ),
    )
    step("lists.oco_by_id", lambda: c.get_oco_order(orderListId=oco["orderListId"]))
    step("lists.oco_by_client_id", lambda: c.get_oco_order(origClientOrderId="conn-oco"))
    step("lists.open_with_oco", c.get_oco_open_orders)
    # Cancelling one leg cancels the whole list.
    step("lists.oco_cancel_leg", lambda: c.cancel_order(S, orderId=oco["orders"][0]["orderId"]))
    step("lists.oco_after_leg_cancel", lambda: c.get_oco_order(orderListId=oco["orderListId"]))
    step(
        "lists.oco_other_leg",
        lambda: c.get_order(S, orderId=oco["orders"][1]["orderId"]),
    )
    step(
        "lists.oto",
        lambda: c.new_oto_order(
            S,
            "LIMIT",
            "BUY",
            "89000",
            "0.001",
            "LIMIT_MAKER",
            "SELL",
            "0.001",
            listClientOrderId="conn-oto",
            workingClientOrderId="conn-oto-working",
            workingTimeInForce="GTC",
            pendingClientOrderId="conn-oto-pending",
            pendingPrice="95000",
        ),
    )
    # The working buy at 89 000 fills; its pending sell goes on the book.
    run.set_price(S, "88500")
    step("lists.oto_working_filled", lambda: c.get_order(S, origClientOrderId="conn-oto-working"))
    step("lists.oto_pending_placed", lambda: c.get_order(S, origClientOrderId="conn-oto-pending"))
    step(
        "lists.otoco",
        lambda: c.new_otoco_order(
            S,
            "LIMIT",
            "BUY",
            "87000",
            "0.001",
            "SELL",
            "0.001",
            "LIMIT_MAKER",
            listClientOrderId="conn-otoco",
            workingTimeInForce="GTC",
            pendingAbovePrice="95000",
            pendingBelowType="STOP_LOSS_LIMIT",
            pendingBelowStopPrice="80000",
            pendingBelowPrice="79900",
            pendingBelowTimeInForce="GTC",
        ),
    )
    step("lists.open_with_oto_and_otoco", c.get_oco_open_orders)
    step("lists.otoco_cancel", lambda: c.cancel_oco_order(S, listClientOrderId="conn-otoco"))
    step("lists.all", c.get_oco_orders)
    # What is left open is the OTO's pending sell: cancelling all reports its list as a whole.
    step("lists.cancel_all", lambda: c.cancel_open_orders(S))
    step("lists.open_after_cancel_all", c.get_oco_open_orders)
    step("lists.unknown_query", lambda: c.get_oco_order(orderListId=999999))
    step("lists.unknown_cancel", lambda: c.cancel_oco_order(S, orderListId=999999))

    # ----- cancel-replace (the market is at 88 500) ----------------------------------------
    step(
        "replace.original",
        lambda: c.new_order(
            S,
            "BUY",
            "LIMIT",
            quantity="0.001",
            price="85000",
            timeInForce="GTC",
            newClientOrderId="conn-replace-me",
        ),
    )
    step(
        "replace.ok",
        lambda: c.cancel_and_replace(
            S,
            "BUY",
            "LIMIT",
            "STOP_ON_FAILURE",
            cancelOrigClientOrderId="conn-replace-me",
            quantity="0.002",
            price="84000",
            timeInForce="GTC",
            newClientOrderId="conn-replaced",
        ),
    )
    step(
        "replace.unknown_order",
        lambda: c.cancel_and_replace(
            S,
            "BUY",
            "LIMIT",
            "STOP_ON_FAILURE",
            cancelOrderId=999999,
            quantity="0.001",
            price="84000",
            timeInForce="GTC",
        ),
    )
    step(
        "replace.new_order_fails",
        lambda: c.cancel_and_replace(
            S,
            "BUY",
            "LIMIT_MAKER",
            "STOP_ON_FAILURE",
            cancelOrigClientOrderId="conn-replaced",
            quantity="0.001",
            price="90000",
        ),
    )
    step("replace.replaced_after", lambda: c.get_order(S, origClientOrderId="conn-replaced"))
    step("replace.open_after", lambda: c.get_open_orders(S))

    # ----- Binance's error codes on bad input ----------------------------------------------
    def order(**params: str) -> object:
        return c.new_order(**{"symbol": S, "side": "BUY", "type": "LIMIT", **params})

    limit_params = {"quantity": "0.001", "price": "80000", "timeInForce": "GTC"}
    step("errors.unknown_symbol", lambda: order(**{**limit_params, "symbol": "NOPEUSDT"}))
    step("errors.lot_size", lambda: order(**{**limit_params, "quantity": "0.000001"}))
    step("errors.notional", lambda: order(**{**limit_params, "quantity": "0.00001"}))
    step("errors.price_filter", lambda: order(**{**limit_params, "price": "80000.001"}))
    step("errors.illegal_characters", lambda: order(**{**limit_params, "quantity": "1e-07"}))
    step("errors.too_much_precision", lambda: order(**{**limit_params, "quantity": "0.0000000001"}))
    step("errors.missing_price", lambda: order(quantity="0.001", timeInForce="GTC"))
    step("errors.missing_time_in_force", lambda: order(quantity="0.001", price="80000"))
    step(
        "errors.time_in_force_on_market",
        lambda: order(type="MARKET", quantity="0.001", timeInForce="GTC"),
    )
    step("errors.bad_side", lambda: order(**{**limit_params, "side": "UP"}))
    step("errors.bad_type", lambda: order(**{**limit_params, "type": "ICEBERG"}))
    step("errors.insufficient_balance", lambda: order(**{**limit_params, "quantity": "1"}))
    step("errors.duplicate_first", lambda: order(**limit_params, newClientOrderId="conn-dup"))
    step("errors.duplicate", lambda: order(**limit_params, newClientOrderId="conn-dup"))
    step("errors.duplicate_cleanup", lambda: c.cancel_order(S, origClientOrderId="conn-dup"))
    step("errors.unknown_order_query", lambda: c.get_order(S, orderId=999999))
    step("errors.unknown_order_cancel", lambda: c.cancel_order(S, orderId=999999))
    step("errors.cancel_without_id", lambda: c.cancel_order(S))
    step("errors.bad_interval", lambda: c.klines(S, "7m"))
    step("errors.unknown_parameter", lambda: c.account(colour="blue"))
    step("errors.recv_window_too_large", lambda: c.account(recvWindow=70000))
    wrong_secret = run.watch(Spot(run.api_key, "0" * 64, base_url=run.base_url, timeout=10))
    step("errors.wrong_signature", wrong_secret.account)
    malformed = run.watch(Spot("not-a-key", run.api_secret, base_url=run.base_url, timeout=10))
    step("errors.malformed_key", malformed.account)
    unknown = run.watch(Spot("A" * 64, run.api_secret, base_url=run.base_url, timeout=10))
    step("errors.unknown_key", unknown.account)

    run.report()


if __name__ == "__main__":
    main()
