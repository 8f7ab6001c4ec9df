"""Logging to stderr only: over stdio, stdout carries JSON-RPC and nothing else."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from binance_mcp.config import ConfigError

ENV_LOG_LEVEL: Final = "BINANCE_MCP_LOG_LEVEL"
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A signed request URL carries its HMAC signature in the query; HTTP libraries log such URLs.
_SIGNATURE: Final = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATE_FORMAT: Final = "%H:%M:%S"


class _RedactSignatures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # A substring test first: one line per call passes here, and hardly any has a URL.
        if "signature=" in message:
            record.msg, record.args = _SIGNATURE.sub(r"\1<redacted>", message), None
        return True


class _Formatter(logging.Formatter):
    """The time formatted once a second rather than for every record: the server logs a line
    per call."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is None or datefmt != self.datefmt:
            return super().formatTime(record, datefmt)
        return self.clock(record.created)

    def clock(self, created: float) -> str:
        """`created` (time.time()) as `formatTime` shows it with this formatter's datefmt."""
        second = int(created)
        if second != self._second:
            text = time.strftime(self.datefmt or _DATE_FORMAT, self.converter(created))
            self._text, self._second = text, second
        return self._text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, written once per turn of the event loop: the server logs a line per call, and
    with many calls in flight several end in the same turn, so their lines go out in one write
    (a system call per line was a good part of a line's cost). Only lines up to INFO that the
    loop's own thread logs while the loop runs wait, and never past the end of the turn (or of
    the process: `logging.shutdown` flushes); warnings and errors, lines from other threads
    and lines logged outside a running loop are written at once, after any that wait, so the
    order is kept."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        # The loop whose thread's lines wait for the end of the turn, and that thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle).
        try:
            text = self.format(record) + self.terminator
            if record.levelno <= logging.INFO and self._defer():
                self._waiting.append(text)
            else:
                self._write(text)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _defer(self) -> bool:
        loop = self._loop
        if loop is None or self._thread != threading.get_ident() or not loop.is_running():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return False
            self._loop, self._thread = loop, threading.get_ident()
        if not self._waiting:
            try:
                loop.call_soon(self._flush_waiting)
            except RuntimeError:  # closing
                return False
        return True

    def _flush_waiting(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._waiting:
                try:
                    self._write("")
                except (OSError, ValueError):
                    # The stream closed under the waiting lines (a host that went away, a test's
                    # captured stderr): as `logging` does with a failed write, nothing is raised
                    # into the event loop.
                    self._waiting.clear()

    def _write(self, text: str) -> None:
        stream = self.stream
        if self._waiting:
            text = "".join(self._waiting) + text
            self._waiting.clear()
        stream.write(text)
        # stderr is line-buffered (Python ≥ 3.9): the write has flushed it already.
        if not getattr(stream, "line_buffering", False):
            stream.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._waiting:
                self._write("")
        super().flush()


def info_line(logger: logging.Logger, text: str) -> None:
    """`logger.info("%s", text)`: the server's line per call. When the record could only reach
    the stderr handler `setup_logging` installs, formatted as it formats it (the configuration
    the server runs with), the line is made and handed to that handler directly: building and
    routing a `LogRecord` was most of a line's cost. Any other handler, filter or format on the
    way, and it goes through `logging` as usual."""
    if logger.disabled or not logger.isEnabledFor(logging.INFO):
        return
    handler = _plain_route(logger)
    if handler is None:
        logger.info("%s", text)
        return
    if "signature=" in text:  # as _RedactSignatures would
        text = _SIGNATURE.sub(r"\1<redacted>", text)
    now = time.time()
    formatter: _Formatter = handler.formatter  # type: ignore[assignment]
    line = f"{formatter.clock(now)} INFO {logger.name}: {text}{handler.terminator}"
    with handler.lock:  # type: ignore[union-attr]
        try:
            if handler._defer():
                handler._waiting.append(line)
            else:
                handler._write(line)
        except RecursionError:
            raise
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))


def _plain_route(logger: logging.Logger) -> _Handler | None:
    """The one handler an INFO record of `logger` would reach, if that is ours as installed,
    with nothing else on the way that could change, drop or copy it; else None."""
    found: _Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or type(handler) is not _Handler:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if (
        found is None
        or found.level > logging.INFO
        or len(found.filters) != 1
        or type(found.filters[0]) is not _RedactSignatures
        or type(found.formatter) is not _Formatter
        or found.formatter._fmt != _FORMAT
        or found.formatter.datefmt != _DATE_FORMAT
    ):
        return None
    return found


def setup_logging(env: Mapping[str, str] | None = None, level: str | None = None) -> int:
    """Send all logging to stderr. Our own loggers log at `level` (`--log-level`), else
    `BINANCE_MCP_LOG_LEVEL` (default INFO); other libraries only from WARNING up, since HTTP
    clients log request URLs at DEBUG. Returns the level. Calling it again replaces the handler
    rather than adding one."""
    if env is None:
        env = os.environ
    name = (level or env.get(ENV_LOG_LEVEL, "")).strip().upper() or "INFO"
    if name not in _LEVELS:
        raise ConfigError(
            f"{ENV_LOG_LEVEL} must be one of {', '.join(_LEVELS)} (got {env[ENV_LOG_LEVEL]!r})"
        )
    level = logging.getLevelName(name)
    assert isinstance(level, int)

    # Nothing logged here shows the caller's file and line, thread or process, and finding
    # them for every record (a stack walk, a few lookups) is most of a log call's cost; the
    # server logs a line per call (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_binance_mcp", False)]:
        root.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.setFormatter(_Formatter(_FORMAT, _DATE_FORMAT))
    handler.addFilter(_RedactSignatures())
    handler._binance_mcp = True  # type: ignore[attr-defined]
    # A root handler installed first also turns the MCP SDK's own logging.basicConfig() into a
    # no-op, so everything ends up in one format on stderr.
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("binance_mcp").setLevel(level)
    return level
