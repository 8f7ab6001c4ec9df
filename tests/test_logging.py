"""A server you can watch: the per-call line on stderr (`--log-level`, DEBUG adding request
timings and weights) and the same events as MCP log notifications, read as a user reads them —
from the stdio server's stderr and from the client — and both scanned for the keys."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation

from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import ALLOW_ALL, fails, ok, server_env
from tests.test_guard import BUY_LIMIT

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:The logging capability is deprecated"),
]


async def run_session(paper: PaperExchange, tmp_path: Path, level: str) -> tuple[str, list[Any]]:
    got: list[Any] = []

    async def on_log(params: Any) -> None:
        got.append(params)

    errlog = tmp_path / "stderr.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "binance_mcp", "--log-level", level],
        env=server_env(paper, tmp_path / "state", ALLOW_ALL),
    )
    with errlog.open("w") as err:
        async with Client(
            stdio_client(params, errlog=err),
            mode="legacy",
            logging_callback=on_log,
            client_info=Implementation(name="watcher\x1b[31m", version="1"),
        ) as c:
            await c.set_logging_level("info")
            await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
            placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
            await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": 424242})
            await fails(c, "binance_spot_price", {"symbol": "BTCUSDT", "x": 1})
            got.append(placed["order"]["orderId"])
    return errlog.read_text(), got


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_one_line_per_call_and_the_same_events_as_notifications(
    paper: PaperExchange, tmp_path: Path, level: str
) -> None:
    stderr, got = await run_session(paper, tmp_path, level)
    order_id = got.pop()
    lines = [line for line in stderr.splitlines() if " binance_mcp.calls: " in line]
    assert len(lines) == 4, stderr
    assert all(" INFO binance_mcp.calls: " in line for line in lines)
    assert re.search(
        r"binance_spot_price: ok \(allow\) on paper in [\d.]+ ms client=watcher", lines[0]
    )
    assert "binance_spot_place_order: ok (allow) on paper in" in lines[1]
    assert f"orderId={order_id}" in lines[1]
    # The client's name is its own input: written without its control characters.
    assert "client=watcher?[31m" in lines[1] and "\x1b" not in stderr
    assert "binance_spot_cancel_order: failed (allow by " in lines[2]
    assert lines[2].endswith("error=-2011")
    assert "binance_spot_price: refused (deny by arguments)" in lines[3]
    # The client heard the same four events, at info for the success, warning otherwise.
    assert [(p.level, p.data["tool"], p.data["end"]) for p in got] == [
        ("info", "binance_spot_price", "ok"),
        ("info", "binance_spot_place_order", "ok"),
        ("warning", "binance_spot_cancel_order", "failed"),
        ("warning", "binance_spot_price", "refused"),
    ]
    assert got[1].data["orderId"] == order_id and got[2].data["error"] == -2011
    timings = re.findall(r"DEBUG binance_mcp\.exchange\.binance_api: (GET|POST|DELETE) /\S+: "
                         r"[\d.]+ ms; request weight \d+ of", stderr)  # fmt: skip
    if level == "DEBUG":
        assert len(timings) >= 3, stderr
    else:
        assert timings == [] and " DEBUG " not in stderr
    # Never a key, a secret or a signature, in either.
    shown = stderr + repr([p.data for p in got])
    for secret in (paper.config.api_key, paper.config.api_secret):
        assert secret not in shown
    assert not re.search(r"signature=[0-9a-f]{16}", shown)
    assert "MCPDeprecationWarning" not in stderr
