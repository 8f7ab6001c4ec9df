"""The exchange wing: the only code that talks to Binance (or the paper venue) and the only
importer of python-binance.

- venues.py: the venues and their endpoints
- binance_api.py: the python-binance client, its error mapping and clock
- client.py: `Exchange`, which sends every call as a read, a write or an order placement, with
  the retries each allows (retry.py), the host's weight and bans (gates.py) and symbol rules
- symbol_rules.py, order_types.py: Binance's filters and order types, as the exchange defines
  them
- errors.py: `ToolFailure` and the failures Binance's answers become

The bottom wing: imports nothing else of `binance_mcp`.

A venue gives the server `read` (idempotent reads, retried), `write` (idempotent changes and
cancels, retried), `place` (new orders: never resent blind) and `rules` (a symbol's filters).
"""
