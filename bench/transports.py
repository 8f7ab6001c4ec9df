"""Throughput with many calls in flight, over the real transports: binance-mcp against the SDK
floor at 1, 8 and 32 calls in flight, over stdio and over streamable HTTP.

Four processes besides this one, each with its own interpreter, so that no server shares a GIL
with the exchange or the clients, and the exchange answers both sides alike:

- the paper exchange: `binance-mcp paper` (frozen prices; `--limits` scaled up so that request
  weight, which binance-mcp paces itself by as it must on Binance, is not what is measured);
- binance-mcp: `binance-mcp serve` as an MCP host starts it (venue paper pointed at that
  exchange, policy `examples/policies/paper-everything.yaml`, audit log on, one log line per
  call on stderr, which goes to a file), over stdio, or `--transport http` with a bearer token;
- the SDK floor: `python -m bench.floor_server`, a one-tool `MCPServer` of the same SDK whose
  tool makes the same python-binance call (`get_symbol_ticker`) and returns the same shape,
  over stdio or the SDK's streamable HTTP app (same uvicorn settings, no token);
- this process: the SDK's clients, on its default protocol era. Over stdio one client per
  server with N `tools/call` requests in flight on it (a host's one session); over HTTP N
  clients, each its own session and HTTP connection with one call in flight (N agents sharing
  one server).

Each call is `binance_spot_price {"symbol": "BTCUSDT"}`: one GET to the exchange. Each round
measures both servers, one after the other, for `--seconds` each (after a short warm-up at
the same concurrency), the one that goes first alternating from round to round; the machine's
other load drifts, so the ratio is binance-mcp's calls/s ÷ the floor's within each round, and
its median over the rounds is reported (1.00: the guard, the audit log, retries and gates cost
nothing under load). calls/s is the median over rounds, p50/p99 are over every call; server
CPU/call is the server process's CPU time (user + system) per call. The clients' own work is
the same for both sides and shares the machine with them. The headline is the lowest ratio at
8 and 32 in flight.

    python -m bench.transports [--seconds N] [--rounds N] [--in-flight 1,8,32]
                               [--transport stdio|http|both] [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import Implementation

from bench.common import (
    ALLOW_ALL_POLICY,
    REPO,
    Summary,
    finish,
    header,
    median,
    ms,
    parser,
    percentile,
    table,
    us,
)
from bench.paper_exchange import KEY, SECRET, Exchange

SYMBOL: Final = "BTCUSDT"
TOOL: Final = "binance_spot_price"
TOOL_ARGS: Final = {"symbol": SYMBOL}
IN_FLIGHT: Final = (1, 8, 32)
TARGET: Final = 0.9
OURS: Final = "binance-mcp"
FLOOR: Final = "SDK floor"
# Binance's limits × this: a reported request-weight limit no run comes near.
LIMIT_SCALE: Final = "100000"
TOKEN: Final = "bench-token-" + "t" * 32
# Calls made before each measured phase, so no phase pays for connections or first calls.
WARM_UP_S: Final = 0.3
READY_TIMEOUT: Final = 60.0

# Opens this many sessions to one server (a context manager yielding the clients).
Sessions = Callable[[int], contextlib.AbstractAsyncContextManager[list[Client]]]


@dataclass
class Phase:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    # CPU seconds the server process used meanwhile.
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


@dataclass
class Figures:
    """One server at one number in flight, round by round."""

    phases: list[Phase] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return median([p.rate for p in self.phases])

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.phases for x in p.latencies]

    @property
    def cpu_per_call(self) -> float:
        return median([p.cpu / len(p.latencies) for p in self.phases if p.latencies])


async def call(client: Client) -> None:
    result = await client.call_tool(TOOL, TOOL_ARGS)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{TOOL} failed: {result.content}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pid(marker: str) -> int:
    """The pid of this process's child whose command line holds `marker` (the newest)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if marker in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "):
                    found.append(int(pid))
    if not found:
        raise RuntimeError(f"no child process runs {marker!r}")
    return max(found)


