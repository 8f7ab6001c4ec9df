"""Counters and budgets shared by every server on one state dir (SPEC §4.4): rate-limit windows,
the daily notional budget and orders in flight, in SQLite.

Each check-and-record runs in one `BEGIN IMMEDIATE` transaction, which takes SQLite's write
lock up front: two processes (say Claude Desktop and Cursor on one account) are serialised, so
together they can never exceed a limit. Transactions never span a network call; an order's
notional is reserved before it is sent and released if the exchange rejects it.

The database is opened at the first call that needs it, so a policy without rate limits or
budgets never touches it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, Protocol

from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.policy import RateLimit

STATE_DB: Final = "state.sqlite3"
# A reservation this old belongs to a server that died mid-call: count it as placed (the
# order may have gone out) and no longer as in flight.
STALE_RESERVATION_S: Final = 900.0
KEEP_DAYS: Final = 3
# An order's effect on position and exposure counts while it is being placed; once answered,
# the exchange's positions and open orders show it. Past this, a reservation left by a server
# that died mid-call is dropped: the exchange shows what that order did by then.
IN_FLIGHT_S: Final = 120.0
_BUSY_TIMEOUT_S: Final = 10.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS calls (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS calls_by_key ON calls (key, at);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    day TEXT NOT NULL,
    market TEXT NOT NULL,
    notional TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'placed')),
    reserved_at REAL NOT NULL,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS orders_by_day ON orders (day);
CREATE TABLE IF NOT EXISTS in_flight (
    id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    size TEXT NOT NULL,
    reserved_at REAL NOT NULL,
    settled_at REAL
);
CREATE TABLE IF NOT EXISTS day_value (
    venue TEXT NOT NULL,
    day TEXT NOT NULL,
    high TEXT NOT NULL,
    PRIMARY KEY (venue, day)
);
"""


class StateUnavailable(Exception):
    """The state store cannot be read or written; limits that need it deny (fail closed)."""


@dataclass(frozen=True)
class RateHit:
    key: str
    limit: RateLimit
    retry_in: float

    def text(self) -> str:
        subject = self.key.split(":", 1)[1]
        return f"rate limit {self.limit.text} for {subject} reached; retry in {self.retry_in:.0f} s"


@dataclass(frozen=True)
class Reach:
    """A position or the exposure, in the quote asset, before and after the order as the
    exchange shows it (orders still being placed are added by the store), and its limit."""

    before: Decimal
    after: Decimal
    limit: Decimal
    # When the exchange was asked (time.time()): orders answered since may be missing from it.
    read_at: float = 0.0


@dataclass(frozen=True)
class OrderSlot:
    """What an order would add to the shared counters, and the limits it must stay within."""

    market: str
    notional: Decimal  # zero for orders that only shrink a position (not charged to the budget)
    daily_notional: Decimal | None
    max_open_orders: int | None
    open_now: int | None  # open orders the exchange listed for this market
    listed_at: float | None  # when that listing was requested (time.time())
    symbol: str = ""
    size: Decimal = Decimal(0)  # the order's notional: what it adds while in flight
    position: Reach | None = None  # `max_position_notional`, for growing orders
    exposure: Reach | None = None  # `max_exposure`, for growing orders

    def holds_reach(self) -> bool:
        return (self.position is not None or self.exposure is not None) and self.size > 0


@dataclass(frozen=True)
class BudgetHit:
    rule: str
    reason: str


class CounterStore(Protocol):
    """Where the counters and budgets shared by servers live: `StateStore` (SQLite in the state
    dir, through `InlineStore`) or `RedisCounterStore` (guard/redis_state.py). Every awaited
    method may raise `StateUnavailable`; each check-and-record is atomic across every server
    sharing it."""

    async def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None: ...
    async def reserve(self, slot: OrderSlot) -> str | BudgetHit: ...
    async def settle(self, ident: str, placed: bool) -> None: ...
    async def used_today(self) -> Decimal: ...
    async def daily_loss(self, value: Decimal) -> Decimal: ...
    async def restart_loss_count(self) -> None: ...
    async def calls_in_window(self, key: str, seconds: float) -> int: ...
    async def day_high(self) -> Decimal | None: ...
    def close(self) -> None: ...


