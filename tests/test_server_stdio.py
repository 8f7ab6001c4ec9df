"""The MCP server end to end: over real stdio as hosts launch it, and in-process on both
protocol eras. No keys → the paper venue, started in-process."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from binance_mcp import __version__
from binance_mcp.config import resolve_settings
from binance_mcp.server import app as server_module
from binance_mcp.server.app import build_server
from tests.paper_fixtures import closed_port

KEY = "k" * 64
SECRET = "s" * 64


def stdio_params(tmp_path: Path, **env: str) -> StdioServerParameters:
    # The child's environment is minimal; pass what it needs explicitly.
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "binance_mcp"],
        env={
            "BINANCE_MCP_STATE_DIR": str(tmp_path / "state"),
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(tmp_path)),
            **env,
        },
    )


def check_tool_list(tools: Any) -> None:
    by_name = {t.name: t for t in tools.tools}
    tool = by_name["binance_server_time"]
    hints = tool.annotations
    assert hints is not None
    assert (
        hints.read_only_hint,
        hints.destructive_hint,
        hints.idempotent_hint,
        hints.open_world_hint,
    ) == (True, False, True, True)
    assert tool.output_schema is not None
    assert set(tool.output_schema["properties"]) == {"venue", "serverTime", "localTime", "offsetMs"}


def check_server_time(result: Any, venue: str) -> None:
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None and data["venue"] == venue
    now = time.time() * 1000
    assert abs(data["serverTime"] - now) < 10_000
    assert abs(data["localTime"] - now) < 10_000
    assert data["offsetMs"] == data["serverTime"] - data["localTime"]
    assert abs(data["offsetMs"]) < 2_000  # the paper exchange runs on this machine's clock
    assert json.loads(result.content[0].text) == data


# --- over stdio ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_paper_venue_by_default(mode: Any, tmp_path: Path) -> None:
    async with Client(stdio_params(tmp_path), mode=mode) as client:
        assert client.server_info is None or client.server_info.name == "binance-mcp"
        if client.server_info is not None:
            assert client.server_info.version == __version__
        check_tool_list(await client.list_tools())
        check_server_time(await client.call_tool("binance_server_time", {}), "paper")
    # The in-process paper account was saved under the state dir when the server stopped.
    assert any((tmp_path / "state" / "paper").iterdir())


@pytest.mark.anyio
async def test_stdio_unreachable_venue_is_a_clean_tool_error(tmp_path: Path) -> None:
    port = closed_port()
    params = stdio_params(
        tmp_path,
        BINANCE_MCP_VENUE="live",
        BINANCE_API_KEY=KEY,
        BINANCE_API_SECRET=SECRET,
        BINANCE_MCP_SPOT_URL=f"http://127.0.0.1:{port}/api",
        BINANCE_MCP_FUTURES_URL=f"http://127.0.0.1:{port}/fapi",
    )
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("binance_server_time", {})
    assert result.is_error
    text = result.content[0].text
    assert f"could not connect to the live venue at 127.0.0.1:{port}" in text
    assert "Traceback" not in text and KEY not in text and SECRET not in text


# --- in-process, both protocol eras -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_in_process_paper(mode: Any, tmp_path: Path) -> None:
    settings = resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)})
    async with Client(build_server(settings), mode=mode) as client:
        check_tool_list(await client.list_tools())
        check_server_time(await client.call_tool("binance_server_time", {}), "paper")
        check_server_time(await client.call_tool("binance_server_time", {}), "paper")


@pytest.mark.anyio
async def test_in_process_paper_uses_keys_from_env(tmp_path: Path) -> None:
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path), "BINANCE_MCP_VENUE": "paper",
           "BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}  # fmt: skip
    server = build_server(resolve_settings(env))
    async with Client(server, mode="legacy") as client:
        check_server_time(await client.call_tool("binance_server_time", {}), "paper")


@pytest.mark.anyio
async def test_paper_exchange_starts_by_itself_after_the_handshake(tmp_path: Path) -> None:
    async with Client(stdio_params(tmp_path), mode="legacy") as client:
        check_tool_list(await client.list_tools())
        deadline = time.monotonic() + 20
        while not (tmp_path / "state" / "paper").is_dir():  # made as it starts, no call needed
            assert time.monotonic() < deadline, "the paper exchange never started"
            await anyio.sleep(0.05)
    assert any((tmp_path / "state" / "paper").iterdir())  # saved as the server stopped


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_first_call_starts_the_paper_exchange_without_waiting(
    mode: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "PAPER_START_DELAY", 3600.0)
    server = build_server(resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)}))
    with anyio.fail_after(30):
        async with Client(server, mode=mode) as client:
            check_server_time(await client.call_tool("binance_server_time", {}), "paper")
    assert any((tmp_path / "paper").iterdir())


@pytest.mark.anyio
async def test_session_over_before_the_paper_exchange_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "PAPER_START_DELAY", 3600.0)
    server = build_server(resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)}))
    with anyio.fail_after(10):
        async with Client(server, mode="legacy") as client:
            check_tool_list(await client.list_tools())
    assert not (tmp_path / "paper").exists()  # never started, and stopping did not hang


@pytest.mark.anyio
async def test_paper_thread_that_cannot_start_fails_the_call_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = threading.Thread.start

    def refuse_the_paper_thread(thread: threading.Thread) -> None:
        if thread.name == "paper-start":
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse_the_paper_thread)
    server = build_server(resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)}))
    with anyio.fail_after(10):  # not the 60 s start-up bound; and stopping does not raise
        async with Client(server, mode="legacy") as client:
            result = await client.call_tool("binance_server_time", {})
    assert result.is_error
    assert "the paper exchange failed to start: can't start new thread" in result.content[0].text


@pytest.mark.anyio
async def test_paper_that_cannot_start_is_a_tool_error(tmp_path: Path) -> None:
    (tmp_path / "paper").write_text("a file where the paper account directory should be")
    server = build_server(resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)}))
    async with Client(server, mode="legacy") as client:
        assert (await client.list_tools()).tools  # listing does not need the exchange
        result = await client.call_tool("binance_server_time", {})
    assert result.is_error
    assert "the paper exchange failed to start" in result.content[0].text


class _RateLimited(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"code": -1003, "msg": "Too many requests; current limit is 6000."})
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        # Longer than a call may take: reported at once instead of waited for.
        self.send_header("Retry-After", "700")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def rate_limited_host() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _RateLimited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_binance_error_reaches_the_agent_with_code(
    rate_limited_host: str, tmp_path: Path
) -> None:
    env = {
        "BINANCE_MCP_STATE_DIR": str(tmp_path),
        "BINANCE_MCP_VENUE": "testnet",
        "BINANCE_MCP_SPOT_URL": rate_limited_host + "/api",
        "BINANCE_MCP_FUTURES_URL": rate_limited_host + "/fapi",
    }
    async with Client(build_server(resolve_settings(env)), mode="legacy") as client:
        started = time.monotonic()
        result = await client.call_tool("binance_server_time", {})
        assert time.monotonic() - started < 5
    assert result.is_error
    assert (
        "Binance error -1003 (HTTP 429) from the testnet venue: "
        "Too many requests; current limit is 6000 (Retry-After: 700 s)" in result.content[0].text
    )
