"""The paper exchange under a long run of trading: does an order cost the same after 100 000
orders as after the first 1 000?

    python -m bench.paper_exchange [--orders N] [--quick]

Starts `binance-mcp paper` in its own process (fresh state dir, frozen prices, `--limits off`
so Binance's order-rate limits do not set the pace), then over signed HTTP on 127.0.0.1 places
N orders one after the other: nine in ten a resting LIMIT order cancelled at once, one in ten a
MARKET order that fills. Each request is timed; p50/p99 per 1 000 orders are printed, and the
ratio of the last 1 000's p50 to the first's is the headline (target ≤ 1.3: a cost that does
not grow with history). Then requests/s of a price read and of an order with 1, 8 and 32
concurrent clients, and the size of the account on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

import aiohttp

from bench.common import REPO, Summary, finish, header, mib, ms, parser, percentile

KEY: Final = "B" * 64
SECRET: Final = "b" * 64
BLOCK: Final = 1000
TARGET: Final = 1.3
CLIENTS: Final = (1, 8, 32)


class Exchange:
    """`binance-mcp paper` in a process of its own, so the client's work never shares its
    interpreter."""

    def __init__(self, state: Path, limits: str = "off") -> None:
        env = {**os.environ, "BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", "paper", "--state-dir", str(state),
             "--port", "0", "--walk-interval", "0", "--limits", limits],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stderr is not None
        stderr = self.proc.stderr
        threading.Thread(target=lambda: [lines.put(x) for x in stderr], daemon=True).start()
        while True:
            line = lines.get(timeout=60)
            if "listening on " in line:
                self.url = line.strip().rsplit(" ", 1)[1]
                return

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _signed(params: dict[str, str]) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**params, "timestamp": _now()}.items())
    signature = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


def _now() -> str:
    return str(int(time.time() * 1000))


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.headers = {"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}

    async def call(self, method: str, path: str, params: dict[str, str], signed: bool) -> Any:
        data = _signed(params) if signed else "&".join(f"{k}={v}" for k, v in params.items())
        url = self.url + path
        if method == "GET":
            url, data = f"{url}?{data}", ""
        async with self.session.request(method, url, data=data, headers=self.headers) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"{method} {path}: {r.status} {body}")
            return body

    async def price(self) -> str:
        return str(
            (await self.call("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}, False))["price"]
        )


async def _long_run(c: Client, orders: int) -> list[float]:
    """Seconds per request, in order."""
    price = float(await c.price())
    below = f"{price * 0.9:.2f}"
    times: list[float] = []
    clock = time.perf_counter
    for i in range(orders):
        if i % 10 == 0:
            side = "BUY" if i % 20 == 0 else "SELL"
            t = clock()
            await c.call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": side,
                         "type": "MARKET", "quantity": "0.0001"}, True)  # fmt: skip
            times.append(clock() - t)
            continue
        t = clock()
        placed = await c.call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY",
                              "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0001",
                              "price": below, "newOrderRespType": "ACK"}, True)  # fmt: skip
        times.append(clock() - t)
        t = clock()
        await c.call("DELETE", "/api/v3/order",
                     {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])}, True)  # fmt: skip
        times.append(clock() - t)
    return times


async def _rate(url: str, clients: int, seconds: float, order: bool) -> float:
    """Requests/s that `clients` concurrent clients get, each with its own connection."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def one(n: int) -> None:
        nonlocal done
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
            c = Client(s, url)
            i = n
            while time.perf_counter() < deadline:
                if order:
                    side = "BUY" if i % 2 == 0 else "SELL"
                    await c.call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": side,
                                 "type": "MARKET", "quantity": "0.0001",
                                 "newOrderRespType": "ACK"}, True)  # fmt: skip
                else:
                    await c.price()
                i += 1
                done += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(clients)))
    return done / (time.perf_counter() - start)


def _db_size(state: Path) -> int:
    return sum(p.stat().st_size for p in (state / "paper").glob("paper-account.sqlite3*"))


async def _main(url: str, orders: int, seconds: float) -> tuple[list[float], dict[str, float]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
        times = await _long_run(Client(s, url), orders)
    rates = {}
    for kind in ("price", "order"):
        for n in CLIENTS:
            rates[f"{kind}:{n}"] = await _rate(url, n, seconds, kind == "order")
    return times, rates


def main(argv: list[str] | None = None) -> int:
    p = parser("paper_exchange", __doc__ or "")
    p.add_argument("--orders", type=int, default=None, help="orders in the long run (100000)")
    args = p.parse_args(argv)
    orders = args.orders or (2 * BLOCK if args.quick else 100_000)
    seconds = 0.2 if args.quick else 3.0
    header(
        "paper exchange: a long run of orders",
        f"{orders} orders over signed HTTP to `binance-mcp paper` on 127.0.0.1 (9 in 10 LIMIT "
        "placed then cancelled, 1 in 10 MARKET filling); each request timed",
        args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as tmp:
        state = Path(tmp)
        exchange = Exchange(state)
        try:
            started = time.perf_counter()
            times, rates = asyncio.run(_main(exchange.url, orders, seconds))
            took = time.perf_counter() - started
        finally:
            exchange.stop()
        size = _db_size(state)
    # Requests per block of 1 000 orders: each LIMIT order is two requests, a MARKET one one.
    per_block = (len(times) * BLOCK) // orders
    blocks = [times[i : i + per_block] for i in range(0, len(times), per_block)]
    blocks = [b for b in blocks if len(b) == per_block]
    step = max(1, len(blocks) // 10)
    print(f"{'orders':>14}  {'p50':>9}  {'p99':>9}")
    for n, block in enumerate(blocks):
        if n % step == 0 or n == len(blocks) - 1:
            first = n * BLOCK + 1
            print(
                f"{first:>6}–{first + BLOCK - 1:<7}  {ms(percentile(block, 50)):>9}  "
                f"{ms(percentile(block, 99)):>9}"
            )
    first_p50, last_p50 = percentile(blocks[0], 50), percentile(blocks[-1], 50)
    print(f"whole run: {took:.1f} s; account on disk {mib(size)}")
    print()
    print(
        f"{'requests/s':<22}"
        + "".join(f"{f'{n} client' + ('s' if n > 1 else ''):>12}" for n in CLIENTS)
    )
    for kind, label in (("price", "price read (GET)"), ("order", "MARKET order (POST)")):
        print(f"{label:<22}" + "".join(f"{rates[f'{kind}:{n}']:>12.0f}" for n in CLIENTS))
    ratio = last_p50 / first_p50
    summary = Summary(
        bench="paper_exchange",
        figure=f"p50 {ms(last_p50)} for orders {len(blocks) * BLOCK - BLOCK + 1}–{len(blocks) * BLOCK}",
        baseline=f"p50 {ms(first_p50)} for orders 1–{BLOCK}",
        ratio=ratio,
        target=f"≤ {TARGET} × the first {BLOCK}",
        passed=ratio <= TARGET,
    )
    finish(args, summary, "last 1 000 orders' p50 ÷ the first 1 000's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
