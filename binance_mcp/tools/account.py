"""Account tools (SPEC §3.1): spot account and balances, the USD-M futures account and
positions, and the server's own diagnostics."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context
from pydantic import BaseModel, BeforeValidator, Field

from binance_mcp.exchange.binance_api import midpoint_ms
from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.tools.args import Symbol, upper
from binance_mcp.tools.declare import Runtime, exchange, tool
from binance_mcp.tools.results import Result

Ctx = Context[Runtime, Any]


class SpotAccount(BaseModel):
    accountType: str
    canTrade: bool
    canWithdraw: bool
    canDeposit: bool
    permissions: list[str]
    commissionRates: dict[str, str] = Field(description="maker, taker, buyer, seller (fractions)")
    updateTime: int


class AccountInfo(Result):
    account: SpotAccount


@tool("read", "Spot account")
async def binance_account_info(ctx: Ctx) -> AccountInfo:
    """Spot account: rights, permissions, commission."""
    ex = await exchange(ctx)
    a = await ex.read("get_account", omitZeroBalances="true")
    account = SpotAccount(
        accountType=a.get("accountType", "SPOT"),
        canTrade=bool(a.get("canTrade")),
        canWithdraw=bool(a.get("canWithdraw")),
        canDeposit=bool(a.get("canDeposit")),
        permissions=list(a.get("permissions") or []),
        commissionRates={k: str(v) for k, v in (a.get("commissionRates") or {}).items()},
        updateTime=int(a.get("updateTime") or 0),
    )
    return AccountInfo(venue=ex.venue, account=account)


class Balance(BaseModel):
    asset: str
    free: str
    locked: str


class Balances(Result):
    balances: list[Balance]


@tool("read", "Spot balances")
async def binance_spot_balances(
    ctx: Ctx,
    asset: Annotated[
        str | None,
        BeforeValidator(upper),
        Field(description="e.g. USDT"),
    ] = None,
) -> Balances:
    """Non-zero spot balances, free and locked."""
    ex = await exchange(ctx)
    a = await ex.read("get_account", omitZeroBalances="true")
    rows = [
        Balance(asset=b["asset"], free=b["free"], locked=b["locked"])
        for b in a.get("balances", [])
        if (asset is None or b["asset"] == asset)
        and (Decimal(b["free"]) != 0 or Decimal(b["locked"]) != 0)
    ]
    return Balances(venue=ex.venue, balances=rows)


class FuturesAsset(BaseModel):
    asset: str
    walletBalance: str
    unrealizedProfit: str
    marginBalance: str
    availableBalance: str


class FuturesTotals(BaseModel):
    totalWalletBalance: str
    totalUnrealizedProfit: str
    totalMarginBalance: str
    totalInitialMargin: str
    totalMaintMargin: str
    availableBalance: str
    maxWithdrawAmount: str


class FuturesAccount(Result):
    account: Literal["USD-M futures"]
    totals: FuturesTotals
    assets: list[FuturesAsset]


@tool("read", "USD-M futures account")
async def binance_portfolio_account(ctx: Ctx) -> FuturesAccount:
    """USD-M futures account: wallet, unrealized PnL, margin."""
    ex = await exchange(ctx)
    a = await ex.read("futures_account")
    return FuturesAccount(
        venue=ex.venue,
        account="USD-M futures",
        totals=FuturesTotals(**{k: a[k] for k in FuturesTotals.model_fields}),
        assets=[
            FuturesAsset(**{k: r[k] for k in FuturesAsset.model_fields})
            for r in a.get("assets", [])
            if Decimal(r["walletBalance"]) != 0 or Decimal(r["unrealizedProfit"]) != 0
        ],
    )


class Position(BaseModel):
    symbol: str
    positionSide: str
    side: Literal["LONG", "SHORT"]
    positionAmt: str
    entryPrice: str
    markPrice: str
    unRealizedProfit: str
    liquidationPrice: str
    notional: str
    leverage: int | None
    marginType: str | None


class Positions(Result):
    positions: list[Position]


@tool("read", "Futures positions")
async def binance_futures_positions(ctx: Ctx, symbol: Symbol | None = None) -> Positions:
    """Open USD-M positions: size, entry, mark, PnL, liquidation."""
    ex = await exchange(ctx)
    rows = [
        r
        for r in await ex.read("futures_position_information", symbol=symbol)
        if Decimal(r["positionAmt"]) != 0
    ]
    configs = await _symbol_configs(ex, {r["symbol"] for r in rows})
    return Positions(
        venue=ex.venue,
        positions=[
            Position(
                symbol=r["symbol"],
                positionSide=r["positionSide"],
                side="LONG" if Decimal(r["positionAmt"]) > 0 else "SHORT",
                positionAmt=r["positionAmt"],
                entryPrice=r["entryPrice"],
                markPrice=r["markPrice"],
                unRealizedProfit=r["unRealizedProfit"],
                liquidationPrice=r["liquidationPrice"],
                notional=r["notional"],
                leverage=configs.get(r["symbol"], {}).get("leverage"),
                marginType=configs.get(r["symbol"], {}).get("marginType"),
            )
            for r in rows
        ],
    )


async def _symbol_configs(ex: Exchange, symbols: set[str]) -> dict[str, dict[str, Any]]:
    # positionRisk v3 no longer carries leverage and margin type; symbolConfig does.
    if not symbols:
        return {}
    only = {"symbol": next(iter(symbols))} if len(symbols) == 1 else {}
    rows = await ex.read("futures_symbol_config", **only)
    return {r["symbol"]: r for r in rows if r["symbol"] in symbols}


# --- diagnostics -----------------------------------------------------------------------------------


class Reachability(BaseModel):
    url: str
    reachable: bool
    latencyMs: int | None
    error: str | None = None


class HostStatus(BaseModel):
    usedWeight: int = Field(description="X-MBX-USED-WEIGHT-1M this minute")
    weightLimit: int = Field(description="Request weight allowed per minute")
    bannedUntil: str | None = Field(
        description="End (UTC) of an IP ban (HTTP 418); nothing is sent to the host before"
    )


class AccountStatus(Result):
    spot: Reachability
    futures: Reachability
    serverTime: int | None
    clockOffsetMs: int | None = Field(description="serverTime - local time")
    keysSet: bool
    hosts: dict[str, HostStatus] = Field(description="Request weight and IP bans, by host")
    policy: str = Field(description="Policy file in force, or the built-in default")
    policyMode: str
    policyError: str | None = Field(description="Why the last edit of the file was refused")
    halted: str | None = Field(description="Why trading is halted (kill switch), if it is")
    keyWarnings: list[str] = Field(description="API key check at start")
    trading: str = Field(description="Trading state (active, reducing, halted) and why")


@tool("read", "Server status")
async def binance_account_status(ctx: Ctx) -> AccountStatus:
    """Reachability, clock offset, keys, weight, bans, policy."""
    runtime = ctx.request_context.lifespan_context
    ex = await exchange(ctx)
    (spot, spot_time), (futures, futures_time) = await asyncio.gather(
        _probe(ex, "get_server_time", ex.endpoints.spot_url),
        _probe(ex, "futures_time", ex.endpoints.futures_url),
    )
    # The spot host's clock, or the futures host's when spot does not answer (down, or banned).
    spot_time = spot_time or futures_time
    offset = None
    if spot_time is not None:
        offset = spot_time[0] - spot_time[1]
    guard = runtime.guard
    return AccountStatus(
        venue=ex.venue,
        spot=spot,
        futures=futures,
        serverTime=spot_time[0] if spot_time else None,
        clockOffsetMs=offset,
        keysSet=ex.endpoints.has_keys,
        hosts={url: HostStatus(**row) for url, row in ex.gates.snapshot().items()},
        policy=guard.policy.describe(),
        policyMode=guard.policy.current().mode,
        policyError=guard.policy.error,
        halted=await guard.halted(),
        keyWarnings=list(runtime.key_warnings),
        trading=(await guard.trading()).why(),
    )


async def _probe(
    ex: Exchange, method: str, url: str
) -> tuple[Reachability, tuple[int, int] | None]:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    before = time.time()
    try:
        answer = await ex.read(method)
    except ToolFailure as exc:
        return Reachability(url=origin, reachable=False, latencyMs=None, error=str(exc)), None
    after = time.time()
    local_ms = midpoint_ms(before, after)
    latency = round((after - before) * 1000)
    return (
        Reachability(url=origin, reachable=True, latencyMs=latency),
        (int(answer["serverTime"]), local_ms),
    )
