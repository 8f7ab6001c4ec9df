"""The guard's shared state in Redis (`BINANCE_MCP_STATE_URL=redis://…`), for servers on several
hosts against one account: rate counters, the daily budget, orders in flight, position and
exposure reservations, the day's loss figures, the trading state and the approvals queue —
what the state dir's SQLite file and flag files hold on one machine, with the same semantics.

Every check-and-record is one optimistic transaction (WATCH the keys, read, decide in Python
with the same functions as SQLite, write in MULTI/EXEC, start again if another server wrote in
between), so servers on any number of hosts can never exceed a limit together. Keys live under
`binance-mcp:{account}:{venue}:` (the account is a digest of the API key, never the key), so two
accounts can share one Redis.

The client is redis-py's asyncio one: a Redis round trip waits without holding up the other
calls on the server's event loop. Its connections belong to the loop that opened them, so each
loop gets its own client (`_Link`), and synchronous callers (the CLI, the console's worker
threads, a server's start) run their work in a loop of their own (`RedisState.blocking`).

Fail closed: any Redis error or timeout is a `StateUnavailable` (trading denied, the reason
says so); the client reconnects by itself at the next call. A Redis that lost its data (restarted
without persistence, flushed) must not hand out a fresh daily budget: a marker written at first
use is checked at every transaction, and when it is gone trading is refused until
`binance-mcp state reset`. The URL's password never appears in messages (`redacted`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError

from binance_mcp.guard.approvals import _KEEP_S, ApprovalError, Request, Status
from binance_mcp.guard.policy import RateLimit
from binance_mcp.guard.store import (
    IN_FLIGHT_S,
    KEEP_DAYS,
    STALE_RESERVATION_S,
    BudgetHit,
    OrderSlot,
    RateHit,
    StateUnavailable,
    budget_denial,
    reach_denial,
    utc_day,
)
from binance_mcp.guard.trading_state import ACTIVE, Trading, TradingState, utc_today

T = TypeVar("T")

DEFAULT_TIMEOUT_S: Final = 1.0
_RETRIES: Final = 200
MARKER: Final = "marker"


def redacted(url: str) -> str:
    """The URL without its user and password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def account_of(api_key: str | None) -> str:
    if not api_key:
        return "no-key"
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


