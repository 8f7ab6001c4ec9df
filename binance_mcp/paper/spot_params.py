"""Reading one spot order's parameters as Binance does: which ones each type needs or refuses,
their precision and sign, with Binance's codes. The same rules read a plain order (`price`,
`stopPrice`, ...) and each order of an order list (`abovePrice`, `workingPrice`, ...), whose
parameters carry the leg's prefix in Binance's messages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError, mandatory, not_required
from binance_mcp.paper.market import SymbolSpec
from binance_mcp.paper.numbers import decimals
from binance_mcp.paper.params import Params

SIDES = ("BUY", "SELL")
TYPES = (
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LIMIT_PRICED = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
TIF_TYPES = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
RESP_TYPE_RANGE = (
    "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'."
)


@dataclass(frozen=True)
class Names:
    """The wire names of one order's parameters; None where the order has no such parameter
    (an order list's legs have no `quoteOrderQty` and share one `newOrderRespType`)."""

    side: str = "side"
    type: str = "type"
    quantity: str = "quantity"
    quote_qty: str | None = "quoteOrderQty"
    price: str = "price"
    stop: str = "stopPrice"
    tif: str = "timeInForce"
    client_id: str = "newClientOrderId"
    resp_type: str | None = "newOrderRespType"

    @classmethod
    def leg(cls, prefix: str, side: str, quantity: str) -> Names:
        """A leg of an order list: `<prefix>Type`, `<prefix>Price`, ...; its side and quantity
        may be shared with another leg (an OCO's `side` and `quantity`)."""
        return cls(
            side=side,
            type=f"{prefix}Type",
            quantity=quantity,
            quote_qty=None,
            price=f"{prefix}Price",
            stop=f"{prefix}StopPrice",
            tif=f"{prefix}TimeInForce",
            client_id=f"{prefix}ClientOrderId",
            resp_type=None,
        )


PLAIN = Names()


@dataclass(frozen=True)
class OrderRequest:
    """One order as asked for, its parameters read and checked against each other; what the
    account and the market say of it is checked when it is placed (`SpotEngine`)."""

    spec: SymbolSpec
    side: str
    kind: str
    tif: str | None
    quantity: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    stop: Decimal | None
    client_id: str | None
    resp_type: str | None


def read_side(p: Params, name: str) -> str:
    side = p.choice(name, SIDES, -1117, "Invalid side.")
    if side is None:
        raise mandatory(name)
    return side


def read_type(p: Params, name: str, allowed: tuple[str, ...] = TYPES) -> str:
    kind = p.choice(name, allowed, -1116, "Invalid orderType.")
    if kind is None:
        raise mandatory(name)
    return kind


def read_resp_type(p: Params) -> str | None:
    return p.choice("newOrderRespType", RESP_TYPES, -1100, RESP_TYPE_RANGE)


def read_order(p: Params, spec: SymbolSpec, names: Names = PLAIN) -> OrderRequest:
    """The order's parameters, in the order Binance reports what is wrong with them."""
    side = read_side(p, names.side)
    kind = read_type(p, names.type)
    tif = p.choice(names.tif, TIME_IN_FORCE, -1115, "Invalid timeInForce.")
    resp_type = read_resp_type(p) if names.resp_type is not None else None
    client_id = p.client_id(names.client_id)
    quantity = p.decimal(names.quantity)
    quote_qty = p.decimal(names.quote_qty) if names.quote_qty is not None else None
    price = p.decimal(names.price)
    stop = p.decimal(names.stop)

    needs_tif = kind in TIF_TYPES
    if needs_tif and tif is None:
        raise mandatory(names.tif)
    if not needs_tif and tif is not None:
        raise not_required(names.tif)
    if kind == "MARKET" and names.quote_qty is not None:
        if quantity is None and quote_qty is None:
            raise mandatory(names.quantity)
        if quantity is not None and quote_qty is not None:
            raise not_required(names.quote_qty)
    else:
        if quantity is None:
            raise mandatory(names.quantity)
        if quote_qty is not None and names.quote_qty is not None:
            raise not_required(names.quote_qty)
    if kind in LIMIT_PRICED and price is None:
        raise mandatory(names.price)
    if kind not in LIMIT_PRICED and price is not None:
        raise not_required(names.price)
    if kind in STOP_TYPES and stop is None:
        raise mandatory(names.stop)
    if kind not in STOP_TYPES and stop is not None:
        raise not_required(names.stop)

    for name, is_quantity in (
        (names.quantity, True),
        (names.quote_qty, False),
        (names.price, False),
        (names.stop, False),
    ):
        text = p.text(name) if name is not None else None
        if text is not None:
            limit = spec.base_precision if is_quantity else spec.quote_precision
            if decimals(text) > limit:
                raise E.err(E.PRECISION, name)
    if quantity is not None and quantity <= 0:
        raise BinanceError(-1013, "Invalid quantity.")
    if quote_qty is not None and quote_qty <= 0:
        raise BinanceError(-1013, "Invalid quantity.")
    if price is not None and price <= 0:
        raise BinanceError(-1013, "Invalid price.")
    if stop is not None and stop <= 0:
        raise BinanceError(-1013, "Invalid stop price.")
    return OrderRequest(
        spec=spec,
        side=side,
        kind=kind,
        tif=tif,
        quantity=quantity,
        quote_qty=quote_qty,
        price=price,
        stop=stop,
        client_id=client_id,
        resp_type=resp_type,
    )
