"""SIGTERM and SIGINT stop `binance-mcp serve` and `binance-mcp paper` cleanly, whatever
dispositions they inherited: real processes started with both signals ignored (as `cmd &` in a
non-interactive shell ignores SIGINT), stopped while their input is still open, as a user's
`kill` or a service manager stops them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest

STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]
# Generous for a loaded CI machine; a clean stop takes well under a second.
STOP_WITHIN = 8.0


def ignore_stop_signals() -> None:
    # The inherited dispositions under test: both ignored before the program starts.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update(extra)
    return env


class Process:
    """A `python -m binance_mcp ...` child whose stdout and stderr are read line by line on
    threads, so every wait has a deadline and a silent child fails the test, not hangs it."""

    def __init__(self, args: list[str], *, stdin: int = subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", *args],
            env=base_env(),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ignore_stop_signals,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = self._drain(self.proc.stdout)
        self.err_lines: list[str] = []
        self._err = self._drain(self.proc.stderr, self.err_lines)

    @staticmethod
    def _drain(stream: IO[str], keep: list[str] | None = None) -> queue.Queue[str | None]:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in stream:
                if keep is not None:
                    keep.append(line)
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return lines

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def reply(self, ident: int, timeout: float = 30) -> dict[str, Any]:
        """The JSON-RPC response to request `ident` (notifications before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.out.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no answer to request {ident} within {timeout} s") from None
            assert line is not None, f"stdout closed; stderr: {self.stderr()}"
            message: dict[str, Any] = json.loads(line)
            if message.get("id") == ident:
                return message

    def err_line(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._err.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line on stderr within {timeout} s") from None
            assert line is not None, f"stderr closed; so far: {self.stderr()}"
            if line.startswith(prefix):
                return line

    def stop(self, signum: int) -> tuple[int, float]:
        """Send `signum`; the exit code and how long the process took to end."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running {STOP_WITHIN} s after {signal.Signals(signum).name}")
        return code, time.monotonic() - sent

    def stderr(self) -> str:
        """What the process has written to stderr so far."""
        return "".join(self.err_lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stderr_after_exit(p: Process) -> str:
    """All of stderr once the process has exited (its reader has reached the end)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            line = p._err.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError("stderr did not close after the process exited") from None
        if line is None:
            return p.stderr()


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test_process_control", "version": "1"},
    },
}


def start_session(p: Process) -> None:
    """Initialize, then one call that needs the in-process paper exchange, so that there is
    an account for the stop to save."""
    p.send(INITIALIZE)
    assert "result" in p.reply(1)
    p.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    p.send(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "binance_server_time", "arguments": {}},
        }
    )
    result = p.reply(2)["result"]
    assert result.get("isError") is not True, result


@pytest.fixture
def processes() -> Any:
    started: list[Process] = []
    yield started
    for p in started:
        p.kill()


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_serve_stops_on_signal_with_its_input_still_open(
    signum: int, tmp_path: Path, processes: list[Process]
) -> None:
    state = tmp_path / "state"
    p = Process(["serve", "--venue", "paper", "--state-dir", str(state)])
    processes.append(p)
    start_session(p)
    entries = list((state / "servers").glob("*.json"))
    assert [e.name.split("-")[0] for e in entries] == [str(p.proc.pid)]

    code, took = p.stop(signum)  # stdin stays open: the host did not end the session
    err = stderr_after_exit(p)
    assert code == 0, err
    assert f"stopped ({signal.Signals(signum).name})" in err
    assert "Traceback" not in err
    # The lifespan unwound: the server's entry is gone, and it goes only after the paper
    # exchange has stopped and saved the account.
    assert not any((state / "servers").glob("*.json"))
    assert (state / "paper" / "paper-account.json").is_file()
    assert took < STOP_WITHIN


def test_serve_stops_on_sigterm_while_a_call_waits_for_approval(
    tmp_path: Path, processes: list[Process]
) -> None:
    """A call waiting for a person (the built-in policy asks for every order, and this client
    cannot be asked) does not hold the stop up for the approval's 120 s."""
    state = tmp_path / "state"
    p = Process(["serve", "--venue", "paper", "--state-dir", str(state)])
    processes.append(p)
    start_session(p)
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": "50000",
        "timeInForce": "GTC",
    }
    p.send(
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "binance_spot_place_order", "arguments": order},
        }
    )
    p.err_line("Approve binance_spot_place_order")  # it is waiting
    code, _ = p.stop(signal.SIGTERM)
    err = stderr_after_exit(p)
    assert code == 0, err
    assert "stopped (SIGTERM)" in err and "Traceback" not in err
    assert not any((state / "servers").glob("*.json"))


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_paper_stops_on_signal_and_saves_the_account(
    signum: int, tmp_path: Path, processes: list[Process]
) -> None:
    state = tmp_path / "state"
    # Frozen prices: nothing is saved while it runs, so the account file can only come from
    # the save at the stop.
    p = Process(
        ["paper", "--state-dir", str(state), "--port", "0", "--walk-interval", "0"],
        stdin=subprocess.DEVNULL,
    )
    processes.append(p)
    url = p.err_line("binance-mcp paper: listening on ").rsplit(" ", 1)[1]
    assert get_json(url + "/api/v3/ping") == {}
    account = state / "paper" / "paper-account.json"
    assert not account.exists()

    code, _ = p.stop(signum)
    err = stderr_after_exit(p)
    assert code == 0, err
    assert f"binance-mcp paper: stopped ({signal.Signals(signum).name})" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert account.is_file()
    assert json.loads(account.read_text())  # a whole account, not a torn file
