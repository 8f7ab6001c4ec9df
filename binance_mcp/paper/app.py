"""The paper exchange's HTTP front: Binance's wire rules (API key, HMAC signature over the
exact query and body, timestamp and recvWindow, weights, error bodies), fault injection, and
a few `/paper/...` control endpoints for tests and demos."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web

from binance_mcp.paper import errors as E
from binance_mcp.paper.compat_routes import COMPAT_ROUTES
from binance_mcp.paper.errors import BinanceError, mandatory
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.futures_routes import FUTURES_ROUTES
from binance_mcp.paper.numbers import parse_decimal
from binance_mcp.paper.order_list_routes import ORDER_LIST_ROUTES
from binance_mcp.paper.params import Params
from binance_mcp.paper.routing import Endpoint, Routes
from binance_mcp.paper.spot_routes import SPOT_ROUTES
from binance_mcp.paper.state import PaperState
from binance_mcp.paper.weights import BAN_SECONDS, OrderCounter, WeightMeter

log = logging.getLogger("binance_mcp.paper")

SIGNING_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})
# Binance's API keys are 64 letters and digits; anything else is refused as malformed (-2014)
# before it is looked up (-2015).
KEY_FORMAT = re.compile(r"[A-Za-z0-9]{64}")
STATE_KEY = web.AppKey("paper_state", PaperState)
ROUTES_KEY = web.AppKey("paper_routes", dict)
# Every Binance endpoint the paper exchange serves (README: "Served endpoints").
ROUTES: Routes = {**SPOT_ROUTES, **ORDER_LIST_ROUTES, **FUTURES_ROUTES, **COMPAT_ROUTES}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(exc: BinanceError, weight_used: int | None) -> web.Response:
    headers = dict(exc.headers)
    if weight_used is not None:
        headers["X-MBX-USED-WEIGHT-1M"] = str(weight_used)
    body = exc.wire() if exc.data is None else {**exc.wire(), "data": exc.data}
    return _json(body, exc.status, headers)


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """The raw string without its `signature=` pair, and that signature."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def _check_signature(secret: str, query: str, body: str) -> None:
    q, sig_q = _strip_signature(query)
    b, sig_b = _strip_signature(body)
    signature = sig_q or sig_b
    if not signature:
        raise mandatory("signature")
    # Binance signs totalParams = query string concatenated with the body, exactly as sent.
    # python-binance signs values before form-encoding them, so the decoded form is also
    # accepted; both are the same for every value Binance's parameter rules allow.
    candidates = {q + b, unquote_plus(q) + unquote_plus(b)}
    given = unquote_plus(signature)
    for payload in candidates:
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, given):
            return
    raise E.err(E.BAD_SIGNATURE)


def _check_timestamp(p: Params, now: int) -> None:
    timestamp = p.integer("timestamp", required=True)
    assert timestamp is not None
    window = p.integer("recvWindow")
    if window is None:
        window = 5000
    if window > 60_000:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if timestamp > now + 1000:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now - timestamp > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _authenticate(
    state: PaperState, request: web.Request, p: Params, query: str, body: str, now: int
) -> None:
    key = request.headers.get("X-MBX-APIKEY", "")
    if not hmac.compare_digest(key, state.config.api_key):
        if not KEY_FORMAT.fullmatch(key):
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        raise BinanceError(*E.REJECTED_KEY, status=401)
    if "timestamp" not in p:
        raise mandatory("timestamp")
    _check_signature(state.config.api_secret, query, body)
    _check_timestamp(p, now)


def _read_params(pairs: list[tuple[str, str]]) -> Params:
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise BinanceError(-1101, f"Duplicate values for parameter '{name}'.")
        values[name] = value
    return Params(values)


def _meter(state: PaperState, path: str) -> WeightMeter:
    # Binance counts spot and futures request weight separately (different hosts).
    return state.futures_weights if path.startswith(("/fapi/", "/futures/")) else state.weights


def _order_counter(state: PaperState, path: str) -> OrderCounter:
    if path.startswith(("/fapi/", "/futures/")):
        return state.futures_order_counts
    return state.spot_order_counts


def _status_fault(state: PaperState, fault: Fault, path: str) -> web.Response:
    """The answer of an armed status fault; 429 and 418 as Binance words them."""
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 429:
        body = {
            "code": -1003,
            "msg": "Too many requests; please use the websocket for live updates.",
        }
        headers.setdefault("Retry-After", "1")
    elif fault.status == 418:
        seconds = fault.retry_after if fault.retry_after is not None else BAN_SECONDS
        meter = _meter(state, path)
        with state.lock:
            meter.banned_until_ms = max(meter.banned_until_ms, state.now_ms() + seconds * 1000)
        body = {
            "code": -1003,
            "msg": f"Way too much request weight used; IP banned until {meter.banned_until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
        }
        headers["Retry-After"] = str(seconds)
    else:
        body = {
            "code": -1001 if fault.code is None else fault.code,
            "msg": fault.msg or "Internal error; unable to process your request.",
        }
    return _json(body, fault.status, headers or None)


async def dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    routes: Routes = request.app[ROUTES_KEY]
    method, path = request.method, request.path
    query = request.query_string
    body = (await request.text()) if request.can_read_body else ""
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
    logged: dict[str, Any] = {
        "time": state.now_ms(),
        "method": method,
        "path": path,
        "params": {k: v for k, v in pairs if k != "signature"},
    }
    state.requests.append(logged)
    response = await _dispatch(request, state, routes, method, path, query, body, pairs, logged)
    logged["status"] = response.status
    return response


