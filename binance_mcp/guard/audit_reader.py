"""Reading the audit log back (guard/audit.py writes it): its records, filtered, as a whole or
followed as lines are appended (`binance-mcp audit`). The log is its rotated files,
oldest first (`audit.jsonl.N` ... `audit.jsonl.1`), then `audit.jsonl`.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

try:  # POSIX; elsewhere one process is assumed to write the log and nothing is locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from binance_mcp.guard.audit import lock_path, rotated_numbers, rotated_path

# Often enough to feel live, rarely enough that an idle follower costs nothing.
POLL_SECONDS: Final = 0.25


def record_time(record: dict[str, Any]) -> datetime | None:
    """The record's time, or None when it is missing or unreadable. Older logs stored epoch
    seconds; current ones ISO 8601 text."""
    value = record.get("time")
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            when = datetime.fromisoformat(value.strip())
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


@dataclass(frozen=True)
class Filter:
    tools: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    since: datetime | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        if self.tools:
            tool = record.get("tool")
            if not isinstance(tool, str) or not any(
                tool == p or fnmatch.fnmatchcase(tool, p) for p in self.tools
            ):
                return False
        if self.decisions and record.get("decision") not in self.decisions:
            return False
        if self.since is not None:
            # A line without a readable time cannot be shown to be recent enough.
            when = record_time(record)
            if when is None or when < self.since:
                return False
        return True


class Reader:
    """Turns the file's bytes into records, keeping an incomplete last line for later and
    counting the lines that are not JSON objects."""

    def __init__(self) -> None:
        self.skipped = 0
        self._partial = b""

    def feed(self, data: bytes, final: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        lines = (self._partial + data).split(b"\n")
        self._partial = b"" if final else lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                self.skipped += 1
                continue
            yield line, record

    def reset(self) -> None:
        self._partial = b""


def _names(path: Path) -> list[Path]:
    """The log's rotated files, oldest first, then `path` itself."""
    return [*(rotated_path(path, n) for n in reversed(rotated_numbers(path))), path]


def log_files(path: Path) -> list[Path]:
    """The files of the log at `path` that exist now, oldest first."""
    return [p for p in _names(path) if p.exists()]


@contextmanager
def _no_rotation(path: Path) -> Iterator[None]:
    """Holds off rotation (writers take this lock exclusively to write or rotate) while the
    log's files are opened, so that none is missed or opened twice under two names."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        # No writer that rotates has used this state dir yet, or the lock is not ours to
        # read: the files are opened as they are.
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _open_files(path: Path) -> list[tuple[Path, BinaryIO]]:
    """The log's files, oldest first, each with the name it had when opened. Once open, a
    file stays readable whatever a later rotation renames or deletes."""
    opened: list[tuple[Path, BinaryIO]] = []
    try:
        with _no_rotation(path):
            for name in _names(path):
                try:
                    opened.append((name, name.open("rb")))
                except FileNotFoundError:
                    continue
    except BaseException:
        _close(opened)
        raise
    return opened


def _close(files: list[tuple[Path, BinaryIO]]) -> None:
    for _, f in files:
        f.close()


def _identity(f: BinaryIO) -> tuple[int, int]:
    st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino


def _drain(f: BinaryIO, reader: Reader) -> Iterator[tuple[str, dict[str, Any]]]:
    while chunk := f.read(1 << 16):
        yield from reader.feed(chunk)
    # A file's unfinished last line is not joined to the next file's first.
    yield from reader.feed(b"", final=True)


def read_all(path: Path, reader: Reader) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of the log at `path`, its rotated files first. FileNotFoundError when
    there is no file at all."""
    files = _open_files(path)
    if not files:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    try:
        for _, f in files:
            yield from _drain(f, reader)
    finally:
        _close(files)


def _same_file(f: BinaryIO, path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == _identity(f)


def _after(path: Path, f: BinaryIO) -> list[tuple[Path, BinaryIO]]:
    """The files that came after `f` once it was rotated away, oldest first. When `f` is not
    among the log's files (replaced by other means, or rotated past `keep` already), the new
    file at `path` is all that follows it: reading the rotated ones would repeat lines."""
    files = _open_files(path)
    own = _identity(f)
    for i, (_, g) in enumerate(files):
        if _identity(g) == own:
            _close(files[: i + 1])
            return files[i + 1 :]
    _close([(n, g) for n, g in files if n != path])
    return [(n, g) for n, g in files if n == path]


def follow(path: Path, reader: Reader) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of the log (its rotated files first), then new ones as they are appended,
    forever. Survives the file not existing yet, being truncated, being replaced, and being
    rotated however many times between two looks: each line is shown once."""
    f: BinaryIO | None = None
    # Files still to be read before the one followed: rotated ones are read to their end.
    queued: list[tuple[Path, BinaryIO]] = []
    started = False
    try:
        while True:
            if f is None and not queued:
                if not started:
                    queued = _open_files(path)
                else:
                    # The log was removed: wait for a new one, and read it from its start.
                    with suppress(FileNotFoundError):
                        queued = [(path, path.open("rb"))]
                if not queued:
                    time.sleep(POLL_SECONDS)
                    continue
                started = True
            while f is None and queued:
                name, g = queued.pop(0)
                if name == path and not queued:
                    f = g
                    reader.reset()
                    break
                try:
                    yield from _drain(g, reader)
                finally:
                    g.close()
            if f is None:
                continue
            yield from reader.feed(f.read())
            if not _same_file(f, path):
                # Rotated or replaced. A writer may have appended between the read above and
                # the rename, so read once more before moving on.
                yield from reader.feed(f.read(), final=True)
                queued = _after(path, f)
                f.close()
                f = None
                continue
            if os.fstat(f.fileno()).st_size < f.tell():
                f.seek(0)
                reader.reset()
                continue
            time.sleep(POLL_SECONDS)
    finally:
        if f is not None:
            f.close()
        _close(queued)
