"""What every tool result has in common, and small shared row models.

Every result names the venue that answered, so paper or testnet figures can never pass for
live ones. Prices and quantities stay decimal strings, exactly as Binance sent them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from binance_mcp.exchange.venues import Venue


class Result(BaseModel):
    venue: Venue = Field(description="Which venue answered: live, testnet, demo or paper")


class Kline(BaseModel):
    openTime: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    closeTime: int
    quoteVolume: str
    trades: int


def kline_rows(rows: list[list[object]]) -> list[Kline]:
    return [
        Kline(
            openTime=int(str(r[0])),
            open=str(r[1]),
            high=str(r[2]),
            low=str(r[3]),
            close=str(r[4]),
            volume=str(r[5]),
            closeTime=int(str(r[6])),
            quoteVolume=str(r[7]),
            trades=int(str(r[8])),
        )
        for r in rows
    ]
