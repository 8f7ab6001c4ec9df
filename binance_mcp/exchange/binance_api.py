"""Build python-binance clients pointed at one venue's endpoints, and turn their failures into
messages an agent can act on.

python-binance is imported inside the functions: importing it costs about 0.4 s, which the
server must not pay before answering `tools/list`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from binance_mcp.exchange.errors import (
    ExchangeError,
    ExchangeUnreachable,
    HostBanned,
    MissingKeys,
    ToolFailure,
)
from binance_mcp.exchange.gates import HostGates, retry_after
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.exchange.venues import Endpoints

if TYPE_CHECKING:
    from binance import AsyncClient, Client

log = logging.getLogger(__name__)

# Families of Binance APIs the server does not use (coin-M, options, portfolio margin, the
# website). Pointing them at a name that can never resolve makes an accidental call fail at
# once instead of reaching a live host while the agent believes it is on paper or testnet.
_UNSUPPORTED: Final = "https://unsupported-by-binance-mcp.invalid"
# Opening a connection takes one round trip; a host that cannot do it in this long is down.
CONNECT_TIMEOUT: Final = 5.0


def midpoint_ms(before: float, after: float) -> int:
    """The local time (ms) the server most likely stamped its answer with: somewhere in the
    round trip from `before` to `after` (seconds); the midpoint keeps latency out of offsets."""
    return round((before + after) * 500)


def make_client(endpoints: Endpoints) -> Client:
    """A synchronous client for `endpoints`. Sends no request while being built."""
    from binance import Client

    key, secret = _keys(endpoints)
    client = Client(key, secret, ping=False, testnet=False, demo=False, verbose=False)
    _point_at(client, endpoints)
    return client


def make_async_client(endpoints: Endpoints, policy: RetryPolicy | None = None) -> AsyncClient:
    """An asyncio client for `endpoints`; call it inside the running loop that will use it
    (its aiohttp session binds to that loop). Sends no request while being built; use this
    rather than `AsyncClient.create()`, which pings the live host before any URL is set.

    The client (`ReliableClient`) times requests out after `policy.timeout`, signs with
    `policy.recv_window_ms`, measures the clock offset before its first signed request, and
    passes every request through its `gates` (request weight, 429 holds and 418 bans)."""
    import aiohttp

    policy = policy or RetryPolicy()
    loop = asyncio.get_running_loop()
    key, secret = _keys(endpoints)
    client = _reliable_client()(key, secret, loop=loop, testnet=False, demo=False, verbose=False)
    _point_at(client, endpoints)
    client.REQUEST_TIMEOUT = aiohttp.ClientTimeout(
        total=policy.timeout, sock_connect=min(policy.timeout, CONNECT_TIMEOUT)
    )
    client.REQUEST_RECVWINDOW = policy.recv_window_ms
    # aiohttp silently sends a GET or DELETE again when a kept-alive connection drops; a cancel
    # sent twice that way looks like "unknown order" with no sign that it was resent. Every
    # second send is the retry policy's decision (exchange.py), made knowingly.
    if hasattr(client.session, "_retry_connection"):
        client.session._retry_connection = False
    client.gates = HostGates(endpoints.venue, endpoints.spot_url, endpoints.futures_url)
    client.clock_synced = False
    client.clock_lock = asyncio.Lock()
    return client


@functools.cache
def _reliable_client() -> type[AsyncClient]:
    from binance import AsyncClient

    class ReliableClient(AsyncClient):  # type: ignore[misc]
        gates: HostGates
        clock_synced: bool
        clock_synced_at: float = 0.0
        clock_lock: asyncio.Lock

        async def _request(
            self, method: str, uri: str, signed: bool, force_params: bool = False, **kwargs: Any
        ) -> Any:
            if signed and not self.clock_synced:
                try:
                    await self.sync_clock()
                except ToolFailure:
                    raise
                except Exception as exc:
                    # Described by type only: network errors' texts can hold a URL.
                    raise ExchangeUnreachable(
                        f"could not read the {self.gates.venue} venue's clock before signing "
                        f"({type(exc).__name__}); nothing was sent",
                        sent=False,
                    ) from None
            await self.gates.before(uri)
            if not log.isEnabledFor(logging.DEBUG):
                return await super()._request(method, uri, signed, force_params, **kwargs)
            # --log-level DEBUG: each request's path (never its query: it holds the signature),
            # time and the weight the venue reports.
            started = time.perf_counter()
            try:
                return await super()._request(method, uri, signed, force_params, **kwargs)
            finally:
                host = self.gates.host_for(uri)
                log.debug(
                    "%s %s: %.1f ms; request weight %s of %s this minute",
                    method.upper(),
                    urlsplit(uri).path,
                    (time.perf_counter() - started) * 1000,
                    host.used,
                    host.limit or "?",
                )

        async def _handle_response(self, response: Any) -> Any:
            url = str(response.url)
            self.gates.record(url, response.status, response.headers)
            if response.status == 418:
                message = _error_message(await response.text())
                for secret in (self.API_KEY, self.API_SECRET):  # a backstop, as in as_failure
                    if secret:
                        message = message.replace(secret, "<redacted>")
                raise self.gates.ban(url, response.headers, message)
            return await super()._handle_response(response)

        async def sync_clock(self, *, unless_since: float | None = None) -> None:
            """Measure the exchange's clock against ours and sign with the offset from now on.

            Skipped when another task synced after `unless_since` (time.time()), so that
            concurrent calls refused with -1021 resync once, not once each."""
            async with self.clock_lock:
                if self.clock_synced and (
                    unless_since is None or self.clock_synced_at > unless_since
                ):
                    return
                before = time.time()
                try:
                    answer = await self.get_server_time()
                except HostBanned:
                    answer = await self.futures_time()
                after = time.time()
                offset = int(answer["serverTime"]) - midpoint_ms(before, after)
                self.timestamp_offset = self.gates.offset_ms = offset
                self.clock_synced, self.clock_synced_at = True, after

    return ReliableClient


def _error_message(text: str) -> str:
    try:
        message = json.loads(text).get("msg")
    except (ValueError, AttributeError):
        return ""
    return message if isinstance(message, str) else ""


def _keys(endpoints: Endpoints) -> tuple[str | None, str | None]:
    if endpoints.api_key is None or endpoints.api_secret is None:
        return None, None
    return endpoints.api_key.get_secret_value(), endpoints.api_secret.get_secret_value()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _point_at(client: Any, endpoints: Endpoints) -> None:
    # python-binance picks a host per request with precedence testnet → demo → live; setting
    # every variant to the same URL means no flag combination can reach another host.
    spot, futures = endpoints.spot_url, endpoints.futures_url
    client.API_URL = client.API_TESTNET_URL = client.API_DEMO_URL = spot
    client.FUTURES_URL = client.FUTURES_TESTNET_URL = client.FUTURES_DEMO_URL = futures
    client.MARGIN_API_URL = _origin(spot) + "/sapi"
    client.FUTURES_DATA_URL = client.FUTURES_DATA_TESTNET_URL = _origin(futures) + "/futures/data"
    for name in (
        "FUTURES_COIN_URL",
        "FUTURES_COIN_TESTNET_URL",
        "FUTURES_COIN_DEMO_URL",
        "FUTURES_COIN_DATA_URL",
        "FUTURES_COIN_DATA_TESTNET_URL",
        "OPTIONS_URL",
        "OPTIONS_TESTNET_URL",
        "PAPI_URL",
        "WEBSITE_URL",
    ):
        setattr(client, name, _UNSUPPORTED)


def describe_exchange_error(exc: BaseException, endpoints: Endpoints) -> str | None:
    """A one-line, secret-free explanation of a failed exchange call, or None when `exc` is
    not an exchange or network failure (a bug, which should surface as such)."""
    failure = as_failure(exc, endpoints)
    return None if failure is None else str(failure)


def as_failure(exc: BaseException, endpoints: Endpoints) -> ToolFailure | None:
    """The agent-facing failure for an exchange or network error, or None for anything else.

    Exception texts from HTTP libraries include the request URL, and a signed URL carries the
    signature, so network errors are described from their type and host, never their text.
    """
    import aiohttp
    import requests
    from binance.exceptions import BinanceAPIException, BinanceRequestException

    where = f"the {endpoints.venue} venue"
    if isinstance(exc, BinanceAPIException):
        message = _redact(_api_message(exc), endpoints)
        headers = getattr(exc.response, "headers", None) or {}
        wait = retry_after(headers) if int(exc.status_code) in (429, 503) else None
        return ExchangeError(endpoints.venue, int(exc.code), int(exc.status_code), message, wait)
    if isinstance(exc, BinanceRequestException):
        text = _redact(str(exc.message), endpoints)
        return ExchangeUnreachable(f"{where} sent a response that is not valid JSON: {text}")
    if isinstance(exc, requests.RequestException):
        host = _request_host(exc)
        if isinstance(exc, requests.Timeout):
            return ExchangeUnreachable(f"timed out waiting for {where} at {host}; try again later")
        if isinstance(exc, requests.ConnectionError):
            return ExchangeUnreachable(f"could not connect to {where} at {host}; is it reachable?")
        return ExchangeUnreachable(
            f"HTTP request to {where} at {host} failed ({type(exc).__name__})"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ExchangeUnreachable(
            f"could not connect to {where} at {exc.host}:{exc.port}; is it reachable?",
            sent=False,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ExchangeUnreachable(f"timed out connecting to {where}; is it reachable?", sent=False)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return ExchangeUnreachable(f"timed out waiting for {where}; try again later")
    if isinstance(exc, aiohttp.ClientError):
        return ExchangeUnreachable(f"HTTP request to {where} failed ({type(exc).__name__})")
    if isinstance(exc, AssertionError):
        # python-binance asserts that a key and secret are set before signing.
        return MissingKeys(
            f"this call needs API keys and none are set for {where}: set BINANCE_API_KEY and "
            "BINANCE_API_SECRET in the server's environment (market data works without them); "
            "nothing was sent"
        )
    return None


def _api_message(exc: Any) -> str:
    # A non-JSON error body leaves code 0, and AsyncClient then puts the bound method
    # `response.text` (whose repr shows the signed URL) into the message: never repeat it.
    message = exc.message
    if not isinstance(message, str) or "bound method" in message:
        return f"a non-JSON error response (HTTP {exc.status_code})"
    return message[:300]


def _request_host(exc: Any) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if isinstance(url, str) and url:
        return _origin(url)
    return "its host"


def _redact(text: str, endpoints: Endpoints) -> str:
    # Error bodies come from the server and should never hold our keys; this is the backstop.
    for secret in (endpoints.api_key, endpoints.api_secret):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "<redacted>")
    return text
