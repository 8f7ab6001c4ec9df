"""No key, secret or signature ever shows (SPEC §6, §4.7): end-to-end sessions with a
distinctive API key pair — all 35 tools, then the failures (Binance error codes, an error body
that echoes the key, a wrong secret, timeouts, lost answers, a ban, an unreachable venue, a
broken policy at start and on reload) — in process and over stdio, and neither the key, the
secret nor any HMAC signature the exchange received may appear in a tool result, an error text,
a log record (DEBUG), stderr, the audit log, or any file in the state dir."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult
from pydantic import SecretStr

from binance_mcp.guard.policy import PolicyError
from binance_mcp.paper import app as paper_app
from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import ALLOW_ALL, paper_settings, stdio_server
from tests.paper_fixtures import closed_port
from tests.test_tools_list import every_tool_once

pytestmark = pytest.mark.anyio

BTC = "BTCUSDT"
LIMIT = {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "95000"}


class Canary:
    """The key pair, and every signature the exchange was sent (the paper exchange's request log
    leaves them out, so they are taken where it checks them)."""

    def __init__(self) -> None:
        self.key = "KEYcanary" + secrets.token_hex(24)
        self.secret = "SECcanary" + secrets.token_hex(24)
        self.wrong_secret = "WRONGcanary" + secrets.token_hex(24)
        self.signatures: set[str] = set()

    def needles(self) -> list[tuple[str, str]]:
        found = []
        for label, value in (
            ("API key", self.key),
            ("API secret", self.secret),
            ("wrong API secret", self.wrong_secret),
        ):
            found += [
                (label, value),
                (label + " (start)", value[:16]),
                (label + " (end)", value[-16:]),
            ]
        for signature in self.signatures:
            found += [("signature", signature), ("signature (start)", signature[:20])]
        return found

    def assert_absent(self, text: str, where: str) -> None:
        for label, needle in self.needles():
            assert needle not in text, f"the {label} appears in {where}"

    def assert_absent_in_files(self, root: Path) -> int:
        files = [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            self.assert_absent(path.read_bytes().decode("latin-1"), str(path))
        return len(files)


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> Canary:
    keys = Canary()
    strip = paper_app._strip_signature

    def recording(raw: str) -> tuple[str, str | None]:
        kept, signature = strip(raw)
        if signature:
            keys.signatures.add(signature)
        return kept, signature

    monkeypatch.setattr(paper_app, "_strip_signature", recording)
    return keys


@pytest.fixture
def canary_paper(canary: Canary, tmp_path: Path) -> Iterator[PaperExchange]:
    exchange = start_paper_exchange(
        PaperConfig(
            state_dir=tmp_path / "paper",
            walk_interval=0,
            api_key=canary.key,
            api_secret=canary.secret,
        )
    )
    yield exchange
    exchange.stop()


def shown(result: CallToolResult) -> str:
    """Everything a client receives for a call."""
    return result.model_dump_json(by_alias=True)


async def test_no_secret_in_process(
    canary: Canary,
    canary_paper: PaperExchange,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    paper = canary_paper
    outputs: list[tuple[str, str]] = []
    state = tmp_path / "state"
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW_ALL.read_text())
    base = paper_settings(paper, state, policy=policy)
    quick = dataclasses.replace(
        base.retry, timeout=0.3, budget=2.0, attempts=2, recv_window_ms=1000
    )
    settings = dataclasses.replace(base, retry=quick)

    # 1. Every tool once, in both protocol eras.
    for mode in ("legacy", "auto"):
        async with Client(build_server(settings), mode=mode) as c:
            for name, args in every_tool_once():
                result = await c.call_tool(name, args)
                assert not result.is_error, (name, shown(result))
                outputs.append((f"{mode} {name}", shown(result)))

    # 2. Failures.
    faults = paper.state.faults
    failing: list[tuple[Fault | None, str, dict[str, Any]]] = [
        (Fault("/api/v3/order", "status", method="POST", status=400, code=-2010,
               msg="Account has insufficient balance for requested action."),
         "binance_spot_place_order", LIMIT),
        # An error body that repeats the caller's key and secret: the backstop must hold.
        (Fault("/api/v3/account", "status", status=400, code=-2015,
               msg=f"Invalid API-key {canary.key}, IP, or permissions ({canary.secret})."),
         "binance_spot_balances", {}),
        (Fault("/fapi/v2/account", "status", status=401, code=-2015,
               msg=f"Invalid API-key {canary.key}"), "binance_portfolio_account", {}),
        (Fault("/api/v3/ticker/price", "delay", delay=1.0, count=3), "binance_spot_price",
         {"symbol": BTC}),
        (Fault("/api/v3/openOrders", "delay", delay=1.0, count=3), "binance_spot_open_orders",
         {"symbol": BTC}),
        (Fault("/api/v3/order", "drop", method="POST"), "binance_spot_place_order",
         {**LIMIT, "newClientOrderId": "canary-drop"}),
        (Fault("/fapi/v1/order", "delay", method="POST", delay=1.0), "binance_futures_place_order",
         {**LIMIT, "quantity": "0.002", "newClientOrderId": "canary-late"}),
        (Fault("/api/v3/myTrades", "status", status=503, count=3), "binance_spot_trade_history",
         {"symbol": BTC}),
        (None, "binance_futures_change_leverage", {"symbol": BTC, "leverage": 126}),
        (None, "binance_spot_cancel_order", {"symbol": BTC, "orderId": 999999}),
        (None, "binance_spot_place_order", {**LIMIT, "price": "95000.001"}),
        (Fault("/api/v3/depth", "status", status=418, retry_after=1), "binance_spot_orderbook",
         {"symbol": BTC}),
        (None, "binance_spot_price", {"symbol": BTC}),  # refused locally while banned
    ]  # fmt: skip
    async with Client(build_server(settings), mode="legacy") as c:
        for fault, name, args in failing:
            if fault is not None:
                faults.arm(fault)
            result = await c.call_tool(name, args)
            faults.clear()
            outputs.append((f"failing {name}", shown(result)))
        # A broken policy edit: rejected, reported, the old one kept.
        policy.write_text("version: 1\nclasses: {financial: allwo}\n")
        status = await c.call_tool("binance_account_status", {})
        assert status.structured_content is not None
        assert status.structured_content["policyError"]
        outputs.append(("status after a broken reload", shown(status)))
    paper.state.weights.banned_until_ms = 0  # lift the ban for the servers below

    # 3. A secret that does not match the key: every signed call fails with -1022.
    wrong = dataclasses.replace(
        settings,
        api_secret=SecretStr(canary.wrong_secret),
        state_dir=tmp_path / "state-wrong",
        policy_path=ALLOW_ALL,
    )
    async with Client(build_server(wrong), mode="auto") as c:
        for name, args in [("binance_spot_balances", {}), ("binance_spot_place_order", LIMIT),
                           ("binance_account_status", {})]:  # fmt: skip
            result = await c.call_tool(name, args)
            outputs.append((f"wrong secret {name}", shown(result)))
        assert "-1022" in outputs[-2][1]

    # 4. The venue unreachable.
    port = closed_port()
    down = dataclasses.replace(
        settings,
        spot_url_override=f"http://127.0.0.1:{port}/api",
        futures_url_override=f"http://127.0.0.1:{port}/fapi",
        state_dir=tmp_path / "state-down",
        policy_path=ALLOW_ALL,
    )
    async with Client(build_server(down), mode="legacy") as c:
        for name, args in [("binance_spot_balances", {}), ("binance_spot_place_order", LIMIT)]:
            outputs.append((f"down {name}", shown(await c.call_tool(name, args))))

    # 5. A broken policy at start: no server, and an error that names no secret.
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nclasses: {financial: [allow\n")
    with pytest.raises(PolicyError) as refused:
        build_server(dataclasses.replace(settings, policy_path=broken))
    outputs.append(("policy error at start", str(refused.value) + repr(refused.value)))

    assert len(canary.signatures) > 50
    for where, text in outputs:
        canary.assert_absent(text, where)
    captured = capfd.readouterr()
    canary.assert_absent(captured.out, "stdout")
    canary.assert_absent(captured.err, "stderr")
    canary.assert_absent(caplog.text, "the log")
    for record in caplog.records:
        canary.assert_absent(repr(record.__dict__), f"log record {record.getMessage()[:80]!r}")
    assert caplog.records
    audit = (state / "audit.jsonl").read_text()
    assert audit.count("\n") > 40
    canary.assert_absent(audit, "the audit log")
    assert canary.assert_absent_in_files(tmp_path) >= 4


async def test_no_secret_over_stdio(
    canary: Canary, canary_paper: PaperExchange, tmp_path: Path
) -> None:
    """The stdio server as a host runs it, logging at DEBUG: its stdout (every message) and
    stderr (every log line) name no key, secret or signature."""
    paper = canary_paper
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW_ALL.read_text())
    params = stdio_server(paper, tmp_path / "state", policy)
    assert params.env is not None
    params.env |= {"BINANCE_MCP_LOG_LEVEL": "DEBUG", "BINANCE_MCP_TIMEOUT": "1"}
    outputs: list[str] = []
    errlog = tmp_path / "stderr.log"
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), mode="legacy") as c:
            for name, args in every_tool_once():
                result = await c.call_tool(name, args)
                assert not result.is_error, (name, shown(result))
                outputs.append(shown(result))
            paper.state.faults.arm(
                Fault("/api/v3/account", "status", status=400, code=-2015,
                      msg=f"Invalid API-key {canary.key} ({canary.secret})")
            )  # fmt: skip
            outputs.append(shown(await c.call_tool("binance_spot_balances", {})))
            paper.state.faults.arm(Fault("/api/v3/order", "drop", method="POST"))
            outputs.append(shown(await c.call_tool("binance_spot_place_order", LIMIT)))
            policy.write_text("version: 1\nclasses: {financial: allwo}\n")
            outputs.append(shown(await c.call_tool("binance_account_status", {})))
    logs = errlog.read_text()
    assert "DEBUG" in logs or "INFO" in logs
    assert "rejected, the previous one stays in force" in logs
    assert len(canary.signatures) > 30
    for i, text in enumerate(outputs):
        canary.assert_absent(text, f"stdio result {i}")
    canary.assert_absent(logs, "the server's stderr")
    canary.assert_absent_in_files(tmp_path / "state")


def test_no_secret_from_the_in_process_paper_venue_or_a_refused_start(
    canary: Canary, tmp_path: Path
) -> None:
    """`binance-mcp` with keys and venue paper starts its own paper exchange with those keys;
    its account file in the state dir and the server's stderr must not hold them. And a start
    refused for a broken policy says so without them."""
    state = tmp_path / "state"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "BINANCE_MCP_STATE_DIR": str(state),
        "BINANCE_MCP_VENUE": "paper",
        "BINANCE_API_KEY": canary.key,
        "BINANCE_API_SECRET": canary.secret,
        "BINANCE_MCP_POLICY": str(ALLOW_ALL),
        "BINANCE_MCP_LOG_LEVEL": "DEBUG",
    }
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "binance_spot_balances", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "binance_spot_place_order", "arguments": LIMIT}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "binance_account_status", "arguments": {}}},
    ]  # fmt: skip
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    proc = subprocess.Popen(
        [sys.executable, "-m", "binance_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.flush()
    answers: list[str] = []
    results: dict[int, Any] = {}
    while len(results) < 4:  # initialize and three calls; then close stdin to stop it
        line = proc.stdout.readline()
        assert line, "the server stopped early"
        answers.append(line)
        message = json.loads(line)
        if "id" in message and "method" not in message:
            results[message["id"]] = message
    out, err = proc.communicate(timeout=30)
    answers.append(out)
    assert results[2]["result"]["isError"] is False, results[2]
    assert results[3]["result"]["isError"] is False, results[3]
    assert results[4]["result"]["structuredContent"]["keysSet"] is True
    assert (state / "paper" / "paper-account.json").exists()
    canary.assert_absent("".join(answers), "the server's stdout")
    canary.assert_absent(err, "the server's stderr")
    canary.assert_absent_in_files(state)

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ntools: {binance_spot_place_order: {deny_if: [{when: {}}]}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "binance_mcp"],
        env={**env, "BINANCE_MCP_POLICY": str(broken)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "is not usable" in done.stderr
    canary.assert_absent(done.stderr, "the refused start's stderr")
