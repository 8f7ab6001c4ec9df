"""The MCP server: settings in, an `MCPServer` with its tools and venue lifespan out."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, Final, cast

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.stdio import stdio_server
from mcp_types import CallToolResult, InputRequiredResult, SetLevelRequestParams
from mcp_types import Tool as MCPTool

from binance_mcp import __version__
from binance_mcp.config import Settings
from binance_mcp.exchange.client import SHARED_READS
from binance_mcp.exchange.venues import Endpoints
from binance_mcp.guard.engine import may_need_approval
from binance_mcp.guard.gate import CALLER, LOOKED, Guard, PolicyHolder
from binance_mcp.guard.policy import Policy
from binance_mcp.server import call_log, heap
from binance_mcp.server.guarded import REACHED_GUARD, build_guarded
from binance_mcp.server.intake import oversized, refusal, screened_lines, unknown_arguments
from binance_mcp.server.pipes import stdio_pipes
from binance_mcp.server.runtime import PaperStarter, Runtime
from binance_mcp.tools import tool_def
from binance_mcp.tools.catalogue import catalogue, listed
from binance_mcp.tools.declare import CALL_RUNTIME

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

    def __init__(
        self, tools: list[MCPTool], policy: PolicyHolder, guard: Guard, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._listed = tools
        self._offered = {t.name for t in tools}
        self._policy = policy
        self._built: dict[tuple[str, bool], Tool] = {}
        # One line per call on stderr, and log notifications to the calling client
        # (server/call_log.py); `logging/setLevel` declares the MCP logging capability.
        guard.observers.append(call_log.observe)
        self._lowlevel_server.add_request_handler(
            "logging/setLevel", SetLevelRequestParams, call_log.set_level
        )

    async def list_tools(self) -> list[MCPTool]:
        return list(self._listed)

    def built_tool(self, name: str, policy: Policy | None = None) -> Tool | None:
        if name not in self._offered:
            return None
        entry = catalogue()[name]
        # An edited policy file is read here already, so the first call after an edit that
        # brings in approval is asked at once.
        if policy is None:
            policy = self._policy.current()
        asks = policy.mode == "enforce" and may_need_approval(policy, name, entry.risk)
        built = self._built.get((name, asks))
        if built is None:
            built = build_guarded(tool_def(name, entry.area), asks=asks)
            self._built[name, asks] = built
            heap.grown()  # the tool's models and schemas, for the whole run
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
        events: list[dict[str, Any]] = []
        request = call_log.request_of(context)
        caller = CALLER.set(call_log.caller_of(request))
        pending = call_log.PENDING.set(events)
        runtime = CALL_RUNTIME.set(getattr(request, "lifespan_context", None))
        try:
            result = await self._call_tool(name, arguments, context)
        except ToolError:
            await call_log.tell(request, events)
            raise
        finally:
            CALL_RUNTIME.reset(runtime)
            call_log.PENDING.reset(pending)
            CALLER.reset(caller)
        await call_log.tell(request, events)
        return result

    async def _call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Runtime, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        policy = self._policy.current()
        tool = self.built_tool(name, policy)
        if tool is None:
            problem = f"Unknown tool: {name[:64]}"
            self._guard.refused_before(name, None, arguments, problem, "refused")
            raise ToolError(problem)
        entry = catalogue()[name]
        # Strict and bounded before anything else reads the arguments (server/intake.py); the
        # built tool's schema is what validates them.
        why = (
            refusal(arguments)
            or unknown_arguments(name, arguments, tool.parameters.get("properties", {}))
            or oversized(arguments)
        )
        if why is not None:
            self._guard.refused_before(name, entry.risk, arguments, why, "refused")
            raise ToolError(why)
        # One scope of shared price reads per call: the approval resolver, the guard and the
        # tool body value the same order at the same price (exchange.SHARED_READS).
        token = SHARED_READS.set({})
        reached = REACHED_GUARD.set([])
        # The guard decides on the policy just looked at, rather than looking again; not after
        # an approval resolver, which may wait for a person while the file is edited.
        asks = policy.mode == "enforce" and may_need_approval(policy, name, entry.risk)
        looked = LOOKED.set(None if asks else policy)
        try:
            result: CallToolResult | InputRequiredResult = await tool.run(
                arguments, context or Context(mcp_server=self), convert_result=True
            )
        except ToolError as exc:
            if REACHED_GUARD.get():
                raise  # the guard has written its line
            # Refused by argument validation, before the guard saw the call.
            if isinstance(exc, UnexpectedToolError):
                cause = exc.__cause__
                log.error("%s: arguments could not be read: %r", name, cause)
                text = (
                    f"{name} could not read its arguments ({type(cause).__name__}); nothing "
                    "was sent. Check each argument's type against the tool's input schema."
                )
                self._guard.refused_before(name, entry.risk, arguments, text, "invalid")
                raise ToolError(text) from None
            self._guard.refused_before(name, entry.risk, arguments, str(exc), "invalid")
            raise
        finally:
            LOOKED.reset(looked)
            REACHED_GUARD.reset(reached)
            SHARED_READS.reset(token)
        return result

    async def run_stdio_async(self) -> None:
        """As the SDK serves stdio, with each line screened first (server/intake.py): a request
        the SDK's parser would drop unanswered is answered with the reason instead. Pipes, as
        MCP hosts connect them, are read and written by the event loop (server/pipes.py)."""
        async with stdio_pipes() as pipes:
            stdout: anyio.AsyncFile[str] | None = None
            if pipes is None:
                wire = anyio.wrap_file(
                    io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
                )
                lines = wire.__aiter__()
            else:
                lines, writer = pipes
                stdout = cast("anyio.AsyncFile[str]", writer)
            stdin = cast("anyio.AsyncFile[str]", _Lines(screened_lines(lines)))
            async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
                await self._lowlevel_server.run(
                    read_stream,
                    write_stream,
                    self._lowlevel_server.create_initialization_options(),
                )


class _Lines:
    """An async iterable of lines, as the SDK's stdio transport reads its input."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines


