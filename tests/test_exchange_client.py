"""The python-binance client factory: right hosts for every venue, no request when built,
errors described without secrets."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from binance_mcp.exchange.binance_api import describe_exchange_error, make_async_client, make_client
from binance_mcp.exchange.venues import HOSTED_VENUES, Endpoints, Venue
from tests.paper_fixtures import closed_port

KEY = "k" * 64
SECRET = "s" * 64


def endpoints_for(venue: Venue, keys: bool = True) -> Endpoints:
    if venue == "paper":
        base = f"http://127.0.0.1:{closed_port()}"
        spot, futures = base + "/api", base + "/fapi"
    else:
        spot, futures = HOSTED_VENUES[venue].spot_url, HOSTED_VENUES[venue].futures_url
    if not keys:
        return Endpoints(venue, spot, futures)
    return Endpoints(venue, spot, futures, SecretStr(KEY), SecretStr(SECRET))


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail loudly if anything sends an HTTP request through requests."""
    import requests

    sent: list[str] = []

    def refuse(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"{method} {url}")
        raise AssertionError(f"unexpected request {method} {url}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    yield sent


VENUES: list[Venue] = ["live", "testnet", "demo", "paper"]


@pytest.mark.parametrize("venue", VENUES)
def test_sync_client_urls(venue: Venue, no_requests: list[str]) -> None:
    endpoints = endpoints_for(venue)
    client = make_client(endpoints)
    try:
        assert client._create_api_uri("ping", False) == endpoints.spot_url + "/v3/ping"
        assert client._create_futures_api_uri("ping") == endpoints.futures_url + "/v1/ping"
        assert client._create_futures_api_uri("account", 2) == endpoints.futures_url + "/v2/account"
        assert (client.testnet, client.demo, client.verbose) == (False, False, False)
        # Even if a flag were flipped later, the precedence testnet → demo → live finds the
        # same host everywhere.
        for testnet, demo in ((True, False), (False, True), (True, True)):
            client.testnet, client.demo = testnet, demo
            assert client._create_api_uri("ping", False) == endpoints.spot_url + "/v3/ping"
            assert client._create_futures_api_uri("ping") == endpoints.futures_url + "/v1/ping"
    finally:
        client.close_connection()
    assert no_requests == []


@pytest.mark.parametrize("venue", VENUES)
def test_families_we_do_not_use_never_reach_a_real_host(venue: Venue) -> None:
    client = make_client(endpoints_for(venue))
    try:
        assert ".invalid/" in client._create_futures_coin_api_url("ping")
        assert ".invalid/" in client._create_options_api_uri("ping")
        assert ".invalid/" in client._create_papi_api_uri("ping")
        spot_origin = endpoints_for(venue).spot_url.rsplit("/", 1)[0]
        if venue != "paper":  # paper's port differs per call of endpoints_for
            assert client._create_margin_api_uri("ping") == spot_origin + "/sapi/v1/ping"
    finally:
        client.close_connection()


def test_keys_reach_the_client_only_when_set() -> None:
    with_keys = make_client(endpoints_for("testnet"))
    without = make_client(endpoints_for("testnet", keys=False))
    try:
        assert (with_keys.API_KEY, with_keys.API_SECRET) == (KEY, SECRET)
        assert with_keys.session.headers["X-MBX-APIKEY"] == KEY
        assert (without.API_KEY, without.API_SECRET) == (None, None)
        assert "X-MBX-APIKEY" not in without.session.headers
    finally:
        with_keys.close_connection()
        without.close_connection()


def test_construction_sends_nothing_and_is_instant() -> None:
    # Pointed at a loopback port with no listener: a request would fail (or, with ping=True,
    # hit the live host first); building must neither wait nor raise.
    make_client(endpoints_for("paper")).close_connection()  # warm the import
    started = time.perf_counter()
    client = make_client(endpoints_for("paper"))
    elapsed = time.perf_counter() - started
    client.close_connection()
    assert elapsed < 0.5


@pytest.mark.anyio
@pytest.mark.parametrize("venue", VENUES)
async def test_async_client_urls(venue: Venue) -> None:
    endpoints = endpoints_for(venue)
    started = time.perf_counter()
    client = make_async_client(endpoints)
    try:
        assert time.perf_counter() - started < 0.5
        assert client._create_api_uri("ping", False) == endpoints.spot_url + "/v3/ping"
        assert client._create_futures_api_uri("ping") == endpoints.futures_url + "/v1/ping"
        assert (client.testnet, client.demo, client.verbose) == (False, False, False)
    finally:
        await client.close_connection()


def test_async_client_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        make_async_client(endpoints_for("paper"))


def test_python_binance_is_imported_lazily() -> None:
    code = (
        "import sys, binance_mcp.exchange.binance_api, binance_mcp.server.app, binance_mcp.cli.main;"
        "print(sorted(m for m in sys.modules if m == 'binance' or m.startswith('binance.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# --- error descriptions ------------------------------------------------------------------------


def test_network_error_is_described_without_url_or_signature() -> None:
    import requests

    endpoints = endpoints_for("paper")
    client = make_client(endpoints)
    try:
        with pytest.raises(requests.ConnectionError) as info:
            client.get_account()  # signed: the URL carries timestamp and signature
    finally:
        client.close_connection()
    assert "signature=" in str(info.value)  # why the text must not be passed on
    message = describe_exchange_error(info.value, endpoints)
    assert message is not None
    assert message.startswith("could not connect to the paper venue at http://127.0.0.1:")
    assert "signature" not in message and KEY not in message and SECRET not in message


def test_timeout_is_described() -> None:
    import requests

    message = describe_exchange_error(requests.ReadTimeout("x"), endpoints_for("live"))
    assert message == "timed out waiting for the live venue at its host; try again later"


def test_binance_error_keeps_code_and_message_and_redacts_keys() -> None:
    import requests
    from binance.exceptions import BinanceAPIException

    response = requests.Response()
    response.status_code = 400
    body = '{"code": -1121, "msg": "Invalid symbol. ' + KEY + '"}'
    exc = BinanceAPIException(response, 400, body)
    message = describe_exchange_error(exc, endpoints_for("demo"))
    assert message == (
        "Binance error -1121 (HTTP 400) from the demo venue: Invalid symbol. <redacted>. "
        "Hint: unknown symbol; binance_exchange_info lists the symbols of each market"
    )


def test_non_json_response_is_described() -> None:
    from binance.exceptions import BinanceRequestException

    message = describe_exchange_error(
        BinanceRequestException("Invalid Response: <html>"), endpoints_for("live")
    )
    assert message is not None and "not valid JSON" in message


@pytest.mark.anyio
async def test_async_network_error_is_described() -> None:
    import aiohttp

    endpoints = endpoints_for("paper")
    client = make_async_client(endpoints)
    try:
        with pytest.raises(aiohttp.ClientError) as info:
            await client.get_server_time()
    finally:
        await client.close_connection()
    message = describe_exchange_error(info.value, endpoints)
    assert message is not None and message.startswith("could not connect to the paper venue")


def test_other_exceptions_are_not_exchange_errors() -> None:
    assert describe_exchange_error(KeyError("serverTime"), endpoints_for("live")) is None
