"""The console (`binance-mcp console`): a local web page on 127.0.0.1 to watch the agent,
approve its orders and stop it.

- view.py: the read-only facade over the state dir (pending approvals, trading state, limits
  used vs allowed, the paper account's value) and the two kinds of change a person makes here,
  through the guard's own functions, as the CLI does (approvals `decide`, trading state
  `set_state` / `resume_trading`)
- feed.py: the audit log followed once for every open page (server-sent events)
- app.py: the Starlette app: token, session cookie, CSRF, the JSON and SSE endpoints
- run.py: serving it with uvicorn, and `<state dir>/console.json` while it runs
- static/: the page (plain HTML, CSS, JS and an SVG chart), served from the package

Sits between the CLI and the server: imports the guard and the settings (`config`), never the
exchange clients, the paper exchange or the server.
"""
