"""The guard under hostile input (issue 17): every call answered, audited and strict.

End to end over MCP against the paper venue; the paper exchange's own record of requests proves
that nothing refused was sent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.config import DEFAULT_APPROVAL_TIMEOUT, resolve_settings
from binance_mcp.guard import facts as facts_module
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import ALLOW_ALL, fails, ok, server_env
from tests.test_approval import APPROVE_ORDERS, Progress, cli
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

ALLOW = """
    version: 1
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
"""

CAP_100 = """
    version: 1
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
    limits: {max_order_notional: "100"}
"""


def last_audit(tmp_path: Path) -> dict[str, Any]:
    return audit_lines(tmp_path)[-1]


# --- strict arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "wrong", "right"),
    [
        (
            "binance_futures_place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01",
             "reduceonly": True},
            "reduceonly",
            "reduceOnly",
        ),
        ("binance_spot_place_order", {**BUY_LIMIT, "tset": True}, "tset", "test"),
        ("binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderid": 1}, "orderid", "orderId"),
    ],
)  # fmt: skip
async def test_a_misspelt_argument_is_refused_and_nothing_is_sent(
    paper: PaperExchange, tmp_path: Path, mode: Any, tool: str, args: dict[str, Any], wrong: str,
    right: str,
) -> None:  # fmt: skip
    server = guarded_server(paper, tmp_path, ALLOW)
    before = len(paper.state.requests)
    async with Client(server, mode=mode) as c:
        text = await fails(c, tool, args)
        assert f"does not take the argument {wrong!r} (did you mean {right!r}?)" in text
        assert "nothing was sent" in text
    assert list(paper.state.requests)[before:] == []
    line = last_audit(tmp_path)
    assert (line["tool"], line["decision"], line["end"]) == (tool, "deny", "refused")


async def test_input_schemas_forbid_extra_properties(server: Any) -> None:
    async with Client(server, mode="legacy") as c:
        tools = (await c.list_tools()).tools
    assert len(tools) == 35
    assert all(t.input_schema.get("additionalProperties") is False for t in tools)


# --- bounded input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "says"),
    [
        ("1E-999999999", "too many decimals"),
        ("1E+999999999", "too large"),
        ("0.000000000000000000001", "too many decimals"),
        ("123456789012345678901", "too large"),
        ("9" * 500, "out of range"),
        ("1E-999_999_999", "is not a decimal number"),
        ("1E-00999999999", "too many decimals"),
        ("1E+99999999999999999999", "out of range"),
        ("１２３", "is not a decimal number"),
        (1e300, "too large"),
    ],
)
async def test_extreme_numbers_are_refused_at_once(
    paper: PaperExchange, tmp_path: Path, quantity: Any, says: str
) -> None:
    server = guarded_server(paper, tmp_path, CAP_100)
    before = len(paper.state.requests)
    async with Client(server, mode="legacy") as c:
        started = time.process_time()
        text = await fails(c, "binance_spot_place_order", {**BUY_LIMIT, "quantity": quantity})
        assert time.process_time() - started < 1.0
        assert says in text
        assert "decimal point" in text or "like 0.001 or 1e-3" in text
        # The server keeps answering.
        await ok(c, "binance_server_time")
    assert [r for r in list(paper.state.requests)[before:] if r["method"] != "GET"] == []
    refused = [a for a in audit_lines(tmp_path) if a["tool"] == "binance_spot_place_order"]
    assert [a["end"] for a in refused] == ["invalid"]


async def test_deep_and_wide_arguments_are_refused(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, ALLOW)
    deep: Any = "x"
    for _ in range(10):
        deep = [deep]
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_price", {"symbols": [deep]})
        assert "nested deeper than 4 levels" in text
        text = await fails(c, "binance_spot_price", {"symbols": ["BTCUSDT"] * 5000})
        assert "5000 items are more than the 1000 allowed" in text
        text = await fails(c, "binance_spot_price", {"symbol": "B" * 100_000})
        assert "100000 characters is longer than the 1024 allowed" in text
        await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})


def _stdio_session(paper: PaperExchange, state: Path) -> subprocess.Popen[str]:
    env = server_env(paper, state, ALLOW_ALL)
    return subprocess.Popen(
        [sys.executable, "-m", "binance_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _rpc(proc: subprocess.Popen[str], message: dict[str, Any] | str) -> None:
    assert proc.stdin is not None
    proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
    proc.stdin.flush()


def _answer(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


def test_nesting_past_the_parsers_limit_is_answered_over_stdio(
    paper: PaperExchange, tmp_path: Path
) -> None:
    """The SDK's JSON parser gives up at 200 levels and the request would get no answer at all;
    the server answers it, with the reason, and goes on answering."""
    proc = _stdio_session(paper, tmp_path / "state")
    try:
        _rpc(proc, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}})  # fmt: skip
        assert _answer(proc)["id"] == 0
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        for ident, depth in ((1, 200), (2, 5000)):
            nested = "[" * depth + "1" + "]" * depth
            line = (
                f'{{"jsonrpc":"2.0","id":{ident},"method":"tools/call","params":'
                f'{{"name":"binance_spot_price","arguments":{{"symbol":"BTCUSDT","x":{nested}}}}}}}'
            )
            _rpc(proc, line)
            answer = _answer(proc)
            assert answer["id"] == ident
            assert answer["result"]["isError"] is True
            text = answer["result"]["content"][0]["text"]
            assert f"nested {depth + 3} levels deep" in text and "nothing was sent" in text
        # An "id" inside the arguments is not the request's: the answer goes to the request.
        nested = "[" * 300 + "1" + "]" * 300
        _rpc(proc, '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"binance_spot_price",'
             f'"arguments":{{"x":{{"id":77}},"y":{nested}}}}},"id":9}}')  # fmt: skip
        answer = _answer(proc)
        assert answer["id"] == 9 and "nested 303 levels deep" in str(answer)
        big = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "binance_spot_price", "arguments": {"symbol": "A" * (2 << 20)}}}  # fmt: skip
        _rpc(proc, big)
        answer = _answer(proc)
        assert answer["id"] == 3 and "more than the 1048576 allowed" in str(answer)
        _rpc(proc, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                    "params": {"name": "binance_server_time", "arguments": {}}})  # fmt: skip
        answer = _answer(proc)
        assert answer["id"] == 4 and answer["result"]["isError"] is False
    finally:
        proc.kill()
        proc.wait()
    ends = [(a["tool"], a["end"]) for a in audit_lines(tmp_path)]
    assert ends == [("binance_spot_price", "refused")] * 4 + [("binance_server_time", "ok")]


# --- one audit line for every call -----------------------------------------------------------


async def test_a_crash_is_reported_with_a_reason_and_audited(
    paper: PaperExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault inside the guard (here: pricing a MARKET order) must reach the agent as an
    actionable error and leave an audit line, never a bare "Error executing tool"."""

    async def broken(*args: Any, **kwargs: Any) -> Decimal:
        raise ArithmeticError("simulated fault")

    monkeypatch.setattr(facts_module, "_current_price", broken)
    server = guarded_server(paper, tmp_path, CAP_100)
    market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", market)
    assert "failed inside the server (ArithmeticError)" in text
    assert "check its state with a read tool" in text
    assert orders_sent(paper) == []
    line = last_audit(tmp_path)
    assert line["end"] == "crashed" and "ArithmeticError" in line["outcome"]


