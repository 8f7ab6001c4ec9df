"""How calls to the venue are bounded and retried: the settings the exchange wing is built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# One HTTP request to the venue, in seconds: long enough for a slow link to Binance, short
# enough that an agent waiting on a tool call hears about a dead connection quickly.
DEFAULT_TIMEOUT: Final = 10.0
# One tool's exchange call with all its retries and waits, in seconds (at least 3 timeouts).
DEFAULT_BUDGET: Final = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """How calls to the venue are bounded and retried (SPEC §6).

    Reads, cancels by id and other idempotent calls are retried on 429, 5xx and network errors
    with exponential backoff and jitter (`backoff` doubling up to `backoff_max`, or longer when
    the exchange's Retry-After says so), for at most `attempts` tries and `budget` seconds. New
    orders are never retried blind (tools/orders.py)."""

    timeout: float = DEFAULT_TIMEOUT
    attempts: int = 4
    budget: float = DEFAULT_BUDGET
    backoff: float = 0.25
    backoff_max: float = 4.0
    # Binance's own default, and what it recommends: a signed request older than this on the
    # exchange's clock is refused, so a delayed order can never land long after it was sent.
    recv_window_ms: int = 5000
