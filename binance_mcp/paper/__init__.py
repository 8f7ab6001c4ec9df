"""The paper exchange: a local stand-in for Binance's spot and USD-M futures REST APIs, served
over real HTTP on loopback, with its own account, matching and rate limits.

Apart from the rest: imports nothing of `binance_mcp` outside itself, and only the server and
the CLI import it.
"""