class SyncCounters(Protocol):
    """Counters answered in this process or on this machine, without waiting on a network:
    `MemoryCounters`, `StateStore`."""

    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None: ...
    def reserve(self, slot: OrderSlot) -> str | BudgetHit: ...


def utc_day(at: float | None = None) -> str:
    moment = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return moment.date().isoformat()


def reach_denial(
    slot: OrderSlot, symbol_in_flight: Decimal, all_in_flight: Decimal
) -> BudgetHit | None:
    """The position or exposure limit `slot` would break, counting the orders other calls are
    placing now (the exchange does not show them yet)."""
    checks = (
        (
            slot.position,
            symbol_in_flight,
            "limits.max_position_notional",
            f"{slot.symbol} position",
        ),
        (slot.exposure, all_in_flight, "limits.max_exposure", "gross futures exposure"),
    )
    for reach, pending, rule, what in checks:
        if reach is None or reach.after <= reach.before:
            continue  # an order that does not grow it passes, however large it is
        before, after = reach.before + pending, reach.after + pending
        if after > reach.limit:
            being = f" ({dec_str(pending)} of it in orders being placed)" if pending else ""
            return BudgetHit(
                rule,
                f"{what} would be {dec_str(after)} after this order, above the limit "
                f"{dec_str(reach.limit)} (before it: {dec_str(before)}{being})",
            )
    return None


def budget_denial(slot: OrderSlot, used_today: Decimal, in_flight: int) -> BudgetHit | None:
    """The limit `slot` would break given today's placed-or-reserved notional and the orders in
    flight that the exchange's listing may not show yet."""
    if slot.daily_notional is not None and slot.notional > 0:
        total = used_today + slot.notional
        if total > slot.daily_notional:
            left = max(slot.daily_notional - used_today, Decimal(0))
            return BudgetHit(
                "limits.daily_notional",
                f"daily notional budget {dec_str(slot.daily_notional)} (UTC day): "
                f"{dec_str(used_today)} used, {dec_str(left)} left, this order needs "
                f"{dec_str(slot.notional)}",
            )
    if slot.max_open_orders is not None and slot.open_now is not None:
        count = slot.open_now + in_flight
        if count + 1 > slot.max_open_orders:
            return BudgetHit(
                "limits.max_open_orders",
                f"{count} {slot.market} orders are open or being placed; the limit is "
                f"{slot.max_open_orders}",
            )
    return None


