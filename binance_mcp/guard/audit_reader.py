"""Reading the audit log back (guard/audit.py writes it): its records, filtered, as a whole or
followed as lines are appended (`binance-mcp audit`, the console).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

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


def read_all(path: Path, reader: Reader) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            yield from reader.feed(chunk)
    yield from reader.feed(b"", final=True)


def _same_file(f: BinaryIO, path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    own = os.fstat(f.fileno())
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def follow(path: Path, reader: Reader) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record in the file, then new ones as they are appended, forever. Survives the file
    not existing yet, being truncated, and being replaced (rotation): the new file is read from
    its start."""
    f: BinaryIO | None = None
    try:
        while True:
            if f is None:
                try:
                    f = path.open("rb")
                except FileNotFoundError:
                    time.sleep(POLL_SECONDS)
                    continue
                reader.reset()
            yield from reader.feed(f.read())
            if not _same_file(f, path):
                # Whatever the old file still held was read just above; move to the new one.
                yield from reader.feed(b"", final=True)
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
