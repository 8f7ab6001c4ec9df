"""The guard's shared state in Redis (`BINANCE_MCP_STATE_URL=redis://…`), for servers on several
hosts against one account: rate counters, the daily budget, orders in flight, position and
exposure reservations, the day's loss figures, the trading state and the approvals queue —
what the state dir's SQLite file and flag files hold on one machine, with the same semantics.

Every check-and-record is one optimistic transaction (WATCH the keys, read, decide in Python
with the same functions as SQLite, write in MULTI/EXEC, start again if another server wrote in
between), so servers on any number of hosts can never exceed a limit together. Keys live under
`binance-mcp:{account}:{venue}:` (the account is a digest of the API key, never the key), so two
accounts can share one Redis.

Fail closed: any Redis error or timeout is a `StateUnavailable` (trading denied, the reason
says so); the client reconnects by itself at the next call. A Redis that lost its data (restarted
without persistence, flushed) must not hand out a fresh daily budget: a marker written at first
use is checked at every transaction, and when it is gone trading is refused until
`binance-mcp state reset`. The URL's password never appears in messages (`redacted`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis

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
_RETRIES: Final = 50
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


class RedisState:
    """One Redis connection pool for one account and venue."""

    def __init__(
        self, url: str, *, account: str, venue: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.where = redacted(url)
        self.venue = venue
        self.ns = f"binance-mcp:{account}:{venue}:"
        # The trading state and the approvals are the account's, whatever the venue.
        self.account_ns = f"binance-mcp:{account}:"
        self.client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            health_check_interval=30,
        )
        self._seen_marker: str | None = None

    def for_venue(self, venue: str) -> RedisState:
        """The same connection pool, seen as `venue`'s counters."""
        other = copy.copy(self)
        other.venue, other.ns = venue, f"{self.account_ns}{venue}:"
        return other

    def key(self, name: str) -> str:
        return self.ns + name

    # --- transactions --------------------------------------------------------------------------

    def transaction(self, keys: Sequence[str], body: Callable[[Any], T]) -> T:
        """Run `body(pipe)` with `keys` watched: it reads with `pipe`, then calls
        `pipe.multi()` and queues its writes. Retried when another server wrote in between."""
        marker = self.account_ns + MARKER
        try:
            with self.client.pipeline() as pipe:
                for _ in range(_RETRIES):
                    try:
                        pipe.watch(marker, *keys)  # type: ignore[no-untyped-call]
                        seen = pipe.get(marker)
                        self._check_marker(seen if isinstance(seen, str) else None)
                        result = body(pipe)
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
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

    def initialise(self) -> bool:
        """Write the marker when this Redis has never held binance-mcp state for the account:
        True then. False when it is there already. When it is missing although state was held
        (the record in `known`), nothing is written: `state reset` is for a person."""
        try:
            created = bool(self.client.set(self.account_ns + MARKER, _stamp(), nx=True))
        except redis.RedisError as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__})"
            ) from None
        return created

    def has_data(self) -> bool:
        try:
            return bool(self.client.exists(self.account_ns + MARKER))
        except redis.RedisError as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__})"
            ) from None

    def reset(self) -> None:
        """`binance-mcp state reset`: drop the account's state and write a new marker."""
        try:
            names = list(self.client.scan_iter(match=self.account_ns + "*", count=500))
            if names:
                self.client.delete(*names)
            self.client.set(self.account_ns + MARKER, _stamp())
        except redis.RedisError as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__})"
            ) from None

    def close(self) -> None:
        self.client.close()

    # --- the trading state ---------------------------------------------------------------------

    def read_trading(self) -> Trading:
        """Fail closed: unreadable or lost, trading is halted, and the reason says why."""
        try:
            marker, raw = self.client.mget(self.account_ns + MARKER, self.account_ns + "trading")
        except redis.RedisError as exc:
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

    def set_trading(self, trading: Trading) -> None:
        try:
            if trading.state is TradingState.ACTIVE:
                self.client.delete(self.account_ns + "trading")
            else:
                self.client.set(self.account_ns + "trading", json.dumps(asdict(trading)))
        except redis.RedisError as exc:
            raise StateUnavailable(
                f"shared state at {self.where} unavailable ({type(exc).__name__})"
            ) from None


def _stamp() -> str:
    return json.dumps({"created": time.time(), "id": secrets.token_hex(8)})


