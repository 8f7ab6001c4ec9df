"""Everything one paper exchange holds — market, spot and futures accounts, weight meters,
faults — behind one lock, saved to the state dir so a restarted exchange finds the same
accounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from binance_mcp.paper.faults import FaultPlan
from binance_mcp.paper.futures import FuturesEngine
from binance_mcp.paper.futures_market import FUNDING_INTERVAL_MS, FuturesMarket, futures_specs
from binance_mcp.paper.futures_models import FuturesAccount, Income
from binance_mcp.paper.market import Walk, load_snapshot, spot_specs
from binance_mcp.paper.spot import Balance, SpotAccount, SpotEngine
from binance_mcp.paper.weights import WeightMeter

if TYPE_CHECKING:
    from binance_mcp.paper.config import PaperConfig

log = logging.getLogger("binance_mcp.paper")

STATE_FILE = "paper-account.json"
STATE_VERSION = 1
REQUEST_LOG_SIZE = 10_000


class Saved(BaseModel):
    """The persisted part of the exchange."""

    version: int = STATE_VERSION
    prices: dict[str, Decimal] = Field(default_factory=dict)
    walk_steps: int = 0
    next_trade_id: int = 1
    spot: SpotAccount = Field(default_factory=SpotAccount)
    # Absent in files written before the futures side existed: a fresh futures account then.
    futures: FuturesAccount | None = None


class PaperState:
    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self.clock_offset_ms = config.clock_offset_ms
        self.lock = threading.RLock()
        snapshot = load_snapshot()
        self.spot_specs = spot_specs(snapshot)
        self.faults = FaultPlan()
        self.weights = WeightMeter(limit=config.weight_limit)
        self.path = config.state_dir / STATE_FILE if config.state_dir else None
        saved = self._load()
        self.walk = Walk(
            self.spot_specs, config.seed, prices=dict(saved.prices), steps=saved.walk_steps
        )
        self.walk.next_trade_id = saved.next_trade_id
        self.spot_account = saved.spot
        self.spot = SpotEngine(self.spot_account, self.walk, self.spot_specs)
        self.futures_market = FuturesMarket(futures_specs(snapshot, self.spot_specs), self.walk)
        self.futures_account = saved.futures or self._fresh_futures()
        self.futures = FuturesEngine(self.futures_account, self.futures_market)
        # Binance counts spot and futures request weight separately (different hosts).
        self.futures_weights = WeightMeter(limit=config.weight_limit)
        # Every request that reached the exchange, as it arrived (signatures left out), with
        # the status it was answered with: proof for tests that a refused call never arrived.
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._dirty = False

    def _fresh(self) -> Saved:
        saved = Saved()
        saved.spot.balances = {
            asset: Balance(free=amount) for asset, amount in self.config.spot_balances.items()
        }
        saved.futures = self._fresh_futures()
        return saved

    def _fresh_futures(self) -> FuturesAccount:
        now = self.now_ms()
        return FuturesAccount(
            wallet=dict(self.config.futures_balances),
            # Funding starts with the next funding time, not retroactively.
            funded_until=now - now % FUNDING_INTERVAL_MS,
        )

    def _load(self) -> Saved:
        if self.path is None or self.config.reset or not self.path.exists():
            return self._fresh()
        try:
            saved = Saved.model_validate_json(self.path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            # A damaged file must not silently become a fresh account over the user's data.
            raise RuntimeError(
                f"paper account file {self.path} is unreadable ({type(exc).__name__}); "
                "fix it or start afresh with `binance-mcp paper --reset`"
            ) from exc
        saved.prices = {s: p for s, p in saved.prices.items() if s in self.spot_specs}
        return saved

    def now_ms(self) -> int:
        """The exchange's clock: this machine's, shifted by `clock_offset_ms`."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def mark_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        """Atomically replace the state file (write, fsync, rename)."""
        if self.path is None:
            return
        with self.lock:
            saved = Saved(
                prices=dict(self.walk.prices),
                walk_steps=self.walk.steps,
                next_trade_id=self.walk.next_trade_id,
                spot=self.spot_account,
                futures=self.futures_account,
            )
            text = saved.model_dump_json()
            self._dirty = False
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

    def step_walk(self, steps: int = 1) -> None:
        with self.lock:
            for _ in range(steps):
                now = self.now_ms()
                self.walk.step(now)
                self.spot.on_price(now)
                self.futures.on_price(now)
            self._dirty = True

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move a last price by hand (tests), then let orders react as to a walk step."""
        with self.lock:
            spec = self.spot_specs[symbol]
            self.walk.prices[symbol] = price.quantize(spec.tick)
            now = self.now_ms()
            self.spot.on_price(now)
            self.futures.on_price(now)
            self._dirty = True

    def apply_funding(self) -> list[Income]:
        """Settle funding on every open futures position now (tests and demos), at the rate
        due at the next funding time."""
        with self.lock:
            rows = self.futures.apply_funding(self.now_ms())
            self._dirty = True
            return rows

    async def run_background(self, stop: asyncio.Event) -> None:
        """Walk the market every `walk_interval` seconds and save what changed, until stopped."""
        interval = self.config.walk_interval
        tick = interval if interval > 0 else 1.0
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
            if self._dirty:
                try:
                    self.save()
                except OSError as exc:
                    log.error("paper exchange: could not save its account: %s", exc)
