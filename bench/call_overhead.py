"""Call overhead: a guarded read through MCP to the paper exchange, against the same
python-binance call made directly to the same exchange.

The paper exchange runs in this process on its own thread and event loop (as `binance-mcp`
runs it on the paper venue), serving real HTTP on 127.0.0.1. Through MCP: `binance_spot_price`
for one symbol, by the SDK's in-process client, on both protocol eras, the server built as
`binance-mcp serve` builds it with examples/policies/paper-everything.yaml and the audit log on
(one flushed line per call). Directly (the baseline): python-binance's `AsyncClient`, pointed at
the same exchange, `get_symbol_ticker(symbol=...)`. Both are one `GET /api/v3/ticker/price`.
Two more show where the floor is: the SDK floor (a one-tool MCPServer making the direct call)
and the SDK's round trip alone (the same server, its tool answering without any I/O). The kinds
of call take turns, in rotating order, after a warm-up of each.

    python -m bench.call_overhead [--calls N] [--quick]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from mcp import Client

from bench.common import Summary, finish, header, median, ms, parser, percentile, table
from bench.paper import (
    TOOL,
    direct_call,
    direct_client,
    floor_server,
    idle_server,
    mcp_call,
    paper_server,
    start_paper,
    warm_up,
)
from binance_mcp.guard.audit import AUDIT_FILE

TARGET: Final = 1.3  # SPEC §7: "costs little more than the same python-binance call"


DIRECT: Final = "direct python-binance"
OURS: Final = ("binance-mcp, default (2026-07-28)", "binance-mcp, legacy (2025-11-25)")
FLOOR: Final = ("SDK floor, default (2026-07-28)", "SDK floor, legacy (2025-11-25)")
IDLE: Final = ("SDK round trip alone, default", "SDK round trip alone, legacy")


async def measure(root: Path, calls: int, warm: int) -> tuple[dict[str, list[float]], int]:
    """Seconds per call of each kind, and the audit log's line count at the end."""
    paper = start_paper(root / "paper")
    try:
        server = paper_server(paper, root / "state")
        direct, floor_client = direct_client(paper), direct_client(paper)
        floor = floor_server(floor_client)
        idle = idle_server(await direct_call(direct))
        try:
            async with (
                Client(server) as modern,
                Client(server, mode="legacy") as legacy,
                Client(floor) as floor_modern,
                Client(floor, mode="legacy") as floor_legacy,
                Client(idle) as idle_modern,
                Client(idle, mode="legacy") as idle_legacy,
            ):
                await warm_up(modern)
                await warm_up(legacy)
                kinds: dict[str, Callable[[], Awaitable[str]]] = {
                    DIRECT: lambda: direct_call(direct),
                    OURS[0]: lambda: mcp_call(modern),
                    OURS[1]: lambda: mcp_call(legacy),
                    FLOOR[0]: lambda: mcp_call(floor_modern),
                    FLOOR[1]: lambda: mcp_call(floor_legacy),
                    IDLE[0]: lambda: mcp_call(idle_modern),
                    IDLE[1]: lambda: mcp_call(idle_legacy),
                }
                prices = {name: await call() for name, call in kinds.items()}
                if len(set(prices.values())) != 1:  # the same exchange answering the same read
                    raise RuntimeError(f"the calls disagree: {prices}")
                for _ in range(warm):
                    for call in kinds.values():
                        await call()
                samples: dict[str, list[float]] = {name: [] for name in kinds}
                order = list(kinds)
                for i in range(calls):
                    # Rotating the order keeps "who goes first" from favouring one kind.
                    turn = i % len(order)
                    for name in order[turn:] + order[:turn]:
                        started = time.perf_counter()
                        await kinds[name]()
                        samples[name].append(time.perf_counter() - started)
        finally:
            await direct.close_connection()
            await floor_client.close_connection()
        # Flushed before each result returns, so it is complete now.
        audit_path = root / "state" / AUDIT_FILE
        with audit_path.open(encoding="utf-8") as f:
            audit_lines = sum(1 for _ in f)
    finally:
        paper.stop()
    return samples, audit_lines


def main(argv: list[str] | None = None) -> int:
    p = parser("call_overhead", __doc__ or "")
    p.add_argument("--calls", type=int, default=300, help="timed calls of each kind (default 300)")
    args = p.parse_args(argv)
    calls, warm = (20, 5) if args.quick else (max(10, args.calls), 50)
    header(
        f"call overhead: guarded `{TOOL}` through MCP vs the same python-binance call",
        f"{calls} timed calls of each kind, taking turns, after {warm} warm-up calls each; "
        "paper exchange on 127.0.0.1 in this process",
        args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as root:
        samples, audit_lines = asyncio.run(measure(Path(root), calls, warm))
    medians = {name: median(values) for name, values in samples.items()}
    base = medians[DIRECT]
    rows = [
        [
            name,
            ms(medians[name]),
            ms(percentile(values, 90)),
            ms(min(values)),
            "" if name == DIRECT or name in IDLE else f"+{ms(medians[name] - base)}",
            f"{medians[name] / base:.2f}",
        ]
        for name, values in samples.items()
    ]
    print(table(rows, ["call", "median", "p90", "min", "median added", "÷ direct"]))
    print(
        "\nSDK floor: a one-tool MCPServer whose tool makes the direct call and returns the same "
        "result shape (no guard, audit, retries or rate gates)."
    )
    for ours, floor in zip(OURS, FLOOR, strict=True):
        print(
            f"binance-mcp's own share, {ours.split(', ')[1]}: "
            f"+{ms(medians[ours] - medians[floor])} per call over the SDK floor"
        )
    print(
        "SDK round trip alone: the same one-tool MCPServer, its tool answering without asking "
        "the exchange — what any tool reached through the SDK's in-process client costs at least."
    )
    allowance = (TARGET - 1) * base
    for idle in IDLE:
        print(
            f"{idle}: {ms(medians[idle])}; the target leaves {ms(allowance)} per call over the "
            f"direct call for everything MCP adds ({medians[idle] / allowance:.1f}× that)"
        )
    print(f"audit log: {audit_lines} lines, one flushed per binance-mcp call (warm-up included)")
    worst = max(medians[name] for name in OURS)
    ratio = worst / base
    finish(
        args,
        Summary(
            bench="call_overhead",
            figure=f"median {ms(medians[OURS[0]])} / {ms(medians[OURS[1]])} (default / legacy)",
            baseline=f"direct python-binance AsyncClient call: median {ms(base)}",
            ratio=ratio,
            target=f"ratio ≤ {TARGET} in both modes",
            passed=ratio <= TARGET,
        ),
        "slower binance-mcp mode's median ÷ direct median",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
