"""The `@tool` decorator: where each tool is declared, once, with its risk class.

The class fixes the tool's MCP annotations (tools/risk.py). Every failure inside a tool leaves
as one `ToolError` whose text the agent can act on; an unexpected exception is logged (stderr)
and reported by type only, never as a traceback or an opaque "Error executing tool".
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from binance_mcp.errors import ToolFailure
from binance_mcp.exchange import Exchange
from binance_mcp.runtime import Runtime
from binance_mcp.tools.risk import RiskClass

log = logging.getLogger(__name__)

ToolFn = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=ToolFn)


@dataclass(frozen=True)
class ToolDef:
    name: str
    risk: RiskClass
    title: str
    description: str
    # The declared function wrapped so that every failure is a ToolError.
    fn: ToolFn


DECLARED: list[ToolDef] = []


class Failed(ToolError):
    """A tool's failure as the agent reads it; `uncertain` when an order may have gone out
    anyway (the guard then keeps its budget reservation)."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain


def tool(risk: RiskClass, title: str) -> Callable[[F], F]:
    """Declare the decorated async function as a tool named after it; its docstring is the
    description the agent reads."""

    def declare(fn: F) -> F:
        description = " ".join(inspect.cleandoc(fn.__doc__ or "").split())
        DECLARED.append(ToolDef(fn.__name__, risk, title, description, _reporting(fn)))
        return fn

    return declare


def _reporting(fn: ToolFn) -> ToolFn:
    name = fn.__name__

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except ToolFailure as exc:
            raise Failed(str(exc), uncertain=exc.uncertain) from None
        except ToolError:
            raise
        except Exception as exc:
            log.exception("%s failed unexpectedly", name)
            raise Failed(
                f"{name} failed inside the server ({type(exc).__name__}); details are in the "
                "server's log. If this was an order or a cancel, check its state with a read "
                "tool before retrying.",
                uncertain=True,
            ) from None

    return call


async def exchange(ctx: Context[Runtime, Any]) -> Exchange:
    return await ctx.request_context.lifespan_context.exchange()