async def _dispatch(
    request: web.Request,
    state: PaperState,
    routes: Routes,
    method: str,
    path: str,
    query: str,
    body: str,
    pairs: list[tuple[str, str]],
    logged: dict[str, Any],
) -> web.StreamResponse:
    fault = state.faults.take(method, path)
    if fault is not None:
        logged["fault"] = fault.kind
    if fault is not None and fault.kind == "status":
        return _status_fault(state, fault, path)
    if fault is not None and fault.kind == "delay":
        await asyncio.sleep(fault.delay)
    endpoint: Endpoint | None = routes.get((method, path))
    if endpoint is None:
        known = any(p == path for _, p in routes)
        return _json({"code": -1000, "msg": "Unknown endpoint."}, 405 if known else 404)

    weight_used: int | None = None
    try:
        p = _read_params(pairs)
        now = state.now_ms()
        meter = _meter(state, path)
        with state.lock:
            weight_used = meter.charge(endpoint.weight_of(p), now)
        extra = set(p.values) - endpoint.params - (SIGNING_PARAMS if endpoint.signed else set())
        if extra:
            read = len(p.values) - len(extra)
            raise BinanceError(
                -1104,
                f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{len(p.values)}'.",
            )
        if endpoint.signed:
            _authenticate(state, request, p, query, body, now)
        headers = {"X-MBX-USED-WEIGHT-1M": str(weight_used)}
        with state.lock:
            counter = _order_counter(state, path) if endpoint.orders else None
            if counter is not None:
                counter.check(now, endpoint.orders)
            if endpoint.mutates:
                state.mark_dirty()
            try:
                result = endpoint.handler(state, p, now)
            except BinanceError as exc:
                # cancelReplace: a refusal that reports what was done (its `data`) still
                # counts the new order, attempted or not, as Binance counts it.
                if counter is not None and exc.data is not None:
                    exc.headers.update(counter.add(now, endpoint.orders))
                raise
            finally:
                # Before any answer leaves: what the client hears of is on disk.
                state.commit()
            if counter is not None:
                headers.update(counter.add(now, endpoint.orders))
            state.settle_order_counts(now)
    except BinanceError as exc:
        logged["code"] = exc.code
        return _error(exc, weight_used)

    if fault is not None and fault.kind == "drop":
        # The order is in the book; the client never hears so (what doubles naive retries).
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    return _json(result, headers=headers)


# ----- control endpoints (not Binance's): tests and demos steer the market through these ----


def _control_auth(request: web.Request) -> None:
    state = request.app[STATE_KEY]
    key = request.headers.get("X-MBX-APIKEY", "")
    if not hmac.compare_digest(key, state.config.api_key):
        raise web.HTTPUnauthorized(text="control endpoints need the account's X-MBX-APIKEY")


async def _control_body(request: web.Request) -> dict[str, Any]:
    _control_auth(request)
    try:
        data = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body must be JSON") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def control_walk(request: web.Request) -> web.Response:
    data = await _control_body(request)
    steps = data.get("steps", 1)
    if not isinstance(steps, int) or not 1 <= steps <= 100_000:
        raise web.HTTPBadRequest(text="steps must be an integer from 1 to 100000")
    state = request.app[STATE_KEY]
    await asyncio.to_thread(state.step_walk, steps)
    return _json(
        {"steps": state.walk.steps, "prices": {s: str(v) for s, v in state.walk.prices.items()}}
    )


async def control_price(request: web.Request) -> web.Response:
    data = await _control_body(request)
    state = request.app[STATE_KEY]
    symbol, price = data.get("symbol"), parse_decimal(str(data.get("price", "")))
    if symbol not in state.spot_specs or price is None or price <= 0:
        raise web.HTTPBadRequest(text="need a known symbol and a positive decimal price")
    state.set_price(symbol, Decimal(price))
    return _json({"symbol": symbol, "price": str(state.walk.prices[symbol])})


async def control_funding(request: web.Request) -> web.Response:
    """Settle funding on open futures positions now, instead of at the next funding time."""
    await _control_body(request)
    state = request.app[STATE_KEY]
    rows = await asyncio.to_thread(state.apply_funding)
    return _json([row.wire() for row in rows])


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "DELETE":
        _control_auth(request)
        state.faults.clear()
        return _json({})
    data = await _control_body(request)
    try:
        fault = Fault(
            path=str(data["path"]),
            kind=data["kind"],
            count=int(data.get("count", 1)),
            method=data.get("method"),
            status=int(data.get("status", 503)),
            delay=float(data.get("delay", 0)),
            retry_after=None if data.get("retry_after") is None else int(data["retry_after"]),
            code=None if data.get("code") is None else int(data["code"]),
            msg=None if data.get("msg") is None else str(data["msg"]),
        )
        state.faults.arm(fault)
    except (KeyError, TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"bad fault: {exc}") from exc
    return _json({"armed": data})


async def control_requests(request: web.Request) -> web.Response:
    _control_auth(request)
    return _json(list(request.app[STATE_KEY].requests))


def build_app(state: PaperState, routes: Routes | None = None) -> web.Application:
    app = web.Application()
    app[STATE_KEY] = state
    app[ROUTES_KEY] = routes if routes is not None else ROUTES
    app.router.add_post("/paper/walk", control_walk)
    app.router.add_post("/paper/price", control_price)
    app.router.add_post("/paper/funding", control_funding)
    app.router.add_route("*", "/paper/faults", control_faults)
    app.router.add_get("/paper/requests", control_requests)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
