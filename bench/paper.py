"""A paper exchange for the call benchmarks, the server pointed at it as a user would point
`binance-mcp` at a running one, and a bare python-binance client pointed at the same exchange
(the baseline)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Final

from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from bench.common import ALLOW_ALL_POLICY
from binance_mcp.config import Settings, resolve_settings
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from binance_mcp.server.app import build_server
from binance_mcp.server.runtime import Runtime

SYMBOL: Final = "BTCUSDT"
# The read both sides make: one HTTP request (GET /api/v3/ticker/price).
TOOL: Final = "binance_spot_price"
TOOL_ARGS: Final = {"symbol": SYMBOL}
# Request weight would otherwise be the limit being measured (6000 a minute, and the server
# slows down past 80 % of it, as it must on Binance); the server learns this one from exchange
# info (see `warm_up`).
WEIGHT_LIMIT: Final = 10**9


def start_paper(state_dir: Path) -> PaperExchange:
    # walk_interval=0: no random-walk task competing for the CPU, so both sides see the same
    # exchange from one call to the next.
    config = PaperConfig(state_dir=state_dir, walk_interval=0, weight_limit=WEIGHT_LIMIT)
    return start_paper_exchange(config)


def paper_settings(paper: PaperExchange, state_dir: Path) -> Settings:
    """What `binance-mcp serve` resolves with BINANCE_MCP_SPOT_URL/FUTURES_URL and the paper
    account's keys set, and `--policy examples/policies/paper-everything.yaml`; production
    retry settings, audit log in the state dir (on by default)."""
    env = {
        "BINANCE_API_KEY": paper.config.api_key,
        "BINANCE_API_SECRET": paper.config.api_secret,
        "BINANCE_MCP_SPOT_URL": paper.spot_url,
        "BINANCE_MCP_FUTURES_URL": paper.futures_url,
        "BINANCE_MCP_STATE_DIR": str(state_dir),
    }
    return resolve_settings(env, venue="paper", policy=ALLOW_ALL_POLICY)


def paper_server(paper: PaperExchange, state_dir: Path) -> MCPServer[Runtime]:
    # The server's own start-up lines are not the benchmark's output.
    logging.getLogger("binance_mcp").setLevel(logging.WARNING)
    return build_server(paper_settings(paper, state_dir))


def direct_client(paper: PaperExchange) -> Any:
    """python-binance's AsyncClient against the paper exchange; build it inside the running
    loop (its aiohttp session binds to it)."""
    from binance import AsyncClient

    client = AsyncClient(
        paper.config.api_key, paper.config.api_secret, loop=asyncio.get_running_loop()
    )
    for name in ("API_URL", "API_TESTNET_URL", "API_DEMO_URL"):
        setattr(client, name, paper.spot_url)
    for name in ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL"):
        setattr(client, name, paper.futures_url)
    return client


async def direct_call(client: Any) -> str:
    answer = await client.get_symbol_ticker(symbol=SYMBOL)
    return str(answer["price"])


async def mcp_call(client: Client) -> str:
    result = await client.call_tool(TOOL, TOOL_ARGS)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{TOOL} failed: {result.content}")
    return str(result.structured_content["prices"][0]["price"])


async def warm_up(client: Client) -> None:
    """One exchange-info read, from which the session's exchange client learns the paper
    exchange's weight limit, as it would learn Binance's."""
    result = await client.call_tool("binance_exchange_info", {"market": "spot", "symbol": SYMBOL})
    if result.is_error:
        raise RuntimeError(f"binance_exchange_info failed: {result.content}")


class _Price(BaseModel):
    symbol: str
    price: str


class _Prices(BaseModel):
    venue: str
    prices: list[_Price]
    omitted: int


def floor_server(client: Any) -> MCPServer[Any]:
    """The MCP floor: a one-tool `MCPServer` from the same SDK whose tool makes the direct
    python-binance call and returns the same shape of structured result as `binance_spot_price`,
    with no guard, audit, retries or rate gates. What the SDK alone costs per call."""
    server: MCPServer[Any] = MCPServer("floor")

    @server.tool(name=TOOL)
    async def spot_price(symbol: str) -> _Prices:
        answer = await client.get_symbol_ticker(symbol=symbol)
        row = _Price(symbol=answer["symbol"], price=answer["price"])
        return _Prices(venue="paper", prices=[row], omitted=0)

    return server


def idle_server(price: str) -> MCPServer[Any]:
    """The SDK's round trip on its own: the same one-tool server whose tool answers `price`
    without asking any exchange. No tool reached through the SDK can cost less than this."""
    server: MCPServer[Any] = MCPServer("idle")

    @server.tool(name=TOOL)
    async def spot_price(symbol: str) -> _Prices:
        return _Prices(venue="paper", prices=[_Price(symbol=symbol, price=price)], omitted=0)

    return server
