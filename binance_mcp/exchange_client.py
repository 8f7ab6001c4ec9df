"""Build python-binance clients pointed at one venue's endpoints, and turn their failures into
messages an agent can act on.

python-binance is imported inside the functions: importing it costs about 0.4 s, which the
server must not pay before answering `tools/list`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from binance_mcp.errors import ExchangeError, ExchangeUnreachable, ToolFailure
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
    rather than `AsyncClient.create()`, which pings the live host before any URL is set.

    The client records the request weight each host reports (`used_weight`, by origin)."""
    loop = asyncio.get_running_loop()
    key, secret = _keys(endpoints)
    client = _weight_tracking_client()(
        key, secret, loop=loop, testnet=False, demo=False, verbose=False
    )
    _point_at(client, endpoints)
    return client


@functools.cache
def _weight_tracking_client() -> type[AsyncClient]:
    from binance import AsyncClient

    class WeightTrackingClient(AsyncClient):  # type: ignore[misc]
        used_weight: dict[str, int]

        async def _handle_response(self, response: Any) -> Any:
            used = response.headers.get("x-mbx-used-weight-1m")
            if used is not None and used.isdigit():
                if not hasattr(self, "used_weight"):
                    self.used_weight = {}
                self.used_weight[
                    f"{response.url.scheme}://{response.url.host}:{response.url.port}"
                ] = int(used)
            return await super()._handle_response(response)

    return WeightTrackingClient


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
        return ExchangeError(endpoints.venue, int(exc.code), int(exc.status_code), message)
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
            f"could not connect to {where} at {exc.host}:{exc.port}; is it reachable?"
        )
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return ExchangeUnreachable(f"timed out waiting for {where}; try again later")
    if isinstance(exc, aiohttp.ClientError):
        return ExchangeUnreachable(f"HTTP request to {where} failed ({type(exc).__name__})")
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
