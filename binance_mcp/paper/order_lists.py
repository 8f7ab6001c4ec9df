"""Spot order lists: OCO (one-cancels-the-other), OTO (one-triggers-the-other) and OTOCO.

Placed with Binance's checks, then kept by the matching (`SpotEngine` tells the lists of
their orders through `ListEvents`): when one order of a pair triggers or fills, the other
expires; when a working order fills fully, its pending orders go on the book; when it ends
otherwise, they expire. Cancelling any order of a list cancels the list. A list is EXECUTING
while any of its orders is open, then ALL_DONE.

The lists live in the store beside the orders (kind `spot_list`): open ones in memory, done
ones read back when asked for, each written with the request that changed it."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import BaseModel, Field

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError
from binance_mcp.paper.order_list_params import ListRequest, check_pair_prices
from binance_mcp.paper.params import Params
from binance_mcp.paper.params import new_client_id as generated_client_id
from binance_mcp.paper.spot import MARKET_STOPS, Fill, SpotEngine, SpotOrder
from binance_mcp.paper.spot_params import STOP_TYPES
from binance_mcp.paper.store import OrderIndex, OrderKey, Store, Tracked

# Binance's answers to order lists default to FULL (each order's report with its fills).
DEFAULT_RESP_TYPE = "FULL"


class ListedOrder(BaseModel):
    orderId: int
    clientOrderId: str


class OrderList(Tracked):
    orderListId: int
    contingencyType: str  # OCO, or OTO (an OTOCO too)
    listStatusType: str = "EXEC_STARTED"
    listOrderStatus: str = "EXECUTING"
    listClientOrderId: str
    transactionTime: int
    symbol: str
    orders: list[ListedOrder]
    # The OTO's working order (-1 in an OCO), and the ids of the one-cancels-the-other pair.
    working: int = -1
    pair: list[int] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.listOrderStatus != "ALL_DONE"

    def wire(self) -> dict[str, Any]:
        """The list as GET /api/v3/orderList shows it."""
        return {
            "orderListId": self.orderListId,
            "contingencyType": self.contingencyType,
            "listStatusType": self.listStatusType,
            "listOrderStatus": self.listOrderStatus,
            "listClientOrderId": self.listClientOrderId,
            "transactionTime": self.transactionTime,
            "symbol": self.symbol,
            "orders": [
                {"symbol": self.symbol, "orderId": o.orderId, "clientOrderId": o.clientOrderId}
                for o in self.orders
            ],
        }


def _list_key(lst: OrderList) -> OrderKey:
    return OrderKey(
        lst.orderListId, lst.symbol, lst.listClientOrderId, lst.transactionTime, lst.is_open
    )


def _untouched(order: SpotOrder) -> bool:
    """A pair's leg still waiting: not triggered, nothing filled, not ended."""
    waiting_stop = order.type in STOP_TYPES and not order.is_working
    return (
        order.status == "NEW"
        and not order.executedQty
        and (waiting_stop or order.type == "LIMIT_MAKER")
    )


