"""Reading an order list's parameters (POST /api/v3/orderList/oco, /oto, /otoco) as Binance
does: each leg's own prefixed parameters, the types each leg may have, and which side of the
market each leg of a one-cancels-the-other pair must be on."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from binance_mcp.paper import errors as E
from binance_mcp.paper.market import SymbolSpec
from binance_mcp.paper.params import Params
from binance_mcp.paper.spot_params import (
    Names,
    OrderRequest,
    read_order,
    read_resp_type,
    read_side,
    read_type,
)

WORKING_TYPES = ("LIMIT", "LIMIT_MAKER")
OCO_TYPES = ("LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STOP_LOSSES = ("STOP_LOSS", "STOP_LOSS_LIMIT")
TAKE_PROFITS = ("TAKE_PROFIT", "TAKE_PROFIT_LIMIT")

# Which leg of a pair each type may be: a buy stops out above the market and takes profit or
# buys cheap below it; a sell the other way round.
_ABOVE_REFUSED = {
    ("BUY", "LIMIT_MAKER"): E.BUY_OCO_LIMIT_MUST_BE_BELOW,
    **{("BUY", t): E.BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW for t in TAKE_PROFITS},
    **{("SELL", t): E.SELL_OCO_STOP_LOSS_MUST_BE_BELOW for t in STOP_LOSSES},
}
_BELOW_REFUSED = {
    ("SELL", "LIMIT_MAKER"): E.SELL_OCO_LIMIT_MUST_BE_ABOVE,
    **{("SELL", t): E.SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE for t in TAKE_PROFITS},
    **{("BUY", t): E.BUY_OCO_STOP_LOSS_MUST_BE_ABOVE for t in STOP_LOSSES},
}


@dataclass(frozen=True)
class Pair:
    """A one-cancels-the-other pair: the leg above the market and the leg below it."""

    above: OrderRequest
    below: OrderRequest

    @property
    def stop_first(self) -> tuple[OrderRequest, OrderRequest]:
        """The legs in Binance's order of ids: the stop-loss leg, then the other."""
        return (self.above, self.below) if self.above.side == "BUY" else (self.below, self.above)


@dataclass(frozen=True)
class ListRequest:
    """An order list as asked for: an OCO (`pair` goes on the book now), an OTO (`working`
    now, `pending` once it fills) or an OTOCO (`working` now, `pair` once it fills)."""

    spec: SymbolSpec
    contingency: str  # OCO or OTO, as Binance names it (an OTOCO is an OTO)
    list_client_id: str | None
    resp_type: str | None
    working: OrderRequest | None = None
    pending: OrderRequest | None = None
    pair: Pair | None = None

    @property
    def legs(self) -> list[OrderRequest]:
        """Every order of the list in the order of its ids."""
        head = [self.working] if self.working is not None else []
        tail = [self.pending] if self.pending is not None else []
        pair = list(self.pair.stop_first) if self.pair is not None else []
        return head + tail + pair


def _pair_types(p: Params, side: str, above_name: str, below_name: str) -> None:
    """The types of a pair's legs, refused with Binance's codes before anything else of the
    legs is read."""
    above = read_type(p, above_name)
    below = read_type(p, below_name)
    for kind in (above, below):
        if kind not in OCO_TYPES:
            raise E.err(E.OCO_TYPE_REJECTED)
    if above == below == "LIMIT_MAKER":
        raise E.err(E.BOTH_OCO_ORDERS_CANNOT_BE_LIMIT)
    refused = _ABOVE_REFUSED.get((side, above)) or _BELOW_REFUSED.get((side, below))
    if refused is not None:
        raise E.err(refused)


def _read_pair(p: Params, spec: SymbolSpec, prefix: str, side: str, quantity: str) -> Pair:
    above, below = (prefix + "Above", prefix + "Below") if prefix else ("above", "below")
    _pair_types(p, read_side(p, side), above + "Type", below + "Type")
    return Pair(
        above=read_order(p, spec, Names.leg(above, side, quantity)),
        below=read_order(p, spec, Names.leg(below, side, quantity)),
    )


def _working(p: Params, spec: SymbolSpec) -> OrderRequest:
    read_type(p, "workingType", WORKING_TYPES)
    return read_order(p, spec, Names.leg("working", "workingSide", "workingQuantity"))


def _list(
    p: Params,
    spec: SymbolSpec,
    contingency: str,
    working: OrderRequest | None = None,
    pending: OrderRequest | None = None,
    pair: Pair | None = None,
) -> ListRequest:
    return ListRequest(
        spec=spec,
        contingency=contingency,
        list_client_id=p.client_id("listClientOrderId"),
        resp_type=read_resp_type(p),
        working=working,
        pending=pending,
        pair=pair,
    )


def read_oco(p: Params, spec: SymbolSpec) -> ListRequest:
    """POST /api/v3/orderList/oco: `side` and `quantity` for both legs, `above*`/`below*`."""
    return _list(p, spec, "OCO", pair=_read_pair(p, spec, "", "side", "quantity"))


def read_oto(p: Params, spec: SymbolSpec) -> ListRequest:
    """POST /api/v3/orderList/oto: `working*` and `pending*`."""
    working = _working(p, spec)
    pending = read_order(p, spec, Names.leg("pending", "pendingSide", "pendingQuantity"))
    return _list(p, spec, "OTO", working=working, pending=pending)


def read_otoco(p: Params, spec: SymbolSpec) -> ListRequest:
    """POST /api/v3/orderList/otoco: `working*`, then `pendingSide`, `pendingQuantity` and
    `pendingAbove*`/`pendingBelow*` for the pair placed once the working order fills."""
    working = _working(p, spec)
    pair = _read_pair(p, spec, "pending", "pendingSide", "pendingQuantity")
    return _list(p, spec, "OTO", working=working, pair=pair)


def check_pair_prices(pair: Pair, last: Decimal) -> None:
    """Binance's price relationship, -2010 when broken: a sell pair's profit leg (its limit
    price; a TAKE_PROFIT's stop price) above the last price and its stop-loss below it, a buy
    pair the other way round."""
    stop_loss, profit = pair.stop_first
    target = profit.stop if profit.kind == "TAKE_PROFIT" else profit.price
    assert target is not None and stop_loss.stop is not None
    if stop_loss.side == "SELL":
        ordered = target > last > stop_loss.stop
    else:
        ordered = target < last < stop_loss.stop
    if not ordered:
        raise E.err(E.OCO_BAD_PRICES)
