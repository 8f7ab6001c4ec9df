"""The start-up floor: a one-tool `MCPServer` from the same SDK, on stdio, launched the way
`bench.startup` launches binance-mcp (`python -m bench.baseline_server`)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("baseline")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run()
