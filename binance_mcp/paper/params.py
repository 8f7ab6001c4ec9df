"""Reading request parameters the way Binance does: the same codes and messages for missing,
malformed and unexpected values."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from decimal import Decimal

from binance_mcp.paper.errors import BinanceError, illegal, mandatory
from binance_mcp.paper.numbers import parse_decimal

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INTEGER_RANGE = "^[0-9]{1,20}$"
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


class Params:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise mandatory(name)
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        raw = self.text(name)
        if raw is None:
            if required:
                raise mandatory(name)
            return None
        value = parse_decimal(raw)
        if value is None:
            raise illegal(name, DECIMAL_RANGE)
        return value

    def integer(self, name: str, required: bool = False) -> int | None:
        raw = self.text(name)
        if raw is None:
            if required:
                raise mandatory(name)
            return None
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
            raise illegal(name, INTEGER_RANGE)
        return int(raw)

    def choice(self, name: str, allowed: Iterable[str], code: int, msg: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw not in allowed:
            raise BinanceError(code, msg)
        return raw

    def limit(self, default: int, maximum: int) -> int:
        value = self.integer("limit")
        if value is None:
            return default
        if value <= 0:
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter 'limit'; legal range is '1..{maximum}'.",
            )
        return min(value, maximum)

    def client_id(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is not None and not CLIENT_ID.match(raw):
            raise illegal(name, CLIENT_ID.pattern)
        return raw

    def symbols(self) -> list[str] | None:
        """The `symbols` parameter: a JSON array of names, as Binance takes it."""
        raw = self.text("symbols")
        if raw is None:
            return None
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if (
            not isinstance(parsed, list)
            or not parsed
            or not all(isinstance(s, str) for s in parsed)
        ):
            raise BinanceError(
                -1100,
                "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.",
            )
        return parsed


def new_client_id() -> str:
    """The client order id the exchange gives an order placed without one."""
    return "paper" + secrets.token_hex(8)
