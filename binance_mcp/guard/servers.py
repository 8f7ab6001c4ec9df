"""Which state dirs are in use, and by which running servers.

A server marks its state dir when it starts (`binance-mcp.json`: when, by which version), so
the command line can tell a state dir that servers use from a mistyped path: `halt`, `resume`,
`approvals`, `audit` and `status` refuse a dir without the mark rather than report on, or
create, a state that no server will ever read.

While it runs, each server also has an entry in `servers/` (its pid, venue, policy and start
time), removed when it stops. A server that crashed leaves its entry behind; `status` finds
such entries (the process is gone, or its pid now belongs to another process: the entry's lock
is free) and removes them, so they are never listed as running.

Standard library only: the server, the CLI and the tests all use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

try:  # POSIX; elsewhere an entry's lock cannot be checked and the pid alone decides
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from binance_mcp.guard.trading_state import halted_by_environment

log = logging.getLogger(__name__)

MARKER_FILE: Final = "binance-mcp.json"
SERVERS_DIR: Final = "servers"
BUILT_IN_POLICY: Final = "built-in default"


class StateDirError(Exception):
    """The state dir cannot be used. The message is one line naming the dir and the reason."""


def marker_path(state_dir: Path) -> Path:
    return state_dir / MARKER_FILE


def is_used(state_dir: Path) -> bool:
    """True when a server has started on `state_dir` (or a person marked it on purpose with
    `binance-mcp halt --create`)."""
    return marker_path(state_dir).is_file()


def check_writable(state_dir: Path) -> None:
    """Create `state_dir` if needed and prove a file can be made in it. A server checks this
    before it answers anything: on a dir it cannot write, every call would fail later."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=state_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StateDirError(
            f"cannot write the state dir {state_dir}: {exc.strerror or exc}"
        ) from None


def mark(state_dir: Path, *, version: str, by: str) -> None:
    """Mark `state_dir` as used; an existing mark is kept, with its creation time."""
    path = marker_path(state_dir)
    if path.is_file():
        return
    body = {"created": _utc(time.time()), "version": version, "by": by}
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, json.dumps(body, indent=1) + "\n")
    except OSError as exc:
        raise StateDirError(
            f"cannot write the state dir {state_dir}: {exc.strerror or exc}"
        ) from None


@dataclass(frozen=True)
class ServerEntry:
    """A server in the registry, as `status` shows it."""

    pid: int
    venue: str
    policy: str
    started: float
    version: str
    halted_by_env: bool
    path: Path

    @property
    def since(self) -> str:
        return _utc(self.started)


class Registration:
    """A running server's entry in the registry; `close` (or leaving the `with`) removes it.

    The entry's file stays open and locked for the server's life: an entry whose lock is free
    belongs to no running server, even if its pid has been reused by another process."""

    def __init__(self, path: Path | None = None, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd

    def close(self) -> None:
        # Removed before the lock is let go, so `status` never takes a live entry for stale.
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def register(state_dir: Path, *, venue: str, policy: Path | None, version: str) -> Registration:
    """Mark `state_dir` and list this process as a server running on it until the returned
    registration is closed. Never raises: a server that cannot register still serves (the
    CLI has already refused a state dir it cannot write); it is then missing from `status`,
    which the log says."""
    body = {
        "pid": os.getpid(),
        "venue": venue,
        "policy": str(policy) if policy is not None else BUILT_IN_POLICY,
        "started": time.time(),
        "version": version,
        "halted_by_env": halted_by_environment(),
    }
    folder = state_dir / SERVERS_DIR
    fd: int | None = None
    tmp: str | None = None
    try:
        mark(state_dir, version=version, by=f"binance-mcp {version} server")
        folder.mkdir(exist_ok=True)
        # Several servers of one process (tests, embedders) may share a state dir: one entry each.
        final = folder / f"{os.getpid()}-{secrets.token_hex(4)}.json"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".new-", suffix=".tmp")
        # Locked before it gets its listed name, so it is never seen unlocked while alive.
        _lock(fd, exclusive=True, wait=True)
        os.write(fd, (json.dumps(body, indent=1) + "\n").encode())
        os.replace(tmp, final)
        tmp = None
    except (OSError, StateDirError) as exc:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        log.error(
            "cannot list this server in %s (%s); `binance-mcp status` will not show it",
            folder,
            reason,
        )
        return Registration()
    return Registration(final, fd)


def running(state_dir: Path) -> tuple[list[ServerEntry], list[ServerEntry]]:
    """The servers running on `state_dir`, oldest first, and the entries of servers that are
    gone (crashed, or killed), which are removed from the registry as they are found."""
    alive: list[ServerEntry] = []
    gone: list[ServerEntry] = []
    folder = state_dir / SERVERS_DIR
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError:
        paths = []
    for path in paths:
        entry = _read_entry(path)
        if entry is None:
            continue
        if _is_running(entry):
            alive.append(entry)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
            gone.append(entry)
    alive.sort(key=lambda e: e.started)
    return alive, gone


def _read_entry(path: Path) -> ServerEntry | None:
    # The pid is in the name too, so an entry whose contents are damaged is still checked.
    try:
        pid = int(path.stem.split("-", 1)[0])
    except ValueError:
        return None
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    started = raw.get("started")
    return ServerEntry(
        pid=pid,
        venue=str(raw.get("venue", "?")),
        policy=str(raw.get("policy", "?")),
        started=float(started) if isinstance(started, int | float) else 0.0,
        version=str(raw.get("version", "?")),
        halted_by_env=raw.get("halted_by_env") is True,
        path=path,
    )


def _is_running(entry: ServerEntry) -> bool:
    if not _pid_alive(entry.pid):
        return False
    if fcntl is None:
        return True
    try:
        fd = os.open(entry.path, os.O_RDONLY)
    except FileNotFoundError:
        return False  # the server stopped while we looked
    except OSError:
        return True  # cannot tell; the pid is alive
    try:
        return not _lock(fd, exclusive=False, wait=False)
    except OSError:
        return True  # a file system without locks: the pid alone decides
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        # os.kill(pid, 0) on Windows sends CTRL_C_EVENT; never risk it. Assume alive.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


def _lock(fd: int, *, exclusive: bool, wait: bool) -> bool:
    """Take a lock on `fd`; False when `wait` is off and another holds it."""
    if fcntl is None:
        return True
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    if not wait:
        flags |= fcntl.LOCK_NB
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
