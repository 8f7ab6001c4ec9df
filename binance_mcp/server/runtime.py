"""What tools share for the life of the server: the settings, the venue's endpoints, the guard
and the approver (tools/declare.py's `Runtime` is the part tools may use).

For the in-process paper venue the exchange starts in a background thread, so `initialize` and
`tools/list` are answered without waiting for it; a tool that needs the endpoints waits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Final

from pydantic import SecretStr

from binance_mcp.config import Settings
from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.exchange.venues import Endpoints
from binance_mcp.guard.gate import Guard
from binance_mcp.server import heap
from binance_mcp.server.approval import Approver

if TYPE_CHECKING:
    from binance_mcp.paper.runner import PaperExchange

log = logging.getLogger(__name__)

# Starting the paper exchange takes well under a second; this only bounds a broken start.
PAPER_START_TIMEOUT: Final = 60.0


class VenueUnavailable(ToolFailure):
    """The venue could not be set up (the in-process paper exchange failed to start)."""


class Runtime:
    def __init__(
        self,
        settings: Settings,
        endpoints: Future[Endpoints],
        guard: Guard,
        start_venue: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.approver = Approver(settings.approval_timeout)
        # What the API key check at start found (exchange/key_check.py), for
        # binance_account_status; empty when the key was not checked (paper, no keys).
        self.key_warnings: list[str] = []
        self._endpoints = endpoints
        # Starts the in-process paper exchange if it has not started yet (idempotent).
        self._start_venue = start_venue
        self._exchange: Exchange | None = None
        self._exchange_lock = asyncio.Lock()

    async def exchange(self) -> Exchange:
        """The venue's client, built at the first call that needs it (never for `tools/list`:
        importing python-binance costs ~0.4 s) and shared by every call after."""
        if self._exchange is None:
            async with self._exchange_lock:
                if self._exchange is None:
                    endpoints = await self.wait_endpoints()
                    from binance_mcp.exchange.binance_api import make_async_client

                    policy = self.settings.retry
                    client = make_async_client(endpoints, policy)
                    self._exchange = Exchange(endpoints, client, policy=policy)
                    heap.grown()  # python-binance and its imports, for the whole run
        return self._exchange

    async def wait_endpoints(self) -> Endpoints:
        if self._start_venue is not None:
            self._start_venue()
        try:
            async with asyncio.timeout(PAPER_START_TIMEOUT):
                return await asyncio.wrap_future(self._endpoints)
        except TimeoutError:
            raise VenueUnavailable(
                f"the paper exchange did not start within {PAPER_START_TIMEOUT:.0f} s"
            ) from None
        except Exception as exc:
            raise VenueUnavailable(f"the paper exchange failed to start: {exc}") from None

    async def aclose(self) -> None:
        await self.guard.aclose()
        if self._exchange is not None:
            await self._exchange.close()
            self._exchange = None


class PaperStarter:
    """Starts the in-process paper exchange on a thread (once, however often asked) and stops
    it once started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.future: Future[Endpoints] = Future()
        self._exchange: PaperExchange | None = None
        self._thread = threading.Thread(target=self._start, name="paper-start", daemon=True)
        self._lock = threading.Lock()
        self._started = self._stopped = False

    def start(self) -> None:
        with self._lock:
            if self._started or self._stopped:
                return
            try:
                self._thread.start()
            except RuntimeError as exc:  # "can't start new thread": tell the waiting call
                self._stopped = True  # one try: a failed start is not retried
                log.error("paper exchange failed to start: %s", exc)
                self.future.set_exception(exc)
            else:
                self._started = True

    def _start(self) -> None:
        try:
            from binance_mcp.paper.runner import PaperConfig, start_paper_exchange

            config = PaperConfig(state_dir=self.settings.paper_state_dir)
            config.use_keys(self.settings.api_key, self.settings.api_secret)
            self.settings.paper_state_dir.mkdir(parents=True, exist_ok=True)
            self._exchange = start_paper_exchange(config)
            endpoints = Endpoints(
                "paper",
                self._exchange.spot_url,
                self._exchange.futures_url,
                SecretStr(config.api_key),
                SecretStr(config.api_secret),
            )
            log.info("paper exchange listening at %s", self._exchange.base_url)
            heap.grown()  # the exchange and its imports, for the whole run
            self.future.set_result(endpoints)
        except BaseException as exc:  # handed to the tool that asks for the endpoints
            log.error("paper exchange failed to start: %s", exc)
            self.future.set_exception(exc)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if not self._started:  # and never will: a late start() does nothing
                self.future.cancel()
                return
        self._thread.join(PAPER_START_TIMEOUT)
        if self._exchange is not None:
            self._exchange.stop()
            self._exchange = None