class RedisCounterStore:
    """`StateStore`'s counters and budgets (guard/store.py), in Redis."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.venue = state.venue

    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        keys = [self.state.key(f"calls:{key}") for key, _ in limits]
        now = time.time()

        def body(pipe: Any) -> RateHit | None:
            # Reads only until MULTI: a write to a watched key would abort our own EXEC.
            for (key, limit), name in zip(limits, keys, strict=True):
                window = pipe.zrangebyscore(
                    name, f"({now - limit.seconds}", "+inf", withscores=True
                )
                if len(window) >= limit.count:
                    pipe.multi()
                    return RateHit(key, limit, max(window[0][1] + limit.seconds - now, 0.0))
            pipe.multi()
            for (_, limit), name in zip(limits, keys, strict=True):
                pipe.zremrangebyscore(name, "-inf", now - limit.seconds)
                pipe.zadd(name, {uuid.uuid4().hex: now})
                pipe.expire(name, int(limit.seconds) * 2 + 1)
            return None

        return self.state.transaction(keys, body)

    def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        orders, in_flight = self.state.key("orders"), self.state.key("in_flight")
        now = time.time()
        day = utc_day(now)

        def body(pipe: Any) -> str | BudgetHit:
            rows = {k: json.loads(v) for k, v in pipe.hgetall(orders).items()}
            stale = [k for k, r in rows.items() if r["day"] < utc_day(now - KEEP_DAYS * 86400)]
            for row in rows.values():
                if row["state"] == "reserved" and row["reserved_at"] < now - STALE_RESERVATION_S:
                    row.update(state="placed", settled_at=row["reserved_at"])
            used = sum(
                (Decimal(r["notional"]) for r in rows.values() if r["day"] == day), Decimal(0)
            )
            since = slot.listed_at if slot.listed_at is not None else now
            count = sum(
                1 for r in rows.values()
                if r["market"] == slot.market
                and (r["state"] == "reserved" or (r["settled_at"] or 0) > since)
            )  # fmt: skip
            hit = budget_denial(slot, used, count)
            flights = {k: json.loads(v) for k, v in pipe.hgetall(in_flight).items()}
            gone = [k for k, f in flights.items() if f["reserved_at"] < now - IN_FLIGHT_S]
            if hit is None and slot.holds_reach():
                read_at = min(r.read_at for r in (slot.position, slot.exposure) if r is not None)
                live = [
                    f for k, f in flights.items()
                    if k not in gone and (f["settled_at"] is None or f["settled_at"] > read_at)
                ]  # fmt: skip
                mine = sum(
                    (Decimal(f["size"]) for f in live if f["symbol"] == slot.symbol), Decimal(0)
                )
                hit = reach_denial(slot, mine, sum((Decimal(f["size"]) for f in live), Decimal(0)))
            pipe.multi()
            if stale:
                pipe.hdel(orders, *stale)
            if gone:
                pipe.hdel(in_flight, *gone)
            if hit is not None:
                return hit
            ident = uuid.uuid4().hex
            row = {"day": day, "market": slot.market, "notional": format(slot.notional, "f"),
                   "state": "reserved", "reserved_at": now, "settled_at": None}  # fmt: skip
            pipe.hset(orders, ident, json.dumps(row))
            if slot.holds_reach():
                flight = {"symbol": slot.symbol, "size": format(slot.size, "f"),
                          "reserved_at": now, "settled_at": None}  # fmt: skip
                pipe.hset(in_flight, ident, json.dumps(flight))
            return ident

        return self.state.transaction([orders, in_flight], body)

    def settle(self, ident: str, placed: bool) -> None:
        orders, in_flight = self.state.key("orders"), self.state.key("in_flight")
        now = time.time()

        def body(pipe: Any) -> None:
            row, flight = pipe.hget(orders, ident), pipe.hget(in_flight, ident)
            pipe.multi()
            if not placed:
                pipe.hdel(orders, ident)
                pipe.hdel(in_flight, ident)
                return
            if row is not None:
                pipe.hset(orders, ident, json.dumps({**json.loads(row), "state": "placed",
                                                      "settled_at": now}))  # fmt: skip
            if flight is not None:
                pipe.hset(in_flight, ident, json.dumps({**json.loads(flight), "settled_at": now}))

        self.state.transaction([orders, in_flight], body)

    def used_today(self) -> Decimal:
        orders, day = self.state.key("orders"), utc_day()

        def body(pipe: Any) -> Decimal:
            rows = [json.loads(v) for v in pipe.hgetall(orders).values()]
            pipe.multi()
            return sum((Decimal(r["notional"]) for r in rows if r["day"] == day), Decimal(0))

        return self.state.transaction([orders], body)

    def daily_loss(self, value: Decimal) -> Decimal:
        name, day = self.state.key("day_value"), utc_day()

        def body(pipe: Any) -> Decimal:
            seen = pipe.hget(name, day)
            high = value if seen is None else max(Decimal(seen), value)
            pipe.multi()
            pipe.hset(name, day, format(high, "f"))
            pipe.expire(name, 3 * 86400)
            return max(high - value, Decimal(0))

        return self.state.transaction([name], body)

    def restart_loss_count(self) -> None:
        name, day = self.state.key("day_value"), utc_day()

        def body(pipe: Any) -> None:
            pipe.multi()
            pipe.hdel(name, day)

        self.state.transaction([name], body)

    def close(self) -> None:
        """The pool is the shared state's; closed with it."""


