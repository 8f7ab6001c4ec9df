"""The console's Starlette app.

Access: the URL printed at start carries a random token; opening it sets a session cookie
(HttpOnly, SameSite=Strict) and drops the token from the address bar. Every page and endpoint
needs the cookie (401 without it, 403 with a wrong token); every POST also needs the session's
CSRF token in `X-CSRF-Token` and, when the browser sends one, an `Origin` of this console. The
`Host` header must name this console (127.0.0.1 or localhost at its port), so a DNS-rebound
name cannot reach it from another site.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from binance_mcp.console.feed import AuditFeed
from binance_mcp.console.view import ConsoleError, ConsoleView
from binance_mcp.guard.audit_reader import Filter

COOKIE: Final = "binance_mcp_console"
CSRF_HEADER: Final = "x-csrf-token"
DECISIONS: Final = ("allow", "deny", "approve", "dry_run")
# A comment line now and then keeps an idle event stream from being closed by the browser.
KEEPALIVE_S: Final = 15.0
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]


class Sessions:
    """The browsers that opened the token URL: session id → CSRF token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._csrf: dict[str, str] = {}

    def open(self, token: str) -> str | None:
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return None
        session = secrets.token_urlsafe(32)
        self._csrf[session] = secrets.token_urlsafe(32)
        return session

    def csrf(self, request: Request) -> str | None:
        session = request.cookies.get(COOKIE)
        return None if session is None else self._csrf.get(session)


def build_app(view: ConsoleView, feed: AuditFeed, token: str, port: int) -> Starlette:
    sessions = Sessions(token)
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    origins = {f"http://{h}" for h in hosts}
    static = resources.files("binance_mcp.console") / "static"

    def guarded(handler: Handler, *, post: bool = False) -> Handler:
        async def check(request: Request) -> Response:
            if request.headers.get("host") not in hosts:
                return _secure(PlainTextResponse("unknown host", 403))
            csrf = sessions.csrf(request)
            if csrf is None:
                return _secure(
                    PlainTextResponse(
                        "not signed in: open the URL `binance-mcp console` printed", 401
                    )
                )
            if post:
                origin = request.headers.get("origin")
                if origin is not None and origin not in origins:
                    return _secure(PlainTextResponse("cross-origin request refused", 403))
                given = request.headers.get(CSRF_HEADER, "")
                if not secrets.compare_digest(given.encode(), csrf.encode()):
                    return _secure(PlainTextResponse("missing or wrong CSRF token", 403))
            return _secure(await handler(request))

        return check

    async def index(request: Request) -> Response:
        if request.headers.get("host") not in hosts:
            return _secure(PlainTextResponse("unknown host", 403))
        token_given = request.query_params.get("token")
        if token_given is not None:
            session = sessions.open(token_given)
            if session is None:
                return _secure(PlainTextResponse("wrong token", 403))
            answer = RedirectResponse("/", status_code=303)
            answer.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
            return _secure(answer)
        if sessions.csrf(request) is None:
            return _secure(
                PlainTextResponse("not signed in: open the URL `binance-mcp console` printed", 401)
            )
        page = (static / "index.html").read_text("utf-8")
        return _secure(Response(page, media_type="text/html; charset=utf-8"))

    async def session(request: Request) -> Response:
        return JSONResponse({"csrf": sessions.csrf(request), "stateDir": str(view.state_dir)})

    async def state(request: Request) -> Response:
        def gather() -> dict[str, Any]:
            view.values.sample()
            return {
                "approvals": _or_error(view.pending),
                "trading": view.trading(),
                "limits": view.limits(),
                "paper": view.values.listing(),
            }

        return JSONResponse(await asyncio.to_thread(gather))

    async def decide(request: Request) -> Response:
        body = await _json(request)
        try:
            done = await asyncio.to_thread(
                view.decide,
                request.path_params["ident"],
                str(body.get("digest", "")),
                body.get("approve") is True,
                str(body.get("reason", ""))[:500],
            )
        except ConsoleError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse(done)

    async def trading(request: Request) -> Response:
        body = await _json(request)
        try:
            done = await asyncio.to_thread(
                view.set_trading, str(body.get("state", "")), str(body.get("reason", ""))[:500]
            )
        except (ConsoleError, OSError) as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse(done)

    async def audit(request: Request) -> Response:
        wanted = _filter(request)
        loop = asyncio.get_running_loop()
        backlog, queue, listener = feed.subscribe(wanted, loop)

        async def events() -> AsyncIterator[str]:
            try:
                for record in backlog[-200:]:
                    yield _event(record)
                while True:
                    try:
                        record = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield _event(record)
            finally:
                feed.unsubscribe(listener)

        return StreamingResponse(events(), media_type="text/event-stream")

    routes = [
        Route("/", index),
        Route("/api/session", guarded(session)),
        Route("/api/state", guarded(state)),
        Route("/api/audit", guarded(audit)),
        Route("/api/approvals/{ident}", guarded(decide, post=True), methods=["POST"]),
        Route("/api/trading", guarded(trading, post=True), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("binance_mcp.console", "static")])),
    ]
    return Starlette(routes=routes)


def _secure(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


def _or_error(read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]] | dict[str, str]:
    from binance_mcp.guard.store import StateUnavailable

    try:
        return read()
    except StateUnavailable as exc:
        return {"error": str(exc)}


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _filter(request: Request) -> Filter:
    params = request.query_params
    tool = params.get("tool", "").strip()
    decision = params.get("decision", "").strip()
    since: datetime | None = None
    minutes = params.get("since", "").strip()
    if minutes.isdigit() and int(minutes) > 0:
        since = datetime.now(UTC) - timedelta(minutes=int(minutes))
    return Filter(
        tools=(tool,) if tool else (),
        decisions=(decision,) if decision in DECISIONS else (),
        since=since,
    )


def _event(record: dict[str, Any]) -> str:
    return f"data: {json.dumps(record, default=str)}\n\n"
