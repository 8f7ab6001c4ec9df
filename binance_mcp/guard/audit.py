"""The audit log (SPEC §4.7): one JSON line per decided call in the state dir, appended and
flushed before the call's result goes back. It holds trading arguments and a digest of all
arguments, never a key, secret or signature (none of those are tool arguments).

The log rotates by size so that a long-running server cannot fill the disk: when a line would
take `audit.jsonl` past `max_bytes`, it becomes `audit.jsonl.1` (`.1` becomes `.2`, and so on;
files past `keep` are deleted) and the line starts a fresh `audit.jsonl`. Every server on a
state dir appends to the same file, so each write, and the rotation it may need, happens under
an exclusive `flock` on `audit.lock`: no line is split or lost, two processes cannot both
rotate, and a process whose file was rotated away by another reopens before writing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

try:  # POSIX; elsewhere one process is assumed to write the log and nothing is locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

AUDIT_FILE: Final = "audit.jsonl"
# Not `audit.jsonl.lock`: that would sort among the rotated files for anyone globbing them.
LOCK_FILE: Final = "audit.lock"
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
DEFAULT_KEEP: Final = 5
# As `open(path, "a")` would: the umask decides.
_FILE_MODE: Final = 0o666
TRADING_ARGS: Final = (
    "symbol",
    "side",
    "type",
    "quantity",
    "quoteOrderQty",
    "price",
    "stopPrice",
    "positionSide",
    "leverage",
    "marginType",
    "orderId",
    "origClientOrderId",
    "algoId",
)


# `json.dumps(..., default=str)` with the same output, without building an encoder per call.
_JSON: Final = json.JSONEncoder(default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def utc_now() -> str:
    """ISO 8601 in UTC with milliseconds: sortable as text and readable in the file."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(args: dict[str, Any]) -> str:
    """A stable digest of the normalised arguments (binds approvals and audit lines to a call)."""
    canonical = _JSON.encode({k: _plain(v) for k, v in sorted(args.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def trading_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(args[k]) for k in TRADING_ARGS if args.get(k) is not None}


def rotated_path(path: Path, number: int) -> Path:
    """The `number`th rotated file of the log at `path`: 1 is the newest."""
    return path.with_name(f"{path.name}.{number}")


def rotated_numbers(path: Path) -> list[int]:
    """The numbers of the log's rotated files that exist, ascending (newest first)."""
    prefix = path.name + "."
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    numbers = []
    for name in names:
        suffix = name[len(prefix) :] if name.startswith(prefix) else ""
        # Only the names rotation gives: `audit.jsonl.01` or `audit.jsonl.1.bak` are someone
        # else's files and are neither read nor deleted.
        if suffix.isascii() and suffix.isdigit() and not suffix.startswith("0"):
            numbers.append(int(suffix))
    return sorted(numbers)


def lock_path(path: Path) -> Path:
    return path.with_name(LOCK_FILE)


class AuditLog:
    def __init__(
        self, state_dir: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 (got {max_bytes})")
        if keep < 1:
            # With nothing kept, a rotation would leave no history at all for a moment.
            raise ValueError(f"keep must be at least 1 (got {keep})")
        self.path = state_dir / AUDIT_FILE
        self.max_bytes = max_bytes
        self.keep = keep
        self._fd: int | None = None
        # (st_dev, st_ino) of the file `_fd` writes to: the one at the path, unless rotated away.
        self._identity: tuple[int, int] | None = None
        self._lock_fd: int | None = None
        # flock excludes other open files, not other threads using the same one.
        self._lock = threading.Lock()
        self._rotation_failing = False
        # Lines waiting for the end of the event loop's turn (`append`).
        self._batch: _Batch | None = None

    def _open(self) -> int:
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, _FILE_MODE)
        if self._fd is None:
            # O_APPEND: each line is one write() at the end of the file, whoever else appends.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
            try:
                own = os.fstat(fd)
            except OSError:
                os.close(fd)
                raise
            self._fd, self._identity = fd, (own.st_dev, own.st_ino)
        return self._fd

    def problem(self) -> str | None:
        """Why the log cannot be written, or None: checked before a write or order is sent, so
        that nothing goes out unrecorded."""
        with self._lock:
            try:
                self._open()
                # Also a log removed (or rotated away) since the last write: the next write
                # goes to the file at the path, so that is the one that must be writable.
                self._current()
            except OSError as exc:
                return f"{self.path}: {exc.strerror or type(exc).__name__}"
        return None

    def write(self, record: dict[str, Any]) -> None:
        self._append_now(_line(record))

    async def append(self, record: dict[str, Any]) -> None:
        """`write`, for a caller that can wait for the end of the event loop's turn: the lines
        of the calls that end in the same turn go out together, under one lock and in one
        write (the lock, the check for a rotation and the write are four system calls, and
        with many calls in flight several end in each turn). Returns once the line is in the
        file; raises `OSError` as `write` does, for each line of the batch."""
        batch = self._batch
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._batch = _Batch(loop.create_future())
            loop.call_soon(self._write_batch, batch)
        batch.lines.append(_line(record))
        await asyncio.shield(batch.done)

    def _write_batch(self, batch: _Batch) -> None:
        if self._batch is batch:
            self._batch = None
        if batch.done.done():
            return
        try:
            self._append_now(b"".join(batch.lines))
        except OSError as exc:
            batch.done.set_exception(exc)
            batch.done.exception()  # retrieved: a caller that was cancelled meanwhile is gone
        else:
            batch.done.set_result(None)

    def _append_now(self, data: bytes) -> None:
        with self._lock:
            self._open()
            # Taken inline: this runs on every call, and a generator-based context manager
            # costs more than the lock itself.
            locked = fcntl is not None and self._lock_fd is not None
            if locked:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
            try:
                fd, size = self._current()
                # An empty file takes the line whatever its size: rotating it would only
                # shift history out for nothing.
                if size > 0 and size + len(data) > self.max_bytes:
                    fd = self._rotate(fd)
                _write_all(fd, data)
            finally:
                if locked:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._batch is not None:  # lines still waiting for the end of the turn
            self._write_batch(self._batch)
        with self._lock:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None
            self._identity = None

    def _current(self) -> tuple[int, int]:
        """The file now at the log's path and its size, reopened if another process rotated
        ours away (or someone removed it) since the last write. One stat: when the path still
        names our file, its size is our file's."""
        assert self._fd is not None
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            named = None
        if named is not None and (named.st_dev, named.st_ino) == self._identity:
            return self._fd, named.st_size
        os.close(self._fd)
        self._fd = self._identity = None
        fd = self._open()
        return fd, os.fstat(fd).st_size

    def _rotate(self, fd: int) -> int:
        """Shift the files up by one and start a new log; the descriptor to write to. Called
        with the lock held, so the check that made it needed still holds."""
        try:
            self._shift()
        except OSError as exc:
            # The line matters more than the size: it goes to the full file, and the next
            # write tries again. Said once, not on every call.
            if not self._rotation_failing:
                log.warning(
                    "audit log %s not rotated (%s); it keeps growing until it can be",
                    self.path,
                    exc,
                )
            self._rotation_failing = True
            return fd
        if self._rotation_failing:
            log.warning("audit log %s rotated again", self.path)
        self._rotation_failing = False
        os.close(fd)
        self._fd = self._identity = None
        return self._open()

    def _shift(self) -> None:
        numbers = set(rotated_numbers(self.path))
        # Only the run .1, .2, ... .k moves up, into the first gap: a rotation that failed
        # halfway leaves a gap and the next one then drops nothing more.
        run = 0
        while run + 1 in numbers:
            run += 1
        for number in sorted(numbers):
            # Past `keep` (a larger `keep` before, or a run that would be pushed past it).
            if number > run and number > self.keep:
                rotated_path(self.path, number).unlink(missing_ok=True)
        for number in range(run, 0, -1):
            old = rotated_path(self.path, number)
            if number >= self.keep:
                old.unlink(missing_ok=True)
            else:
                os.replace(old, rotated_path(self.path, number + 1))
        # Last: until this rename, the file being written is still the log.
        os.replace(self.path, rotated_path(self.path, 1))


@dataclass
class _Batch:
    done: asyncio.Future[None]
    lines: list[bytes] = field(default_factory=list)


def _line(record: dict[str, Any]) -> bytes:
    # `_plain` inlined: a function call per field adds up on every call.
    plain = {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in record.items()}
    return (_JSON.encode(plain) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
