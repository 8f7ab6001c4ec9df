"""The command line tells the truth: about state dirs no server has used, about the servers
running on one (`binance-mcp status`), about a state dir a server cannot write, and about the
policy `tools` describes. Real subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

from binance_mcp.cli.main import main
from binance_mcp.guard import servers


def base_env(**extra: str) -> dict[str, str]:
    # None of the developer's BINANCE_* settings leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update(extra)
    return env


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp", *args],
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# --- a state dir no server has used -------------------------------------------------------------

UNUSED_DIR_COMMANDS = [
    ["halt", "--reason", "typo"],
    ["resume"],
    ["approvals"],
    ["approvals", "approve", "abc123"],
    ["approvals", "deny", "abc123"],
    ["audit"],
    ["status"],
]


@pytest.mark.parametrize("command", UNUSED_DIR_COMMANDS, ids=" ".join)
def test_a_state_dir_no_server_has_used_is_refused(command: list[str], tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    result = run(*command, "--state-dir", str(typo))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"binance-mcp {command[0]}: error: no binance-mcp server has used")
    assert str(typo) in lines[0]
    if command[0] == "halt":
        assert f"binance-mcp halt --create --state-dir {typo}" in lines[0]
    else:
        assert f"start a server with `--state-dir {typo}` first" in lines[0]
    assert not typo.exists()  # and nothing was created there


def test_the_state_dir_from_the_environment_is_refused_too(tmp_path: Path) -> None:
    result = run("halt", BINANCE_MCP_STATE_DIR=str(tmp_path / "typo"))
    assert result.returncode == 2
    assert str(tmp_path / "typo") in result.stderr
    assert not (tmp_path / "typo").exists()


def test_halt_create_halts_a_state_dir_before_any_server_uses_it(tmp_path: Path) -> None:
    state = tmp_path / "new"
    result = run("halt", "--create", "--reason", "desk closed", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"halted: no server is running on {state} now")
    marker = json.loads((state / servers.MARKER_FILE).read_text())
    assert marker["by"] == "binance-mcp halt --create"

    # Now a state dir: the other commands accept it, and it says it is halted.
    status = run("status", "--state-dir", str(state))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == [
        f"state dir: {state}",
        "trading:   HALTED: halted with `binance-mcp halt`: desk closed",
        "servers:   none running",
    ]
    assert run("approvals", "--state-dir", str(state)).stdout == "no approval requests waiting\n"
    assert run("resume", "--state-dir", str(state)).stdout == "resumed\n"
    assert "active (not halted)" in run("status", "--state-dir", str(state)).stdout


def test_halt_create_on_a_dir_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run("halt", "--create", "--state-dir", str(tmp_path / "file" / "state"))
    assert result.returncode == 2
    assert result.stderr.startswith("binance-mcp halt: error: cannot write the state dir ")


# --- binance-mcp status, with real servers ------------------------------------------------------


class Server:
    """`binance-mcp serve` on a state dir, initialized over stdio and kept running (its input
    open) until stopped."""

    def __init__(self, state: Path, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", "serve", "--state-dir", str(state), *args],
            env=base_env(**env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test_cli_truth", "version": "1"},
            },
        }
        self.proc.stdin.write(json.dumps(initialize) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.out.get(timeout=30)
        except queue.Empty:
            raise AssertionError("no answer to initialize within 30 s") from None
        assert line is not None and '"result"' in line, line

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.out.put(line)
        self.out.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def started() -> Any:
    running: list[Server] = []
    yield running
    for s in running:
        s.kill()


def server_lines(status_out: str) -> list[str]:
    return [line for line in status_out.splitlines() if line.startswith("  pid ")]


def test_status_lists_the_running_servers_and_the_trading_state(
    tmp_path: Path, started: list[Server]
) -> None:
    state = tmp_path / "state"
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndefault: deny\nclasses: {read: allow}\n")
    first = Server(state, "--venue", "paper", "--policy", str(policy))
    started.append(first)
    second = Server(state, "--venue", "paper", BINANCE_MCP_HALT="1")
    started.append(second)

    result = run("status", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"state dir: {state}",
        "trading:   active (not halted)",
        "servers:   2 running",
    ]
    listed = server_lines(result.stdout)
    assert len(listed) == 2
    assert listed[0].startswith(f"  pid {first.pid}  venue paper  policy {policy}  since ")
    assert listed[1].startswith(f"  pid {second.pid}  venue paper  policy built-in default  since ")
    assert listed[1].endswith("(halted: BINANCE_MCP_HALT is set)")
    assert "HALT" not in listed[0]

    # halt names the servers it reaches; status shows the state dir halted.
    halted = run("halt", "--reason", "market is mad", "--state-dir", str(state))
    assert halted.returncode == 0, halted.stderr
    assert halted.stdout.startswith(
        f"halted: the 2 servers running on {state} (pid {first.pid}, {second.pid}) deny orders"
    )
    status = run("status", "--state-dir", str(state)).stdout
    assert "trading:   HALTED: halted with `binance-mcp halt`: market is mad" in status

    # A server that stops takes its entry with it.
    assert first.stop() == 0
    after = run("status", "--state-dir", str(state)).stdout
    assert "servers:   1 running" in after
    assert [line.split()[1] for line in server_lines(after)] == [str(second.pid)]
    assert "removed the entry" not in after


def test_a_crashed_server_is_not_listed_and_its_entry_is_removed(
    tmp_path: Path, started: list[Server]
) -> None:
    state = tmp_path / "state"
    crashed = Server(state, "--venue", "paper")
    started.append(crashed)
    entries = list((state / "servers").glob(f"{crashed.pid}-*.json"))
    assert len(entries) == 1
    crashed.kill()  # SIGKILL: no chance to remove its entry
    assert entries[0].exists()

    result = run("status", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert "servers:   none running" in result.stdout
    assert server_lines(result.stdout) == []
    assert f"removed the entry of pid {crashed.pid}" in result.stdout
    assert not entries[0].exists()
    # Reported once: the next status has nothing to remove.
    assert "removed" not in run("status", "--state-dir", str(state)).stdout


def test_an_entry_whose_pid_was_reused_is_not_listed(tmp_path: Path) -> None:
    """The pid of a crashed server may now be another process's: alive, but not holding the
    entry's lock, so not a server."""
    state = tmp_path / "state"
    servers.mark(state, version="0", by="test")
    (state / "servers").mkdir()
    # This test's own pid: certainly alive, certainly not a server on this state dir.
    entry = state / "servers" / f"{os.getpid()}-0000.json"
    entry.write_text(json.dumps({"pid": os.getpid(), "venue": "live", "started": 1.0}))
    result = run("status", "--state-dir", str(state))
    assert "servers:   none running" in result.stdout
    assert not entry.exists()


