"""MCP over streamable HTTP (`binance-mcp serve --transport http`), driven by the SDK's own
streamable HTTP client in both protocol eras: the bearer token, Host/Origin checks, the tools,
approval and audit as over stdio, and several clients sharing one guard."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import ElicitRequestParams, ElicitResult, Implementation

from binance_mcp.cli.main import main
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from binance_mcp.server.http import HttpOptions, build_app
from tests.mcp_fixtures import ALLOW_ALL, fails, ok, paper_settings, server_env
from tests.test_approval import APPROVE_ORDERS
from tests.test_guard import BUY_LIMIT, audit_lines, orders_sent

pytestmark = [
    pytest.mark.anyio,
    # Log notifications are deprecated on 2026-07-28 (SEP-2577); this server still sends them.
    pytest.mark.filterwarnings("ignore:The logging capability is deprecated"),
]

TOKEN = "test-token-" + "x" * 24
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def http_server(
    paper: PaperExchange, tmp_path: Path, policy: str | None = None, **settings: Any
) -> AsyncIterator[str]:
    """The server as `serve --transport http` builds it, on a free loopback port in this
    event loop; yields the MCP endpoint's URL."""
    path = ALLOW_ALL
    if policy is not None:
        path = tmp_path / "policy.yaml"
        path.write_text(policy)
    server = build_server(replace(paper_settings(paper, tmp_path / "state", path), **settings))
    sock = free_socket()
    port = sock.getsockname()[1]
    app = build_app(server, HttpOptions(port=port), TOKEN)
    runner = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    runner.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.serve, [sock])
        while not runner.started:  # noqa: ASYNC110 (uvicorn has no start event)
            await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            runner.should_exit = True


@asynccontextmanager
async def http_client(
    url: str, *, token: str = TOKEN, name: str = "test-client", **kwargs: Any
) -> AsyncIterator[Client]:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(url, http_client=http)
        info = Implementation(name=name, version="1")
        async with Client(transport, client_info=info, **kwargs) as client:
            yield client


