"""Binance's error answers ({"code": -NNNN, "msg": "..."}) as exceptions the app turns into
responses with Binance's HTTP status."""

from __future__ import annotations


class BinanceError(Exception):
    def __init__(
        self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None
    ):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


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


def err(pair: tuple[int, str], *fmt: object, status: int = 400) -> BinanceError:
    code, msg = pair
    return BinanceError(code, msg.format(*fmt) if fmt else msg, status)
