"""The MCP server: settings in, an `MCPServer` with its tools and venue lifespan out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager

import anyio.to_thread
from mcp.server.mcpserver import MCPServer

from binance_mcp import __version__
from binance_mcp.config import Settings
from binance_mcp.guard import Guard, PolicyHolder
from binance_mcp.runtime import PaperStarter, Runtime
from binance_mcp.tools import build_tools
from binance_mcp.venues import Endpoints

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools for a Binance spot and USD-M futures account. Every result names the venue that "
    "answered (live, testnet, demo or paper); never mistake paper or testnet figures for live."
)


def build_server(settings: Settings) -> MCPServer[Runtime]:
    """Raises PolicyError when the policy file is broken: the server refuses to start."""
    holder = PolicyHolder(settings.policy_path)
    guard = Guard(settings, holder)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        log.info(
            "binance-mcp %s: venue %s (%s), API keys %s, state dir %s",
            __version__,
            settings.venue,
            settings.venue_source,
            "set" if settings.has_keys else "not set",
            settings.state_dir,
        )
        fixed = settings.fixed_endpoints()
        if fixed is not None:
            log.info("spot %s, futures %s", fixed.spot_url, fixed.futures_url)
            done: Future[Endpoints] = Future()
            done.set_result(fixed)
            runtime = Runtime(settings, done, guard)
            try:
                yield runtime
            finally:
                await runtime.aclose()
            return
        starter = PaperStarter(settings).start()
        runtime = Runtime(settings, starter.future, guard)
        try:
            yield runtime
        finally:
            await runtime.aclose()
            # Joining threads blocks; keep the event loop free while the exchange shuts down.
            await anyio.to_thread.run_sync(starter.stop)

    server: MCPServer[Runtime] = MCPServer(
        "binance-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        # Hidden tools are left out of tools/list; the list is fixed for the session.
        tools=build_tools(holder.policy),
    )
    return server
