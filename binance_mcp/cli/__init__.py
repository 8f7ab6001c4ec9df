"""The `binance-mcp` command (cli/main.py) and the rooms of its subcommands: the guard's
commands (halt, resume, approvals, policy check), `policy explain|test`, `audit`.

Sits on top: may import every wing. Heavy imports happen inside the subcommand that needs them.
"""

from binance_mcp.cli.main import main

__all__ = ["main"]
