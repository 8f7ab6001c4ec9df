"""The MCP tools, one module per area; `register_tools` adds them all to a server."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from binance_mcp.runtime import Runtime
from binance_mcp.tools import market


def register_tools(server: MCPServer[Runtime]) -> None:
    market.register(server)
