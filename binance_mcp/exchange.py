"""The venue as tools see it: one python-binance `AsyncClient` per server process, every call
through one place that turns failures into agent-facing errors, and the TTL caches of the rules
that orders are checked against locally (exchange info, leverage brackets, funding intervals).

Calls are split by what a failure means for them: `read` (no effect), `write` (an idempotent
change such as a cancel by id or a leverage setting) and `place` (a new order, which must never
be sent twice).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from binance_mcp.errors import ExchangeError, InvalidArgument, ToolFailure
from binance_mcp.exchange_client import as_failure
from binance_mcp.symbol_rules import Market, SymbolRules
from binance_mcp.venues import Endpoints, Venue

if TYPE_CHECKING:
    from binance import AsyncClient

log = logging.getLogger(__name__)

# Filters and brackets change rarely (listings, tick-size changes); five minutes keeps local
# checks current without paying exchange info's weight on every order.
RULES_TTL: Final = 300.0
# Binance's default funding interval when a symbol is absent from /fapi/v1/fundingInfo.
DEFAULT_FUNDING_HOURS: Final = 8

T = TypeVar("T")


class _TTLCache(Generic[T]):
    """One value per key, fetched once per TTL; concurrent misses share one fetch."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[float, T]] = {}
        self._pending: dict[str, asyncio.Future[T]] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited share never warns
            raise
        else:
            self._values[key] = (time.monotonic(), value)
            future.set_result(value)
            return value
        finally:
            del self._pending[key]


class Exchange:
    def __init__(self, endpoints: Endpoints, client: AsyncClient, ttl: float = RULES_TTL) -> None:
        self.endpoints = endpoints
        self.client = client
        self._spot_rules: _TTLCache[SymbolRules] = _TTLCache(ttl)
        self._futures_info: _TTLCache[dict[str, SymbolRules]] = _TTLCache(ttl)
        self._brackets: _TTLCache[list[dict[str, Any]]] = _TTLCache(ttl)
        self._funding_hours: _TTLCache[dict[str, int]] = _TTLCache(ttl)

    @property
    def venue(self) -> Venue:
        return self.endpoints.venue

    @property
    def used_weight(self) -> dict[str, int]:
        """The request weight each host last reported (X-MBX-USED-WEIGHT-1M), by origin."""
        return dict(getattr(self.client, "used_weight", {}))

    async def close(self) -> None:
        await self.client.close_connection()

    # --- calls -----------------------------------------------------------------------------

    async def read(self, method: str, /, *args: Any, **params: Any) -> Any:
        return await self._call(method, args, params)

    async def write(self, method: str, /, *args: Any, **params: Any) -> Any:
        return await self._call(method, args, params)

    async def place(self, method: str, /, *args: Any, **params: Any) -> Any:
        return await self._call(method, args, params)

    async def _call(self, method: str, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        function = getattr(self.client, method)
        try:
            return await function(*args, **{k: v for k, v in params.items() if v is not None})
        except ToolFailure:
            raise
        except Exception as exc:
            failure = as_failure(exc, self.endpoints)
            if failure is None:
                raise
            raise failure from None

    # --- cached rules ------------------------------------------------------------------------

    async def rules(self, market: Market, symbol: str) -> SymbolRules:
        """The symbol's filters; an unknown symbol is an `InvalidArgument` naming close ones."""
        if market == "spot":
            return await self._spot_rules.get(symbol, lambda: self._fetch_spot_rules(symbol))
        table = await self._futures_info.get("", self._fetch_futures_rules)
        found = table.get(symbol)
        if found is None:
            raise _unknown_symbol(symbol, market, list(table))
        return found

    async def futures_symbols(self) -> dict[str, SymbolRules]:
        return await self._futures_info.get("", self._fetch_futures_rules)

    async def _fetch_spot_rules(self, symbol: str) -> SymbolRules:
        try:
            info = await self.read("_get", "exchangeInfo", data={"symbol": symbol})
        except ExchangeError as exc:
            if exc.code == -1121:
                raise _unknown_symbol(symbol, "spot", []) from None
            raise
        symbols = info.get("symbols") or []
        if not symbols:
            raise _unknown_symbol(symbol, "spot", [])
        return SymbolRules.from_exchange_info("spot", symbols[0])

    async def _fetch_futures_rules(self) -> dict[str, SymbolRules]:
        info = await self.read("futures_exchange_info")
        return {
            s["symbol"]: SymbolRules.from_exchange_info("futures", s)
            for s in info.get("symbols", [])
        }

    async def brackets(self, symbol: str) -> list[dict[str, Any]]:
        """The symbol's leverage brackets (notional bands with their maximum leverage)."""

        async def fetch() -> list[dict[str, Any]]:
            answer = await self.read("futures_leverage_bracket", symbol=symbol)
            rows = answer if isinstance(answer, list) else [answer]
            for row in rows:
                if row.get("symbol") == symbol:
                    return list(row.get("brackets", []))
            return []

        return await self._brackets.get(symbol, fetch)

    async def max_leverage(self, symbol: str) -> int:
        brackets = await self.brackets(symbol)
        return max((int(b["initialLeverage"]) for b in brackets), default=125)

    async def funding_interval_hours(self, symbol: str) -> int:
        async def fetch() -> dict[str, int]:
            rows = await self.read("futures_v1_get_funding_info")
            return {r["symbol"]: int(r["fundingIntervalHours"]) for r in rows}

        table = await self._funding_hours.get("", fetch)
        return table.get(symbol, DEFAULT_FUNDING_HOURS)


def _unknown_symbol(symbol: str, market: Market, known: list[str]) -> InvalidArgument:
    close = difflib.get_close_matches(symbol, known, n=3, cutoff=0.6)
    text = f"unknown symbol {symbol!r} on the {market} market"
    if close:
        text += f"; did you mean {', '.join(close)}?"
    else:
        text += "; binance_exchange_info lists the symbols"
    return InvalidArgument(text)
