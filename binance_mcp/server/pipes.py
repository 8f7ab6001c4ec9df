"""stdin and stdout as the event loop's own pipes, for the stdio transport.

The SDK's stdio transport reads each line and writes (then flushes) each answer through a worker
thread: three thread hops per call, each ~35-50 µs of CPU and a wait for the interpreter lock
while the loop is busy, which under many calls in flight costs more than the guard itself. When
both ends are pipes or sockets, as an MCP host starts a server, they are read and written here
by the event loop directly (non-blocking), with the same lines going in and out:

- in: the input split at each newline and decoded as UTF-8 with replacement, as the SDK reads
  it; a line has no size limit here (server/intake.py answers one that is too long). Read only
  as fast as the lines are taken, so a client that sends faster waits on its pipe as before;
- out: one write per answer, awaited while the pipe is full. A reader that has gone is a
  `BrokenPipeError`, as before. While serving, fd 1 points at stderr (as the SDK arranges it),
  so a stray `print()` cannot corrupt the JSON-RPC stream; it is restored on exit.

Anything else (a terminal, a file, another event loop) keeps the SDK's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Iterator
from typing import Final

try:  # POSIX; elsewhere the SDK's threads serve stdio
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# How much is read from the pipe at a time; the reader also buffers at most about twice this.
CHUNK: Final = 1 << 16
# At the end, how long answers still buffered may take to reach a client that reads slowly.
FLUSH_TIMEOUT: Final = 5.0


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    # Not a terminal or a file: making one of those non-blocking would affect whoever else
    # shares it (the shell), and a file cannot be watched by the event loop.
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _private(fd: int) -> int:
    """A close-on-exec duplicate of `fd` above the standard range."""
    assert fcntl is not None
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)


class _Drain(asyncio.Protocol):
    """Write-side flow control: `drained` waits while the pipe's buffer is over its mark."""

    def __init__(self) -> None:
        self._paused: asyncio.Future[None] | None = None
        self.lost = False

    def pause_writing(self) -> None:
        if self._paused is None:
            self._paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)
        self._paused = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.resume_writing()

    async def drained(self) -> None:
        if self._paused is not None:
            await self._paused


class PipeWriter:
    """The `write`/`flush` pair the SDK's stdio transport writes answers with."""

    def __init__(self, transport: asyncio.WriteTransport, drain: _Drain) -> None:
        self._transport = transport
        self._drain = drain

    async def write(self, text: str) -> None:
        if self._drain.lost or self._transport.is_closing():
            raise BrokenPipeError("the client closed its end of stdout")
        self._transport.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._drain.drained()
        if self._drain.lost:
            raise BrokenPipeError("the client closed its end of stdout")


async def lines(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    """The input's lines, each with its newline (the last one may have none)."""
    pending = bytearray()
    while True:
        end = pending.find(b"\n")
        if end >= 0:
            line = bytes(pending[: end + 1])
            del pending[: end + 1]
            yield line.decode("utf-8", errors="replace")
            continue
        chunk = await reader.read(CHUNK)
        if not chunk:
            if pending:
                yield bytes(pending).decode("utf-8", errors="replace")
            return
        pending += chunk


@contextlib.asynccontextmanager
async def stdio_pipes() -> AsyncIterator[tuple[AsyncIterator[str], PipeWriter] | None]:
    """The input's lines and a writer for answers, or None when stdin and stdout are not both
    pipes or sockets, or the loop is not asyncio's (the caller then uses the SDK's threads)."""
    connected = await _connect()
    if connected is None:
        yield None
        return
    reader, read_transport, write_transport, drain = connected
    try:
        # fd 1 points at stderr until the end, as the SDK's own transport arranges it.
        with _diverted_stdout():
            yield lines(reader), PipeWriter(write_transport, drain)
            # What was written must reach the client before the pipe is closed.
            write_transport.set_write_buffer_limits(high=0)  # drained = nothing left to write
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_TIMEOUT):
                    await drain.drained()
    finally:
        read_transport.close()
        write_transport.abort()  # nothing left to write, or the session is being torn down
        # The transports made the shared open files non-blocking; whoever has them next
        # (a later session in this process) expects them as they were.
        for fd in (0, 1):
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)


async def _connect() -> (
    tuple[asyncio.StreamReader, asyncio.ReadTransport, asyncio.WriteTransport, _Drain] | None
):
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if fcntl is None or not (_is_pipe(0) and _is_pipe(1)):
        return None
    try:
        wire_in = _private(0)
    except OSError:
        return None
    # From here the transports own the duplicates: closing a transport closes its file.
    reader = asyncio.StreamReader(limit=CHUNK, loop=loop)
    try:
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
            os.fdopen(wire_in, "rb", buffering=0),
        )
    except (OSError, ValueError):
        return None
    drain = _Drain()
    try:
        write_transport, _ = await loop.connect_write_pipe(
            lambda: drain, os.fdopen(_private(1), "wb", buffering=0)
        )
    except (OSError, ValueError):
        read_transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(0, True)
        return None
    return reader, read_transport, write_transport, drain


@contextlib.contextmanager
def _diverted_stdout() -> Iterator[None]:
    # Best effort, as the SDK's: failing that, fd 1 stays the wire, and a stray print would
    # reach the client, as it did before the SDK diverted it.
    try:
        saved = _private(1)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.dup2(saved, 1)
        with contextlib.suppress(OSError):
            os.close(saved)
