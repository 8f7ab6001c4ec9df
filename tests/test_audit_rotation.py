"""The audit log rotates by size: `audit.jsonl` becomes `audit.jsonl.1` (and so on, up to `keep`
files) before a line would take it past `max_bytes`. Shown on real files: where rotation
happens, what is kept, several processes writing and rotating the same log at once, and
`binance-mcp audit` (with and without `--follow`) reading across the rotated files in order.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import pytest

from binance_mcp import __version__
from binance_mcp.config import ConfigError, resolve_settings
from binance_mcp.guard import audit_reader, servers
from binance_mcp.guard.audit import DEFAULT_KEEP, DEFAULT_MAX_BYTES, AuditLog
from binance_mcp.guard.audit_reader import Reader, follow, read_all

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def record(seq: int, writer: str = "a") -> dict[str, Any]:
    """A call one minute after the previous one; every line the same length (seq < 10 000)."""
    when = START + timedelta(minutes=seq)
    return {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "tool": "binance_spot_place_order",
        "decision": "allow",
        "args": {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
        "writer": writer,
        "seq": f"{seq:04d}",
    }


LINE = len(json.dumps(record(0)) + "\n")


def files(state: Path) -> list[str]:
    """The audit log's file names in the state dir, as `ls` sorts them."""
    return sorted(p.name for p in state.iterdir() if p.name.startswith("audit.jsonl"))


def seqs(path: Path) -> list[int]:
    return [int(json.loads(line)["seq"]) for line in path.read_text().splitlines()]


def write(log: AuditLog, numbers: range) -> None:
    for seq in numbers:
        log.write(record(seq))


# --- rotation by size, in one process ---------------------------------------------------------


def test_rotates_before_a_line_would_pass_max_bytes(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=3 * LINE, keep=5)
    write(log, range(3))
    # Exactly at the size is not past it.
    assert files(tmp_path) == ["audit.jsonl"]
    assert (tmp_path / "audit.jsonl").stat().st_size == 3 * LINE
    write(log, range(3, 8))
    log.close()
    assert files(tmp_path) == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert seqs(tmp_path / "audit.jsonl.2") == [0, 1, 2]
    assert seqs(tmp_path / "audit.jsonl.1") == [3, 4, 5]
    assert seqs(tmp_path / "audit.jsonl") == [6, 7]


def test_one_byte_less_and_the_third_line_starts_a_new_file(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=3 * LINE - 1, keep=5)
    write(log, range(3))
    log.close()
    assert seqs(tmp_path / "audit.jsonl.1") == [0, 1]
    assert seqs(tmp_path / "audit.jsonl") == [2]


def test_keep_drops_the_oldest_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=2)
    write(log, range(9))
    log.close()
    # Lines 0-3 were in the files pushed past .2.
    assert files(tmp_path) == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert seqs(tmp_path / "audit.jsonl.2") == [4, 5]
    assert seqs(tmp_path / "audit.jsonl.1") == [6, 7]
    assert seqs(tmp_path / "audit.jsonl") == [8]


def test_a_smaller_keep_later_drops_the_extra_files_at_the_next_rotation(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=LINE, keep=4)
    write(log, range(5))
    log.close()
    assert files(tmp_path)[-1] == "audit.jsonl.4"
    log = AuditLog(tmp_path, max_bytes=LINE, keep=2)
    write(log, range(5, 6))
    log.close()
    assert files(tmp_path) == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert [seqs(tmp_path / n) for n in ("audit.jsonl.2", "audit.jsonl.1", "audit.jsonl")] == [
        [3],
        [4],
        [5],
    ]


