"""Paper-exchange fixtures. The exchange runs for real on 127.0.0.1 and python-binance talks
to it over HTTP, exactly as it would to Binance."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange


def point_client_at(client: Any, spot_url: str, futures_url: str) -> Any:
    for name in ("API_URL", "API_TESTNET_URL", "API_DEMO_URL"):
        setattr(client, name, spot_url)
    for name in ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL"):
        setattr(client, name, futures_url)
    return client


def binance_client(exchange: PaperExchange) -> Any:
    """python-binance's real sync Client, signed with the paper account's keys."""
    from binance import Client

    c = Client(exchange.config.api_key, exchange.config.api_secret, ping=False)
    return point_client_at(c, exchange.spot_url, exchange.futures_url)


@pytest.fixture
def paper_config(tmp_path: Path) -> PaperConfig:
    """A paper exchange whose prices move only when a test steps the walk."""
    return PaperConfig(state_dir=tmp_path / "paper", walk_interval=0)


@pytest.fixture
def paper(paper_config: PaperConfig) -> Iterator[PaperExchange]:
    exchange = start_paper_exchange(paper_config)
    try:
        yield exchange
    finally:
        exchange.stop()


@pytest.fixture
def client(paper: PaperExchange) -> Any:
    return binance_client(paper)


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rejected(call: Any, **kwargs: Any) -> tuple[int, str]:
    """The Binance code and message a python-binance call is refused with."""
    from binance.exceptions import BinanceAPIException

    with pytest.raises(BinanceAPIException) as exc:
        call(**kwargs)
    return exc.value.code, exc.value.message


def filters_of(info: dict[str, Any], symbol: str) -> dict[str, dict[str, Any]]:
    """A symbol's filters from exchange info, by filter type."""
    entry = next(s for s in info["symbols"] if s["symbol"] == symbol)
    return {f["filterType"]: f for f in entry["filters"]}


def writes_since(paper: PaperExchange, start: int = 0) -> list[dict[str, Any]]:
    """The requests other than GET the exchange received since request number `start`."""
    return [r for r in list(paper.state.requests)[start:] if r["method"] != "GET"]
