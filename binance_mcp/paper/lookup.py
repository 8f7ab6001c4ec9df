"""Finding one order the way Binance's order endpoints do: by `orderId` or
`origClientOrderId` (at least one), within the symbol; a reused client id names the newest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError
from binance_mcp.paper.params import Params


class Identified(Protocol):
    @property
    def symbol(self) -> str: ...
    @property
    def orderId(self) -> int: ...
    @property
    def clientOrderId(self) -> str: ...


OrderT = TypeVar("OrderT", bound=Identified)


def find_order(
    orders: Iterable[OrderT], symbol: str, p: Params, missing: tuple[int, str]
) -> OrderT:
    order_id = p.integer("orderId")
    client_id = p.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    matches = [
        o
        for o in orders
        if o.symbol == symbol
        and (order_id is None or o.orderId == order_id)
        and (client_id is None or o.clientOrderId == client_id)
    ]
    if not matches:
        raise E.err(missing)
    return max(matches, key=lambda o: o.orderId)
