"""The spot order-list endpoints (`/api/v3/orderList/...`, `allOrderList`, `openOrderList`):
which parameters each reads, what it weighs and how many orders it counts."""

from __future__ import annotations

from typing import Any

from binance_mcp.paper.order_list_params import read_oco, read_oto, read_otoco
from binance_mcp.paper.params import Params
from binance_mcp.paper.routing import Endpoint, Routes
from binance_mcp.paper.state import PaperState

_COMMON = frozenset({"symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode"})


def _leg(prefix: str) -> frozenset[str]:
    return frozenset(
        prefix + name for name in ("Type", "ClientOrderId", "Price", "StopPrice", "TimeInForce")
    )


OCO_PARAMS = _COMMON | {"side", "quantity"} | _leg("above") | _leg("below")
_WORKING = frozenset(
    {
        "workingType",
        "workingSide",
        "workingClientOrderId",
        "workingPrice",
        "workingQuantity",
        "workingTimeInForce",
    }
)
OTO_PARAMS = _COMMON | _WORKING | _leg("pending") | {"pendingSide", "pendingQuantity"}
OTOCO_PARAMS = (
    _COMMON
    | _WORKING
    | {"pendingSide", "pendingQuantity"}
    | _leg("pendingAbove")
    | _leg("pendingBelow")
)


def new_oco(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.place(read_oco(p, state.spot.spec(p.text("symbol"))), now)


def new_oto(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.place(read_oto(p, state.spot.spec(p.text("symbol"))), now)


def new_otoco(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.place(read_otoco(p, state.spot.spec(p.text("symbol"))), now)


def cancel_list(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.cancel_list(p, now)


def get_list(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.query(p)


def all_lists(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.history(p)


def open_lists(state: PaperState, p: Params, now: int) -> Any:
    return state.order_lists.open_lists()


ORDER_LIST_ROUTES: Routes = {
    ("POST", "/api/v3/orderList/oco"): Endpoint(
        new_oco, 1, True, OCO_PARAMS, mutates=True, orders=2
    ),
    ("POST", "/api/v3/orderList/oto"): Endpoint(
        new_oto, 1, True, OTO_PARAMS, mutates=True, orders=2
    ),
    ("POST", "/api/v3/orderList/otoco"): Endpoint(
        new_otoco, 1, True, OTOCO_PARAMS, mutates=True, orders=3
    ),
    ("DELETE", "/api/v3/orderList"): Endpoint(
        cancel_list,
        1,
        True,
        frozenset({"symbol", "orderListId", "listClientOrderId", "newClientOrderId"}),
        mutates=True,
    ),
    ("GET", "/api/v3/orderList"): Endpoint(
        get_list, 4, True, frozenset({"orderListId", "origClientOrderId"})
    ),
    ("GET", "/api/v3/allOrderList"): Endpoint(
        all_lists, 20, True, frozenset({"fromId", "startTime", "endTime", "limit"})
    ),
    ("GET", "/api/v3/openOrderList"): Endpoint(open_lists, 6, True, frozenset()),
}
