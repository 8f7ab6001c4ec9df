"""The SDK floor as a process of its own: a one-tool `MCPServer` of the same SDK whose tool makes
the python-binance call `binance_spot_price` makes (GET /api/v3/ticker/price) to a running
paper exchange and returns the same shape of structured result. No guard, audit, retries, rate
gates or log lines: what the SDK alone costs per call, over a real transport.

    python -m bench.floor_server stdio
    python -m bench.floor_server http --port PORT

The exchange comes from the environment, as binance-mcp's does: BINANCE_MCP_SPOT_URL,
BINANCE_MCP_FUTURES_URL, BINANCE_API_KEY and BINANCE_API_SECRET. Over HTTP the SDK's own
streamable HTTP app is served by uvicorn with the settings `binance-mcp serve --transport http`
uses (warnings only, no access log, asyncio's loop), without a bearer token: checking it is
binance-mcp's cost.

Only the SDK, pydantic and python-binance are imported: nothing of binance-mcp's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

TOOL: Final = "binance_spot_price"


class Price(BaseModel):
    symbol: str
    price: str


class Prices(BaseModel):
    venue: str
    prices: list[Price]
    omitted: int


def async_client(spot_url: str, futures_url: str, key: str, secret: str) -> Any:
    """python-binance's AsyncClient pointed at one exchange; build it inside the running loop
    (its aiohttp session binds to it)."""
    from binance import AsyncClient

    client = AsyncClient(key, secret, loop=asyncio.get_running_loop())
    for name in ("API_URL", "API_TESTNET_URL", "API_DEMO_URL"):
        setattr(client, name, spot_url)
    for name in ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL"):
        setattr(client, name, futures_url)
    return client


@asynccontextmanager
async def _lifespan(_: MCPServer[Any]) -> AsyncIterator[Any]:
    # One client for the process, as binance-mcp has one `Exchange` per process.
    env = os.environ
    client = async_client(
        env["BINANCE_MCP_SPOT_URL"],
        env["BINANCE_MCP_FUTURES_URL"],
        env["BINANCE_API_KEY"],
        env["BINANCE_API_SECRET"],
    )
    try:
        yield client
    finally:
        await client.close_connection()


def build() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("floor", lifespan=_lifespan, log_level="WARNING")

    @server.tool(name=TOOL)
    async def spot_price(symbol: str, ctx: Context[Any, Any]) -> Prices:
        client = ctx.request_context.lifespan_context
        answer = await client.get_symbol_ticker(symbol=symbol)
        row = Price(symbol=answer["symbol"], price=answer["price"])
        return Prices(venue="paper", prices=[row], omitted=0)

    return server


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__)
    p.add_argument("transport", choices=("stdio", "http"))
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args()
    server = build()
    if args.transport == "stdio":
        server.run()
        return
    import anyio
    import uvicorn

    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
    # On anyio's default asyncio loop, as the SDK's `run("streamable-http")` and binance-mcp
    # serve it: `uvicorn.Server.run()` would pick uvloop when it happens to be installed.
    anyio.run(uvicorn.Server(config).serve)


if __name__ == "__main__":
    main()
