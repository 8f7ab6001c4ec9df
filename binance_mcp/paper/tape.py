"""The public trade tape as Binance's trade endpoints page through it: recent trades, and
aggregate trades by id (`fromId`) or time (`startTime` / `endTime`). Every paper trade is
its own aggregate (one taker, one price), so an aggregate's first and last trade ids are its
own id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from binance_mcp.paper.errors import BinanceError
from binance_mcp.paper.market import PublicTrade
from binance_mcp.paper.params import Params

HOUR_MS = 3_600_000


def select(
    trades: Iterable[PublicTrade], p: Params, max_span_ms: int | None = None
) -> list[PublicTrade]:
    """The trades an aggTrades request asks for, oldest first: from `fromId` or `startTime`
    on, up to `endTime`, at most `limit` (default 500, max 1000); the most recent ones when
    none of the three is sent. USD-M refuses a `startTime`..`endTime` span over an hour."""
    limit = p.limit(500, 1000)
    from_id, start, end = p.integer("fromId"), p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None:
        if start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        if max_span_ms is not None and end - start > max_span_ms:
            raise BinanceError(
                -1127, f"More than {max_span_ms // HOUR_MS} hours between startTime and endTime."
            )
    rows = [
        t
        for t in trades
        if (from_id is None or t.id >= from_id)
        and (start is None or t.time >= start)
        and (end is None or t.time <= end)
    ]
    # From a given id or time: the first `limit`; otherwise the latest `limit`.
    return rows[:limit] if from_id is not None or start is not None else rows[-limit:]


def agg_rows(
    trades: Iterable[PublicTrade],
    price: Callable[[PublicTrade], str],
    qty: Callable[[PublicTrade], str],
    best_match: bool,
) -> list[dict[str, Any]]:
    """Binance's aggregate-trade objects; spot adds `M` (best price match), USD-M does not."""
    rows = []
    for t in trades:
        row: dict[str, Any] = {
            "a": t.id,
            "p": price(t),
            "q": qty(t),
            "f": t.id,
            "l": t.id,
            "T": t.time,
            "m": t.is_buyer_maker,
        }
        if best_match:
            row["M"] = True
        rows.append(row)
    return rows
