"""Start and stop the paper exchange: in a background thread (for the stdio server and the
tests) or in the foreground (for `binance-mcp paper`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

from binance_mcp.paper.config import DEFAULT_FUTURES_BALANCES, DEFAULT_SPOT_BALANCES, PaperConfig

log = logging.getLogger("binance_mcp.paper")

__all__ = ["DEFAULT_FUTURES_BALANCES", "DEFAULT_SPOT_BALANCES", "PaperConfig", "PaperExchange"]


class PaperExchange:
    """A paper exchange serving HTTP on a loopback port from its own thread and event loop,
    so a blocked caller (a sync python-binance request, a busy MCP loop) never stalls it."""

    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = config.port
        from binance_mcp.paper.state import PaperState

        self.state = PaperState(config)

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def spot_url(self) -> str:
        return self.base_url + "/api"

    @property
    def futures_url(self) -> str:
        return self.base_url + "/fapi"

    def start(self) -> PaperExchange:
        self._thread = threading.Thread(target=self._run, name="paper-exchange", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("paper exchange did not start within 30 s")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        from binance_mcp.paper.app import build_app

        self._stop = asyncio.Event()
        app = build_app(self.state)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self.port = runner.addresses[0][1]  # the OS's choice when port 0 was asked for
        self._ready.set()
        try:
            await self.state.run_background(self._stop)
        finally:
            await runner.cleanup()
            self.state.save()

    def stop(self) -> None:
        # Stopping twice (a test's finally after an explicit stop) is a no-op.
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> PaperExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_paper_exchange(config: PaperConfig) -> PaperExchange:
    """Start a paper exchange in a background thread; returns once it accepts connections."""
    return PaperExchange(config).start()


async def serve_forever(
    config: PaperConfig, on_start: Callable[[str], None] | None = None
) -> signal.Signals | None:
    """Run a paper exchange in the current event loop until SIGTERM or SIGINT, or until
    cancelled (`binance-mcp paper`); returns the signal that stopped it. `on_start` gets the
    base URL once it listens (the real port when 0 was asked for)."""
    from aiohttp import web

    from binance_mcp.paper.app import build_app
    from binance_mcp.paper.state import PaperState

    stop = asyncio.Event()
    received: list[signal.Signals] = []
    # Before anything listens, so a signal sent as soon as the URL is out is never missed.
    installed = _stop_on_signals(stop, received)
    state = PaperState(config)
    runner = web.AppRunner(build_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    port = runner.addresses[0][1]
    if on_start is not None:
        on_start(f"http://{config.host}:{port}")
    try:
        await state.run_background(stop)
    finally:
        # A second signal while shutting down gets the default action: it stops at once.
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        stop.set()
        await runner.cleanup()
        state.save()
    return received[0] if received else None


def _stop_on_signals(stop: asyncio.Event, received: list[signal.Signals]) -> list[signal.Signals]:
    """Make SIGTERM and SIGINT end the run in order (the account saved, exit 0) rather than
    by an interrupt, whatever dispositions were inherited: `cmd &` in a non-interactive shell
    starts the process with SIGINT ignored, and a handler of our own replaces that. Returns
    the signals handled; none off the main thread or where the loop cannot take signals
    (Windows, where Ctrl-C still ends the run as KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        return []
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):

        def on_signal(sig: signal.Signals = sig) -> None:
            received.append(sig)
            stop.set()

        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    return installed
