"""Market-data tools. For now the diagnostic `binance_server_time`."""

from __future__ import annotations

import time
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from binance_mcp.exchange_client import describe_exchange_error, make_client
from binance_mcp.runtime import Runtime, VenueUnavailable
from binance_mcp.tools.risk import ANNOTATIONS
from binance_mcp.venues import Venue


class ServerTime(BaseModel):
    venue: Venue = Field(description="Which venue answered")
    serverTime: int = Field(description="Exchange time, ms since the Unix epoch")
    localTime: int = Field(description="This machine's time at the middle of the request, ms")
    offsetMs: int = Field(description="serverTime - localTime; signed requests need |offset| small")


def binance_server_time(ctx: Context[Runtime, Any]) -> ServerTime:
    """Exchange server time, local time and the clock offset between them."""
    runtime = ctx.request_context.lifespan_context
    try:
        endpoints = runtime.endpoints()
    except VenueUnavailable as exc:
        raise ToolError(str(exc)) from None
    client = make_client(endpoints)
    try:
        before = time.time()
        answer = client.get_server_time()
        after = time.time()
    except Exception as exc:
        message = describe_exchange_error(exc, endpoints)
        if message is None:
            raise
        raise ToolError(message) from None
    finally:
        client.close_connection()
    # The server stamped its time somewhere during the round trip; the midpoint is the best
    # local estimate of that moment, so the offset is not skewed by the latency.
    local_ms = round((before + after) * 500)
    server_ms = int(answer["serverTime"])
    return ServerTime(
        venue=endpoints.venue,
        serverTime=server_ms,
        localTime=local_ms,
        offsetMs=server_ms - local_ms,
    )


def register(server: MCPServer[Runtime]) -> None:
    server.add_tool(
        binance_server_time,
        name="binance_server_time",
        title="Server time",
        description="Exchange server time, local time and the clock offset between them (ms).",
        annotations=ANNOTATIONS["read"],
    )
