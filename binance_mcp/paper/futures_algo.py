"""Conditional orders on Binance's algo-order service (`/fapi/v1/algoOrder`, since December
2025 the only way to place STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET and
TRAILING_STOP_MARKET): placement with Binance's checks, triggers on the contract or mark
price, and the regular order each trigger places."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError, mandatory, not_required
from binance_mcp.paper.filters import check_futures_order
from binance_mcp.paper.futures_market import FuturesMarket, FuturesSpec
from binance_mcp.paper.futures_models import ZERO, AlgoOrder, FuturesAccount, FuturesOrder
from binance_mcp.paper.futures_params import (
    CANCEL_ALL_DONE,
    CONDITIONAL_TYPES,
    ORDER_TYPES,
    STP_MODES,
    STP_RANGE_MSG,
    TIME_IN_FORCE,
    WORKING_TYPES,
    check_precision,
    flag,
)
from binance_mcp.paper.params import Params, new_client_id

CLOSE_ALL_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
LIMIT_TYPES = ("STOP", "TAKE_PROFIT")
CALLBACK_RANGE = (Decimal("0.1"), Decimal("10"))


def triggered(kind: str, side: str, trigger: Decimal, price: Decimal) -> bool:
    """Stops buy on a rise and sell on a fall; take-profits the other way round."""
    rising = kind.startswith("STOP") == (side == "BUY")
    return price >= trigger if rising else price <= trigger


class OrderEngine(Protocol):
    """What algo orders use of the futures engine that owns them (paper/futures.py): the
    account, the market, the order checks and `submit`, through which a triggered order is
    booked like any other."""

    account: FuturesAccount
    market: FuturesMarket

    def spec(self, symbol: str | None) -> FuturesSpec: ...
    def side_of(self, p: Params) -> str: ...
    def position_side(self, p: Params) -> str: ...
    def reduce_only(self, p: Params) -> bool: ...
    def closing(self, side: str, position_side: str) -> bool: ...
    def open_counts(self, symbol: str) -> tuple[int, int]: ...
    def closable(self, symbol: str, side: str, position_side: str) -> Decimal: ...

    @property
    def submit(self) -> Callable[..., tuple[FuturesOrder | None, dict[str, Any]]]:
        """submit(spec, *, side, position_side, kind, qty, price, ...) -> (order, answer)"""


class AlgoEngine:
    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine
        self.account = engine.account
        self.market = engine.market

    def reference(self, working_type: str, symbol: str) -> Decimal:
        """The price a trigger watches: the mark price or the contract's last price."""
        if working_type == "MARK_PRICE":
            return self.market.mark(symbol)
        return self.market.last(symbol)

    # ----- placing -------------------------------------------------------------------------

    def place(self, p: Params, now: int) -> dict[str, Any]:
        algo_type = p.text("algoType")
        if algo_type is None:
            raise mandatory("algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceError(-1130, "Data sent for parameter 'algoType' is not valid.")
        engine = self.engine
        spec = engine.spec(p.text("symbol"))
        side = engine.side_of(p)
        kind = p.choice("type", ORDER_TYPES, -1116, "Invalid orderType.")
        if kind is None:
            raise mandatory("type")
        if kind not in CONDITIONAL_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        position_side = engine.position_side(p)
        reduce_only = engine.reduce_only(p)
        close = bool(flag(p, "closePosition"))
        working = p.choice("workingType", WORKING_TYPES, *E.INVALID_WORKING_TYPE)
        protect = bool(flag(p, "priceProtect"))
        tif = p.choice("timeInForce", TIME_IN_FORCE, -1115, "Invalid timeInForce.")
        p.choice("newOrderRespType", ("ACK", "RESULT"), -1136, "Invalid newOrderRespType.")
        stp = p.choice("selfTradePreventionMode", STP_MODES, -1100, STP_RANGE_MSG)
        if p.text("priceMatch") not in (None, "NONE"):
            raise BinanceError(-1130, "Data sent for parameter 'priceMatch' is not valid.")
        client_id = p.client_id("clientAlgoId")
        quantity = p.decimal("quantity")
        price = p.decimal("price")
        trigger = p.decimal("triggerPrice")
        activate = p.decimal("activatePrice")
        callback = p.decimal("callbackRate")

        # Which parameters each type takes.
        if kind == "TRAILING_STOP_MARKET":
            for name in ("triggerPrice", "price", "timeInForce"):
                if name in p:
                    raise not_required(name)
            if callback is None:
                raise mandatory("callbackRate")
            if not CALLBACK_RANGE[0] <= callback <= CALLBACK_RANGE[1]:
                raise BinanceError(-1130, "Data sent for parameter 'callbackRate' is not valid.")
        else:
            for name in ("activatePrice", "callbackRate"):
                if name in p:
                    raise not_required(name)
            if trigger is None:
                raise mandatory("triggerPrice")
        if kind in LIMIT_TYPES:
            if price is None:
                raise mandatory("price")
        else:
            if price is not None:
                raise not_required("price")
            if tif is not None:  # (a trailing stop's was refused above)
                raise not_required("timeInForce")
        if close:
            # Close-all is only for *_MARKET stops, never with a quantity or reduceOnly, and
            # in hedge mode only on the side that closes.
            if kind not in CLOSE_ALL_TYPES:
                raise not_required("closePosition")
            if position_side != "BOTH" and not engine.closing(side, position_side):
                raise not_required("closePosition")
            if quantity is not None:
                raise E.err(E.QTY_WITH_CLOSE_POSITION)
            if "reduceOnly" in p:
                raise not_required("reduceOnly")
        elif quantity is None:
            raise mandatory("quantity")
        check_precision(spec, p, ("price", "triggerPrice", "activatePrice"))

        reference = self.reference(working or "CONTRACT_PRICE", spec.symbol)
        orders, algos = engine.open_counts(spec.symbol)
        check_futures_order(
            spec,
            side=side,
            kind=kind,
            quantity=quantity,
            price=price,
            trigger=trigger if trigger is not None else activate,
            mark=self.market.mark(spec.symbol),
            reduce_only=reduce_only or close,
            open_orders=orders,
            open_algos=algos,
            algo=True,
        )
        if trigger is not None and triggered(kind, side, trigger, reference):
            raise E.err(E.WOULD_IMMEDIATELY_TRIGGER)
        if activate is not None and (
            (side == "BUY" and activate >= reference) or (side == "SELL" and activate <= reference)
        ):
            raise E.err(E.WOULD_IMMEDIATELY_TRIGGER)
        if client_id is not None and self.account.algo_orders.open_with_client_id(client_id):
            raise E.err(E.FUT_DUPLICATE_ORDER)

        algo = AlgoOrder(
            algoId=self.account.next_algo_id,
            clientAlgoId=client_id or new_client_id(),
            orderType=kind,
            symbol=spec.symbol,
            side=side,
            positionSide=position_side,
            timeInForce=tif or "GTC",
            quantity=quantity or ZERO,
            triggerPrice=trigger or ZERO,
            price=price or ZERO,
            workingType=working or "CONTRACT_PRICE",
            priceProtect=protect,
            reduceOnly=reduce_only,
            closePosition=close,
            activatePrice=activate or ZERO,
            callbackRate=callback or ZERO,
            selfTradePreventionMode=stp or "NONE",
            createTime=now,
            updateTime=now,
            activated=activate is None,
            extreme=reference,
        )
        self.account.next_algo_id += 1
        self.account.algo_orders.add(algo)
        self.account.update_time = now
        return algo.wire(spec)

    # ----- reading and cancelling ----------------------------------------------------------

    def find(self, p: Params, missing: tuple[int, str]) -> AlgoOrder:
        symbol = p.text("symbol")
        if symbol is not None:
            self.engine.spec(symbol)
        algo_id, client_id = p.integer("algoId"), p.text("clientAlgoId")
        if algo_id is None and client_id is None:
            raise BinanceError(
                -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
            )
        found = self.account.algo_orders.find(symbol, algo_id, client_id)
        if found is None:
            raise E.err(missing)
        return found

    def get(self, p: Params) -> dict[str, Any]:
        algo = self.find(p, E.NO_SUCH_ORDER)
        return algo.wire(self.engine.spec(algo.symbol))

    def cancel(self, p: Params, now: int) -> dict[str, Any]:
        algo = self.find(p, E.UNKNOWN_ORDER)
        if not algo.is_open:
            raise E.err(E.UNKNOWN_ORDER)
        self._cancel(algo, now)
        # Binance sends this one code as a string.
        return {
            "algoId": algo.algoId,
            "clientAlgoId": algo.clientAlgoId,
            "code": "200",
            "msg": "success",
        }

    def _cancel(self, algo: AlgoOrder, now: int) -> None:
        algo.algoStatus = "CANCELED"
        algo.updateTime = now
        self.account.update_time = now

    def cancel_all(self, p: Params, now: int) -> dict[str, Any]:
        symbol = self.engine.spec(p.text("symbol")).symbol
        for algo in self.open(symbol):
            self._cancel(algo, now)
        return dict(CANCEL_ALL_DONE)

    def open(self, symbol: str | None) -> list[AlgoOrder]:
        return self.account.algo_orders.open_orders(symbol)

    def open_orders(self, p: Params) -> list[dict[str, Any]]:
        symbol = p.text("symbol")
        if symbol is not None:
            self.engine.spec(symbol)
        algo_type = p.text("algoType")
        if algo_type not in (None, "CONDITIONAL"):
            raise BinanceError(-1130, "Data sent for parameter 'algoType' is not valid.")
        algo_id = p.integer("algoId")
        return [
            a.wire(self.engine.spec(a.symbol))
            for a in self.open(symbol)
            if algo_id is None or a.algoId == algo_id
        ]

    def all_orders(self, p: Params) -> list[dict[str, Any]]:
        spec = self.engine.spec(p.text("symbol"))
        from_id, start, end = p.integer("algoId"), p.integer("startTime"), p.integer("endTime")
        limit = p.limit(100, 100)
        page = p.integer("page")
        rows = self.account.algo_orders.history(
            spec.symbol,
            from_id=from_id,
            start=start,
            end=end,
            limit=limit,
            oldest_first=page is not None or from_id is not None or start is not None,
            offset=(max(page, 1) - 1) * limit if page is not None else 0,
        )
        return [a.wire(spec) for a in rows]

    # ----- the market moving ---------------------------------------------------------------

    def on_price(self, now: int) -> None:
        for algo in self.open(None):
            price = self.reference(algo.workingType, algo.symbol)
            if algo.orderType == "TRAILING_STOP_MARKET":
                fire = self._trail(algo, price)
            else:
                fire = triggered(algo.orderType, algo.side, algo.triggerPrice, price)
            if fire:
                self._trigger(algo, now)

    @staticmethod
    def _trail(algo: AlgoOrder, price: Decimal) -> bool:
        """Follow the best price since activation; fire on a retrace of callbackRate %."""
        selling = algo.side == "SELL"
        if not algo.activated:
            reached = price >= algo.activatePrice if selling else price <= algo.activatePrice
            if not reached:
                return False
            algo.activated, algo.extreme = True, price
        algo.extreme = max(algo.extreme, price) if selling else min(algo.extreme, price)
        step = algo.extreme * algo.callbackRate / 100
        return price <= algo.extreme - step if selling else price >= algo.extreme + step

    def _trigger(self, algo: AlgoOrder, now: int) -> None:
        engine = self.engine
        spec = engine.spec(algo.symbol)
        algo.triggerTime = now
        algo.updateTime = now
        qty = algo.quantity
        if algo.closePosition:
            qty = engine.closable(algo.symbol, algo.side, algo.positionSide)
            if qty == 0:
                # Nothing left to close: the system withdraws the order.
                algo.algoStatus = "EXPIRED"
                return
        try:
            order, _ = engine.submit(
                spec,
                side=algo.side,
                position_side=algo.positionSide,
                kind="LIMIT" if algo.orderType in LIMIT_TYPES else "MARKET",
                qty=qty,
                price=algo.price,
                tif=algo.timeInForce,
                reduce_only=algo.reduceOnly or algo.closePosition,
                client_id=algo.clientAlgoId,
                now=now,
                close_position=algo.closePosition,
                orig_type=algo.orderType,
                stop_price=algo.triggerPrice,
                working_type=algo.workingType,
                price_protect=algo.priceProtect,
                algo_id=algo.algoId,
            )
        except BinanceError:
            # Margin or reduce-only checks happen at trigger time on the algo service.
            algo.algoStatus = "REJECTED"
            return
        assert order is not None
        algo.actualOrderId = order.orderId
        if algo.algoStatus == "NEW":
            algo.algoStatus = "TRIGGERED"
        if not order.is_open:
            self.on_order_done(order)

    def on_order_done(self, order: FuturesOrder) -> None:
        algo = self.account.algo_orders.get(order.algo_id)
        if algo is None:
            return
        algo.algoStatus = "FINISHED"
        algo.actualPrice = order.avg_price
        algo.updateTime = order.updateTime
