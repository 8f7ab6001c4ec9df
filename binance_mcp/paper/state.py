"""Everything one paper exchange holds — market, spot and futures accounts, weight meters and
order counters, faults — behind one lock, kept in a SQLite database in the state dir
(`store.py`) so a restarted exchange finds the same accounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from binance_mcp.paper.faults import FaultPlan
from binance_mcp.paper.futures import FuturesEngine
from binance_mcp.paper.futures_market import FUNDING_INTERVAL_MS, FuturesMarket, futures_specs
from binance_mcp.paper.futures_models import (
    META_FIELDS,
    AlgoOrder,
    FuturesAccount,
    FuturesOrder,
    FuturesTrade,
    Income,
)
from binance_mcp.paper.market import Walk, load_snapshot, spot_specs
from binance_mcp.paper.order_lists import OrderLists
from binance_mcp.paper.spot import Balance, SpotAccount, SpotEngine, SpotOrder, SpotTrade
from binance_mcp.paper.store import DB_FILE, Store
from binance_mcp.paper.weights import (
    FUTURES_ORDER_LIMITS,
    SPOT_ORDER_LIMITS,
    OrderCounter,
    WeightMeter,
)

if TYPE_CHECKING:
    from binance_mcp.paper.config import PaperConfig

log = logging.getLogger("binance_mcp.paper")

STATE_FILE = "paper-account.json"
# Where an imported `paper-account.json` of an older version is kept, untouched, once its
# account lives in the database.
IMPORTED_FILE = "paper-account.json.imported"
STATE_VERSION = 2
REQUEST_LOG_SIZE = 10_000


class LegacySpot(BaseModel):
    """The spot account as `paper-account.json` holds it (history included)."""

    balances: dict[str, Balance] = Field(default_factory=dict)
    orders: dict[int, SpotOrder] = Field(default_factory=dict)
    trades: list[SpotTrade] = Field(default_factory=list)
    next_order_id: int = 1
    update_time: int = 0


class LegacyFutures(FuturesAccount):
    """The futures account as `paper-account.json` holds it: its settings and positions, plus
    the history the database now keeps."""

    orders_: dict[int, FuturesOrder] = Field(default_factory=dict, alias="orders")
    algo_orders_: dict[int, AlgoOrder] = Field(default_factory=dict, alias="algo_orders")
    trades_: list[FuturesTrade] = Field(default_factory=list, alias="trades")
    income_: list[Income] = Field(default_factory=list, alias="income")

    model_config = ConfigDict(populate_by_name=True)


class Saved(BaseModel):
    """`paper-account.json`: the account file of versions before the database, imported once;
    and the export written at each stop (balances, positions, open orders, prices; no
    history), for people and scripts that read the file."""

    version: int = 1
    prices: dict[str, Decimal] = Field(default_factory=dict)
    walk_steps: int = 0
    next_trade_id: int = 1
    spot: LegacySpot = Field(default_factory=LegacySpot)
    # Absent in files written before the futures side existed: a fresh futures account then.
    futures: LegacyFutures | None = None


class WalkState(BaseModel):
    prices: dict[str, Decimal] = Field(default_factory=dict)
    walk_steps: int = 0
    next_trade_id: int = 1


class PaperState:
    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self.clock_offset_ms = config.clock_offset_ms
        self.lock = threading.RLock()
        snapshot = load_snapshot()
        self.spot_specs = spot_specs(snapshot)
        self.faults = FaultPlan()
        scale = config.limit_scale
        self.weights = WeightMeter(limit=config.weight_limit, scale=scale)
        # Binance counts spot and futures request weight separately (different hosts).
        self.futures_weights = WeightMeter(limit=config.weight_limit, scale=scale)
        self.spot_order_counts = OrderCounter(SPOT_ORDER_LIMITS, scale)
        self.futures_order_counts = OrderCounter(FUTURES_ORDER_LIMITS, scale)
        self.path = config.state_dir / STATE_FILE if config.state_dir else None
        self.store = self._open_store()
        walk = WalkState.model_validate_json(self.store.get_meta("walk") or "{}")
        prices = {s: p for s, p in walk.prices.items() if s in self.spot_specs}
        self.walk = Walk(self.spot_specs, config.seed, prices=prices, steps=walk.walk_steps)
        self.walk.next_trade_id = walk.next_trade_id
        self.spot_account = SpotAccount.model_validate_json(self.store.get_meta("spot") or "{}")
        self.spot_account.attach(self.store)
        self.spot = SpotEngine(self.spot_account, self.walk, self.spot_specs)
        self.order_lists = OrderLists(self.spot, self.store)
        self.futures_market = FuturesMarket(futures_specs(snapshot, self.spot_specs), self.walk)
        futures = self.store.get_meta("futures")
        self.futures_account = (
            FuturesAccount.model_validate_json(futures) if futures else self._fresh_futures()
        )
        self.futures_account.attach(self.store)
        self.futures = FuturesEngine(self.futures_account, self.futures_market)
        # Every request that reached the exchange, as it arrived (signatures left out), with
        # the status it was answered with: proof for tests that a refused call never arrived.
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        # Commits so far: the account file is exported when it moved on.
        self.revision = 0
        self._dirty = False
        if self.store.get_meta("version") is None:
            self._dirty = True
            self.commit()  # a new account is on disk from its first moment

    # ----- the database --------------------------------------------------------------------

    def _open_store(self) -> Store:
        """The account's database; created, from `paper-account.json` when there is one (an
        account of an older version, imported once), or fresh."""
        if self.path is None:
            store = Store(None)
            self._seed(store, None)
            return store
        db = self.path.parent / DB_FILE
        if self.config.reset:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        legacy: Saved | None = None
        if not self.config.reset and self.path.exists() and not self._has_account(db):
            try:
                legacy = Saved.model_validate_json(self.path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                # A damaged file must not silently become a fresh account over the user's data.
                raise RuntimeError(
                    f"paper account file {self.path} is unreadable ({type(exc).__name__}); "
                    "fix it or start afresh with `binance-mcp paper --reset`"
                ) from exc
        db.parent.mkdir(parents=True, exist_ok=True)
        try:
            store = Store(db)
            if store.get_meta("version") is None:
                self._seed(store, legacy)
        except sqlite3.DatabaseError as exc:
            raise RuntimeError(
                f"paper account database {db} is unreadable ({exc}); "
                "fix it or start afresh with `binance-mcp paper --reset`"
            ) from exc
        if legacy is not None:
            # Kept as it was, as a backup; the export written at each stop takes its name.
            shutil.copy2(self.path, self.path.parent / IMPORTED_FILE)
        return store

    @staticmethod
    def _has_account(db: Path) -> bool:
        if not db.exists():
            return False
        try:
            conn = sqlite3.connect(db)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return True  # damaged: opening it says so; never import over it
        return row is not None

    def _seed(self, store: Store, legacy: Saved | None) -> None:
        """Write a new account (the configured balances, or an imported file) in one
        transaction; `version` last, so a half-done import is redone at the next start."""
        if legacy is None:
            store.set_meta(
                "spot",
                SpotAccount(
                    balances={a: Balance(free=v) for a, v in self.config.spot_balances.items()}
                ).model_dump_json(),
            )
            store.set_meta("futures", self._fresh_futures().model_dump_json())
            store.commit()
            return
        spot = SpotAccount(
            balances=legacy.spot.balances,
            next_order_id=legacy.spot.next_order_id,
            update_time=legacy.spot.update_time,
        )
        store.set_meta("spot", spot.model_dump_json())
        store.set_meta(
            "walk",
            WalkState(
                prices=legacy.prices,
                walk_steps=legacy.walk_steps,
                next_trade_id=legacy.next_trade_id,
            ).model_dump_json(),
        )
        spot.attach(store)
        for order in legacy.spot.orders.values():
            spot.orders.add(order)
        for trade in legacy.spot.trades:
            spot.trades.append(trade)
        if legacy.futures is not None:
            old = legacy.futures
            futures = FuturesAccount.model_validate(old.model_dump(include=META_FIELDS))
            store.set_meta("futures", futures.model_dump_json())
            futures.attach(store)
            for forder in old.orders_.values():
                futures.orders.add(forder)
            for algo in old.algo_orders_.values():
                futures.algo_orders.add(algo)
            for ftrade in old.trades_:
                futures.trades.append(ftrade)
            for row in old.income_:
                futures.income.append(row)
        else:
            store.set_meta("futures", self._fresh_futures().model_dump_json())
        store.commit()

    def commit(self) -> None:
        """Write what changed, in one transaction: the orders, fills and income rows the
        engines touched, and the small account records (balances, positions, settings, walk)
        whole. Called under `lock` before any answer leaves."""
        with self.lock:
            store = self.store
            if not (self._dirty or store.pending):
                return
            store.set_meta("spot", self.spot_account.model_dump_json())
            store.set_meta("futures", self.futures_account.model_dump_json())
            store.set_meta(
                "walk",
                WalkState(
                    prices=dict(self.walk.prices),
                    walk_steps=self.walk.steps,
                    next_trade_id=self.walk.next_trade_id,
                ).model_dump_json(),
            )
            store.set_meta("version", str(STATE_VERSION))
            store.commit()
            self._dirty = False
            self.revision += 1

    def settle_order_counts(self, now: int) -> None:
        """Take the spot orders that got their first fill off the unfilled-order counts."""
        if self.spot.first_fills:
            self.spot_order_counts.remove(now, self.spot.first_fills)
            self.spot.first_fills = 0

    def _fresh_futures(self) -> FuturesAccount:
        now = self.now_ms()
        return FuturesAccount(
            wallet=dict(self.config.futures_balances),
            # Funding starts with the next funding time, not retroactively.
            funded_until=now - now % FUNDING_INTERVAL_MS,
        )

    def now_ms(self) -> int:
        """The exchange's clock: this machine's, shifted by `clock_offset_ms`."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def mark_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        """Commit anything pending, then export the account's present (balances, positions,
        open orders, prices; no history, so its size does not grow with it) to
        `paper-account.json` atomically (write, fsync, rename). Done at each stop, and each
        second something changed (`run_background`)."""
        self.commit()
        if self.path is None:
            return
        with self.lock:
            futures = LegacyFutures.model_validate(
                self.futures_account.model_dump(include=META_FIELDS)
            )
            futures.orders_ = {o.orderId: o for o in self.futures_account.orders.open_orders()}
            futures.algo_orders_ = {
                a.algoId: a for a in self.futures_account.algo_orders.open_orders()
            }
            saved = Saved(
                prices=dict(self.walk.prices),
                walk_steps=self.walk.steps,
                next_trade_id=self.walk.next_trade_id,
                spot=LegacySpot(
                    balances=self.spot_account.balances,
                    orders={o.orderId: o for o in self.spot_account.orders.open_orders()},
                    next_order_id=self.spot_account.next_order_id,
                    update_time=self.spot_account.update_time,
                ),
                futures=futures,
            )
            text = saved.model_dump_json(by_alias=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".paper-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        self.store.close()

    def step_walk(self, steps: int = 1) -> None:
        with self.lock:
            for _ in range(steps):
                now = self.now_ms()
                self.walk.step(now)
                self.spot.on_price(now)
                self.futures.on_price(now)
            self._dirty = True
            self.commit()
            self.settle_order_counts(self.now_ms())

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move a last price by hand (tests), then let orders react as to a walk step."""
        with self.lock:
            spec = self.spot_specs[symbol]
            self.walk.prices[symbol] = price.quantize(spec.tick)
            now = self.now_ms()
            self.spot.on_price(now)
            self.futures.on_price(now)
            self._dirty = True
            self.commit()
            self.settle_order_counts(now)

    def apply_funding(self) -> list[Income]:
        """Settle funding on every open futures position now (tests and demos), at the rate
        due at the next funding time."""
        with self.lock:
            rows = self.futures.apply_funding(self.now_ms())
            self._dirty = True
            self.commit()
            return rows

    async def run_background(self, stop: asyncio.Event) -> None:
        """Walk the market every `walk_interval` seconds and save what changed, until stopped."""
        interval = self.config.walk_interval
        tick = interval if interval > 0 else 1.0
        exported = self.revision
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
            if stop.is_set():
                break
            if interval > 0:
                self.step_walk()
            with self.lock:
                # Countdown cancels and funding fall due with the clock, walk or no walk.
                if self.futures.on_time(self.now_ms()):
                    self._dirty = True
                try:
                    self.commit()
                except sqlite3.Error as exc:
                    log.error("paper exchange: could not save its account: %s", exc)
            if self.revision != exported:
                exported = self.revision
                # The account's present (small: no history) for readers outside the exchange,
                # such as the console's chart; the database stays the record.
                try:
                    await asyncio.to_thread(self.save)
                except (OSError, sqlite3.Error) as exc:
                    log.error("paper exchange: could not export its account: %s", exc)