async def run_phase(clients: Sequence[Client], in_flight: int, seconds: float, pid: int) -> Phase:
    """`in_flight` workers spread over `clients`, each calling back to back for `seconds`
    after a warm-up; the CPU time server process `pid` spends meanwhile."""
    phase = Phase()
    loop = asyncio.get_running_loop()
    end = 0.0

    async def worker(client: Client, record: bool) -> None:
        while loop.time() < end:
            started = time.perf_counter()
            await call(client)
            if record:
                phase.latencies.append(time.perf_counter() - started)

    workers = [clients[i % len(clients)] for i in range(in_flight)]
    end = loop.time() + WARM_UP_S
    await asyncio.gather(*(worker(c, False) for c in workers))
    end = loop.time() + seconds
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker(c, True) for c in workers))
    phase.seconds = time.perf_counter() - started
    phase.cpu = cpu_seconds(pid) - cpu
    return phase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def wait_listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"server exited: {_tail(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"nothing listening on port {port}: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@dataclass
class Side:
    """One server under test: its command (after `python`), environment and stderr file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    # A first call to make on one session before any phase.
    prepare: Callable[[Client], Awaitable[None]] | None = None
    pid: int = 0


def server_env(exchange: Exchange, state: Path) -> dict[str, str]:
    """What an MCP host passes: a minimal environment plus the server's settings (the floor
    reads the exchange's URLs and keys from the same variables)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(state)),
        "BINANCE_MCP_STATE_DIR": str(state),
        "BINANCE_MCP_VENUE": "paper",
        "BINANCE_MCP_SPOT_URL": exchange.url + "/api",
        "BINANCE_MCP_FUTURES_URL": exchange.url + "/fapi",
        "BINANCE_API_KEY": KEY,
        "BINANCE_API_SECRET": SECRET,
        "BINANCE_MCP_POLICY": str(ALLOW_ALL_POLICY),
        "BINANCE_MCP_HTTP_TOKEN": TOKEN,
    }


async def learn_limits(client: Client) -> None:
    """One exchange-info read, from which binance-mcp learns the exchange's request-weight
    limit, as it would learn Binance's."""
    result = await client.call_tool("binance_exchange_info", {"market": "spot", "symbol": SYMBOL})
    if result.is_error:
        raise RuntimeError(f"binance_exchange_info failed: {result.content}")


def _info(n: int = 0) -> Implementation:
    return Implementation(name=f"bench-client-{n}", version="1")


@contextlib.asynccontextmanager
async def stdio_sessions(side: Side, errlog: IO[str]) -> AsyncIterator[Sessions]:
    """One server process and one client for the whole run, whatever the number in flight."""
    params = StdioServerParameters(
        command=sys.executable, args=side.command, env=side.env, cwd=str(REPO)
    )
    async with Client(stdio_client(params, errlog=errlog), client_info=_info()) as client:
        side.pid = child_pid(" ".join(side.command))
        if side.prepare is not None:
            await side.prepare(client)
        await call(client)

        @contextlib.asynccontextmanager
        async def sessions(_: int) -> AsyncIterator[list[Client]]:
            yield [client]

        yield sessions


@contextlib.asynccontextmanager
async def http_sessions(side: Side, port: int) -> AsyncIterator[Sessions]:
    """One server process for the whole run; N sessions opened for N calls in flight."""
    with side.log.open("a") as errlog:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *side.command, env=side.env, cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL, stdout=errlog, stderr=errlog,
        )  # fmt: skip
    side.pid = process.pid
    url = f"http://127.0.0.1:{port}/mcp"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        await wait_listening(port, process, side.log)

        @contextlib.asynccontextmanager
        async def sessions(n: int, warm: bool = True) -> AsyncIterator[list[Client]]:
            async with contextlib.AsyncExitStack() as stack:
                opened = []
                for i in range(n):
                    http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
                    transport = streamable_http_client(url, http_client=http)
                    client = Client(transport, client_info=_info(i))
                    opened.append(await stack.enter_async_context(client))
                for client in opened if warm else ():
                    await call(client)
                yield opened

        # Before any other call: the first read would otherwise be measured against Binance's
        # default weight limit, which the exchange's minute may already be past.
        async with sessions(1, warm=False) as first:
            if side.prepare is not None:
                await side.prepare(first[0])
        yield sessions
    finally:
        process.terminate()
        await process.wait()


