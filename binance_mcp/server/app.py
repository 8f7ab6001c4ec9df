"""The MCP server: settings in, an `MCPServer` with its tools and venue lifespan out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Tool as MCPTool

from binance_mcp import __version__
from binance_mcp.config import Settings
from binance_mcp.exchange.client import SHARED_READS
from binance_mcp.exchange.venues import Endpoints
from binance_mcp.guard.engine import may_need_approval
from binance_mcp.guard.gate import Guard, PolicyHolder
from binance_mcp.server.guarded import build_guarded
from binance_mcp.server.runtime import PaperStarter, Runtime
from binance_mcp.tools import tool_def
from binance_mcp.tools.catalogue import catalogue, listed

log = logging.getLogger(__name__)

# Seconds from the server's start to the paper exchange's: the handshake is long over by then.
PAPER_START_DELAY: Final = 0.5

INSTRUCTIONS = (
    "Tools for a Binance spot and USD-M futures account. Every result names the venue that "
    "answered (live, testnet, demo or paper); never mistake paper or testnet figures for live."
)


class BinanceServer(MCPServer[Runtime]):
    """An MCPServer whose tools/list comes from the catalogue and whose tools are built at
    their first call (tools/catalogue.py says why). Hidden tools are left out of the list and
    unknown to calls; the list is fixed for the session.

    Each tool comes in two builds, with and without the approval resolver: the SDK's resolver
    machinery costs ~50-90 µs a call, so a call the policy cannot send for approval runs the
    build without it. The guard's own decision in the body stays the authority either way."""

    def __init__(self, tools: list[MCPTool], policy: PolicyHolder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listed = tools
        self._offered = {t.name for t in tools}
        self._policy = policy
        self._built: dict[tuple[str, bool], Tool] = {}

    async def list_tools(self) -> list[MCPTool]:
        return list(self._listed)

    def built_tool(self, name: str) -> Tool | None:
        if name not in self._offered:
            return None
        entry = catalogue()[name]
        # An edited policy file is read here already, so the first call after an edit that
        # brings in approval is asked at once.
        policy = self._policy.current()
        asks = policy.mode == "enforce" and may_need_approval(policy, name, entry.risk)
        built = self._built.get((name, asks))
        if built is None:
            built = build_guarded(tool_def(name, entry.area), asks=asks)
            self._built[name, asks] = built
            if (built.parameters, built.output_schema) != (
                entry.listed.input_schema,
                entry.listed.output_schema,
            ):
                # catalogue.json was generated with other versions of the SDK or pydantic:
                # arguments are validated as built, but the client was shown the file's schemas.
                log.warning(
                    "%s is built with other schemas than tools/list showed; regenerate the "
                    "list with `python -m binance_mcp.tools.catalogue`",
                    name,
                )
        return built

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Runtime, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self.built_tool(name)
        if tool is None:
            raise ToolError(f"Unknown tool: {name}")
        # One scope of shared price reads per call: the approval resolver, the guard and the
        # tool body value the same order at the same price (exchange.SHARED_READS).
        token = SHARED_READS.set({})
        try:
            result: CallToolResult | InputRequiredResult = await tool.run(
                arguments, context or Context(mcp_server=self), convert_result=True
            )
        finally:
            SHARED_READS.reset(token)
        return result


def build_server(settings: Settings) -> BinanceServer:
    """Raises PolicyError when the policy file is broken: the server refuses to start."""
    holder = PolicyHolder(settings.policy_path)
    guard = Guard(
        holder,
        state_dir=settings.state_dir,
        venue=settings.venue,
        approval_timeout=settings.approval_timeout,
    )

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
        # Started off the handshake's path: its imports and set-up would otherwise compete for
        # the interpreter while initialize and tools/list are answered. The first call that
        # needs it starts it at once if the delay has not run out.
        starter = PaperStarter(settings)
        timer = asyncio.get_running_loop().call_later(PAPER_START_DELAY, starter.start)
        runtime = Runtime(settings, starter.future, guard, start_venue=starter.start)
        try:
            yield runtime
        finally:
            timer.cancel()
            await runtime.aclose()
            # Joining threads blocks; keep the event loop free while the exchange shuts down.
            await anyio.to_thread.run_sync(starter.stop)

    return BinanceServer(
        listed(holder.policy),
        holder,
        name="binance-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
    )