def build_server(settings: Settings) -> BinanceServer:
    """Raises PolicyError when the policy file is broken: the server refuses to start."""
    holder = PolicyHolder(settings.policy_path)
    shared = None
    if settings.state_url is not None:
        from binance_mcp.guard.redis_state import account_of, open_shared

        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        shared = open_shared(
            settings.state_url.get_secret_value(),
            settings.state_dir,
            account=account_of(key),
            venue=settings.venue,
            timeout=settings.state_timeout,
        )
        log.info("shared guard state at %s", shared.where)
    guard = Guard(
        holder,
        state_dir=settings.state_dir,
        venue=settings.venue,
        approval_timeout=settings.approval_timeout,
        audit_max_bytes=settings.audit_max_bytes,
        audit_keep=settings.audit_keep,
        shared=shared,
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
        from binance_mcp.guard import servers

        # The state dir is marked as used (the CLI's guard commands refuse an unmarked one)
        # and this server is listed for `binance-mcp status` until everything below is shut
        # down: the entry going away means the paper account has been saved.
        with servers.register(
            settings.state_dir,
            venue=settings.venue,
            policy=settings.policy_path,
            version=__version__,
        ):
            fixed = settings.fixed_endpoints()
            if fixed is not None:
                log.info("spot %s, futures %s", fixed.spot_url, fixed.futures_url)
                done: Future[Endpoints] = Future()
                done.set_result(fixed)
                runtime = Runtime(settings, done, guard)
                try:
                    # The key itself, before anything is served: a key that can withdraw ends
                    # the start here (KeyRefused; the CLI prints its one line and exits 2).
                    # Paper keys are the paper exchange's own and cannot withdraw.
                    if settings.venue != "paper" and settings.has_keys:
                        from binance_mcp.exchange.key_check import KeyRefused, check_key
                        from binance_mcp.guard.key_use import trading_use

                        use = trading_use(holder.current())
                        verdict = await check_key(
                            await runtime.exchange(),
                            trades_spot=use.spot,
                            trades_futures=use.futures,
                            allow_withdrawal=settings.allow_withdrawal_key,
                        )
                        if verdict.fatal is not None:
                            raise KeyRefused(verdict.fatal)
                        runtime.key_warnings = list(verdict.warnings)
                    yield runtime
                finally:
                    await runtime.aclose()
                return
            # Started off the handshake's path: its imports and set-up would otherwise compete
            # for the interpreter while initialize and tools/list are answered. The first call
            # that needs it starts it at once if the delay has not run out.
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
        guard,
        name="binance-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
    )