async def test_tools_orders_and_audit_over_http(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    async with (
        http_server(paper, tmp_path) as url,
        http_client(url, mode=mode, name="desk-agent") as c,
    ):
        tools = await c.list_tools()
        assert len(tools.tools) == 35
        price = await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
        assert price["venue"] == "paper"
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert placed["order"]["status"] == "NEW"
        assert "does not take" in await fails(c, "binance_spot_price", {"symbl": "BTCUSDT"})
    assert len(orders_sent(paper)) == 1
    audit = audit_lines(tmp_path)
    assert [(a["tool"], a["end"]) for a in audit] == [
        ("binance_spot_price", "ok"),
        ("binance_spot_place_order", "ok"),
        ("binance_spot_price", "refused"),
    ]
    # The audit line names the client that made the call (its clientInfo name).
    assert {a.get("client") for a in audit} == {"desk-agent"}


async def test_approval_by_elicitation_over_http(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    asked: list[str] = []

    async def accept(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    async with (
        http_server(paper, tmp_path, APPROVE_ORDERS) as url,
        http_client(url, mode=mode, elicitation_callback=accept) as c,
    ):
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert placed["order"]["status"] == "NEW"
    assert len(asked) == 1 and asked[0].startswith("Approve binance_spot_place_order on paper?")
    assert len(orders_sent(paper)) == 1
    [line] = audit_lines(tmp_path)
    assert (line["decision"], line["approval"], line["end"]) == ("approve", "elicitation", "ok")


async def test_three_clients_at_once_share_one_budget(paper: PaperExchange, tmp_path: Path) -> None:
    # 95 USDT an order, 250 a day: two orders fit, whoever sends them.
    budget = "version: 1\nclasses: {read: allow, financial: allow}\n"
    budget += 'limits: { daily_notional: "250" }\n'
    results: list[bool] = []

    async with http_server(paper, tmp_path, budget) as url:

        async def agent(n: int, mode: str) -> None:
            async with http_client(url, mode=mode, name=f"agent-{n}") as c:
                for _ in range(2):
                    result = await c.call_tool("binance_spot_place_order", BUY_LIMIT)
                    if result.is_error:
                        assert "daily notional budget 250" in result.content[0].text
                    results.append(not result.is_error)

        async with anyio.create_task_group() as tg:
            for n, mode in enumerate(("legacy", "auto", "legacy")):
                tg.start_soon(agent, n, mode)
    assert sorted(results) == [False] * 4 + [True] * 2
    assert len(orders_sent(paper)) == 2
    audit = audit_lines(tmp_path)
    assert {a["client"] for a in audit} == {"agent-0", "agent-1", "agent-2"}


async def test_token_origin_and_bodies_are_checked(paper: PaperExchange, tmp_path: Path) -> None:
    async with http_server(paper, tmp_path) as url, httpx2.AsyncClient() as http:
        good = {**HEADERS, "authorization": f"Bearer {TOKEN}"}
        for headers in (HEADERS, {**HEADERS, "authorization": "Bearer wrong-" + TOKEN}):
            answer = await http.post(url, json=INIT, headers=headers)
            assert answer.status_code == 401
            assert "mcp-session-id" not in answer.headers
            assert answer.json()["error"] == "invalid_token"
        # A page from another origin (a browser's request, DNS rebinding) is refused.
        foreign = await http.post(url, json=INIT, headers={**good, "origin": "http://evil.test"})
        assert foreign.status_code == 403
        rebound = await http.post(url, json=INIT, headers={**good, "host": "evil.test:80"})
        assert rebound.status_code == 421
        local = await http.post(url, json=INIT, headers={**good, "origin": url.rsplit("/", 1)[0]})
        assert local.status_code == 200
        session = {**good, "mcp-session-id": local.headers["mcp-session-id"]}
        session["mcp-protocol-version"] = "2025-11-25"
        # Nested past what the SDK's JSON parser takes: an answer, not a hang.
        deep = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":'
        deep += '{"a":' + "[" * 5000 + "]" * 5000 + "}}}"
        answer = await http.post(url, content=deep, headers=session, timeout=10)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == -32700
        # Larger than any real call: refused before it is read whole.
        big = json.dumps({**INIT, "id": 8, "params": {"pad": "x" * (2 << 20)}})
        answer = await http.post(url, content=big, headers=session, timeout=10)
        assert answer.status_code == 413


async def test_log_notifications_follow_the_clients_level(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    got: list[Any] = []

    async def on_log(params: Any) -> None:
        got.append(params)

    async with http_server(paper, tmp_path) as url:
        async with http_client(url, mode=mode, logging_callback=on_log) as c:
            await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
            assert got == []  # nothing until the client asks for a level
        extra: dict[str, Any] = {"log_level": "info"}
        async with http_client(url, mode=mode, logging_callback=on_log, **extra) as c:
            if mode == "legacy":
                await c.set_logging_level("info")
            await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
            await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": 42})
    assert [(p.level, p.data["tool"], p.data["end"]) for p in got] == [
        ("info", "binance_spot_price", "ok"),
        ("warning", "binance_spot_cancel_order", "failed"),
    ]
    assert got[1].data["error"] == -2011
    assert got[0].logger == "binance_mcp.calls"


def test_a_remote_bind_needs_allow_remote_and_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_MCP_HTTP_TOKEN", raising=False)
    state = ["--state-dir", str(tmp_path / "state"), "--venue", "paper"]
    for extra, needed in (
        ([], "--allow-remote"),
        (["--allow-remote"], "BINANCE_MCP_HTTP_TOKEN"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(["serve", *state, "--transport", "http", "--host", "0.0.0.0", *extra])
        assert stopped.value.code == 2
        assert needed in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", *state, "--port", "9000"])
    assert "only apply with --transport http" in capsys.readouterr().err


async def test_serve_http_from_the_command_line(paper: PaperExchange, tmp_path: Path) -> None:
    """The real command: a token generated once into the state dir (0600), its place on
    stderr, 401 without it, the tools with it, and SIGTERM ending it with exit code 0."""
    state = tmp_path / "state"
    port = _free_port()
    env = {**os.environ, **server_env(paper, state, ALLOW_ALL)}
    env.pop("BINANCE_MCP_HTTP_TOKEN", None)
    command = [sys.executable, "-m", "binance_mcp", "serve", "--transport", "http"]
    command += ["--port", str(port)]
    # A real process, stopped by a real signal: a blocking Popen is what this test is about.
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        token_file = state / "http-token"
        async with httpx2.AsyncClient() as http:
            for _ in range(200):
                try:
                    answer = await http.post(url, json=INIT, headers=HEADERS)
                    break
                except httpx2.TransportError:
                    await anyio.sleep(0.05)
            assert answer.status_code == 401
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        async with http_client(url, token=token, mode="legacy") as c:
            assert len((await c.list_tools()).tools) == 35
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"at http://127.0.0.1:{port}/mcp" in err
    assert f"bearer token: generated into {token_file} (mode 0600)" in err
    assert token not in err
    assert "binance_mcp.calls: binance_" not in err  # list_tools is not a call
    assert "stopped (SIGTERM)" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    time.sleep(0)
    return port