class _Link:
    """The client of the event loop in use. redis.asyncio's connections belong to the loop
    that opened them: a loop that is not the last one's gets a client of its own."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url = url  # holds the password: never shown
        self.timeout = timeout
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # The previous loop's connections go with it; they cannot serve this one.
            self._client = Redis.from_url(
                self._url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                decode_responses=True,
                health_check_interval=30,
                # A pooled connection the server closed (a Redis restart) may look usable until
                # the loop reads its end: one more try, on a new connection. Not on a timeout,
                # which must deny within the timeout.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
            self._loop = loop
        return self._client

    def fresh(self) -> _Link:
        return _Link(self._url, self.timeout)

    async def aclose(self) -> None:
        client, loop = self._client, self._loop
        self._client = self._loop = None
        # Another loop's connections cannot be closed from this one; they go with that loop.
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()


class RedisState:
    """The shared state of one account and venue, over one client per event loop."""

    def __init__(
        self, url: str, *, account: str, venue: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.where = redacted(url)
        self.venue = venue
        self.ns = f"binance-mcp:{account}:{venue}:"
        # The trading state and the approvals are the account's, whatever the venue.
        self.account_ns = f"binance-mcp:{account}:"
        self._link = _Link(url, timeout)
        self._seen_marker: str | None = None

    @property
    def client(self) -> Redis:
        """This event loop's client (only inside a running loop)."""
        return self._link.client()

    def for_venue(self, venue: str) -> RedisState:
        """The same client, seen as `venue`'s counters."""
        other = copy.copy(self)
        other.venue, other.ns = venue, f"{self.account_ns}{venue}:"
        return other

    def key(self, name: str) -> str:
        return self.ns + name

    def blocking(self, work: Callable[[RedisState], Awaitable[T]]) -> T:
        """`work(state)` from synchronous code (the CLI, the console's worker threads, a
        server's start): run to its end in an event loop of its own, on a connection of its
        own, closed after. Called where a loop is running (a server built, or the CLI run,
        inside an async test), the work runs in a helper thread while the caller and its loop
        wait: never on a server's request path, which awaits the state itself."""
        own = copy.copy(self)
        own._link = self._link.fresh()

        async def run() -> T:
            try:
                return await work(own)
            finally:
                await own.aclose()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run())
        with ThreadPoolExecutor(1, thread_name_prefix="shared-state") as helper:
            return helper.submit(lambda: asyncio.run(run())).result()

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """A Redis failure is a `StateUnavailable` naming the server, never its password."""
        try:
            yield
        except (RedisError, OSError) as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__})"
            ) from None

    # --- transactions --------------------------------------------------------------------------

    async def transaction(self, keys: Sequence[str], body: Callable[[Any], Awaitable[T]]) -> T:
        """Run `body(pipe)` with `keys` watched: it reads with `await pipe.…`, then calls
        `pipe.multi()` and queues its writes (not awaited). Retried when another server wrote
        in between."""
        marker = self.account_ns + MARKER
        try:
            async with self.client.pipeline() as pipe:
                for attempt in range(_RETRIES):
                    try:
                        await pipe.watch(marker, *keys)
                        seen = await pipe.get(marker)
                        self._check_marker(seen if isinstance(seen, str) else None)
                        result = await body(pipe)
                        await pipe.execute()
                        return result
                    except WatchError:
                        # Another server wrote in between: back off a little, at random, so
                        # that servers racing for the same keys do not collide again at once.
                        await asyncio.sleep(random.uniform(0, min(0.0005 * (attempt + 1), 0.02)))
                        continue
        except (RedisError, OSError) as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__}); "
                "trading is denied until it answers"
            ) from None
        raise StateUnavailable(f"shared state at {self.where} too busy; try again")

    def _check_marker(self, value: str | None) -> None:
        if value is None:
            raise StateUnavailable(
                f"shared state at {self.where} has lost its data (its marker is gone: restarted "
                "without persistence, or flushed); trading is refused until a person runs "
                "`binance-mcp state reset`"
            )
        self._seen_marker = value

    async def initialise(self) -> bool:
        """Write the marker when this Redis has never held binance-mcp state for the account:
        True then. False when it is there already. When it is missing although state was held
        (the record in `known`), nothing is written: `state reset` is for a person."""
        with self._answering():
            return bool(await self.client.set(self.account_ns + MARKER, _stamp(), nx=True))

    async def has_data(self) -> bool:
        with self._answering():
            return bool(await self.client.exists(self.account_ns + MARKER))

    async def reset(self) -> None:
        """`binance-mcp state reset`: drop the account's state and write a new marker."""
        with self._answering():
            client = self.client
            names = [n async for n in client.scan_iter(match=self.account_ns + "*", count=500)]
            if names:
                await client.delete(*names)
            await client.set(self.account_ns + MARKER, _stamp())

    async def aclose(self) -> None:
        """This loop's connections; a later call opens new ones."""
        await self._link.aclose()

    # --- the trading state ---------------------------------------------------------------------

    async def read_trading(self) -> Trading:
        """Fail closed: unreadable or lost, trading is halted, and the reason says why."""
        try:
            marker, raw = await self.client.mget(
                self.account_ns + MARKER, self.account_ns + "trading"
            )
        except (RedisError, OSError) as exc:
            return Trading(
                TradingState.HALTED,
                f"the trading state at {self.where} cannot be read ({type(exc).__name__})",
                "shared state",
            )
        if marker is None:
            return Trading(
                TradingState.HALTED,
                f"shared state at {self.where} has lost its data; run `binance-mcp state reset`",
                "shared state",
            )
        if raw is None:
            return ACTIVE
        try:
            data = json.loads(raw)
            trading = Trading(
                TradingState(data["state"]), data.get("reason"), data.get("by", "person"),
                data.get("since"), data.get("day"),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return Trading(
                TradingState.HALTED, f"the trading state at {self.where} is damaged", "shared state"
            )
        if trading.day is not None and trading.day != utc_today():
            return ACTIVE
        return trading

    async def set_trading(self, trading: Trading) -> None:
        with self._answering():
            if trading.state is TradingState.ACTIVE:
                await self.client.delete(self.account_ns + "trading")
            else:
                await self.client.set(self.account_ns + "trading", json.dumps(asdict(trading)))


def _stamp() -> str:
    return json.dumps({"created": time.time(), "id": secrets.token_hex(8)})


class RedisCounterStore:
    """`StateStore`'s counters and budgets (guard/store.py), in Redis."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.venue = state.venue

    async def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        keys = [self.state.key(f"calls:{key}") for key, _ in limits]
        now = time.time()

        async def body(pipe: Any) -> RateHit | None:
            # Reads only until MULTI: a write to a watched key would abort our own EXEC.
            for (key, limit), name in zip(limits, keys, strict=True):
                start = f"({now - limit.seconds}"
                if int(await pipe.zcount(name, start, "+inf")) >= limit.count:
                    oldest = await pipe.zrangebyscore(
                        name, start, "+inf", start=0, num=1, withscores=True
                    )
                    since = oldest[0][1] if oldest else now
                    pipe.multi()
                    return RateHit(key, limit, max(since + limit.seconds - now, 0.0))
            pipe.multi()
            for (_, limit), name in zip(limits, keys, strict=True):
                pipe.zremrangebyscore(name, "-inf", now - limit.seconds)
                pipe.zadd(name, {uuid.uuid4().hex: now})
                pipe.expire(name, int(limit.seconds) * 2 + 1)
            return None

        return await self.state.transaction(keys, body)

    # Keys: `spent:DAY` the day's notional placed or reserved (exact decimal text); `reserved`
    # the orders being placed (id → day, market, notional, when); `settled:MARKET` orders
    # answered lately (id → when), for open-order counts; `flights` the position/exposure
    # reservations being placed (id → symbol, size, when); `landed` those answered lately
    # ("id|symbol|size" → when). Each stays small whatever the history: cost per order is flat.

    async def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        key = self.state.key
        now = time.time()
        day = utc_day(now)
        spent, reserved, flights, landed = (
            key(f"spent:{day}"),
            key("reserved"),
            key("flights"),
            key("landed"),
        )
        settled = key(f"settled:{slot.market}")

        async def body(pipe: Any) -> str | BudgetHit:
            pending = {k: json.loads(v) for k, v in (await pipe.hgetall(reserved)).items()}
            # A reservation this old belongs to a server that died mid-call: placed, maybe.
            stale = {k: r for k, r in pending.items() if r["at"] < now - STALE_RESERVATION_S}
            used = Decimal(await pipe.get(spent) or "0")
            since = slot.listed_at if slot.listed_at is not None else now
            count = sum(
                1 for k, r in pending.items() if r["market"] == slot.market and k not in stale
            )
            count += int(await pipe.zcount(settled, f"({since}", "+inf"))
            hit = budget_denial(slot, used, count)
            gone: list[str] = []
            if hit is None and slot.holds_reach():
                read_at = min(r.read_at for r in (slot.position, slot.exposure) if r is not None)
                rows = {k: json.loads(v) for k, v in (await pipe.hgetall(flights)).items()}
                # Left by a server that died mid-call: the exchange shows that order by now.
                gone = [k for k, f in rows.items() if f["at"] < now - IN_FLIGHT_S]
                live = [(f["symbol"], f["size"]) for k, f in rows.items() if k not in gone]
                for member in await pipe.zrangebyscore(landed, f"({read_at}", "+inf"):
                    _, symbol, size = member.split("|")
                    live.append((symbol, size))
                mine = sum((Decimal(s) for sym, s in live if sym == slot.symbol), Decimal(0))
                hit = reach_denial(slot, mine, sum((Decimal(s) for _, s in live), Decimal(0)))
            pipe.multi()
            if gone:
                pipe.hdel(flights, *gone)
            if stale:
                pipe.hdel(reserved, *stale)
                for k, r in stale.items():
                    pipe.zadd(key(f"settled:{r['market']}"), {k: r["at"]})
            if hit is not None:
                return hit
            ident = uuid.uuid4().hex
            pipe.set(spent, format(used + slot.notional, "f"), ex=KEEP_DAYS * 86400)
            row = {
                "day": day,
                "market": slot.market,
                "notional": format(slot.notional, "f"),
                "at": now,
            }
            pipe.hset(reserved, ident, json.dumps(row))
            if slot.holds_reach():
                flight = {"symbol": slot.symbol, "size": format(slot.size, "f"), "at": now}
                pipe.hset(flights, ident, json.dumps(flight))
            return ident

        return await self.state.transaction([spent, reserved, flights, landed, settled], body)

    async def settle(self, ident: str, placed: bool) -> None:
        key = self.state.key
        now = time.time()
        reserved, flights, landed = key("reserved"), key("flights"), key("landed")

        async def body(pipe: Any) -> None:
            raw, flight = await pipe.hget(reserved, ident), await pipe.hget(flights, ident)
            row = json.loads(raw) if raw is not None else None
            spent = key(f"spent:{row['day']}") if row is not None else None
            used = Decimal(await pipe.get(spent) or "0") if spent is not None else Decimal(0)
            pipe.multi()
            pipe.hdel(reserved, ident)
            pipe.hdel(flights, ident)
            if row is None:
                return
            if not placed:
                pipe.set(spent, format(max(used - Decimal(row["notional"]), Decimal(0)), "f"),
                         ex=KEEP_DAYS * 86400)  # fmt: skip
                return
            settled = key(f"settled:{row['market']}")
            pipe.zadd(settled, {ident: now})
            pipe.zremrangebyscore(settled, "-inf", now - STALE_RESERVATION_S)
            if flight is not None:
                f = json.loads(flight)
                # Counted on by calls that read the exchange before it was answered.
                pipe.zadd(landed, {f"{ident}|{f['symbol']}|{f['size']}": now})
                pipe.zremrangebyscore(landed, "-inf", now - IN_FLIGHT_S)

        # Which day's total to watch: the reservation says (an order reserved before midnight
        # UTC and settled after is given back to its own day).
        with self.state._answering():
            raw = await self.state.client.hget(reserved, ident)
        row = json.loads(raw) if isinstance(raw, str) else None
        day_key = key(f"spent:{row['day']}") if row is not None else key("spent:none")
        await self.state.transaction([reserved, flights, landed, day_key], body)

    async def used_today(self) -> Decimal:
        spent = self.state.key(f"spent:{utc_day()}")

        async def body(pipe: Any) -> Decimal:
            used = Decimal(await pipe.get(spent) or "0")
            pipe.multi()
            return used

        return await self.state.transaction([spent], body)

    async def daily_loss(self, value: Decimal) -> Decimal:
        name, day = self.state.key("day_value"), utc_day()

        async def body(pipe: Any) -> Decimal:
            seen = await pipe.hget(name, day)
            high = value if seen is None else max(Decimal(seen), value)
            pipe.multi()
            pipe.hset(name, day, format(high, "f"))
            pipe.expire(name, 3 * 86400)
            return max(high - value, Decimal(0))

        return await self.state.transaction([name], body)

    async def calls_in_window(self, key: str, seconds: float) -> int:
        """Read only (the console): calls counted against rate-limit `key` lately."""
        name = self.state.key(f"calls:{key}")

        async def body(pipe: Any) -> int:
            count = int(await pipe.zcount(name, f"({time.time() - seconds}", "+inf"))
            pipe.multi()
            return count

        return await self.state.transaction([name], body)

    async def day_high(self) -> Decimal | None:
        """Read only (the console): today's high-water mark of the account's value."""
        name, day = self.state.key("day_value"), utc_day()

        async def body(pipe: Any) -> Decimal | None:
            seen = await pipe.hget(name, day)
            pipe.multi()
            return None if seen is None else Decimal(seen)

        return await self.state.transaction([name], body)

    async def restart_loss_count(self) -> None:
        name, day = self.state.key("day_value"), utc_day()

        async def body(pipe: Any) -> None:
            pipe.multi()
            pipe.hdel(name, day)

        await self.state.transaction([name], body)

    def close(self) -> None:
        """The client is the shared state's; closed with it."""


class RedisApprovalQueue:
    """`ApprovalQueue` (guard/approvals.py) in Redis: requests of the account, decided from any
    host's CLI."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.name = state.account_ns + "approvals"

    async def _load(self, pipe: Any) -> dict[str, Request]:
        return {k: Request(**json.loads(v)) for k, v in (await pipe.hgetall(self.name)).items()}

    def _put(self, pipe: Any, request: Request) -> None:
        pipe.hset(self.name, request.id, json.dumps(asdict(request)))

    async def file(self, digest: str, tool: str, summary: str, expires_in: float, pid: int) -> str:
        now = time.time()

        async def body(pipe: Any) -> str:
            rows = await self._load(pipe)
            old = [k for k, r in rows.items() if r.expires < now - _KEEP_S]
            ident = secrets.token_hex(3)
            while ident in rows:
                ident = secrets.token_hex(3)
            pipe.multi()
            if old:
                pipe.hdel(self.name, *old)
            request = Request(ident, digest, tool, summary, now, now + expires_in, "pending", "")
            self._put(pipe, request)
            return ident

        return await self.state.transaction([self.name], body)

    async def listing(self, everything: bool = False) -> list[Request]:
        now = time.time()

        async def body(pipe: Any) -> list[Request]:
            rows = sorted((await self._load(pipe)).values(), key=lambda r: r.created)
            pipe.multi()
            return rows

        found = await self.state.transaction([self.name], body)
        if everything:
            return found
        return [r for r in found if r.status == "pending" and not r.expired(now)]

    async def decide(self, ident: str, approve: bool, reason: str = "") -> Request:
        ident = ident.strip().lower()
        now = time.time()

        async def body(pipe: Any) -> Request | ApprovalError:
            raw = await pipe.hget(self.name, ident)
            pipe.multi()
            if raw is None:
                return ApprovalError(
                    f"no approval request {ident!r}; `binance-mcp approvals` lists them"
                )
            request = Request(**json.loads(raw))
            if request.status != "pending":
                return ApprovalError(f"request {ident} is already {request.status}")
            if request.expired(now):
                self._put(pipe, replace(request, status="expired"))
                return ApprovalError(f"request {ident} has expired; the call was denied")
            status: Status = "approved" if approve else "denied"
            decided = replace(request, status=status, reason=reason)
            self._put(pipe, decided)
            return decided

        result = await self.state.transaction([self.name], body)
        if isinstance(result, ApprovalError):
            raise result
        return result

    async def settle(self, ident: str, digest: str) -> Request | None:
        now = time.time()

        async def body(pipe: Any) -> Request | None:
            raw = await pipe.hget(self.name, ident)
            pipe.multi()
            request = Request(**json.loads(raw)) if raw is not None else None
            if request is None or request.digest != digest:
                return Request(ident, digest, "", "", now, now, "expired", "request not found")
            if request.status == "pending":
                if not request.expired(now):
                    return None
                expired = replace(request, status="expired")
                self._put(pipe, expired)
                return expired
            self._put(pipe, replace(request, status="used"))
            return request

        return await self.state.transaction([self.name], body)

    async def withdraw(self, ident: str) -> None:
        async def body(pipe: Any) -> None:
            raw = await pipe.hget(self.name, ident)
            pipe.multi()
            if raw is None:
                return
            request = Request(**json.loads(raw))
            if request.status in ("pending", "approved"):
                self._put(pipe, replace(request, status="expired"))

        await self.state.transaction([self.name], body)

    def close(self) -> None:
        """The client is the shared state's; closed with it."""


def open_shared(
    url: str, state_dir: Path, *, account: str, venue: str, timeout: float = DEFAULT_TIMEOUT_S
) -> RedisState:
    """The shared state for a server: its marker written at first use of this Redis by this
    host, and remembered in the state dir (`shared-state.json`); when this host has used it
    before and the marker is gone, nothing is written: the Redis lost its data, and every
    call that needs it is refused until `binance-mcp state reset`. Unreachable at start, the
    server still starts and denies trading until Redis answers (fail closed). The check runs
    in a loop of its own (`RedisState.blocking`): the server's loop opens its own connections
    at its first call."""
    state = RedisState(url, account=account, venue=venue, timeout=timeout)
    record = state_dir / "shared-state.json"
    try:
        seen = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    used_before = bool(seen.get(state.account_ns))

    async def check(shared: RedisState) -> bool:
        if not used_before:
            await shared.initialise()
        return await shared.has_data()

    try:
        if state.blocking(check):
            state_dir.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({**seen, state.account_ns: True}), encoding="utf-8")
    except StateUnavailable:
        pass  # every call will say so, and recover when Redis answers
    return state