async def test_every_end_has_its_line(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, CAP_100)
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)  # 95 under 100: allowed
        await fails(c, "binance_spot_place_order", {**BUY_LIMIT, "quantity": "0.01"})  # denied
        await fails(c, "binance_spot_cancel_order", {"symbol": "BTCUSDT", "orderId": 999999})
        await fails(c, "binance_no_such_tool", {})
        await fails(c, "binance_spot_place_order", {**BUY_LIMIT, "side": "HOLD"})
    ends = [(a["tool"], a["end"]) for a in audit_lines(tmp_path)]
    assert ends == [
        ("binance_spot_place_order", "ok"),
        ("binance_spot_place_order", "denied"),
        ("binance_spot_cancel_order", "failed"),
        ("binance_no_such_tool", "refused"),
        ("binance_spot_place_order", "invalid"),
    ]


async def test_an_abandoned_approval_is_recorded_and_withdrawn(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=30.0)
    state = str(tmp_path / "state")
    progress = Progress()
    async with Client(server, mode="legacy") as c:
        with anyio.move_on_after(20) as scope:

            async def wait_then_give_up() -> None:
                await progress.request_id()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_then_give_up)
                await c.call_tool("binance_spot_place_order", BUY_LIMIT, progress_callback=progress)
        # The server sees the cancellation and writes its line.
        with anyio.fail_after(10):
            while not (tmp_path / "state" / "audit.jsonl").exists():  # noqa: ASYNC110 - a file, not an event
                await anyio.sleep(0.05)
    line = last_audit(tmp_path)
    assert line["end"] == "abandoned" and "withdrawn" in line["outcome"]
    assert cli("approvals", "--state-dir", state)[1] == "no approval requests waiting\n"
    assert orders_sent(paper) == []


