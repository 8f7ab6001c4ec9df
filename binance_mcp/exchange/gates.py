"""Request weight and bans, per venue host (SPEC §6).

Binance limits each IP by request weight per minute and per host (the spot API and the USD-M
futures API count separately). Every answer carries `X-MBX-USED-WEIGHT-1M`; past the limit the
host answers 429 with `Retry-After`, and a client that keeps sending is banned with 418 for
2 minutes up to 3 days. A `HostGates` sits in front of every request:

- close to the limit it slows down, and at the limit it waits for the next minute instead of
  sending (or, when that wait is longer than the call may take, refuses with `RateLimited`);
- after a 429 it holds every request to that host until Retry-After has passed;
- after a 418 it sends nothing to that host until the ban ends (`HostBanned`, with the end).

Hosts are keyed by the venue's base URL (`.../api`, `.../fapi`): on Binance these are different
hosts, and the paper exchange, which serves both from one port, counts them apart as well.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from binance_mcp.exchange.errors import HostBanned, RateLimited

# Binance's REQUEST_WEIGHT limits per minute until exchange info says otherwise.
DEFAULT_SPOT_LIMIT: Final = 6000
DEFAULT_FUTURES_LIMIT: Final = 2400
# Past SLOW_AT of the minute's limit each request is delayed (up to MAX_PACE seconds, growing
# as the use nears STOP_AT); at STOP_AT nothing is sent until the next minute.
SLOW_AT: Final = 0.80
STOP_AT: Final = 0.95
MAX_PACE: Final = 1.0
# Binance's shortest ban, assumed when a 418 names no end.
DEFAULT_BAN_SECONDS: Final = 120.0
# Assumed when a 429 carries no Retry-After.
DEFAULT_RETRY_AFTER: Final = 1.0

# When (time.time()) the exchange call in progress must be done by: a wait that would end
# later is refused at once rather than started. Set by `Exchange` around each call.
CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "binance_mcp_call_deadline", default=None
)

_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")


@dataclass
class HostState:
    url: str
    label: str
    limit: int
    used: int = 0
    # The exchange's minute (epoch ms // 60 000) that `used` counts in.
    minute: int = -1
    cool_until: float = 0.0
    banned_until: float = 0.0
    ban_message: str = ""


def iso(seconds: float) -> str:
    """An epoch time as ISO 8601 UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HostGates:
    def __init__(
        self,
        venue: str,
        spot_url: str,
        futures_url: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.venue = venue
        # The exchange's clock minus ours, in ms (weight counts per exchange minute); kept
        # current by the client whenever it syncs its clock.
        self.offset_ms = 0
        self.clock = clock
        self.sleep = sleep
        self.spot = HostState(spot_url, "spot API", DEFAULT_SPOT_LIMIT)
        self.futures = HostState(futures_url, "USD-M futures API", DEFAULT_FUTURES_LIMIT)
        parts = urlsplit(futures_url)
        self._futures_data = f"{parts.scheme}://{parts.netloc}/futures/"

    # --- which host -----------------------------------------------------------------------

    def host_for(self, url: str) -> HostState:
        """The host a request URL goes to (futures data endpoints count as futures)."""
        if url.startswith(self.futures.url + "/") or url.startswith(self._futures_data):
            return self.futures
        return self.spot

    @property
    def hosts(self) -> tuple[HostState, HostState]:
        return self.spot, self.futures

    # --- before a request -------------------------------------------------------------------

    async def before(self, url: str) -> None:
        """Wait until a request to `url` may be sent, or raise `HostBanned` / `RateLimited`."""
        host = self.host_for(url)
        now = self.clock()
        if host.banned_until > now:
            raise self.banned(host)
        wait, why = self._wait(host, now)
        if wait <= 0:
            return
        deadline = CALL_DEADLINE.get()
        if deadline is not None and now + wait > deadline:
            raise RateLimited(
                f"{why}; sending now risks an IP ban, so nothing was sent. The "
                f"{host.label} ({host.url}) takes requests again in {wait:.0f} s "
                f"(at {iso(now + wait)})"
            )
        await self.sleep(wait)

    def _wait(self, host: HostState, now: float) -> tuple[float, str]:
        # Runs before every request: the texts are built only when there is a wait to explain.
        wait, why = 0.0, ""
        if host.cool_until > now:
            wait = host.cool_until - now
            why = f"the {self.venue} venue answered 429 (too many requests)"
        server_ms = now * 1000 + self.offset_ms
        if host.minute == int(server_ms // 60_000) and host.limit > 0:
            share = host.used / host.limit
            if share >= SLOW_AT:
                if share >= STOP_AT:
                    pace = (60_000 - server_ms % 60_000) / 1000 + 0.1
                else:
                    pace = MAX_PACE * (share - SLOW_AT) / (STOP_AT - SLOW_AT)
                if pace > wait:
                    wait = pace
                    why = (
                        f"request weight on the {self.venue} venue's {host.label} is at "
                        f"{host.used} of {host.limit} this minute"
                    )
        return wait, why

    def banned(self, host: HostState) -> HostBanned:
        left = max(0.0, host.banned_until - self.clock())
        text = (
            f"the {self.venue} venue's {host.label} ({host.url}) has banned this IP for sending "
            f"too many requests (HTTP 418) until {iso(host.banned_until)}, {left:.0f} s from "
            "now; binance-mcp sends it nothing until then"
        )
        if host.ban_message:
            text += f" (Binance: {host.ban_message})"
        return HostBanned(text, host.url, host.banned_until)

    # --- after an answer ----------------------------------------------------------------------

    def record(self, url: str, status: int, headers: Mapping[str, str]) -> None:
        """Note the weight an answer reports, and a 429's Retry-After."""
        host = self.host_for(url)
        now = self.clock()
        used = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if used is not None and used.isdigit():
            host.used = int(used)
            host.minute = self._minute(now)
        if status == 429:
            wait = retry_after(headers)
            host.cool_until = max(host.cool_until, now + (wait or DEFAULT_RETRY_AFTER))

    def ban(self, url: str, headers: Mapping[str, str], message: str) -> HostBanned:
        """Record a 418 and return the failure to raise. The end is the later of the message's
        "banned until <ms>" (the exchange's clock) and Retry-After; 2 minutes when neither."""
        host = self.host_for(url)
        now = self.clock()
        ends = []
        found = _BANNED_UNTIL.search(message)
        if found:
            ends.append((int(found.group(1)) - self.offset_ms) / 1000)
        wait = retry_after(headers)
        if wait is not None:
            ends.append(now + wait)
        host.banned_until = max(ends) if ends else now + DEFAULT_BAN_SECONDS
        host.ban_message = message[:200]
        return self.banned(host)

    def learn_limits(self, url: str, rate_limits: Iterable[Mapping[str, Any]]) -> None:
        """Take the host's per-minute REQUEST_WEIGHT limit from exchange info's rateLimits."""
        for row in rate_limits:
            if (
                row.get("rateLimitType") == "REQUEST_WEIGHT"
                and row.get("interval") == "MINUTE"
                and row.get("intervalNum") == 1
                and isinstance(row.get("limit"), int)
            ):
                self.host_for(url).limit = int(row["limit"])

    # --- for diagnostics ----------------------------------------------------------------------

    def _minute(self, now: float) -> int:
        return int((now * 1000 + self.offset_ms) // 60_000)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per host: the weight used this minute, the limit, and the end of a ban in force."""
        now = self.clock()
        minute = self._minute(now)
        return {
            h.url: {
                "usedWeight": h.used if h.minute == minute else 0,
                "weightLimit": h.limit,
                "bannedUntil": iso(h.banned_until) if h.banned_until > now else None,
            }
            for h in self.hosts
        }


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (Binance sends a number of seconds), or None."""
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None
