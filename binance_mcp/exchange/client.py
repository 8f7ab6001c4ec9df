"""The venue as tools see it: one python-binance `AsyncClient` per server process, every call
through one place that turns failures into agent-facing errors, and the TTL caches of the rules
that orders are checked against locally (exchange info, leverage brackets, funding intervals).

Calls are split by what a failure means for them: `read` (no effect) and `write` (an idempotent
change such as a cancel by id or a leverage setting) are retried with one tenacity policy on
429, 5xx and network errors; `place` (a new order, which must never be sent twice) is sent again
only when it certainly did not get through. Every call is bounded in tries and in time
(`RetryPolicy`), is refused with -1021 at most once (the clock is measured again in between),
and passes the client's per-host gates (request weight, 429 holds, 418 bans: limits.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from binance_mcp.exchange.binance_api import as_failure
from binance_mcp.exchange.errors import (
    ExchangeError,
    ExchangeUnreachable,
    InvalidArgument,
    ToolFailure,
)
from binance_mcp.exchange.gates import CALL_DEADLINE, HostGates
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.exchange.symbol_rules import Market, SymbolRules
from binance_mcp.exchange.venues import Endpoints, Venue

if TYPE_CHECKING:
    from binance import AsyncClient
    from tenacity import RetryCallState

log = logging.getLogger(__name__)

# Filters and brackets change rarely (listings, tick-size changes); five minutes keeps local
# checks current without paying exchange info's weight on every order.
RULES_TTL: Final = 300.0
# Binance's default funding interval when a symbol is absent from /fapi/v1/fundingInfo.
DEFAULT_FUNDING_HOURS: Final = 8

T = TypeVar("T")

# One guarded order call reads the same things more than once: the approval resolver and the
# guard value the order and read the account for the position, exposure and loss limits
# (guard/facts.py, guard/exposure.py), the tool pre-checks the order against the symbol's
# filters. The server opens a `SHARED_READS` scope per tool call, so a repeated read takes the
# first one's answer: requests (and weight) saved, and every check sees the same figures.
# Answers older than the TTL are read again, so what was read before a person's approval is
# not used after it. Nothing is shared between calls: each call sees the account afresh.
SHARED_READS: contextvars.ContextVar[dict[Hashable, _SharedRead] | None] = contextvars.ContextVar(
    "binance_mcp_shared_reads", default=None
)
SHARED_READ_TTL: Final = 1.0
# What the account holds: the guard's in-flight reservations count the orders answered since
# such a read (`oldest_account_read`).
_ACCOUNT_STATE: Final = frozenset(
    {
        "get_account",
        "get_open_orders",
        "futures_account",
        "futures_get_open_orders",
        "futures_position_information",
    }
)
_SHAREABLE: Final = _ACCOUNT_STATE | {
    "futures_mark_price",
    "get_all_tickers",
    "get_symbol_ticker",
}
# Reads whose one-symbol answer is part of an all-symbols answer: a call that has read every
# symbol (`max_exposure`, `max_daily_loss`) does not read one again (`max_position_notional`,
# the order's value).
_EVERY_SYMBOL: Final = {
    "futures_get_open_orders": "futures_get_open_orders",
    "futures_mark_price": "futures_mark_price",
    "futures_position_information": "futures_position_information",
    "get_open_orders": "get_open_orders",
    "get_symbol_ticker": "get_all_tickers",
}
# Those that answer one symbol with an object, every symbol with a list.
_ONE_OBJECT: Final = frozenset({"futures_mark_price", "get_symbol_ticker"})


@dataclass(frozen=True)
class _SharedRead:
    fresh_until: float  # time.monotonic()
    started: float  # time.time() when the request was sent: what the answer can be older than
    answer: Any


def oldest_account_read() -> float | None:
    """When (time.time()) the oldest account read this call shares was sent, or None. An answer
    shared up to `SHARED_READ_TTL` later still shows the account as it was then."""
    shared = SHARED_READS.get()
    if not shared:
        return None
    now = time.monotonic()
    times = [
        read.started
        for key, read in shared.items()
        if isinstance(key, tuple) and key[0] in _ACCOUNT_STATE and read.fresh_until > now
    ]
    return min(times, default=None)


def _one_symbol(method: str, answer: Any, symbol: str) -> Any:
    """The part of an all-symbols answer a one-symbol read would have given; None when it is
    not there (the symbol is read on its own)."""
    if not isinstance(answer, list):
        return None
    rows = [r for r in answer if isinstance(r, dict) and r.get("symbol") == symbol]
    if method in _ONE_OBJECT:
        return rows[0] if rows else None
    return rows


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
    def __init__(
        self,
        endpoints: Endpoints,
        client: AsyncClient,
        ttl: float = RULES_TTL,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client = client
        self.policy = policy or RetryPolicy()
        # Injectable so that tests can retry without waiting.
        self.sleep = sleep or asyncio.sleep
        self.gates: HostGates = client.gates
        self._spot_rules: _TTLCache[SymbolRules] = _TTLCache(ttl)
        self._futures_info: _TTLCache[dict[str, SymbolRules]] = _TTLCache(ttl)
        self._brackets: _TTLCache[list[dict[str, Any]]] = _TTLCache(ttl)
        self._funding_hours: _TTLCache[dict[str, int]] = _TTLCache(ttl)

    @property
    def venue(self) -> Venue:
        return self.endpoints.venue

    @property
    def clock_offset_ms(self) -> int | None:
        """The offset signed requests carry (exchange clock minus ours), once measured."""
        return int(self.client.timestamp_offset) if self.client.clock_synced else None

    async def close(self) -> None:
        await self.client.close_connection()

    # --- calls -----------------------------------------------------------------------------

    async def read(self, method: str, /, *args: Any, **params: Any) -> Any:
        """A call without effect, retried on 429, 5xx and network errors. Within one guarded
        call, a price read less than `SHARED_READ_TTL` old is answered again (see
        `SHARED_READS`)."""
        shared = SHARED_READS.get()
        if shared is None or method not in _SHAREABLE:
            return await self._call(method, args, params, _idempotent)
        key = (method, args, tuple(sorted(params.items())))
        try:
            hit = shared.get(key)
        except TypeError:  # an argument that cannot be a key (a list): not shared
            return await self._call(method, args, params, _idempotent)
        now = time.monotonic()
        if hit is not None and hit.fresh_until > now:
            return hit.answer
        symbol = params.get("symbol")
        if method in _EVERY_SYMBOL and isinstance(symbol, str) and not args:
            wider = {k: v for k, v in params.items() if k != "symbol"}
            every = shared.get((_EVERY_SYMBOL[method], args, tuple(sorted(wider.items()))))
            if every is not None and every.fresh_until > now:
                part = _one_symbol(method, every.answer, symbol)
                if part is not None:
                    shared[key] = _SharedRead(every.fresh_until, every.started, part)
                    return part
        started = time.time()
        answer = await self._call(method, args, params, _idempotent)
        shared[key] = _SharedRead(time.monotonic() + SHARED_READ_TTL, started, answer)
        return answer

    async def futures_open_orders(
        self, symbol: str | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Open futures orders, regular and conditional (Binance lists them apart), read at once."""
        params = {} if symbol is None else {"symbol": symbol}
        regular, conditional = await asyncio.gather(
            self.read("futures_get_open_orders", **params),
            self.read("futures_get_open_orders", conditional=True, **params),
        )
        return regular, conditional

    async def write(self, method: str, /, *args: Any, **params: Any) -> Any:
        """An idempotent change (a cancel by id, a setting), retried like a read: sending it
        twice leaves the same state as sending it once."""
        return await self._call(method, args, params, _idempotent)

    async def place(self, method: str, /, *args: Any, **params: Any) -> Any:
        """A new order. Sent again only when it certainly did not reach the exchange: a 429
        (refused before it was looked at; sent again after Retry-After) or a connection that
        could not be opened. Any other failure is raised; after an ambiguous one the caller
        looks the order up by its client id (tools/orders.py `place_order`)."""
        return await self._call(method, args, params, _unsent)

    async def _call(
        self,
        method: str,
        args: tuple[Any, ...],
        params: dict[str, Any],
        retry_on: Callable[[ToolFailure], bool],
    ) -> Any:
        policy = self.policy
        started = time.monotonic()
        token = CALL_DEADLINE.set(time.time() + policy.budget)
        try:
            # The first attempt runs bare: almost every call succeeds at once, and tenacity's
            # bookkeeping costs ~25 µs a call. A failure it may retry is handed to tenacity,
            # which decides from there exactly as if it had made that attempt itself.
            try:
                return await self._once(method, args, params)
            except ToolFailure as exc:
                if policy.attempts <= 1 or not retry_on(exc):
                    exc.attempts = 1
                    raise
                first = exc
            return await self._retry(method, args, params, retry_on, first, started)
        finally:
            CALL_DEADLINE.reset(token)

    async def _retry(
        self,
        method: str,
        args: tuple[Any, ...],
        params: dict[str, Any],
        retry_on: Callable[[ToolFailure], bool],
        first: ToolFailure,
        started: float,
    ) -> Any:
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            stop_before_delay,
        )

        policy = self.policy
        replay: ToolFailure | None = first
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                # Bounded in tries and in time (counted from the first attempt): a wait that
                # would end past the budget (a long Retry-After) is not started, the failure
                # is reported at once instead.
                stop=stop_after_attempt(policy.attempts)
                | stop_before_delay(policy.budget - (time.monotonic() - started)),
                wait=self._wait,
                retry=retry_if_exception(lambda e: isinstance(e, ToolFailure) and retry_on(e)),
                sleep=self.sleep,
                reraise=True,
                before_sleep=functools.partial(self._log_retry, method),
            ):
                with attempt:
                    attempts += 1
                    if replay is not None:
                        failure, replay = replay, None
                        raise failure
                    return await self._once(method, args, params)
        except ToolFailure as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("tenacity ended without a result or an exception")

    def _wait(self, state: RetryCallState) -> float:
        from tenacity import wait_exponential_jitter

        policy = self.policy
        # backoff, 2×, 4× … up to backoff_max, plus up to one `backoff` of jitter
        backoff = wait_exponential_jitter(
            multiplier=policy.backoff, max=policy.backoff_max, jitter=policy.backoff
        )(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        told = getattr(failure, "retry_after", None)
        return max(backoff, float(told)) if told else backoff

    def _log_retry(self, method: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s failed (%s); trying again in %.2f s (attempt %d of %d)",
            method,
            failure,
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.policy.attempts,
        )

    async def _once(self, method: str, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        """One send; refused for its timestamp (-1021), the clock is measured again and the
        call sent once more (a -1021 is refused before anything is done)."""
        try:
            return await self._send(method, args, params)
        except ExchangeError as exc:
            if exc.code != -1021:
                raise
            log.warning("%s refused with -1021 (%s); measuring the clock again", method, exc)
            try:
                await self.client.sync_clock(unless_since=exc.sent_at)
            except ToolFailure:
                raise exc from None
            except Exception as sync_error:
                if as_failure(sync_error, self.endpoints) is None:
                    raise
                raise exc from None
            return await self._send(method, args, params)

    async def _send(self, method: str, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
        function = getattr(self.client, method)
        # python-binance adds timestamp and signature to the dicts it is given: a fresh copy
        # for every send, so that a second send is signed afresh.
        fresh = {k: dict(v) if isinstance(v, dict) else v for k, v in params.items()}
        sent_at = time.time()
        try:
            return await function(*args, **{k: v for k, v in fresh.items() if v is not None})
        except ToolFailure as exc:
            exc.sent_at = sent_at
            raise
        except Exception as exc:
            failure = as_failure(exc, self.endpoints)
            if failure is None:
                raise
            failure.sent_at = sent_at
            raise failure from None

    # --- cached rules ------------------------------------------------------------------------

    async def rules(self, market: Market, symbol: str) -> SymbolRules:
        """The symbol's filters; an unknown symbol is an `InvalidArgument` naming close ones."""
        if market == "spot":
            return await self._spot_rules.get(symbol, lambda: self._fetch_spot_rules(symbol))
        table = await self.futures_symbols()
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
        self.gates.learn_limits(self.endpoints.spot_url + "/", info.get("rateLimits") or [])
        symbols = info.get("symbols") or []
        if not symbols:
            raise _unknown_symbol(symbol, "spot", [])
        return SymbolRules.from_exchange_info("spot", symbols[0])

    async def _fetch_futures_rules(self) -> dict[str, SymbolRules]:
        info = await self.read("futures_exchange_info")
        self.gates.learn_limits(self.endpoints.futures_url + "/", info.get("rateLimits") or [])
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


def _idempotent(failure: ToolFailure) -> bool:
    """Worth another try for a call that may safely run twice: rate limited (429, after its
    Retry-After), a server error (5xx), or no answer at all."""
    if isinstance(failure, ExchangeError):
        return failure.status == 429 or failure.status >= 500
    return isinstance(failure, ExchangeUnreachable)


def _unsent(failure: ToolFailure) -> bool:
    """Worth another try for a new order: only failures that prove it never got through."""
    if isinstance(failure, ExchangeError):
        return failure.status == 429
    return isinstance(failure, ExchangeUnreachable) and not failure.sent


def _unknown_symbol(symbol: str, market: Market, known: list[str]) -> InvalidArgument:
    close = difflib.get_close_matches(symbol, known, n=3, cutoff=0.6)
    text = f"unknown symbol {symbol!r} on the {market} market"
    if close:
        text += f"; did you mean {', '.join(close)}?"
    else:
        text += "; binance_exchange_info lists the symbols"
    return InvalidArgument(text)