async def measure_transport(
    transport: str,
    exchange: Exchange,
    root: Path,
    in_flight: Sequence[int],
    seconds: float,
    rounds: int,
) -> dict[tuple[str, int], Figures]:
    http = transport == "http"
    ports = {OURS: free_port(), FLOOR: free_port()}
    sides = [
        Side(
            OURS,
            ["-m", "binance_mcp", "serve"]
            + (["--transport", "http", "--port", str(ports[OURS])] if http else []),
            server_env(exchange, root / f"state-{transport}"),
            root / f"binance-mcp-{transport}.log",
            prepare=learn_limits,
        ),
        Side(
            FLOOR,
            ["-m", "bench.floor_server", transport]
            + (["--port", str(ports[FLOOR])] if http else []),
            server_env(exchange, root / f"floor-{transport}"),
            root / f"floor-{transport}.log",
        ),
    ]
    figures = {(s.name, n): Figures() for s in sides for n in in_flight}
    async with contextlib.AsyncExitStack() as stack:
        connect: dict[str, Sessions] = {}
        for side in sides:
            if http:
                connect[side.name] = await stack.enter_async_context(
                    http_sessions(side, ports[side.name])
                )
            else:
                errlog = stack.enter_context(side.log.open("a"))
                connect[side.name] = await stack.enter_async_context(stdio_sessions(side, errlog))
        # The bench's own set-up lives as long as the run: out of the collector's way.
        gc.collect()
        gc.freeze()
        for r in range(rounds):
            for n in in_flight:
                for side in sides if r % 2 else sides[::-1]:
                    async with connect[side.name](n) as clients:
                        figures[side.name, n].phases.append(
                            await run_phase(clients, n, seconds, side.pid)
                        )
    return figures


def ratio(ours: Figures, floor: Figures) -> float:
    """The median over rounds of binance-mcp's calls/s ÷ the floor's in the same round."""
    return median(
        [o.rate / f.rate for o, f in zip(ours.phases, floor.phases, strict=True) if f.rate]
    )


def main(argv: list[str] | None = None) -> int:
    p = parser("transports", __doc__ or "")
    p.add_argument("--seconds", type=float, default=2.0, help="per phase (default 2)")
    p.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--in-flight", default="1,8,32", help="calls in flight (default 1,8,32)")
    p.add_argument("--transport", choices=("stdio", "http", "both"), default="both")
    args = p.parse_args(argv)
    seconds = 0.5 if args.quick else max(0.5, args.seconds)
    rounds = 1 if args.quick else max(1, args.rounds)
    in_flight = [max(1, int(n)) for n in args.in_flight.split(",") if n.strip()]
    transports = ("stdio", "http") if args.transport == "both" else (args.transport,)
    header(
        f"transports: `{TOOL}` with {', '.join(map(str, in_flight))} calls in flight, "
        f"binance-mcp vs the SDK floor over {' and '.join(transports)}",
        f"{seconds:g} s per phase, {rounds} round(s); paper exchange, each server and the "
        "clients in processes of their own",
        args.quick,
    )
    rows: list[list[str]] = []
    ratios: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-transports-") as tmp:
        root = Path(tmp)
        exchange = Exchange(root / "paper", limits=LIMIT_SCALE)
        try:
            for transport in transports:
                figures = asyncio.run(
                    measure_transport(transport, exchange, root, in_flight, seconds, rounds)
                )
                for n in in_flight:
                    ours, floor = figures[OURS, n], figures[FLOOR, n]
                    ratios[transport, n] = ratio(ours, floor)
                    for name, f in ((FLOOR, floor), (OURS, ours)):
                        shown = f"{ratios[transport, n]:.2f}" if name == OURS else ""
                        rows.append([
                            transport, str(n), name, f"{f.rate:,.0f}", ms(median(f.latencies)),
                            ms(percentile(f.latencies, 99)), us(f.cpu_per_call), shown,
                        ])  # fmt: skip
        finally:
            exchange.stop()
    columns = ["transport", "in flight", "server", "calls/s", "p50", "p99", "server CPU/call"]
    print(table(rows, [*columns, "ours/floor"]))
    print(
        "\ncalls/s: median over rounds; p50, p99: over every call; server CPU/call: the server "
        "process's CPU time per call,\nmedian over rounds; ours/floor: the median over rounds "
        "of binance-mcp's calls/s ÷ the SDK floor's in the same round."
    )
    loaded = {k: v for k, v in ratios.items() if k[1] >= 8} or ratios
    where = min(loaded, key=lambda k: loaded[k])
    finish(
        args,
        Summary(
            bench="transports",
            figure=", ".join(f"{t} {n}: {r:.2f}" for (t, n), r in ratios.items())
            + " × the floor's calls/s",
            baseline="the SDK floor in the same run (one-tool MCPServer, same python-binance call)",
            ratio=loaded[where],
            target=f"≥ {TARGET} × the floor at 8 and 32 in flight",
            passed=loaded[where] >= TARGET,
        ),
        f"binance-mcp ÷ SDK floor calls/s, lowest at 8 and 32 in flight: {where[0]} {where[1]}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