class RedisApprovalQueue:
    """`ApprovalQueue` (guard/approvals.py) in Redis: requests of the account, decided from any
    host's CLI."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self.name = state.account_ns + "approvals"

    def _load(self, pipe: Any) -> dict[str, Request]:
        return {k: Request(**json.loads(v)) for k, v in pipe.hgetall(self.name).items()}

    def _put(self, pipe: Any, request: Request) -> None:
        pipe.hset(self.name, request.id, json.dumps(asdict(request)))

    def file(self, digest: str, tool: str, summary: str, timeout: float, pid: int) -> str:
        now = time.time()

        def body(pipe: Any) -> str:
            rows = self._load(pipe)
            old = [k for k, r in rows.items() if r.expires < now - _KEEP_S]
            ident = secrets.token_hex(3)
            while ident in rows:
                ident = secrets.token_hex(3)
            pipe.multi()
            if old:
                pipe.hdel(self.name, *old)
            request = Request(ident, digest, tool, summary, now, now + timeout, "pending", "")
            self._put(pipe, request)
            return ident

        return self.state.transaction([self.name], body)

    def listing(self, everything: bool = False) -> list[Request]:
        now = time.time()

        def body(pipe: Any) -> list[Request]:
            rows = sorted(self._load(pipe).values(), key=lambda r: r.created)
            pipe.multi()
            return rows

        found = self.state.transaction([self.name], body)
        if everything:
            return found
        return [r for r in found if r.status == "pending" and not r.expired(now)]

    def decide(self, ident: str, approve: bool, reason: str = "") -> Request:
        ident = ident.strip().lower()
        now = time.time()

        def body(pipe: Any) -> Request | ApprovalError:
            raw = pipe.hget(self.name, ident)
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

        result = self.state.transaction([self.name], body)
        if isinstance(result, ApprovalError):
            raise result
        return result

    def settle(self, ident: str, digest: str) -> Request | None:
        now = time.time()

        def body(pipe: Any) -> Request | None:
            raw = pipe.hget(self.name, ident)
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

        return self.state.transaction([self.name], body)

    def withdraw(self, ident: str) -> None:
        def body(pipe: Any) -> None:
            raw = pipe.hget(self.name, ident)
            pipe.multi()
            if raw is None:
                return
            request = Request(**json.loads(raw))
            if request.status in ("pending", "approved"):
                self._put(pipe, replace(request, status="expired"))

        self.state.transaction([self.name], body)

    def close(self) -> None:
        """The pool is the shared state's; closed with it."""


def open_shared(
    url: str, state_dir: Path, *, account: str, venue: str, timeout: float = DEFAULT_TIMEOUT_S
) -> RedisState:
    """The shared state for a server: its marker written at first use of this Redis by this
    host, and remembered in the state dir (`shared-state.json`); when this host has used it
    before and the marker is gone, nothing is written: the Redis lost its data, and every
    call that needs it is refused until `binance-mcp state reset`. Unreachable at start, the
    server still starts and denies trading until Redis answers (fail closed)."""
    state = RedisState(url, account=account, venue=venue, timeout=timeout)
    record = state_dir / "shared-state.json"
    try:
        seen = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    used_before = bool(seen.get(state.account_ns))
    try:
        if not used_before:
            state.initialise()
        if state.has_data():
            state_dir.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({**seen, state.account_ns: True}), encoding="utf-8")
    except StateUnavailable:
        pass  # every call will say so, and recover when Redis answers
    return state
