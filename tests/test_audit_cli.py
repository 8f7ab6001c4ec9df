"""`binance-mcp audit` on a real audit log: written by guarded MCP calls to the paper exchange,
then read back through the command as a user would, filters, `--json` and `--follow` included.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client

from binance_mcp import __version__
from binance_mcp.cli.main import main
from binance_mcp.guard import servers
from binance_mcp.paper.runner import PaperConfig, start_paper_exchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import fails, ok, paper_settings

POLICY = """
    version: 1
    classes: {read: allow, write: allow, financial: allow, destructive: allow}
    limits: {max_order_notional: "10"}
    tools:
      binance_futures_change_leverage: { action: dry_run }
"""
TOO_BIG = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
           "price": "50000"}  # fmt: skip
SMALL = {**TOO_BIG, "quantity": "0.0001"}  # 5 USDT: under the cap, at the exchange's minimum


def _make_log(root: Path) -> tuple[Path, int]:
    """A state dir whose audit log holds five real calls; returns it and the placed order's id."""
    exchange = start_paper_exchange(PaperConfig(state_dir=root / "paper", walk_interval=0))
    try:
        policy = root / "policy.yaml"
        policy.write_text(textwrap.dedent(POLICY))
        server = build_server(paper_settings(exchange, root / "state", policy=policy))

        async def calls() -> int:
            async with Client(server, mode="legacy") as c:
                await ok(c, "binance_spot_price", {"symbol": "BTCUSDT"})
                await ok(c, "binance_futures_price", {"symbol": "BTCUSDT"})
                assert "order notional 500" in await fails(c, "binance_spot_place_order", TOO_BIG)
                placed = await ok(c, "binance_spot_place_order", SMALL)
                await fails(
                    c, "binance_futures_change_leverage", {"symbol": "BTCUSDT", "leverage": 3}
                )
                return int(placed["order"]["orderId"])

        order_id = anyio.run(calls)
    finally:
        exchange.stop()
    return root / "state", order_id


@pytest.fixture(scope="module")
def real_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    # One paper exchange and five calls for the whole module; tests that change the file
    # work on a copy (the `state` fixture).
    return _make_log(tmp_path_factory.mktemp("audit"))


@pytest.fixture
def state(real_log: tuple[Path, int], tmp_path: Path) -> Path:
    return Path(shutil.copytree(real_log[0], tmp_path / "state"))


def audit(capsys: pytest.CaptureFixture[str], state_dir: Path, *args: str) -> tuple[list[str], str]:
    """Run `binance-mcp audit`; its stdout lines and its stderr."""
    capsys.readouterr()
    assert main(["audit", "--state-dir", str(state_dir), *args]) == 0
    out, err = capsys.readouterr()
    return out.splitlines(), err


def records(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()]