def test_a_line_longer_than_max_bytes_is_written_whole(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=LINE // 2, keep=3)
    write(log, range(2))
    log.close()
    assert seqs(tmp_path / "audit.jsonl.1") == [0]
    assert seqs(tmp_path / "audit.jsonl") == [1]


def test_files_not_made_by_rotation_are_left_alone(tmp_path: Path) -> None:
    for name in ("audit.jsonl.01", "audit.jsonl.1.bak", "audit.jsonl.x"):
        (tmp_path / name).write_text("mine\n")
    log = AuditLog(tmp_path, max_bytes=LINE, keep=1)
    write(log, range(4))
    log.close()
    assert files(tmp_path) == [
        "audit.jsonl",
        "audit.jsonl.01",
        "audit.jsonl.1",
        "audit.jsonl.1.bak",
        "audit.jsonl.x",
    ]


def test_a_writer_whose_file_another_rotated_away_writes_to_the_new_file(tmp_path: Path) -> None:
    first = AuditLog(tmp_path, max_bytes=2 * LINE, keep=3)
    second = AuditLog(tmp_path, max_bytes=2 * LINE, keep=3)
    first.write(record(0))
    write(second, range(1, 3))  # the second line rotates the file `first` holds open
    first.write(record(3))
    first.close()
    second.close()
    assert seqs(tmp_path / "audit.jsonl.1") == [0, 1]
    assert seqs(tmp_path / "audit.jsonl") == [2, 3]


def test_a_failed_rotation_keeps_the_line_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(tmp_path, max_bytes=LINE, keep=3)
    log.write(record(0))
    real_replace = os.replace

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", refuse)
    with caplog.at_level(logging.WARNING, logger="binance_mcp.guard.audit"):
        write(log, range(1, 3))
    # Said once, not on every call; the lines are where a reader finds them.
    assert [r.getMessage() for r in caplog.records] == [
        f"audit log {tmp_path / 'audit.jsonl'} not rotated ([Errno 13] Permission denied: "
        f"'{tmp_path / 'audit.jsonl'}'); it keeps growing until it can be"
    ]
    assert seqs(tmp_path / "audit.jsonl") == [0, 1, 2]
    monkeypatch.setattr(os, "replace", real_replace)
    log.write(record(3))
    log.close()
    assert files(tmp_path) == ["audit.jsonl", "audit.jsonl.1"]
    assert seqs(tmp_path / "audit.jsonl.1") == [0, 1, 2]
    assert seqs(tmp_path / "audit.jsonl") == [3]


def test_the_defaults_apply_when_the_server_passes_only_the_state_dir(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    assert (log.max_bytes, log.keep) == (DEFAULT_MAX_BYTES, DEFAULT_KEEP) == (10 * 1024**2, 5)


# --- several processes on one log -------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    from binance_mcp.guard.audit import AuditLog

    state, max_bytes, keep = sys.argv[1:]
    log = AuditLog(Path(state), max_bytes=int(max_bytes), keep=int(keep))
    log.problem()  # opened, as a server's first call does
    print("ready", flush=True)
    for record in json.loads(sys.stdin.readline()):  # all start writing together
        log.write(record)
    """
)


def run_writers(state: Path, names: str, count: int, max_bytes: int, keep: int) -> None:
    """One process per name, each writing `count` records to the log at once with the others."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(state), str(max_bytes), str(keep)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in names
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        batches = [json.dumps([record(seq, name) for seq in range(count)]) for name in names]
        for p, batch in zip(procs, batches, strict=True):
            assert p.stdin is not None
            p.stdin.write(batch + "\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def read_log(state: Path) -> list[dict[str, Any]]:
    """Every line of the log's files, oldest file first; each must be one JSON object."""
    numbered = sorted(
        (int(n.rsplit(".", 1)[1]) for n in files(state) if n != "audit.jsonl"), reverse=True
    )
    lines: list[dict[str, Any]] = []
    for path in [*(state / f"audit.jsonl.{n}" for n in numbered), state / "audit.jsonl"]:
        for line in path.read_text().splitlines():
            lines.append(json.loads(line))  # fails on a split or merged line
    return lines


def test_processes_writing_and_rotating_together_lose_and_split_no_line(tmp_path: Path) -> None:
    count, max_bytes = 1500, 100 * LINE
    run_writers(tmp_path, "abcd", count, max_bytes, keep=1000)
    lines = read_log(tmp_path)
    assert len(lines) == 4 * count
    for name in "abcd":
        # Each writer's lines, read across the files oldest first, in the order written.
        assert [int(r["seq"]) for r in lines if r["writer"] == name] == list(range(count))
    assert all((tmp_path / n).stat().st_size <= max_bytes for n in files(tmp_path))
    # Nothing was lost to a rotation racing another: every file is full but the last.
    assert len(files(tmp_path)) == -(-4 * count // 100)
    switches = sum(a["writer"] != b["writer"] for a, b in pairwise(lines))
    assert switches > 10, "the writers did not run at the same time; the test shows nothing"


def test_processes_on_a_small_keep_leave_keep_full_files(tmp_path: Path) -> None:
    run_writers(tmp_path, "ab", 500, 10 * LINE, keep=3)
    assert files(tmp_path) == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    lines = read_log(tmp_path)
    assert len(lines) == 4 * 10
    for name in "ab":
        mine = [int(r["seq"]) for r in lines if r["writer"] == name]
        assert mine == sorted(mine)
    # The newest lines are the ones kept.
    assert int(lines[-1]["seq"]) == 499


# --- `binance-mcp audit` across rotated files -------------------------------------------------


def audit_cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A server marks its state dir when it starts; `audit` refuses one without the mark.
    servers.mark(state, version=__version__, by="test")
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp", "audit", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_audit_shows_rotated_files_first_oldest_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=3 * LINE, keep=5)
    write(log, range(10))
    log.close()
    assert files(tmp_path)[-1] == "audit.jsonl.3"

    done = audit_cli(tmp_path, "--json")
    assert done.returncode == 0 and done.stderr == ""
    assert [int(json.loads(line)["seq"]) for line in done.stdout.splitlines()] == list(range(10))

    done = audit_cli(tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    shown = done.stdout.splitlines()
    assert [" ".join(line.split()[:2]) for line in shown] == [
        f"2026-11-21 10:{minute:02d}:00Z" for minute in range(10)
    ]
    assert shown[0].split()[2:8] == [
        "allow",
        "binance_spot_place_order",
        "BTCUSDT",
        "BUY",
        "MARKET",
        "0.001",
    ]


def test_since_spans_rotated_and_current_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=3 * LINE, keep=5)
    write(log, range(10))
    log.close()
    # From line 4 (in audit.jsonl.2) to line 9 (in audit.jsonl).
    done = audit_cli(tmp_path, "--json", "--since", "2026-11-21T10:04")
    assert done.returncode == 0 and done.stderr == ""
    assert [int(json.loads(line)["seq"]) for line in done.stdout.splitlines()] == list(range(4, 10))


def test_audit_reads_rotated_files_when_the_current_one_is_gone(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=5)
    write(log, range(5))
    log.close()
    (tmp_path / "audit.jsonl").unlink()
    done = audit_cli(tmp_path, "--json")
    assert done.returncode == 0 and done.stderr == ""
    assert [int(json.loads(line)["seq"]) for line in done.stdout.splitlines()] == [0, 1, 2, 3]


def test_malformed_lines_in_rotated_files_are_counted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=5)
    write(log, range(3))
    log.close()
    with (tmp_path / "audit.jsonl.1").open("a") as f:
        f.write("not json\n")
    done = audit_cli(tmp_path, "--json")
    assert [int(json.loads(line)["seq"]) for line in done.stdout.splitlines()] == [0, 1, 2]
    assert done.stderr == (
        f"binance-mcp audit: skipped 1 malformed line(s) in {tmp_path / 'audit.jsonl'} "
        "and its rotated files (not a JSON object)\n"
    )


class Follower:
    """`binance-mcp audit --follow --json` in a subprocess; its stdout lines through a queue so
    that a missing line fails the test instead of hanging it."""

    def __init__(self, state: Path) -> None:
        command = ["audit", "--follow", "--json", "--state-dir", str(state)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def seqs(self, count: int) -> list[int]:
        got = []
        for _ in range(count):
            try:
                line = self.lines.get(timeout=10)
            except queue.Empty:
                raise AssertionError(f"only {got} within 10 s") from None
            assert line is not None, f"stdout closed after {got}"
            got.append(int(json.loads(line)["seq"]))
        return got

    def stop(self) -> tuple[list[str], str]:
        """Ctrl-C; whatever else came on stdout, and stderr."""
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=10) == 0
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        return rest, self.proc.stderr.read()


@pytest.fixture
def follower() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for f in started:
        if f.proc.poll() is None:
            f.proc.kill()
            f.proc.wait()


def test_follow_shows_every_line_once_across_rotations(
    tmp_path: Path, follower: list[Follower]
) -> None:
    log = AuditLog(tmp_path, max_bytes=4 * LINE, keep=1000)
    write(log, range(10))
    f = Follower(tmp_path)
    follower.append(f)
    # The rotated files first, then the current one.
    assert f.seqs(10) == list(range(10))

    # A few lines, each seen before the next: one rotation at a time.
    for seq in range(10, 13):
        log.write(record(seq))
        assert f.seqs(1) == [seq]

    # A burst: dozens of rotations between two looks of the follower, lines still
    # arriving while it reads the files rotated meanwhile.
    write(log, range(13, 400))
    assert f.seqs(387) == list(range(13, 400))
    log.close()

    rest, err = f.stop()
    assert rest == [] and "Traceback" not in err


def test_follow_starts_on_a_rotated_log_and_goes_on_with_new_files(
    tmp_path: Path, follower: list[Follower]
) -> None:
    f = Follower(tmp_path)
    follower.append(f)
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=3)
    # More than `keep` rotations at once: what was dropped before the follower looked is
    # gone; what it shows is in order, once, up to the last line.
    write(log, range(20))
    shown = f.seqs(1)
    while shown[-1] != 19:
        shown += f.seqs(1)
    assert shown == sorted(set(shown)) and shown[-2:] == [18, 19]
    log.write(record(20))
    assert f.seqs(1) == [20]
    log.close()
    rest, _ = f.stop()
    assert rest == []


def test_follow_reads_what_was_appended_just_before_the_rotation(tmp_path: Path) -> None:
    """In-process, to place the rotation exactly: between the follower's last read of the file
    and its noticing that the file was renamed, a line is appended and the file rotated."""
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=3)
    log.write(record(0))
    records = follow(tmp_path / "audit.jsonl", Reader())
    try:
        assert int(next(records)[1]["seq"]) == 0
        log.write(record(1))
        log.write(record(2))  # rotates [0, 1] to audit.jsonl.1
        # One at a time: a follower that lost line 1 would wait forever for a third line.
        assert int(next(records)[1]["seq"]) == 1
        assert int(next(records)[1]["seq"]) == 2
    finally:
        records.close()
        log.close()


def test_reading_the_files_holds_off_a_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation between listing the files and opening them would show [2, 3] and [4]
    instead of [0, 1] and [2, 3]; the reader holds the writers' lock while it opens them."""
    log = AuditLog(tmp_path, max_bytes=2 * LINE, keep=3)
    write(log, range(4))
    rotated = threading.Thread(target=log.write, args=(record(4),))
    list_files = audit_reader.rotated_numbers

    def listed_then_rotated(path: Path) -> list[int]:
        numbers = list_files(path)
        rotated.start()
        rotated.join(timeout=0.2)  # long enough for a rotation that is not held off
        return numbers

    monkeypatch.setattr(audit_reader, "rotated_numbers", listed_then_rotated)
    shown = [int(r["seq"]) for _, r in read_all(tmp_path / "audit.jsonl", Reader())]
    rotated.join()
    log.close()
    assert shown == [0, 1, 2, 3]
    assert seqs(tmp_path / "audit.jsonl") == [4]


# --- the settings -----------------------------------------------------------------------------


def test_settings_from_the_environment(tmp_path: Path) -> None:
    settings = resolve_settings({}, state_dir=tmp_path)
    assert (settings.audit_max_bytes, settings.audit_keep) == (10 * 1024**2, 5)
    settings = resolve_settings(
        {"BINANCE_MCP_AUDIT_MAX_BYTES": "50M", "BINANCE_MCP_AUDIT_KEEP": "20"}, state_dir=tmp_path
    )
    assert (settings.audit_max_bytes, settings.audit_keep) == (50 * 1024**2, 20)
    for text, size in (("65536", 65536), ("512k", 512 * 1024), ("1 GiB", 1024**3), ("2MB", 2**21)):
        env = {"BINANCE_MCP_AUDIT_MAX_BYTES": text}
        assert resolve_settings(env, state_dir=tmp_path).audit_max_bytes == size


SIZE_ERROR = (
    "BINANCE_MCP_AUDIT_MAX_BYTES must be a size from 1 KiB to 1 TiB, in bytes or with K, M or G "
    "(KiB, MiB, GiB), e.g. 10M (got {!r})"
)
KEEP_ERROR = "BINANCE_MCP_AUDIT_KEEP must be a whole number from 1 to 1000 (got {!r})"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "ten megs", SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "1.5M", SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "100", SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "2T", SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "-1", SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_MAX_BYTES", "9" * 5000, SIZE_ERROR),
        ("BINANCE_MCP_AUDIT_KEEP", "0", KEEP_ERROR),
        ("BINANCE_MCP_AUDIT_KEEP", "1001", KEEP_ERROR),
        ("BINANCE_MCP_AUDIT_KEEP", "five", KEEP_ERROR),
        ("BINANCE_MCP_AUDIT_KEEP", "2.5", KEEP_ERROR),
    ],
)
def test_bad_settings_are_refused_saying_what_is_valid(
    name: str, value: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_settings({name: value}, state_dir=tmp_path)
    assert str(caught.value) == message.format(value)


def test_the_server_refuses_to_start_on_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "BINANCE_MCP_STATE_DIR": str(tmp_path), "BINANCE_MCP_AUDIT_KEEP": "0"}
    env.pop("BINANCE_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "binance_mcp"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"binance-mcp: error: {KEEP_ERROR.format('0')}\n"
