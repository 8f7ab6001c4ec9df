"""Binance's error answers ({"code": -NNNN, "msg": "..."}) as exceptions the app turns into
responses with Binance's HTTP status."""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        # The `data` member of the error body: only cancelReplace's partial results have one.
        self.data = data

    def wire(self) -> dict[str, Any]:
        """The error as Binance's body shows it (also nested in cancelReplace's `data`)."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def illegal(name: str, legal_range: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'."
    )


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


INVALID_SYMBOL = (-1121, "Invalid symbol.")
INSUFFICIENT_BALANCE = (-2010, "Account has insufficient balance for requested action.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_KEY_FORMAT = (-2014, "API-key format invalid.")
REJECTED_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
PRECISION = (-1111, "Parameter '{}' has too much precision.")
DUPLICATE_ORDER = (-2010, "Duplicate order sent.")
WOULD_TAKE = (-2010, "Order would immediately match and take.")
STOP_WOULD_TRIGGER = (-2010, "Order would trigger immediately.")
CANCEL_RESTRICTED = (-2011, "Order was not canceled due to cancel restrictions.")

# Order lists (OCO, OTO, OTOCO)
UNKNOWN_ORDER_LIST = (-2011, "Unknown order list sent.")
NO_SUCH_ORDER_LIST = (-2018, "Order list does not exist.")
OCO_BAD_PRICES = (-2010, "The relationship of the prices for the orders is not correct.")
OCO_TYPE_REJECTED = (-1158, "Order type not supported in OCO.")
BUY_OCO_LIMIT_MUST_BE_BELOW = (-1165, "A limit order in a buy OCO must be below.")
SELL_OCO_LIMIT_MUST_BE_ABOVE = (-1166, "A limit order in a sell OCO must be above.")
BOTH_OCO_ORDERS_CANNOT_BE_LIMIT = (-1168, "At least one OCO order must be contingent.")
BUY_OCO_STOP_LOSS_MUST_BE_ABOVE = (-1196, "A stop loss order in a buy OCO must be above.")
SELL_OCO_STOP_LOSS_MUST_BE_BELOW = (-1197, "A stop loss order in a sell OCO must be below.")
BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW = (-1198, "A take profit order in a buy OCO must be below.")
SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE = (-1199, "A take profit order in a sell OCO must be above.")

# cancelReplace: one of its two steps failed (409), or both did / the cancel stopped it (400)
REPLACE_PARTIALLY_FAILED = (-2021, "Order cancel-replace partially failed.")
REPLACE_FAILED = (-2022, "Order cancel-replace failed.")


def err(pair: tuple[int, str], *fmt: object, status: int = 400) -> BinanceError:
    code, msg = pair
    return BinanceError(code, msg.format(*fmt) if fmt else msg, status)


# USD-M futures (Binance's futures error table)
FUT_PRECISION = (-1111, "Precision is over the maximum defined for this asset.")
FUT_DUPLICATE_ORDER = (-4116, "clientOrderId is duplicated.")
MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
WOULD_IMMEDIATELY_TRIGGER = (-2021, "Order would immediately trigger.")
REDUCE_ONLY_REJECTED = (-2022, "ReduceOnly Order is rejected.")
MAX_OPEN_ORDERS = (-2025, "Reach max open order limit.")
MAX_POSITION_AT_LEVERAGE = (-2027, "Exceeded the maximum allowable position at current leverage.")
LEVERAGE_TOO_LOW = (-2028, "Leverage is smaller than permitted: insufficient margin balance.")
PRICE_BELOW_MIN = (-4013, "Price less than min price.")
PRICE_ABOVE_MAX = (-4002, "Price greater than max price.")
PRICE_OFF_TICK = (-4014, "Price not increased by tick size.")
STOP_PRICE_ABOVE_MAX = (-4007, "Stop price greater than max price.")
QTY_NOT_POSITIVE = (-4003, "Quantity less than zero.")
QTY_BELOW_MIN = (-4004, "Quantity less than min quantity.")
QTY_ABOVE_MAX = (-4005, "Quantity greater than max quantity.")
QTY_OFF_STEP = (-4023, "Qty not increased by step size.")
PRICE_ABOVE_MULTIPLIER = (-4016, "Price is higher than mark price multiplier cap.")
PRICE_BELOW_MULTIPLIER = (-4024, "Price is lower than mark price multiplier floor.")
MIN_NOTIONAL = (
    -4164,
    "Order's notional must be no smaller than {} (unless you choose reduce only)",
)
INVALID_LEVERAGE = (-4028, "Leverage {} is not valid")
MAX_STOP_ORDERS = (-4045, "Reach max stop order limit.")
NO_NEED_MARGIN_TYPE = (-4046, "No need to change margin type.")
MARGIN_TYPE_OPEN_ORDERS = (-4047, "Margin type cannot be changed if there exists open orders.")
MARGIN_TYPE_POSITION = (-4048, "Margin type cannot be changed if there exists position.")
NO_NEED_POSITION_SIDE = (-4059, "No need to change position side.")
INVALID_POSITION_SIDE = (-4060, "Invalid position side.")
POSITION_SIDE_MISMATCH = (-4061, "Order's position side does not match user's setting.")
POSITION_MODE_OPEN_ORDERS = (-4067, "Position side cannot be changed if there exists open orders.")
POSITION_MODE_POSITION = (-4068, "Position side cannot be changed if there exists position.")
USE_ALGO_API = (
    -4120,
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
)
QTY_WITH_CLOSE_POSITION = (-4137, "Quantity must be zero with closePosition equals true")
ISOLATED_LEVERAGE_REDUCTION = (
    -4161,
    "Leverage reduction is not supported in Isolated Margin Mode with open positions",
)
POST_ONLY_REJECTED = (
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
)
INVALID_WORKING_TYPE = (-4031, "Invalid parameter working type")