def test_one_aligned_line_per_call(
    real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir, order_id = real_log
    lines, err = audit(capsys, state_dir)
    assert err == ""
    assert len(lines) == 5
    spot_price, futures_price, denied, placed, dry_run = lines
    assert spot_price.split()[2:6] == ["allow", "binance_spot_price", "BTCUSDT", "ok"]
    assert spot_price.endswith(" ms")
    assert "binance_futures_price" in futures_price
    assert "  deny     binance_spot_place_order  " in denied
    assert "BTCUSDT BUY LIMIT 0.01 @ 50000" in denied
    assert "notional 500" in denied
    assert denied.endswith("limits.max_order_notional: order notional 500 is above 10")
    assert " ok " not in denied  # nothing ran, so no outcome or latency
    assert "BTCUSDT BUY LIMIT 0.0001 @ 50000" in placed
    assert f"ok order {order_id}  " in placed and placed.endswith(" ms")
    assert dry_run.split()[2:4] == ["dry_run", "binance_futures_change_leverage"]
    assert "BTCUSDT leverage 3" in dry_run
    assert "tools.binance_futures_change_leverage.action:" in dry_run
    # The time, in UTC to the second, then columns that start at the same place on every line.
    first = records(state_dir)[0]["time"]
    assert spot_price.startswith(first[:10] + " " + first[11:19] + "Z  ")
    for column in ("binance_", "BTCUSDT"):
        assert len({line.index(column) for line in lines}) == 1


@pytest.mark.parametrize(
    ("options", "expected_tools"),
    [
        (["--tool", "binance_spot_place_order"], ["binance_spot_place_order"] * 2),
        (["--tool", "binance_spot_*"], ["binance_spot_price", *["binance_spot_place_order"] * 2]),
        (["--tool", "*_price", "--tool", "*leverage"],
         ["binance_spot_price", "binance_futures_price", "binance_futures_change_leverage"]),
        (["--tool", "binance_spot"], []),
        (["--decision", "deny"], ["binance_spot_place_order"]),
        (["--decision", "dry_run"], ["binance_futures_change_leverage"]),
        (["--decision", "approve"], []),
        (["--decision", "allow", "--tool", "binance_spot_*"],
         ["binance_spot_price", "binance_spot_place_order"]),
    ],
)  # fmt: skip
def test_filters_by_tool_and_decision(
    real_log: tuple[Path, int],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    expected_tools: list[str],
) -> None:
    lines, _ = audit(capsys, real_log[0], *options)
    assert [line.split()[3] for line in lines] == expected_tools


def test_since(real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = real_log[0]
    assert len(audit(capsys, state_dir, "--since", "1h")[0]) == 5
    assert len(audit(capsys, state_dir, "--since", "2000-01-01")[0]) == 5
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert audit(capsys, state_dir, "--since", tomorrow) == ([], "")
    assert audit(capsys, state_dir, "--since", "2999-01-01T00:00:00+02:00") == ([], "")
    # From the denied order's time on (a naive date-time is UTC): it and what came after.
    times = [r["time"] for r in records(state_dir)]
    since = times[2].removesuffix("Z")
    lines, _ = audit(capsys, state_dir, "--since", since, "--json")
    assert [json.loads(line)["time"] for line in lines] == [t for t in times if t >= times[2]]
    assert len(lines) >= 3


@pytest.mark.parametrize("bad", ["yesterday", "2h ago", "-1h", "2026-13-01", "10x"])
def test_bad_since_is_one_line_saying_what_is_valid(
    real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--state-dir", str(real_log[0]), f"--since={bad}"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("binance-mcp: error: argument --since:")
    assert "ISO date" in err and "30m" in err and repr(bad) in err


def test_bad_decision_is_rejected(
    real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--state-dir", str(real_log[0]), "--decision", "denied"])
    assert exc.value.code == 2
    assert "invalid choice: 'denied'" in capsys.readouterr().err


def test_json_prints_the_records_as_stored(
    real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = real_log[0]
    stored = (state_dir / "audit.jsonl").read_text().splitlines()
    lines, _ = audit(capsys, state_dir, "--json")
    assert lines == stored
    assert [json.loads(line) for line in lines] == records(state_dir)
    lines, _ = audit(capsys, state_dir, "--json", "--decision", "deny")
    assert lines == [stored[2]]
    assert json.loads(lines[0])["notional"] == "500"


def test_malformed_lines_are_skipped_and_counted(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = (state / "audit.jsonl").read_text().splitlines()
    (state / "audit.jsonl").write_text(
        "\n".join([stored[0], "not json", "[1, 2]", '"text"', stored[1], '{"tool": "x"'])
    )
    lines, err = audit(capsys, state, "--json")
    assert lines == stored[:2]
    assert err == f"binance-mcp audit: skipped 4 malformed line(s) in {state / 'audit.jsonl'} (not a JSON object)\n"  # fmt: skip
    assert len(audit(capsys, state)[0]) == 2


def test_tolerates_missing_unknown_and_hostile_fields(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = state / "audit.jsonl"
    extra = [
        # Monitor mode: denied by the rule but carried out, so both reason and outcome count.
        {"time": "2026-11-21T10:00:01.123Z", "tool": "binance_spot_place_order",
         "decision": "deny", "rule": "classes.financial", "reason": "financial is denied",
         "mode": "monitor", "outcome": "ok", "orderId": 77, "latencyMs": 12.3,
         "args": {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"}},
        # A later version's fields, and none of the optional ones.
        {"time": "2026-11-21T10:00:02.000Z", "tool": "binance_spot_cancel_order",
         "decision": "approve", "approval": {"by": "human", "granted": True}, "future": [1]},
        # An agent-chosen text with a line break and a terminal escape, and a very long reason.
        {"time": 1795000000.5, "tool": "binance_futures_place_order", "decision": "deny",
         "rule": "tools.x.deny_if[0]", "reason": "bad\nline \x1b[31mred " + "y" * 500,
         "args": {"symbol": "BTCUSDT", "clientTag": "a\nb"}, "outcome": "Denied by policy: ..."},
        # An order that was allowed but failed at the exchange.
        {"time": "2026-11-21T10:00:03Z", "tool": "binance_spot_place_order", "decision": "allow",
         "outcome": "Binance -2010: Account has insufficient balance", "latencyMs": 3},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(r) + "\n" for r in extra))
    lines, err = audit(capsys, state)
    assert err == "" and len(lines) == 4
    monitor, approval, hostile, failed = lines
    assert "ETHUSDT SELL MARKET 1" in monitor
    assert "monitor, not enforced: classes.financial: financial is denied" in monitor
    assert monitor.endswith("ok order 77  12.3 ms")
    assert approval.startswith("2026-11-21 10:00:02Z  approve  binance_spot_cancel_order")
    assert approval.endswith("?")  # no rule recorded
    assert hostile.startswith("2026-11-18 ")  # an epoch time, as older logs stored it
    assert "\x1b" not in hostile and "bad line [31mred yyy" in hostile
    assert "clientTag=a b" in hostile
    assert hostile.endswith("...") and len(hostile) < 250
    assert "Denied by policy" not in hostile  # the outcome only repeats the reason
    assert failed.endswith("error: Binance -2010: Account has insufficient balance  3.0 ms")


def test_no_audit_log_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A state dir a server has used (marked) but where no call was recorded; a dir no server
    # has used is refused (tests/test_cli_truth.py).
    servers.mark(tmp_path / "fresh", version=__version__, by="test")
    lines, err = audit(capsys, tmp_path / "fresh")
    assert lines == []
    assert err.count("\n") == 1 and str(tmp_path / "fresh" / "audit.jsonl") in err
    assert "no audit log" in err


def test_state_dir_from_the_environment(
    real_log: tuple[Path, int], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_MCP_STATE_DIR", str(real_log[0]))
    capsys.readouterr()
    assert main(["audit", "--decision", "deny"]) == 0
    assert "limits.max_order_notional" in capsys.readouterr().out


# --- --follow, in a real process stopped with Ctrl-C (SIGINT) --------------------------------


class Follower:
    """`binance-mcp audit --follow` running in a subprocess, its output read line by line with
    a timeout so that a missing line fails the test instead of hanging it."""

    def __init__(self, state_dir: Path, *args: str) -> None:
        env = {**os.environ, "BINANCE_MCP_STATE_DIR": str(state_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", "audit", "--follow", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = self._drain(self.proc.stdout)
        self.err = self._drain(self.proc.stderr)

    @staticmethod
    def _drain(stream: IO[str]) -> queue.Queue[str | None]:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in stream:
                lines.put(line.rstrip("\n"))
            lines.put(None)  # end of the stream

        threading.Thread(target=pump, daemon=True).start()
        return lines

    def line(self, source: str = "out") -> str:
        try:
            line = (self.out if source == "out" else self.err).get(timeout=5)
        except queue.Empty:
            raise AssertionError(f"no line on std{source} within 5 s") from None
        assert line is not None, f"std{source} closed; exit code {self.proc.poll()}"
        return line

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and the rest of stderr. Nothing more may come on stdout."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=5)
        assert self.out.get(timeout=5) is None
        rest: list[str] = []
        while (line := self.err.get(timeout=5)) is not None:
            rest.append(line)
        return code, "\n".join(rest)


@pytest.fixture
def follower() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for f in started:
        if f.proc.poll() is None:
            f.proc.kill()
            f.proc.wait()


def test_follow_prints_existing_then_new_lines(state: Path, follower: list[Follower]) -> None:
    log = state / "audit.jsonl"
    stored = log.read_text().splitlines()
    f = Follower(state, "--json", "--tool", "binance_spot_place_order")
    follower.append(f)
    assert [f.line(), f.line()] == [stored[2], stored[3]]
    new = {**json.loads(stored[3]), "time": "2099-01-01T00:00:00.000Z", "orderId": 999}
    with log.open("a") as w:
        # Another tool's line and a broken one first: the next line out must be the new order.
        w.write(stored[0] + "\nnot json\n" + json.dumps(new) + "\n")
    assert json.loads(f.line()) == new
    code, err = f.stop()
    assert code == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "skipped 1 malformed line(s)" in err


def test_follow_waits_for_the_file_and_survives_replacement_and_truncation(
    real_log: tuple[Path, int], tmp_path: Path, follower: list[Follower]
) -> None:
    stored = (real_log[0] / "audit.jsonl").read_text().splitlines()
    state = tmp_path / "not-yet"
    log = state / "audit.jsonl"
    f = Follower(state)
    follower.append(f)
    waiting = f.line("err")
    assert "no audit log" in waiting and str(log) in waiting and "waiting" in waiting

    state.mkdir()
    log.write_text(stored[2] + "\n")
    assert "limits.max_order_notional" in f.line()

    # Replaced, as a rotation would: the new file is read from its start.
    rotated = tmp_path / "rotated.jsonl"
    rotated.write_text(stored[0] + "\n" + stored[1] + "\n")
    os.replace(rotated, log)
    assert "binance_spot_price" in f.line()
    assert "binance_futures_price" in f.line()

    # Truncated in place and written again (shorter than before, so it cannot go unnoticed).
    with log.open("r+") as w:
        w.truncate(0)
        w.write(stored[4] + "\n")
    assert "binance_futures_change_leverage" in f.line()

    code, err = f.stop()
    assert code == 0 and "Traceback" not in err
