"""The MCP server: settings in, an `MCPServer` out (app.py), with the life-of-the-server runtime
(runtime.py: the venue, the in-process paper exchange, the guard) and the adapter that puts
every tool behind the guard and asks a person over MCP when the policy says so (guarded.py,
approval.py).

Sits above the tools and the guard; only the server and the CLI may import `binance_mcp.paper`.
"""
