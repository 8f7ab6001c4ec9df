"""The server's adapter between the MCP tools and the guard: each tool's function is wrapped so
that a call goes through `Guard.run` (guard/gate.py), a person is asked over MCP when the policy
requires it (server/approval.py), and every refusal or failure reaches the agent as one
`ToolError` whose text it can act on.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool

from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.guard.approvals import ApprovalError
from binance_mcp.guard.console_link import console_url
from binance_mcp.guard.gate import Guard
from binance_mcp.guard.store import StateUnavailable
from binance_mcp.guard.tool_index import ToolSpec
from binance_mcp.guard.verdicts import Verdict, wait_in_queue
from binance_mcp.server.approval import (
    NOT_NEEDED,
    Approver,
    Asked,
    approval_parameter,
    can_elicit,
)
from binance_mcp.tools import build_tool
from binance_mcp.tools.declare import CALL_RUNTIME, ToolDef, ToolFn

log = logging.getLogger(__name__)


# Set by the server around each call; the wrapper marks it once the guard has the call, and
# from then on the guard writes the call's audit line (server/app.py writes the others').
REACHED_GUARD: ContextVar[list[bool] | None] = ContextVar("reached_guard", default=None)


class Failed(ToolError):
    """A tool's failure as the agent reads it; `uncertain` when an order may have gone out
    anyway."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain


class McpApprovals:
    """One call's approval channel: the answer the resolver obtained by elicitation, or else
    the state dir's queue, with progress notifications to the client while it waits."""

    def __init__(self, guard: Guard, approver: Approver, injected: Any, ctx: Any) -> None:
        self.guard = guard
        self.approver = approver
        self.injected = injected
        self.ctx = ctx

    async def verdict(
        self, call: str, tool: str, question: Callable[[], Awaitable[str]]
    ) -> Verdict:
        verdict = self.approver.verdict(self.injected, call)
        if verdict is not None:
            return verdict
        ctx = self.ctx
        console = console_url(self.guard.state_dir)
        asked = getattr(
            self.injected, "data", self.injected
        )  # the resolver's, as the SDK passes it
        if isinstance(asked, Asked) and asked.how == "console" and console:
            return await wait_in_queue(
                self.guard.queue,
                self.approver.timeout,
                call,
                tool,
                await question(),
                ctx.report_progress if ctx is not None else None,
                console=console,
                on_filed=lambda ident: self._send_link(console, tool, ident),
            )
        if ctx is not None and can_elicit(ctx):
            # The resolver saw no need to ask (the policy changed in between): ask on a new call.
            return Verdict(False, "not asked", "nobody was asked (the policy changed); call again")
        progress = ctx.report_progress if ctx is not None else None
        return await wait_in_queue(
            self.guard.queue,
            self.approver.timeout,
            call,
            tool,
            await question(),
            progress,
            console=console,
        )

    async def _send_link(self, console: str, tool: str, ident: str) -> None:
        """URL-mode elicitation: the client offers the person the console's page for this
        request. Declined or cancelled there, the request is denied."""
        try:
            result = await self.ctx.elicit_url(
                f"Approve or deny {tool} (request {ident}) in the binance-mcp console",
                f"{console}#approval-{ident}",
                ident,
            )
        except Exception:
            log.exception("%s: the console link could not be sent", tool)
            return
        if result.action != "accept":
            with contextlib.suppress(ApprovalError, StateUnavailable):
                await self.guard.queue.decide(ident, False, f"{result.action} in the client")


def guarded(tool: ToolDef, *, asks: bool = True) -> ToolFn:
    """`tool.fn` behind the guard held by the server's runtime. With `asks`, it has the
    approval parameter that a resolver fills before the body runs (server/approval.py); without,
    the body's decision stands alone (a call it finds needing approval goes to the queue, or
    is refused with "call again" where the client could have been asked)."""
    names = [p for p in inspect.signature(tool.fn).parameters if p != "ctx"]
    spec = ToolSpec(tool.name, tool.risk, frozenset(names))

    async def call(**kwargs: Any) -> Any:
        ctx: Context[Any, Any] | None = kwargs.pop("ctx", None)
        injected = kwargs.pop("approval", NOT_NEEDED)
        # The server has it at hand for the call (server/app.py); the SDK's Context is slower.
        runtime: Any = CALL_RUNTIME.get()  # server/runtime.py's Runtime, with the approver
        if runtime is None and ctx is not None:
            runtime = ctx.request_context.lifespan_context
        if runtime is None:
            raise Failed(f"{tool.name} needs the server's runtime")

        async def send(args: dict[str, Any]) -> Any:
            return await tool.fn(ctx=ctx, **args)

        reached = REACHED_GUARD.get()
        if reached is not None:
            reached.append(True)
        token = CALL_RUNTIME.set(runtime)
        try:
            return await runtime.guard.run(
                spec,
                kwargs,
                send,
                venue=runtime.exchange,
                approvals=McpApprovals(runtime.guard, runtime.approver, injected, ctx),
            )
        except ToolFailure as exc:
            raise Failed(str(exc), uncertain=exc.uncertain) from None
        except Exception as exc:  # the guard reports its own; this is a last net
            log.exception("%s failed unexpectedly", tool.name)
            raise Failed(
                f"{tool.name} failed inside the server ({type(exc).__name__}); check the "
                "state of any order with a read tool before retrying",
                uncertain=True,
            ) from None
        finally:
            CALL_RUNTIME.reset(token)

    # Annotations evaluated in the tool's own module, where their names live.
    signature = inspect.signature(tool.fn, eval_str=True)
    functools.update_wrapper(call, tool.fn)
    del call.__wrapped__  # type: ignore[attr-defined]
    call.__annotations__ = typing.get_type_hints(tool.fn, include_extras=True)
    if asks:
        parameter, annotation = approval_parameter(tool)
        signature = signature.replace(parameters=[*signature.parameters.values(), parameter])
        call.__annotations__["approval"] = annotation
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


def build_guarded(tool: ToolDef, *, asks: bool = True) -> Tool:
    """The MCP tool object for `tool`, behind the guard; `asks`: with the approval resolver."""
    return build_tool(tool, guarded(tool, asks=asks))
