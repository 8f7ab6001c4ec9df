"""stdout belongs to JSON-RPC (SPEC §2): `python -m binance_mcp` as a raw subprocess, spoken
to line by line, through everything that makes a server talk — results, tool errors, a denial, an
exchange error, invalid arguments, an unknown tool and method, malformed and non-JSON-RPC
lines, an approval wait with progress, a broken policy reload — and every line it writes on
stdout must be one JSON-RPC 2.0 message. The logs go to stderr."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import server_env

PROTOCOL = "2025-11-25"
WAIT = 30.0

ETH_LIMIT = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
             "price": "3000"}  # fmt: skip
BTC_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
             "price": "95000"}  # fmt: skip

POLICY = """version: 1
classes: {read: allow, write: allow, financial: allow, destructive: approve}
limits: {symbols: {allow: [BTCUSDT]}}
"""


class RawServer:
    """The server as a subprocess; JSON-RPC spoken by hand, one line per message. Every line
    it writes on stdout is kept in `lines`."""

    def __init__(self, env: dict[str, str], stderr: IO[bytes]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        self.lines: list[bytes] = []
        self._incoming: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 1

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._incoming.put(line)
        self._incoming.put(None)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response; other messages on the way are skipped
        (they are checked with the rest at the end)."""
        ident = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.response(ident)

    def response(self, ident: int | str | None) -> dict[str, Any]:
        while True:
            try:
                line = self._incoming.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no answer to request {ident} within {WAIT} s") from None
            assert line is not None, f"the server closed stdout before answering {ident}"
            message = json.loads(line)
            if isinstance(message, dict) and message.get("id") == ident and "method" not in message:
                return message

    def call(self, tool: str, args: dict[str, Any], **meta: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"name": tool, "arguments": args}
        if meta:
            params["_meta"] = meta
        return self.request("tools/call", params)

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server did not exit when stdin closed") from None
        self._reader.join(WAIT)
        return code


def check_jsonrpc_line(line: bytes) -> dict[str, Any]:
    """One stdout line: a complete UTF-8 JSON object that is a JSON-RPC 2.0 request,
    notification or response."""
    assert line.endswith(b"\n"), line
    text = line.decode("utf-8")
    message = json.loads(text)
    assert isinstance(message, dict), text
    assert message.get("jsonrpc") == "2.0", text
    if "method" in message:
        assert isinstance(message["method"], str), text
        assert "result" not in message and "error" not in message, text
        if "id" in message:
            assert isinstance(message["id"], str | int), text
        if "params" in message:
            assert isinstance(message["params"], dict), text
    else:
        assert "id" in message, text
        assert ("result" in message) != ("error" in message), text
        if "error" in message:
            error = message["error"]
            assert isinstance(error["code"], int) and isinstance(error["message"], str), text
        else:
            assert isinstance(message["result"], dict), text
    return message


def tool_text(response: dict[str, Any]) -> tuple[bool, str]:
    """(is a tool error, its text) for a tools/call answer; a JSON-RPC error counts as an
    error with its message."""
    if "error" in response:
        return True, str(response["error"]["message"])
    result = response["result"]
    return bool(result.get("isError")), str(result["content"][0]["text"])


def test_stdout_carries_only_jsonrpc(paper: PaperExchange, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    env = server_env(
        paper, state, policy, BINANCE_MCP_LOG_LEVEL="DEBUG", BINANCE_MCP_APPROVAL_TIMEOUT="1"
    )
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        server = RawServer(env, stderr)
        try:
            code = session(server, paper, policy)
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
    assert code == 0
    messages = [check_jsonrpc_line(line) for line in server.lines]
    assert len(messages) >= 15
    # Progress notifications while the approval waited are JSON-RPC too.
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert progress and all(m["params"]["progressToken"] == "wait-1" for m in progress)

    logs = stderr_path.read_text()
    assert "binance-mcp" in logs and "venue paper" in logs
    assert "approval needed for binance_spot_cancel_all_orders" in logs
    assert f"policy {policy} rejected, the previous one stays in force" in logs
    stdout = b"".join(server.lines).decode()
    for logged in ("approval needed", "rejected, the previous one", " INFO ", " WARNING "):
        assert logged not in stdout


def session(server: RawServer, paper: PaperExchange, policy: Path) -> int:
    init = server.request(
        "initialize",
        {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "raw-jsonrpc", "version": "0"},
        },
    )
    assert init["result"]["protocolVersion"] == PROTOCOL
    server.notify("notifications/initialized")
    assert server.request("ping") == {"jsonrpc": "2.0", "id": 2, "result": {}}
    tools = server.request("tools/list")["result"]["tools"]
    assert len(tools) == 35

    price = server.call("binance_spot_price", {"symbol": "BTCUSDT"})
    assert price["result"]["structuredContent"]["venue"] == "paper"

    error, text = tool_text(server.call("binance_spot_place_order", ETH_LIMIT))
    assert error and "Denied by policy: ETHUSDT is not among" in text

    paper.state.faults.arm(
        Fault("/api/v3/order", "status", method="POST", status=400, code=-2010,
              msg="Account has insufficient balance for requested action.")
    )  # fmt: skip
    error, text = tool_text(server.call("binance_spot_place_order", BTC_LIMIT))
    assert error and "Binance error -2010" in text

    error, text = tool_text(server.call("binance_spot_orderbook", {"symbol": 5, "limit": 7}))
    assert error and "validation error" in text
    error, text = tool_text(server.call("binance_spot_klines", {"symbol": "\u0412TCUSDT"}))
    assert error
    error, text = tool_text(server.call("binance_no_such_tool", {}))
    assert error and "binance_no_such_tool" in text
    unknown = server.request("tools/nope", {})
    assert unknown["error"]["code"] == -32601

    # Lines that are not JSON-RPC: whatever the server says back must be JSON-RPC itself.
    for junk in (
        b'{"jsonrpc": "2.0", "id": 900, "method": \n',
        b"this is not json\n",
        b"[1, 2, 3]\n",
        b'"just a string"\n',
        b'{"jsonrpc": "1.0", "id": 901, "method": "ping"}\n',
        b'{"id": 902}\n',
        b"\xff\xfe\xfd\n",
        b"\n",
    ):
        server.send_raw(junk)
    assert server.request("ping")["result"] == {}

    # A call that waits for approval (this client cannot elicit) and times out, with
    # progress notifications on the way.
    error, text = tool_text(
        server.call("binance_spot_cancel_all_orders", {"symbol": "BTCUSDT"}, progressToken="wait-1")
    )
    assert error and "Denied by policy: approval required" in text

    # A broken edit of the policy: rejected with a message on stderr, the old one in force.
    policy.write_text("version: 1\nclasses: {financial: allwo}\n")
    price = server.call("binance_spot_price", {"symbol": "BTCUSDT"})
    assert price["result"]["isError"] is False
    error, text = tool_text(server.call("binance_spot_place_order", ETH_LIMIT))
    assert error and "Denied by policy: ETHUSDT is not among" in text
    status = server.call("binance_account_status", {})["result"]["structuredContent"]
    assert status["policyError"].startswith("classes.financial.action")
    return server.close()
