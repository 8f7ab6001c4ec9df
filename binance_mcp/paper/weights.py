"""Request weight per minute, as Binance counts it: the `X-MBX-USED-WEIGHT-1M` header on
every answer, 429 with `Retry-After` past the limit, and a 418 ban for a client that keeps
sending after its 429s."""

from __future__ import annotations

from dataclasses import dataclass

from binance_mcp.paper.errors import BinanceError

BAN_SECONDS = 120


@dataclass
class WeightMeter:
    limit: int = 6000
    minute: int = -1
    used: int = 0
    banned_until_ms: int = 0

    def charge(self, weight: int, now_ms: int) -> int:
        """Counts `weight` towards this minute and returns the minute's total, or raises the
        429/418 Binance would send."""
        if now_ms < self.banned_until_ms:
            raise self._banned(now_ms)
        minute = now_ms // 60_000
        if minute != self.minute:
            self.minute, self.used = minute, 0
        self.used += weight
        if self.used > self.limit:
            retry_after = max(1, 60 - (now_ms // 1000) % 60)
            if self.used > self.limit * 2:
                self.banned_until_ms = now_ms + BAN_SECONDS * 1000
                raise self._banned(now_ms)
            raise BinanceError(
                -1003,
                f"Too much request weight used; current limit is {self.limit} request weight "
                "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                "the API.",
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        return self.used

    def _banned(self, now_ms: int) -> BinanceError:
        # As Binance does: the time left of the ban, not its full length.
        left = max(1, -(-(self.banned_until_ms - now_ms) // 1000))
        return BinanceError(
            -1003,
            f"Way too much request weight used; IP banned until {self.banned_until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
            status=418,
            headers={"Retry-After": str(left)},
        )
