"""The `@tool` decorator: where each tool is declared, once, with its risk class.

The class fixes the tool's MCP annotations (tools/risk.py) and what the guard makes of it. A
tool reports what went wrong by raising `ToolFailure` (exchange/errors.py) with a text the agent
can act on; the server's adapter turns it, or any unexpected exception, into the tool error the
agent reads (server/guarded.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mcp.server.mcpserver import Context

from binance_mcp.exchange.client import Exchange
from binance_mcp.guard.gate import Guard
from binance_mcp.guard.tool_index import RiskClass

ToolFn = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=ToolFn)


class Runtime(Protocol):
    """What a tool finds in its context for the life of the server (server/runtime.py holds
    it): the venue's client, the guard in force, and what the API key check at start found."""

    guard: Guard
    key_warnings: list[str]

    async def exchange(self) -> Exchange: ...


@dataclass(frozen=True)
class ToolDef:
    name: str
    risk: RiskClass
    title: str
    description: str
    fn: ToolFn


DECLARED: list[ToolDef] = []


def tool(risk: RiskClass, title: str) -> Callable[[F], F]:
    """Declare the decorated async function as a tool named after it; its docstring is the
    description the agent reads."""

    def declare(fn: F) -> F:
        description = " ".join(inspect.cleandoc(fn.__doc__ or "").split())
        DECLARED.append(ToolDef(fn.__name__, risk, title, description, fn))
        return fn

    return declare


# The runtime of the call in progress, set by the server's guarded wrapper (server/guarded.py)
# around the tool's body: through the SDK's `Context` it is ~6 µs a time (pydantic private
# attributes), and each call needs it more than once.
CALL_RUNTIME: ContextVar[Runtime | None] = ContextVar("binance_mcp_call_runtime", default=None)


async def exchange(ctx: Context[Runtime, Any]) -> Exchange:
    runtime = CALL_RUNTIME.get()
    if runtime is None:
        runtime = ctx.request_context.lifespan_context
    return await runtime.exchange()
