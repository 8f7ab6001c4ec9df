"""POST /api/v3/order/cancelReplace: cancel an order and place another on the same symbol in
one request, as Binance does it. The parameters and the new order's filters are checked
first (a plain error; nothing done). Then the cancel (of the whole list, for an order of an
order list) and the new order, not as one transaction: when either fails, the answer is
-2021 (409, one of the two done) or -2022 (400, neither) with both results in its `data`."""

from __future__ import annotations

from typing import Any

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError, mandatory
from binance_mcp.paper.params import Params
from binance_mcp.paper.spot import SpotEngine, cancel_restriction
from binance_mcp.paper.spot_params import read_order

MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
CANCEL_PARAMS = frozenset(
    {
        "cancelReplaceMode",
        "cancelOrderId",
        "cancelOrigClientOrderId",
        "cancelNewClientOrderId",
        "cancelRestrictions",
    }
)


def cancel_replace(spot: SpotEngine, p: Params, now: int) -> dict[str, Any]:
    spec = spot.spec(p.text("symbol"))
    mode = p.choice(
        "cancelReplaceMode",
        MODES,
        -1100,
        "Illegal characters found in parameter 'cancelReplaceMode'; "
        "legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.",
    )
    if mode is None:
        raise mandatory("cancelReplaceMode")
    cancel_id = p.integer("cancelOrderId")
    cancel_client_id = p.text("cancelOrigClientOrderId")
    if cancel_id is None and cancel_client_id is None:
        raise BinanceError(
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, "
            "but both were empty/null!",
        )
    cancel_new_id = p.client_id("cancelNewClientOrderId")
    restriction = cancel_restriction(p, "cancelRestrictions")
    req = read_order(p, spec)
    target = spot.account.orders.find(spec.symbol, cancel_id, cancel_client_id)
    # The filters see the book as it will be: the order being cancelled no longer counts.
    frees_one = target is not None and target.is_open
    spot.check(req, placed_before=-1 if frees_one else 0)

    cancelled: dict[str, Any] | None = None
    cancel_error: BinanceError | None = None
    try:
        if target is None:
            raise E.err(E.UNKNOWN_ORDER)
        cancelled = spot.cancel_order(target, cancel_new_id, restriction, now)
    except BinanceError as exc:
        cancel_error = exc
    if cancel_error is not None and mode == "STOP_ON_FAILURE":
        raise _failed(cancel_error, None, attempted=False)

    placed: dict[str, Any] | None = None
    new_error: BinanceError | None = None
    try:
        spot.check_live(req)
        placed = spot.submit(req, now)
    except BinanceError as exc:
        new_error = exc
    if cancel_error is None and new_error is None:
        return {
            "cancelResult": "SUCCESS",
            "newOrderResult": "SUCCESS",
            "cancelResponse": cancelled,
            "newOrderResponse": placed,
        }
    if cancel_error is not None and new_error is not None:
        raise _failed(cancel_error, new_error, attempted=True)
    raise BinanceError(
        *E.REPLACE_PARTIALLY_FAILED,
        status=409,
        data={
            "cancelResult": "SUCCESS" if cancel_error is None else "FAILURE",
            "newOrderResult": "SUCCESS" if new_error is None else "FAILURE",
            "cancelResponse": cancelled if cancel_error is None else cancel_error.wire(),
            "newOrderResponse": placed if new_error is None else new_error.wire(),
        },
    )


def _failed(
    cancel_error: BinanceError, new_error: BinanceError | None, attempted: bool
) -> BinanceError:
    return BinanceError(
        *E.REPLACE_FAILED,
        status=400,
        data={
            "cancelResult": "FAILURE",
            "newOrderResult": "FAILURE" if attempted else "NOT_ATTEMPTED",
            "cancelResponse": cancel_error.wire(),
            "newOrderResponse": new_error.wire() if new_error is not None else None,
        },
    )
