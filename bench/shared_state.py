"""Shared guard state: what Redis costs against the state dir's SQLite, and what it carries.

A guarded order's work on the state store is one rate-limit count, one budget-and-position
reservation and one settlement. This benchmark does exactly that, against SQLite (one state
dir) and against a real redis-server started here on a free loopback port, and prints:

- the latency of one order's store work, p50/p99, SQLite and Redis, one process;
- decisions per second with 8 processes on one Redis (each its own connection, all against one
  account's budget, as 8 servers on 8 hosts would be) and on one SQLite file.

    python -m bench.shared_state [--quick]

Needs `redis-server` on the PATH (Debian: apt-get install redis-server).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from bench.common import Summary, finish, header, parser, percentile, table, us
from binance_mcp.guard.policy import RateLimit
from binance_mcp.guard.store import CounterStore, InlineStore, OrderSlot, Reach, StateStore

T = TypeVar("T")
PROCESSES = 8
RATE = [("class:financial", RateLimit(count=10**9, seconds=60, text="lots/minute"))]


def _slot() -> OrderSlot:
    reach = Reach(Decimal(0), Decimal("100"), Decimal(10**12), time.time())
    return OrderSlot("futures", Decimal("100"), Decimal(10**12), None, None, None,
                     symbol="BTCUSDT", size=Decimal("100"), position=reach)  # fmt: skip


async def _order(store: CounterStore) -> None:
    assert await store.take_calls(RATE) is None
    ident = await store.reserve(_slot())
    assert isinstance(ident, str)
    await store.settle(ident, placed=True)


def _with_store(kind: str, where: str, work: Callable[[CounterStore], Coroutine[Any, Any, T]]) -> T:
    """`work(store)` in an event loop, as the guard awaits the store on the server's loop."""
    if kind == "sqlite":
        store = InlineStore(StateStore(Path(where), "paper"))
        try:
            return asyncio.run(work(store))
        finally:
            store.close()
    from binance_mcp.guard.redis_state import RedisCounterStore, open_shared

    shared = open_shared(where, Path(tempfile.mkdtemp()), account="bench", venue="paper")
    return shared.blocking(lambda state: work(RedisCounterStore(state)))


def _latencies(kind: str, where: str, n: int) -> list[float]:
    async def run(store: CounterStore) -> list[float]:
        out = []
        for _ in range(n):
            started = time.perf_counter()
            await _order(store)
            out.append(time.perf_counter() - started)
        return out

    return _with_store(kind, where, run)


def _worker(args: tuple[str, str, float, Any]) -> int:
    kind, where, seconds, start = args

    async def run(store: CounterStore) -> int:
        await _order(store)  # connected before the start
        await asyncio.to_thread(start.wait)
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            await _order(store)
            done += 1
        return done

    return _with_store(kind, where, run)


def _throughput(kind: str, where: str, seconds: float) -> float:
    with multiprocessing.Manager() as manager:
        start = manager.Event()
        with multiprocessing.Pool(PROCESSES) as pool:
            result = pool.map_async(_worker, [(kind, where, seconds, start)] * PROCESSES)
            time.sleep(0.5)  # every worker connected
            start.set()
            return sum(result.get()) / seconds


def _redis(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on the PATH (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.01)
    return proc, f"redis://127.0.0.1:{port}/0"


def main(argv: list[str] | None = None) -> int:
    p = parser("shared_state", __doc__ or "")
    args = p.parse_args(argv)
    n, seconds = (200, 1.0) if args.quick else (5000, 5.0)
    header("shared guard state: Redis against SQLite", "one order's store work", args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp:
        root = Path(tmp)
        proc, url = _redis(root)
        try:
            sqlite_dir = str(root / "state")
            rows = []
            lat = {}
            for kind, where in (("sqlite", sqlite_dir), ("redis", url)):
                lat[kind] = _latencies(kind, where, n)
                rows.append([kind, us(percentile(lat[kind], 50)), us(percentile(lat[kind], 99))])
            print(table(rows, ["store", "p50", "p99"]))
            print()
            rates = {kind: _throughput(kind, where, seconds)
                     for kind, where in (("sqlite", sqlite_dir), ("redis", url))}  # fmt: skip
            print(table([[k, f"{v:,.0f} orders/s"] for k, v in rates.items()],
                        [f"store, {PROCESSES} processes", "throughput"]))  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(10)
    added = percentile(lat["redis"], 50) - percentile(lat["sqlite"], 50)
    print(f"\nadded latency of Redis over SQLite, p50: {us(added)} per order")
    ratio = rates["redis"] / rates["sqlite"]
    finish(
        args,
        Summary(
            "shared_state",
            f"{rates['redis']:,.0f} orders/s on Redis ({PROCESSES} processes)",
            f"SQLite, same work: {rates['sqlite']:,.0f} orders/s",
            ratio,
            "figures only",
            True,
        ),
        "Redis orders/s ÷ SQLite orders/s, 8 processes",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