async def test_an_unanswered_approval_ends_as_timeout(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=1.0)
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert "within 1 s" in text
    assert last_audit(tmp_path)["end"] == "timeout"
    assert orders_sent(paper) == []


def test_the_default_approval_wait_ends_before_the_inspectors_timeout(tmp_path: Path) -> None:
    settings = resolve_settings({"BINANCE_MCP_STATE_DIR": str(tmp_path)})
    assert settings.approval_timeout == DEFAULT_APPROVAL_TIMEOUT < 60


# --- damaged state fails closed, clearly ----------------------------------------------------


async def test_a_damaged_halt_flag_halts_and_says_so(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, ALLOW)
    (tmp_path / "state").mkdir(parents=True, exist_ok=True)
    flag = tmp_path / "state" / "halt.json"
    flag.write_bytes(b"\xff\xfe\x00garbage")
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert f"the halt flag {flag} is damaged" in text and "binance-mcp resume" in text
        await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})  # reads still run
    assert orders_sent(paper) == []
    assert last_audit(tmp_path)["end"] == "ok"
    assert audit_lines(tmp_path)[0]["end"] == "denied"


async def test_a_damaged_state_store_denies_trading_and_names_the_file(
    paper: PaperExchange, tmp_path: Path
) -> None:
    policy = CAP_100.replace(
        'limits: {max_order_notional: "100"}', 'limits: {daily_notional: "500"}'
    )
    server = guarded_server(paper, tmp_path, policy)
    (tmp_path / "state").mkdir(parents=True, exist_ok=True)
    db = tmp_path / "state" / "state.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    async with Client(server, mode="legacy") as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert f"state store {db} is damaged" in text and "moved aside" in text
    assert orders_sent(paper) == []
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(db).execute("SELECT 1 FROM orders")


def test_a_damaged_paper_account_names_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "paper").mkdir(parents=True)
    account = state / "paper" / "paper-account.json"
    account.write_text("{ not json")
    env = {"PATH": os.environ["PATH"], "BINANCE_MCP_STATE_DIR": str(state)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "binance_mcp", "--venue", "paper"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env,
    )  # fmt: skip
    try:
        _rpc(proc, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}})  # fmt: skip
        _answer(proc)
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "binance_spot_balances", "arguments": {}}})  # fmt: skip
        text = _answer(proc)["result"]["content"][0]["text"]
    finally:
        proc.kill()
        proc.wait()
    assert f"paper account file {account} is unreadable" in text
    assert "binance-mcp paper --reset" in text
    assert account.read_text() == "{ not json"  # nothing overwritten


# --- orders valued at the most they can cost --------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS",
                                      "quantity": "0.002", "stopPrice": "40000"}),
        ("binance_spot_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS_LIMIT",
                                      "quantity": "0.002", "stopPrice": "40000", "price": "40000",
                                      "timeInForce": "GTC"}),
        ("binance_futures_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                         "quantity": "0.002", "stopPrice": "40000"}),
        ("binance_futures_place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP",
                                         "quantity": "0.002", "stopPrice": "40000",
                                         "price": "40000"}),
    ],
)  # fmt: skip
async def test_a_triggered_buy_far_below_the_market_is_valued_at_the_market(
    paper: PaperExchange, tmp_path: Path, tool: str, args: dict[str, Any]
) -> None:
    """0.002 × 40 000 = 80 is under the cap, but accepted, the order buys at the market
    (~97 000): 194."""
    server = guarded_server(paper, tmp_path, CAP_100)
    async with Client(server, mode="legacy") as c:
        text = await fails(c, tool, args)
    assert "limits.max_order_notional" in text
    notional = Decimal(last_audit(tmp_path)["notional"])
    assert notional > 150
    assert orders_sent(paper) == []


# --- policy reload on any change of content ---------------------------------------------------


async def test_a_swapped_policy_with_the_same_size_and_time_is_picked_up(
    paper: PaperExchange, tmp_path: Path
) -> None:
    allow = ALLOW.replace("financial: allow", "financial: allow")
    server = guarded_server(paper, tmp_path, allow)
    path = tmp_path / "policy.yaml"
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", {**BUY_LIMIT, "test": True})
        stat = path.stat()
        swapped = path.read_text().replace("financial: allow", "financial: deny ")
        assert len(swapped) == stat.st_size
        path.write_text(swapped)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert (path.stat().st_mtime_ns, path.stat().st_size) == (stat.st_mtime_ns, stat.st_size)
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert "Denied by policy" in text and "classes.financial" in text
    assert orders_sent(paper) == [] or all(r["path"] != "/api/v3/order" for r in orders_sent(paper))