# --- a state dir the server cannot write ---------------------------------------------------------


def unwritable_dirs(tmp_path: Path) -> list[tuple[Path, str]]:
    (tmp_path / "file").write_text("a file, not a directory")
    cases = [
        (Path("/proc/nope"), "No such file or directory"),
        (tmp_path / "file" / "state", "Not a directory"),
    ]
    if os.geteuid() != 0:  # root writes through permission bits
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o555)
        cases.append((read_only, "Permission denied"))
    return cases


def test_the_server_refuses_a_state_dir_it_cannot_write(tmp_path: Path) -> None:
    for state, reason in unwritable_dirs(tmp_path):
        proc = subprocess.run(
            [sys.executable, "-m", "binance_mcp", "--venue", "paper", "--state-dir", str(state)],
            env=base_env(),
            input=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize"}) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (state, proc.stderr)
        assert proc.stdout == ""  # no handshake: the client hears nothing but the exit
        assert proc.stderr.splitlines() == [
            f"binance-mcp: error: cannot write the state dir {state}: {reason}"
        ]


# --- tools shows the policy the server would use -----------------------------------------------

POLICY = """\
version: 1
default: deny
classes: {read: allow}
hide: [binance_futures_close_position]
"""


def tools_rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:3] for line in out.splitlines()[1:]}


def tools(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, **env: str
) -> tuple[int, str, str]:
    """`binance-mcp ARGS` in this process (the tools table costs seconds of imports in a new
    one); the exit code, stdout and stderr."""
    monkeypatch.delenv("BINANCE_MCP_POLICY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    for name in env:
        monkeypatch.delenv(name)
    return code, out, err


def test_tools_honours_policy_before_the_command_and_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    _, built_in, _ = tools(capsys, monkeypatch, "tools")
    assert built_in.splitlines()[0] == "policy: built-in default"
    assert tools_rows(built_in)["binance_spot_place_order"] == ["financial", "approve"]

    for args, env in (
        (["--policy", str(policy), "tools"], {}),
        (["tools"], {"BINANCE_MCP_POLICY": str(policy)}),
        (["tools", "--policy", str(policy)], {}),
    ):
        code, out, err = tools(capsys, monkeypatch, *args, **env)
        assert code == 0, err
        assert out.splitlines()[0] == f"policy: {policy}"
        rows = tools_rows(out)
        assert rows["binance_spot_place_order"] == ["financial", "deny"]
        assert rows["binance_futures_close_position"] == ["financial", "hidden"]
        assert rows["binance_spot_price"] == ["read", "allow"]

    # The command line wins over the environment, as for `serve`.
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\ndefault: allow\n")
    _, out, _ = tools(
        capsys, monkeypatch, "--policy", str(other), "tools", BINANCE_MCP_POLICY=str(policy)
    )
    assert out.splitlines()[0] == f"policy: {other}"


def test_tools_with_a_missing_policy_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    for result in (
        run("--policy", str(missing), "tools"),
        run("tools", BINANCE_MCP_POLICY=str(missing)),
    ):
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"binance-mcp: error: policy file {missing} (from ")
        assert len(result.stderr.splitlines()) == 1


def test_status_of_a_state_dir_whose_registry_is_missing(tmp_path: Path) -> None:
    # Marked (a server ran once, or `halt --create`) but with no servers/ folder at all.
    state = tmp_path / "state"
    servers.mark(state, version="0", by="test")
    result = run("status", "--state-dir", str(state))
    assert result.returncode == 0
    assert "servers:   none running" in result.stdout


def test_a_stopped_server_leaves_its_mark(tmp_path: Path, started: list[Server]) -> None:
    """The mark stays after the server stops: the dir remains a state dir for the CLI."""
    state = tmp_path / "state"
    server = Server(state, "--venue", "paper")
    started.append(server)
    assert server.stop() == 0
    marker = json.loads((state / servers.MARKER_FILE).read_text())
    assert marker["by"].endswith(" server") and marker["created"].endswith("Z")
    assert run("resume", "--state-dir", str(state)).stdout == f"not halted (no flag in {state})\n"
