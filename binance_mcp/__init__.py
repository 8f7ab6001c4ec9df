"""binance-mcp: a guarded MCP server for Binance spot and USD-M futures."""

__version__ = "0.1.0"