class OrderLists:
    def __init__(self, engine: SpotEngine, store: Store) -> None:
        self.engine = engine
        self.index: OrderIndex[OrderList] = OrderIndex(store, "spot_list", OrderList, _list_key)
        engine.lists = self

    # ----- placing -------------------------------------------------------------------------

    def place(self, req: ListRequest, now: int) -> dict[str, Any]:
        """POST /api/v3/orderList/oco|oto|otoco: every check first (filters over all the
        legs, as one request's orders; the pair's prices; the book), then the list booked."""
        spot, account = self.engine, self.engine.account
        legs = req.legs
        stops = 0
        for i, leg in enumerate(legs):
            spot.check(leg, placed_before=i, stops_before=stops)
            stops += leg.kind in STOP_TYPES
        live = [req.working] if req.working is not None else legs
        if req.working is None and req.pair is not None:
            check_pair_prices(req.pair, spot.walk.prices[req.spec.symbol])
        for leg in live:
            spot.check_live(leg)
        self._check_client_ids(req)

        list_id, first_id = account.next_order_list_id, account.next_order_id
        orders = [spot.new_order(leg, first_id + i, now, list_id) for i, leg in enumerate(legs)]
        fills: dict[int, list[Fill]]
        if req.working is None:
            self._lock_pair(orders)
            fills = {o.orderId: spot.start(o, now, lock=False) for o in orders}
        else:
            for pending in orders[1:]:
                pending.status = "PENDING_NEW"
            fills = {orders[0].orderId: spot.start(orders[0], now)}
        account.next_order_id += len(orders)
        account.next_order_list_id += 1
        account.update_time = now
        for order in orders:
            account.orders.add(order)
        pair = orders[-2:] if req.pair is not None else []
        lst = OrderList(
            orderListId=list_id,
            contingencyType=req.contingency,
            listClientOrderId=req.list_client_id or generated_client_id(),
            transactionTime=now,
            symbol=req.spec.symbol,
            orders=[ListedOrder(orderId=o.orderId, clientOrderId=o.clientOrderId) for o in orders],
            working=orders[0].orderId if req.working is not None else -1,
            pair=[o.orderId for o in pair],
        )
        self.index.add(lst)
        # A working order filled at once: Binance answers with its pending orders still
        # PENDING_NEW and places them right after.
        filled_at_once = req.working is not None and orders[0].status == "FILLED"
        if not filled_at_once:
            self._settle(lst, now)
        resp_type = req.resp_type or DEFAULT_RESP_TYPE
        answer = lst.wire() | {
            "orderReports": [
                spot.response(o, fills.get(o.orderId, []), resp_type, now) for o in orders
            ]
        }
        if filled_at_once:
            self._settle(lst, now)
        return answer

    def _check_client_ids(self, req: ListRequest) -> None:
        """A list client id unique among open lists; the orders' ids unique among open
        orders and among themselves (a pending order's id is taken from the start)."""
        if req.list_client_id is not None and self.index.open_with_client_id(req.list_client_id):
            raise E.err(E.DUPLICATE_ORDER)
        given = [leg.client_id for leg in req.legs if leg.client_id is not None]
        taken = any(self.engine.account.orders.open_with_client_id(c) for c in given)
        if taken or len(set(given)) != len(given):
            raise E.err(E.DUPLICATE_ORDER)

    def _lock_pair(self, pair: list[SpotOrder]) -> None:
        """A pair's legs never both fill, so they hold one lock, the larger of the two, kept
        by one leg; -2010 insufficient balance, changing nothing, if it is not free."""
        needs = [self.engine.lock_needed(o)[1] for o in pair]
        holder = needs.index(max(needs))
        self.engine.lock(pair[holder])

    # ----- what the matching tells the lists (spot.ListEvents) -----------------------------

    def activating(self, order: SpotOrder, now: int) -> None:
        lst = self.index.get(order.orderListId)
        if lst is None or order.orderId not in lst.pair:
            return
        for other in self._orders(lst):
            if other.orderId in lst.pair and other is not order and other.is_open:
                self.engine.close(other, "EXPIRED", now)
        # The pair's one lock may have been the other leg's: this leg now holds its own (a
        # stop-market pays from free funds, so it needs none).
        if not order.locked and order.type not in MARKET_STOPS:
            with suppress(BinanceError):
                self.engine.lock(order)

    def settled(self, order: SpotOrder, now: int) -> None:
        lst = self.index.get(order.orderListId)
        if lst is not None:
            self._settle(lst, now)

    def cancel(self, order: SpotOrder, new_client_id: str | None, now: int) -> dict[str, Any]:
        lst = self.index.get(order.orderListId)
        if lst is None:
            # An order imported from an exported account file, without its list: alone.
            self.engine.close(order, "CANCELED", now)
            return self.engine.cancel_report(order, new_client_id or generated_client_id(), now)
        return self._cancel(lst, new_client_id, now)

    def _settle(self, lst: OrderList, now: int) -> None:
        """Enforce the list's contingencies on its orders' present states."""
        orders = self._orders(lst)
        working = next((o for o in orders if o.orderId == lst.working), None)
        pending = [o for o in orders if o.is_pending]
        if working is not None and pending:
            if working.status == "FILLED":
                self._activate(lst, pending, now)
            elif not working.is_open:
                for o in pending:
                    self.engine.close(o, "EXPIRED", now)
        pair = [o for o in orders if o.orderId in lst.pair]
        if any(not o.is_pending and not _untouched(o) for o in pair):
            for o in pair:
                if _untouched(o):
                    self.engine.close(o, "EXPIRED", now)
        if lst.is_open and not any(o.is_open for o in orders):
            lst.listStatusType = "ALL_DONE"
            lst.listOrderStatus = "ALL_DONE"

    def _activate(self, lst: OrderList, pending: list[SpotOrder], now: int) -> None:
        """The working order filled: its pending orders go on the book as if placed now. One
        that cannot (funds, liquidity, a maker order that would take) expires."""
        spot = self.engine
        for o in pending:
            o.status = "NEW"
            o.updateTime = now
        shared_lock = bool(lst.pair)
        if shared_lock:
            try:
                self._lock_pair(pending)
            except BinanceError:
                for o in pending:
                    spot.close(o, "EXPIRED", now)
                return
        for o in pending:
            if o.status != "NEW":
                continue  # its pair's other leg triggered first
            if o.type == "LIMIT_MAKER" and spot.would_take(o.symbol, o.side, o.price):
                spot.close(o, "EXPIRED", now)
                continue
            try:
                spot.start(o, now, lock=not shared_lock)
            except BinanceError:
                spot.close(o, "EXPIRED", now)
                continue
            spot.react(o, now)

    # ----- cancelling ----------------------------------------------------------------------

    def cancel_list(self, p: Params, now: int) -> dict[str, Any]:
        """DELETE /api/v3/orderList: by `orderListId` (which wins) or `listClientOrderId`."""
        symbol = self.engine.spec(p.text("symbol")).symbol
        list_id, client_id = p.integer("orderListId"), p.text("listClientOrderId")
        if list_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'listClientOrderId' or 'orderListId' must be sent, but both were empty/null!",
            )
        lst = self.index.find(symbol, list_id, client_id if list_id is None else None)
        if lst is None or not lst.is_open:
            raise E.err(E.UNKNOWN_ORDER_LIST)
        return self._cancel(lst, p.client_id("newClientOrderId"), now)

    def _cancel(self, lst: OrderList, new_client_id: str | None, now: int) -> dict[str, Any]:
        cancel_id = new_client_id or generated_client_id()
        orders = self._orders(lst)
        for o in orders:
            if o.is_open:
                self.engine.close(o, "CANCELED", now)
        self._settle(lst, now)
        return lst.wire() | {
            "orderReports": [self.engine.cancel_report(o, cancel_id, now) for o in orders]
        }

    # ----- reading -------------------------------------------------------------------------

    def query(self, p: Params) -> dict[str, Any]:
        """GET /api/v3/orderList: by `orderListId` or `origClientOrderId` (the list's)."""
        list_id, client_id = p.integer("orderListId"), p.text("origClientOrderId")
        if list_id is None and client_id is None:
            raise BinanceError(
                -1128,
                "Combination of optional parameters invalid. "
                "Recommendation: 'orderListId' should also be sent.",
            )
        lst = self.index.find(None, list_id, client_id)
        if lst is None:
            raise E.err(E.NO_SUCH_ORDER_LIST)
        return lst.wire()

    def history(self, p: Params) -> list[dict[str, Any]]:
        """GET /api/v3/allOrderList: from `fromId`, or within `startTime`..`endTime`, else
        the latest; oldest first."""
        from_id, start, end = p.integer("fromId"), p.integer("startTime"), p.integer("endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        rows = self.index.history(
            None,
            from_id=from_id,
            start=start,
            end=end,
            limit=p.limit(500, 1000),
            oldest_first=from_id is not None or start is not None,
        )
        return [lst.wire() for lst in rows]

    def open_lists(self) -> list[dict[str, Any]]:
        """GET /api/v3/openOrderList: every symbol's, oldest first."""
        return [lst.wire() for lst in self.index.open_orders()]

    def _orders(self, lst: OrderList) -> list[SpotOrder]:
        return [self.engine.account.orders[o.orderId] for o in lst.orders]
