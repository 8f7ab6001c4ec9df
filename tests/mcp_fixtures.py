"""MCP end-to-end fixtures: the server built as `binance-mcp` builds it, pointed at the test's
paper exchange (real HTTP on 127.0.0.1), driven by the MCP SDK's client in both protocol eras.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from binance_mcp.config import RetryPolicy, Settings
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from binance_mcp.server.runtime import Runtime


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> Any:
    """Both protocol eras the SDK speaks: 2025-11-25 (legacy) and 2026-07-28 (auto)."""
    return request.param


# The suite's tools tests run under the example policy that allows everything; the guard's
# own tests use their own policies.
ALLOW_ALL = Path(__file__).parent.parent / "examples" / "policies" / "paper-everything.yaml"


# Retries as in production, but with millisecond backoffs and a short recvWindow (so that an
# order whose answer was lost is known not to have landed after ~1 s, not 5): the suite stays
# quick. A Retry-After from the exchange is still honoured in full.
FAST_RETRY = RetryPolicy(
    timeout=5.0, budget=10.0, backoff=0.005, backoff_max=0.05, recv_window_ms=1000
)


def paper_settings(
    paper: PaperExchange, state_dir: Path, policy: Path | None = ALLOW_ALL
) -> Settings:
    return Settings(
        venue="paper",
        venue_source="test",
        state_dir=state_dir,
        api_key=SecretStr(paper.config.api_key),
        api_secret=SecretStr(paper.config.api_secret),
        spot_url_override=paper.spot_url,
        futures_url_override=paper.futures_url,
        policy_path=policy,
        retry=FAST_RETRY,
    )


def stdio_server(paper: PaperExchange, state_dir: Path, policy: Path = ALLOW_ALL) -> Any:
    """`binance-mcp` as a client launches it: a subprocess speaking MCP on stdio."""
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable, args=["-m", "binance_mcp"], env=server_env(paper, state_dir, policy)
    )


def server_env(paper: PaperExchange, state_dir: Path, policy: Path, **extra: str) -> dict[str, str]:
    """What an MCP host passes: a minimal environment plus the server's settings."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(state_dir)),
        "BINANCE_MCP_STATE_DIR": str(state_dir),
        "BINANCE_MCP_VENUE": "paper",
        "BINANCE_MCP_SPOT_URL": paper.spot_url,
        "BINANCE_MCP_FUTURES_URL": paper.futures_url,
        "BINANCE_API_KEY": paper.config.api_key,
        "BINANCE_API_SECRET": paper.config.api_secret,
        "BINANCE_MCP_POLICY": str(policy),
        **extra,
    }


@pytest.fixture
def server(paper: PaperExchange, tmp_path: Path) -> MCPServer[Runtime]:
    return build_server(paper_settings(paper, tmp_path / "state"))


async def ok(client: Client, tool: str, args: dict[str, Any] | None = None) -> Any:
    """Call `tool`, require success, and return its structured result (checked to equal the
    JSON text content an older client would read)."""
    result = await client.call_tool(tool, args or {})
    assert not result.is_error, result.content[0].text if result.content else result
    data = result.structured_content
    assert data is not None and data["venue"] == "paper"
    assert json.loads(result.content[0].text) == data
    return data


async def fails(client: Client, tool: str, args: dict[str, Any] | None = None) -> str:
    """Call `tool`, require a tool error, and return its text."""
    result = await client.call_tool(tool, args or {})
    assert result.is_error, result.structured_content
    text: str = result.content[0].text
    assert "Traceback" not in text
    assert "Error executing tool" not in text or ":" in text.split("Error executing tool")[1]
    return text
