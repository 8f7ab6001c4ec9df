"""`python -m binance_mcp`: the same program as the `binance-mcp` command."""

from binance_mcp.cli.main import main

raise SystemExit(main())