class Database:
    """One SQLite file in the state dir, opened at first use, written in short `BEGIN
    IMMEDIATE` transactions (never across a network call). Any failure to use it is a
    `StateUnavailable`, which callers turn into a denial."""

    schema: str = ""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_DB
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
            db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(self.schema)
            self._db = db
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                self._drop()
                raise self._unavailable(exc) from None
            try:
                yield db
            except sqlite3.Error as exc:
                self._rollback(db)
                raise self._unavailable(exc) from None
            except BaseException:
                self._rollback(db)
                raise
            else:
                try:
                    db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._drop()
                    raise self._unavailable(exc) from None

    def _rollback(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            self._drop()  # a damaged file can fail the rollback too; reopen at next use

    def _unavailable(self, exc: BaseException) -> StateUnavailable:
        """Names the file and the way out: the caller denies trading meanwhile."""
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in text or "malformed" in text
        ):
            return StateUnavailable(
                f"state store {self.path} is damaged ({text}); trading is denied until it is "
                "restored from a backup or moved aside (a new one starts with empty budgets, "
                "counters and approvals)"
            )
        return StateUnavailable(f"state store {self.path} unavailable: {text}")

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class StateStore(Database):
    """Counters of one venue: paper orders never spend the live budget, even when both venues
    share a state dir."""

    schema = _SCHEMA

    def __init__(self, state_dir: Path, venue: str) -> None:
        super().__init__(state_dir)
        self.venue = venue

    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        """Count one call against every (key, limit) — all or none: a call denied by one limit
        uses no slot of the others."""
        now = time.time()
        with self.transaction() as db:
            for key, limit in limits:
                scoped = f"{self.venue}|{key}"
                db.execute(
                    "DELETE FROM calls WHERE key = ? AND at <= ?", (scoped, now - limit.seconds)
                )
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(at) FROM calls WHERE key = ?", (scoped,)
                ).fetchone()
                if count >= limit.count:
                    return RateHit(key, limit, max(oldest + limit.seconds - now, 0.0))
            db.executemany(
                "INSERT INTO calls (key, at) VALUES (?, ?)",
                [(f"{self.venue}|{key}", now) for key, _ in limits],
            )
        return None

    def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        """Check `slot` against today's budget and the orders in flight, and reserve it: the
        reservation id, or the limit it would break (nothing reserved)."""
        now = time.time()
        day = utc_day(now)
        with self.transaction() as db:
            db.execute(
                "UPDATE orders SET state = 'placed', settled_at = reserved_at "
                "WHERE state = 'reserved' AND reserved_at < ?",
                (now - STALE_RESERVATION_S,),
            )
            db.execute("DELETE FROM orders WHERE day < ?", (utc_day(now - KEEP_DAYS * 86400),))
            used = self._spent(db, day)
            # Orders answered after the exchange was asked for its open orders may be missing
            # from that listing; those answered before are in it.
            since = slot.listed_at if slot.listed_at is not None else now
            (in_flight,) = db.execute(
                "SELECT COUNT(*) FROM orders WHERE venue = ? AND market = ? "
                "AND (state = 'reserved' OR settled_at > ?)",
                (self.venue, slot.market, since),
            ).fetchone()
            hit = budget_denial(slot, used, in_flight)
            if hit is None and slot.holds_reach():
                db.execute("DELETE FROM in_flight WHERE reserved_at < ?", (now - IN_FLIGHT_S,))
                # Orders answered after the exchange was read may be missing from its answer.
                read_at = min(r.read_at for r in (slot.position, slot.exposure) if r is not None)
                rows = db.execute(
                    "SELECT symbol, size FROM in_flight WHERE venue = ? "
                    "AND (settled_at IS NULL OR settled_at > ?)",
                    (self.venue, read_at),
                ).fetchall()
                mine = sum((Decimal(s) for sym, s in rows if sym == slot.symbol), Decimal(0))
                hit = reach_denial(slot, mine, sum((Decimal(s) for _, s in rows), Decimal(0)))
            if hit is not None:
                return hit
            ident = uuid.uuid4().hex
            db.execute(
                "INSERT INTO orders (id, venue, day, market, notional, state, reserved_at) "
                "VALUES (?, ?, ?, ?, ?, 'reserved', ?)",
                (ident, self.venue, day, slot.market, format(slot.notional, "f"), now),
            )
            if slot.holds_reach():
                db.execute(
                    "INSERT INTO in_flight (id, venue, symbol, size, reserved_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ident, self.venue, slot.symbol, format(slot.size, "f"), now),
                )
        return ident

    def settle(self, ident: str, placed: bool) -> None:
        """An order was placed (its notional stays spent) or definitely not (released)."""
        with self.transaction() as db:
            if placed:
                # Counted on by calls that read the exchange before it was answered.
                db.execute("UPDATE in_flight SET settled_at = ? WHERE id = ?", (time.time(), ident))
            else:
                db.execute("DELETE FROM in_flight WHERE id = ?", (ident,))
            if placed:
                db.execute(
                    "UPDATE orders SET state = 'placed', settled_at = ? WHERE id = ?",
                    (time.time(), ident),
                )
            else:
                db.execute("DELETE FROM orders WHERE id = ?", (ident,))

    def daily_loss(self, value: Decimal) -> Decimal:
        """How far `value` (the account in USDT) is below the day's high-water mark: the first
        value seen this UTC day, raised by every higher one since (so a deposit cannot hide a
        later loss). Never negative."""
        day = utc_day()
        with self.transaction() as db:
            row = db.execute(
                "SELECT high FROM day_value WHERE venue = ? AND day = ?", (self.venue, day)
            ).fetchone()
            high = value if row is None else max(Decimal(row[0]), value)
            db.execute(
                "INSERT OR REPLACE INTO day_value (venue, day, high) VALUES (?, ?, ?)",
                (self.venue, day, format(high, "f")),
            )
            db.execute("DELETE FROM day_value WHERE day < ?", (utc_day(time.time() - 86400),))
        return max(high - value, Decimal(0))

    def restart_loss_count(self) -> None:
        """`resume` after the loss limit: today's loss is counted afresh from the next value."""
        with self.transaction() as db:
            db.execute("DELETE FROM day_value WHERE venue = ? AND day = ?", (self.venue, utc_day()))

    def used_today(self) -> Decimal:
        with self.transaction() as db:
            return self._spent(db, utc_day())

    def calls_in_window(self, key: str, seconds: float) -> int:
        """Read only (the console): calls counted against rate-limit `key` (`tool:NAME` or
        `class:RISK`) in the last `seconds`."""
        with self.transaction() as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM calls WHERE key = ? AND at > ?",
                (f"{self.venue}|{key}", time.time() - seconds),
            ).fetchone()
        return int(count)

    def day_high(self) -> Decimal | None:
        """Read only (the console): today's high-water mark of the account's value, None when
        no value has been seen today."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT high FROM day_value WHERE venue = ? AND day = ?", (self.venue, utc_day())
            ).fetchone()
        return None if row is None else Decimal(row[0])

    def _spent(self, db: sqlite3.Connection, day: str) -> Decimal:
        """Notional placed or reserved on `day` (exact decimals: stored as text, summed here)."""
        rows = db.execute(
            "SELECT notional FROM orders WHERE venue = ? AND day = ?", (self.venue, day)
        )
        return sum((Decimal(n) for (n,) in rows), Decimal(0))


class MemoryCounters:
    """The same counting in memory, for one process: policy tests, `policy explain`, benchmarks,
    and rate limits on reads while the store is unavailable."""

    def __init__(self, used_today: Decimal = Decimal(0)) -> None:
        self.used_today = used_today
        self._calls: dict[str, deque[float]] = {}
        self.reserved: dict[str, Decimal] = {}

    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        now = time.monotonic()
        for key, limit in limits:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - limit.seconds:
                calls.popleft()
            if len(calls) >= limit.count:
                return RateHit(key, limit, calls[0] + limit.seconds - now)
        for key, _ in limits:
            self._calls[key].append(now)
        return None

    def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        used = self.used_today + sum(self.reserved.values(), Decimal(0))
        hit = budget_denial(slot, used, 0) or reach_denial(slot, Decimal(0), Decimal(0))
        if hit is not None:
            return hit
        ident = uuid.uuid4().hex
        self.reserved[ident] = slot.notional
        return ident


class Inline:
    """Synchronous counters (`MemoryCounters`, `StateStore`) behind the awaited protocol the
    guard counts through (guard/counting.py `Counters`). They answer from memory or the state
    dir's SQLite file in microseconds to a millisecond, so they run inline on the event loop,
    as before Redis could be the store."""

    def __init__(self, counters: SyncCounters) -> None:
        self.counters = counters

    async def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        return self.counters.take_calls(limits)

    async def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        return self.counters.reserve(slot)


class InlineStore(Inline):
    """`StateStore` as a `CounterStore`: the CLI, the console and tests call the store itself,
    the guard awaits it through this."""

    def __init__(self, store: StateStore) -> None:
        super().__init__(store)
        self.store = store

    async def settle(self, ident: str, placed: bool) -> None:
        self.store.settle(ident, placed)

    async def used_today(self) -> Decimal:
        return self.store.used_today()

    async def daily_loss(self, value: Decimal) -> Decimal:
        return self.store.daily_loss(value)

    async def restart_loss_count(self) -> None:
        self.store.restart_loss_count()

    async def calls_in_window(self, key: str, seconds: float) -> int:
        return self.store.calls_in_window(key, seconds)

    async def day_high(self) -> Decimal | None:
        return self.store.day_high()

    def close(self) -> None:
        self.store.close()
