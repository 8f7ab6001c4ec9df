"""Binance's rate limits: request weight per minute (the `X-MBX-USED-WEIGHT-1M` header on
every answer, 429 with `Retry-After` past the limit, and a 418 ban for a client that keeps
sending after its 429s), and new orders per interval (the `ORDERS` limits of exchangeInfo,
`X-MBX-ORDER-COUNT-<n><unit>` headers on every accepted order, 429 with -1015 past them).

`scale` multiplies every limit (`binance-mcp paper --limits`); None lifts them, for
benchmarks, while the counts are still kept and reported."""

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
    scale: float | None = 1.0

    @property
    def effective_limit(self) -> int:
        return self.limit if self.scale is None else max(1, int(self.limit * self.scale))

    def charge(self, weight: int, now_ms: int) -> int:
        """Counts `weight` towards this minute and returns the minute's total, or raises the
        429/418 Binance would send."""
        if now_ms < self.banned_until_ms:
            raise self._banned(now_ms)
        minute = now_ms // 60_000
        if minute != self.minute:
            self.minute, self.used = minute, 0
        self.used += weight
        if self.scale is None:
            return self.used
        limit = self.effective_limit
        if self.used > limit:
            retry_after = max(1, 60 - (now_ms // 1000) % 60)
            if self.used > limit * 2:
                self.banned_until_ms = now_ms + BAN_SECONDS * 1000
                raise self._banned(now_ms)
            raise BinanceError(
                -1003,
                f"Too much request weight used; current limit is {limit} request weight "
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


@dataclass(frozen=True)
class OrderLimit:
    """One `ORDERS` limit as exchangeInfo lists it."""

    interval: str  # SECOND, MINUTE, DAY
    interval_num: int
    limit: int

    @property
    def millis(self) -> int:
        return (
            self.interval_num * {"SECOND": 1000, "MINUTE": 60_000, "DAY": 86_400_000}[self.interval]
        )

    @property
    def header(self) -> str:
        return f"X-MBX-ORDER-COUNT-{self.interval_num}{self.interval[0]}"

    def wire(self, scale: float | None) -> dict[str, object]:
        limit = self.limit if scale is None else max(1, int(self.limit * scale))
        return {
            "rateLimitType": "ORDERS",
            "interval": self.interval,
            "intervalNum": self.interval_num,
            "limit": limit,
        }


# Binance's own, as its exchangeInfo lists them (spot: 10 s and a day; USD-M: 10 s and 1 min).
SPOT_ORDER_LIMITS = (OrderLimit("SECOND", 10, 100), OrderLimit("DAY", 1, 200_000))
FUTURES_ORDER_LIMITS = (OrderLimit("MINUTE", 1, 1200), OrderLimit("SECOND", 10, 300))


@dataclass
class OrderCounter:
    """New orders per window of each `ORDERS` limit (windows aligned to the epoch, as the
    weight minute is)."""

    limits: tuple[OrderLimit, ...]
    scale: float | None = 1.0

    def __post_init__(self) -> None:
        self._window: dict[OrderLimit, int] = {}
        self._count: dict[OrderLimit, int] = {}

    def _used(self, limit: OrderLimit, now_ms: int) -> int:
        window = now_ms // limit.millis
        if self._window.get(limit) != window:
            self._window[limit], self._count[limit] = window, 0
        return self._count[limit]

    def check(self, now_ms: int, orders: int = 1) -> None:
        """Raises what Binance answers when `orders` more would pass a limit."""
        if self.scale is None:
            return
        for limit in self.limits:
            allowed = max(1, int(limit.limit * self.scale))
            if self._used(limit, now_ms) + orders > allowed:
                # Binance sends this 429 without Retry-After.
                raise BinanceError(
                    -1015,
                    f"Too many new orders; current limit is {allowed} orders per "
                    f"{limit.interval_num} {limit.interval}.",
                    status=429,
                )

    def add(self, now_ms: int, orders: int = 1) -> dict[str, str]:
        """Counts accepted orders; returns the headers Binance sends with them."""
        headers = {}
        for limit in self.limits:
            self._count[limit] = self._used(limit, now_ms) + orders
            headers[limit.header] = str(self._count[limit])
        return headers

    def remove(self, now_ms: int, orders: int) -> None:
        """Spot's unfilled-order rule: an order's first fill takes it off the current windows'
        counts (Binance does so shortly after the fill, so the answer that placed an order
        filling at once still counts it)."""
        for limit in self.limits:
            self._count[limit] = max(0, self._used(limit, now_ms) - orders)

    def wire(self) -> list[dict[str, object]]:
        return [limit.wire(self.scale) for limit in self.limits]

    def usage(self, now_ms: int) -> list[dict[str, object]]:
        """GET /api/v3/rateLimit/order: each limit with this window's count."""
        return [
            {**limit.wire(self.scale), "count": self._used(limit, now_ms)} for limit in self.limits
        ]
