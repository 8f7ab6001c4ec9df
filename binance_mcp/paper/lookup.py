"""Finding one order the way Binance's order endpoints do: by `orderId` or
`origClientOrderId` (at least one), within the symbol; a reused client id names the newest."""

from __future__ import annotations

from typing import TypeVar

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError
from binance_mcp.paper.params import Params
from binance_mcp.paper.store import OrderIndex, Tracked

OrderT = TypeVar("OrderT", bound=Tracked)


def find_order(
    orders: OrderIndex[OrderT], symbol: str, p: Params, missing: tuple[int, str]
) -> OrderT:
    order_id = p.integer("orderId")
    client_id = p.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    order = orders.find(symbol, order_id, client_id)
    if order is None:
        raise E.err(missing)
    return order
