"""Serving the console: uvicorn on 127.0.0.1, the token, `<state dir>/console.json` while it
runs (so that approval requests name the console), and the paper account's value sampled in
the background."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import uvicorn

from binance_mcp.console.app import build_app
from binance_mcp.console.feed import AuditFeed
from binance_mcp.console.view import ConsoleView
from binance_mcp.guard import console_link
from binance_mcp.guard.redis_state import RedisState

HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
SAMPLE_EVERY_S: Final = 2.0


@dataclass
class Console:
    """One console: `url` (with the token) is what the person opens."""

    view: ConsoleView
    port: int = DEFAULT_PORT
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _socket: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"

    def bind(self) -> None:
        """Listen now (port 0: any free one), so the URL is known before serving starts."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._socket = sock

    def _build(self) -> uvicorn.Server:
        feed = AuditFeed(self.view.state_dir)
        feed.start()
        app = build_app(self.view, feed, self.token, self.port)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._sample, name="console-values", daemon=True).start()
        return self._server

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            with contextlib.suppress(Exception):
                self.view.values.sample()

    def serve(self) -> None:
        """In the foreground until Ctrl-C or SIGTERM, then `console.json` is removed."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        server = self._build()

        def stop(signum: int, frame: object) -> None:
            server.should_exit = True

        # Ours rather than uvicorn's, which raise the signal again once stopped: SIGTERM's
        # default action would end the process before the clean-up below.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        console_link.announce(self.view.state_dir, self.base)
        try:
            asyncio.run(server.serve(sockets=[self._socket]))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._finish()

    def start(self) -> Console:
        """In a background thread (tests); `stop` ends it."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        server = self._build()
        sock = self._socket
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="console", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        console_link.announce(self.view.state_dir, self.base)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._finish()

    def _finish(self) -> None:
        self._stop.set()
        console_link.withdraw(self.view.state_dir)
        self.view.close()
        if self._socket is not None:
            self._socket.close()


def run_console(
    state_dir: Path,
    *,
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    policy: str | None = None,
    venue: str | None = None,
    shared: RedisState | None = None,
) -> int:
    """`binance-mcp console`: prints the URL (with its token) and serves until stopped."""
    import sys

    console = Console(ConsoleView(state_dir, policy=policy, venue=venue, shared=shared), port=port)
    try:
        console.bind()
    except OSError as exc:
        sys.stderr.write(
            f"binance-mcp console: error: cannot listen on {HOST}:{port}: "
            f"{exc.strerror or exc} (another console? try --port 0)\n"
        )
        return 1
    sys.stdout.write(
        f"binance-mcp console for {state_dir}\n  open {console.url}\n"
        "  (the link is the key: keep it to yourself; Ctrl-C stops the console)\n"
    )
    sys.stdout.flush()
    if open_browser:
        import webbrowser

        webbrowser.open(console.url)
    console.serve()
    sys.stdout.write("console stopped\n")
    return 0
