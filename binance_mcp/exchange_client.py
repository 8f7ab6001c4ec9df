"""Build python-binance clients pointed at one venue's endpoints, and turn their failures into
messages an agent can act on.

python-binance is imported inside the functions: importing it costs about 0.4 s, which the
server must not pay before answering `tools/list`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from binance_mcp.venues import Endpoints

if TYPE_CHECKING:
    from binance import AsyncClient, Client

# Families of Binance APIs the server does not use (coin-M, options, portfolio margin, the
# website). Pointing them at a name that can never resolve makes an accidental call fail at
# once instead of reaching a live host while the agent believes it is on paper or testnet.
_UNSUPPORTED: Final = "https://unsupported-by-binance-mcp.invalid"


def make_client(endpoints: Endpoints) -> Client:
    """A synchronous client for `endpoints`. Sends no request while being built."""
    from binance import Client

    key, secret = _keys(endpoints)
    client = Client(key, secret, ping=False, testnet=False, demo=False, verbose=False)
    _point_at(client, endpoints)
    return client


def make_async_client(endpoints: Endpoints) -> AsyncClient:
    """An asyncio client for `endpoints`; call it inside the running loop that will use it
    (its aiohttp session binds to that loop). Sends no request while being built; use this
    rather than `AsyncClient.create()`, which pings the live host before any URL is set."""
    from binance import AsyncClient

    loop = asyncio.get_running_loop()
    key, secret = _keys(endpoints)
    client = AsyncClient(key, secret, loop=loop, testnet=False, demo=False, verbose=False)
    _point_at(client, endpoints)
    return client


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
    not an exchange or network failure (a bug, which should surface as such).

    Exception texts from HTTP libraries include the request URL, and a signed URL carries the
    signature, so network errors are described from their type and host, never their text.
    """
    import aiohttp
    import requests
    from binance.exceptions import BinanceAPIException, BinanceRequestException

    where = f"the {endpoints.venue} venue"
    if isinstance(exc, BinanceAPIException):
        message = _redact(str(exc.message), endpoints)
        return f"Binance error {exc.code} (HTTP {exc.status_code}) from {where}: {message}"
    if isinstance(exc, BinanceRequestException):
        return f"{where} sent a response that is not valid JSON: {_redact(exc.message, endpoints)}"
    if isinstance(exc, requests.RequestException):
        host = _request_host(exc)
        if isinstance(exc, requests.Timeout):
            return f"timed out waiting for {where} at {host}; try again later"
        if isinstance(exc, requests.ConnectionError):
            return f"could not connect to {where} at {host}; is it reachable?"
        return f"HTTP request to {where} at {host} failed ({type(exc).__name__})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {where} at {exc.host}:{exc.port}; is it reachable?"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return f"timed out waiting for {where}; try again later"
    if isinstance(exc, aiohttp.ClientError):
        return f"HTTP request to {where} failed ({type(exc).__name__})"
    return None


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
