"""Start-up: spawn → `initialize` answered → `tools/list` answered, over stdio, as an MCP host
launches the server; and the server's peak memory.

Raw JSON-RPC lines on the child's pipes, no client library: the clock covers the child's work
and nothing of ours. binance-mcp runs as `python -m binance_mcp serve --venue paper` with a
fresh state dir (no keys: the paper exchange starts in-process, on a thread, half a second
after the server starts or at the first call that needs it, whichever comes first). The
baseline is a one-tool `MCPServer` from the same SDK (bench/baseline_server.py), launched the
same way with the same environment; runs of the two alternate so drift hits both alike.

    python -m bench.startup [--runs N] [--quick]
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Final

from bench.common import REPO, Summary, finish, header, median, mib, ms, parser, table

SERVER: Final = [sys.executable, "-m", "binance_mcp", "serve", "--venue", "paper"]
BASELINE: Final = [sys.executable, "-m", "bench.baseline_server"]
TARGET: Final = 1.15  # SPEC §7: close to the floor set by importing the SDK
TIMEOUT: Final = 60.0
# What most hosts in the field negotiate (the initialize handshake).
PROTOCOL: Final = "2025-11-25"


@dataclass(frozen=True)
class Run:
    initialize_s: float  # spawn → initialize answered
    listed_s: float  # spawn → tools/list answered
    tools: int
    list_bytes: int  # the tools/list answer as sent, one JSON-RPC line
    rss_at_list: int  # bytes: the child's peak RSS when tools/list was answered
    peak_rss: int  # bytes: the child's peak RSS over its whole life
    cpu_s: float  # user + system CPU over its whole life, all threads
    exit_s: float  # stdin closed → process gone


class _Lines:
    """Lines from a pipe, with a deadline (a hung child must not hang the benchmark)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""

    def read(self, deadline: float) -> bytes:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the server in time")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    raise EOFError("the server closed stdout")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _answer(line: bytes, want_id: int) -> dict[str, Any]:
    message = json.loads(line)
    if message.get("id") != want_id or "result" not in message:
        raise RuntimeError(f"unexpected answer: {line[:300]!r}")
    result: dict[str, Any] = message["result"]
    return result


def _vm_hwm(pid: int) -> int:
    """The process's peak RSS so far (Linux), in bytes; 0 where /proc is not available."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reap(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, float]:
    """Wait for the child with wait4, whose rusage is this child's own (RUSAGE_CHILDREN would
    be the largest of all children so far). Returns its peak RSS in bytes and its CPU time."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            # ru_maxrss is in KiB on Linux.
            return int(usage.ru_maxrss) * 1024, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            deadline = time.monotonic() + 5
        time.sleep(0.002)


def run_once(command: list[str]) -> Run:
    with (
        tempfile.TemporaryDirectory(prefix="bench-startup-") as state,
        tempfile.TemporaryFile() as err,
    ):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", state),
            "BINANCE_MCP_STATE_DIR": state,
        }
        deadline = time.monotonic() + TIMEOUT
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=REPO
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            lines = _Lines(proc.stdout)
            # Sent at once: it waits in the pipe until the child reads, as from a real host.
            _send(
                proc,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": PROTOCOL,
                        "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "0"},
                    },
                },
            )
            _answer(lines.read(deadline), 1)
            initialized = time.perf_counter() - started
            _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            _send(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            line = lines.read(deadline)
            listed = time.perf_counter() - started
            tools = len(_answer(line, 2)["tools"])
            rss_at_list = _vm_hwm(proc.pid)
            proc.stdin.close()
            closed = time.perf_counter()
            peak, cpu = _reap(proc, time.monotonic() + TIMEOUT)
            exited = time.perf_counter() - closed
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-3000:])
            raise
        return Run(initialized, listed, tools, len(line) + 1, rss_at_list, peak, cpu, exited)


def _spread(values: list[float], show: Callable[[float], str]) -> str:
    return f"{show(median(values))} ({show(min(values))}–{show(max(values))})"


def main(argv: list[str] | None = None) -> int:
    p = parser("startup", __doc__ or "")
    p.add_argument("--runs", type=int, default=7, help="timed runs of each (default 7)")
    args = p.parse_args(argv)
    runs = 1 if args.quick else max(1, args.runs)
    header(
        "start-up: spawn → initialize → tools/list answered over stdio",
        f"median of {runs} runs each, alternating; one untimed warm-up run each first"
        + (" (skipped with --quick)" if args.quick else ""),
        args.quick,
    )
    commands = {"baseline": BASELINE, "binance-mcp": SERVER}
    if not args.quick:
        for command in commands.values():  # page cache and .pyc files, not our figures
            run_once(command)
    results: dict[str, list[Run]] = {name: [] for name in commands}
    for i in range(runs):
        # Alternating who goes first keeps a periodic disturbance from landing on one side.
        for name in sorted(commands, reverse=i % 2 == 1):
            results[name].append(run_once(commands[name]))

    base, ours = results["baseline"], results["binance-mcp"]

    def row(label: str, pick: Callable[[Run], float], show: Callable[[float], str]) -> list[str]:
        return [
            label,
            _spread([pick(r) for r in base], show),
            _spread([pick(r) for r in ours], show),
        ]

    print(
        table(
            [
                row("initialize answered", lambda r: r.initialize_s, ms),
                row("tools/list answered", lambda r: r.listed_s, ms),
                row("peak RSS at tools/list", lambda r: r.rss_at_list, mib),
                row("peak RSS, whole run", lambda r: r.peak_rss, mib),
                row("CPU time, whole run", lambda r: r.cpu_s, ms),
                row("exit after stdin EOF", lambda r: r.exit_s, ms),
                ["tools listed", str(base[0].tools), str(ours[0].tools)],
                ["tools/list answer", f"{base[0].list_bytes} B", f"{ours[0].list_bytes} B"],
            ],
            [
                "median (min–max)",
                "baseline: 1-tool MCPServer",
                "binance-mcp serve --venue paper",
            ],
        )
    )
    print(
        "\n`whole run` includes the paper exchange, which starts on its own thread 0.5 s after "
        "the server does (after the handshake; a call that needs it earlier starts it at once)."
    )
    base_s = median([r.listed_s for r in base])
    ours_s = median([r.listed_s for r in ours])
    rss_ratio = median([r.rss_at_list for r in ours]) / median([r.rss_at_list for r in base])
    print(f"peak RSS at tools/list, binance-mcp ÷ baseline: {rss_ratio:.2f}")
    ratio = ours_s / base_s
    finish(
        args,
        Summary(
            bench="startup",
            figure=f"{ms(ours_s)} to tools/list",
            baseline=f"1-tool MCPServer, same SDK and Python: {ms(base_s)}",
            ratio=ratio,
            target=f"ratio ≤ {TARGET:.2f}",
            passed=ratio <= TARGET,
        ),
        "binance-mcp ÷ baseline, median spawn → tools/list answered",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
