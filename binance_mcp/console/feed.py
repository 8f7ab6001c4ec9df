"""The audit log, followed once for every open page: one daemon thread runs the guard's
`follow` (which survives rotation and a log that does not exist yet), keeps the last records,
and hands each new one to the pages listening, which filter it with the guard's `Filter`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from binance_mcp.guard.audit import AUDIT_FILE
from binance_mcp.guard.audit_reader import Filter, Reader, follow

# Records kept for a page that opens (filtered by it); older ones are in the log itself.
BACKLOG: Final = 1000

Listener = Callable[[dict[str, Any]], None]


class AuditFeed:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / AUDIT_FILE
        self._recent: deque[dict[str, Any]] = deque(maxlen=BACKLOG)
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="console-audit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for _, record in follow(self.path, Reader()):
            with self._lock:
                self._recent.append(record)
                listeners = list(self._listeners)
            for listener in listeners:
                with contextlib.suppress(Exception):
                    listener(record)

    def subscribe(
        self, wanted: Filter, loop: asyncio.AbstractEventLoop
    ) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]], Listener]:
        """The kept records that match, and a queue of the new ones from then on."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=BACKLOG)

        def listener(record: dict[str, Any]) -> None:
            if wanted.matches(record):
                loop.call_soon_threadsafe(_offer, queue, record)

        with self._lock:
            backlog = [r for r in self._recent if wanted.matches(r)]
            self._listeners.add(listener)
        return backlog, queue, listener

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)


def _offer(queue: asyncio.Queue[dict[str, Any]], record: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a page that stopped reading misses lines
        queue.put_nowait(record)
