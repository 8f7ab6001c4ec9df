"""Throughput under concurrency: 8 in-process MCP clients issuing reads through one server for
N seconds, and how late the event loop wakes meanwhile.

One `MCPServer` as `binance-mcp serve` builds it (paper venue, allow-everything example policy,
audit log on), 8 SDK clients on the default protocol era, each calling `binance_spot_price` in
a loop on the same event loop. A monitor task sleeps 10 ms over and over and records how late
it wakes: the loop's lag, i.e. how long something held it. Full garbage collections are timed
too: they stop the whole process. Before it, for as long and with the same monitor: the
baseline, 8 tasks making the same read with python-binance directly (8 `AsyncClient`s); and the
SDK floor, 8 clients of one-tool `MCPServer`s whose tool makes that direct call. The paper
exchange runs in this process on its own thread, sharing the interpreter (and its lock) with
the loop, as it does on the paper venue.

    python -m bench.throughput [--seconds N] [--clients N] [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mcp import Client

from bench.common import Summary, finish, header, median, ms, parser, percentile, table
from bench.paper import (
    TOOL,
    direct_call,
    direct_client,
    floor_server,
    mcp_call,
    paper_server,
    start_paper,
    warm_up,
)

TICK: Final = 0.010  # the monitor's sleep
BLOCKED: Final = 0.050  # a lag above this means the loop was blocked


@dataclass
class Phase:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    # Pauses of full (generation 2) garbage collections: they stop every thread.
    full_gcs: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


async def _monitor(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK
        await asyncio.sleep(TICK)
        lags.append(max(0.0, loop.time() - due))


async def run_phase(calls: Sequence[Callable[[], Awaitable[Any]]], seconds: float) -> Phase:
    """Each of `calls` in its own task, back to back, for `seconds`; the monitor alongside."""
    phase = Phase()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def worker(call: Callable[[], Awaitable[Any]]) -> None:
        while loop.time() < end:
            started = time.perf_counter()
            await call()
            phase.latencies.append(time.perf_counter() - started)

    gc_started = 0.0

    def on_gc(stage: str, info: dict[str, Any]) -> None:
        nonlocal gc_started
        if info["generation"] != 2:
            return
        if stage == "start":
            gc_started = time.perf_counter()
        else:
            phase.full_gcs.append(time.perf_counter() - gc_started)

    # As `binance-mcp serve` does once started (cli.py): what exists now lives for the whole
    # run, so full collections need not walk it again.
    gc.collect()
    gc.freeze()
    monitor = asyncio.create_task(_monitor(phase.lags, stop))
    gc.callbacks.append(on_gc)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(call) for call in calls))
    finally:
        phase.seconds = time.perf_counter() - started
        gc.callbacks.remove(on_gc)
        stop.set()
        await monitor
    return phase


async def run_clients(servers: list[Any], seconds: float, prepare: bool) -> Phase:
    """One SDK client per entry of `servers` (default protocol era), calling the tool."""
    async with contextlib.AsyncExitStack() as stack:
        entered = [await stack.enter_async_context(Client(server)) for server in servers]
        for c in entered:
            if prepare:
                await warm_up(c)
            await mcp_call(c)
        return await run_phase([functools.partial(mcp_call, c) for c in entered], seconds)


async def measure(root: Path, clients: int, seconds: float) -> dict[str, Phase]:
    paper = start_paper(root / "paper")
    phases: dict[str, Phase] = {}
    try:
        directs = [direct_client(paper) for _ in range(clients)]
        try:
            for d in directs:
                await direct_call(d)  # open the connections before the clock starts
            calls = [functools.partial(direct_call, d) for d in directs]
            phases["direct"] = await run_phase(calls, seconds)
            # One floor server per client, each with its own python-binance client, as each
            # binance-mcp session (lifespan) has its own.
            floors = [floor_server(d) for d in directs]
            phases["floor"] = await run_clients(floors, seconds, prepare=False)
        finally:
            for d in directs:
                await d.close_connection()
        server = paper_server(paper, root / "state")
        phases["ours"] = await run_clients([server] * clients, seconds, prepare=True)
    finally:
        paper.stop()
    return phases


def main(argv: list[str] | None = None) -> int:
    p = parser("throughput", __doc__ or "")
    p.add_argument("--seconds", type=float, default=6.0, help="per phase (default 6)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    args = p.parse_args(argv)
    seconds = 1.0 if args.quick else max(0.5, args.seconds)
    clients = max(1, args.clients)
    header(
        f"throughput: {clients} concurrent in-process clients calling `{TOOL}` through one server",
        f"{seconds:g} s per phase: direct python-binance, SDK floor, binance-mcp; loop lag = how late a "
        f"{TICK * 1000:.0f} ms sleep wakes",
        args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as root:
        phases = asyncio.run(measure(Path(root), clients, seconds))
    base, floor, ours = phases["direct"], phases["floor"], phases["ours"]

    def row(name: str, ph: Phase) -> list[str]:
        return [
            name,
            f"{ph.rate:,.0f}",
            ms(median(ph.latencies)),
            ms(percentile(ph.latencies, 99)),
            ms(percentile(ph.lags, 99)),
            ms(max(ph.lags)),
            str(sum(1 for lag in ph.lags if lag > BLOCKED)),
            f"{len(ph.full_gcs)}, {ms(max(ph.full_gcs, default=0.0))}",
        ]

    print(
        table(
            [
                row(f"baseline: {clients} direct python-binance tasks", base),
                row(f"SDK floor: {clients} MCP clients", floor),
                row(f"binance-mcp: {clients} MCP clients", ours),
            ],
            [
                "",
                "calls/s",
                "call p50",
                "call p99",
                "lag p99",
                "lag max",
                f"lags > {BLOCKED * 1000:.0f} ms",
                "full GCs, longest",
            ],
        )
    )
    print(
        "\nSDK floor: one-tool MCPServers whose tool makes the direct call (see call_overhead)."
        "\nA full garbage collection stops the whole process (the loop and the paper exchange)."
    )
    blocked = max(ours.lags) > BLOCKED
    print(
        f"event loop blocked > {BLOCKED * 1000:.0f} ms during the binance-mcp phase: "
        + ("yes" if blocked else "no")
    )
    ratio = base.rate / ours.rate
    finish(
        args,
        Summary(
            bench="throughput",
            figure=f"{ours.rate:,.0f} calls/s, loop lag p99 {ms(percentile(ours.lags, 99))}, "
            f"max {ms(max(ours.lags))}",
            baseline=f"{clients} direct python-binance tasks: {base.rate:,.0f} calls/s, "
            f"lag max {ms(max(base.lags))}",
            ratio=ratio,
            target=f"loop never blocked > {BLOCKED * 1000:.0f} ms",
            passed=not blocked,
        ),
        "direct calls/s ÷ binance-mcp calls/s: the cost of a call under load",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
