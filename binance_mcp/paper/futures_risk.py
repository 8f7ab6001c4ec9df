"""What the futures account is worth and how much of it is at risk: unrealized PnL, initial and
maintenance margin, available balance, liquidation prices, and the account/position/balance
reports Binance builds from them.

Liquidation price (Binance's published single-position formula, applied per position):

    LP = (WB - TMM1 + UPNL1 + cum - s * Q * EP) / (Q * MMR - s * Q)

WB is the isolated wallet of an isolated position, or the cross wallet (wallet balance less
every isolated wallet) for a cross one; TMM1 and UPNL1 are the maintenance margin and
unrealized PnL of the *other* cross positions (zero for isolated); s is +1 long / -1 short;
Q the absolute size; EP the entry price; MMR and cum come from the leverage bracket of the
position's notional at the mark price. A result at or below zero means the position cannot be
liquidated by price alone and is shown as "0", as Binance does. The paper exchange reports this
estimate but does not liquidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from binance_mcp.paper.futures_market import EIGHT_PLACES, FuturesMarket, FuturesSpec
from binance_mcp.paper.futures_models import ZERO, FuturesAccount, FuturesOrder, Position
from binance_mcp.paper.market import fmt

MAKER_RATE = Decimal("0.0002")
TAKER_RATE = Decimal("0.0005")
MARGIN_ASSET = "USDT"


def opening_qty(
    account: FuturesAccount, symbol: str, side: str, position_side: str, qty: Decimal
) -> Decimal:
    """How much of an order of `qty` would open or add to a position; the rest closes one."""
    if position_side != "BOTH":
        return qty if (position_side == "LONG") == (side == "BUY") else ZERO
    held = account.positions.get(f"{symbol}:BOTH")
    amount = held.amount if held else ZERO
    if (side == "BUY" and amount >= 0) or (side == "SELL" and amount <= 0):
        return qty
    return max(qty - abs(amount), ZERO)


@dataclass
class Figures:
    position: Position
    spec: FuturesSpec
    mark: Decimal
    leverage: int
    isolated: bool
    upnl: Decimal
    notional: Decimal  # signed, at the mark price
    initial: Decimal
    maint: Decimal


@dataclass
class Totals:
    wallet: Decimal
    cross_wallet: Decimal
    cross_upnl: Decimal
    upnl: Decimal
    position_initial: Decimal
    order_initial: Decimal
    maint: Decimal
    available: Decimal


class Risk:
    def __init__(self, account: FuturesAccount, market: FuturesMarket) -> None:
        self.account = account
        self.market = market

    def figures(self, pos: Position) -> Figures:
        spec = self.market.specs[pos.symbol]
        settings = self.account.settings_of(pos.symbol)
        mark = self.market.mark(pos.symbol)
        notional = pos.amount * mark
        return Figures(
            position=pos,
            spec=spec,
            mark=mark,
            leverage=settings.leverage,
            isolated=settings.marginType == "ISOLATED",
            upnl=pos.amount * (mark - pos.entry),
            notional=notional,
            initial=abs(notional) / settings.leverage,
            maint=spec.maint_margin(abs(notional)),
        )

    def order_margin(self, order: FuturesOrder) -> Decimal:
        """Initial margin an open order holds: the part of it that would add to a position."""
        if order.reduceOnly or order.closePosition:
            return ZERO
        qty = opening_qty(
            self.account, order.symbol, order.side, order.positionSide, order.remaining
        )
        leverage = self.account.settings_of(order.symbol).leverage
        return qty * order.price / leverage

    def totals(self) -> Totals:
        wallet = self.account.wallet.get(MARGIN_ASSET, ZERO)
        figs = [self.figures(p) for p in self.account.open_positions()]
        isolated_wallets = sum((f.position.isolated_wallet for f in figs if f.isolated), ZERO)
        cross = [f for f in figs if not f.isolated]
        cross_upnl = sum((f.upnl for f in cross), ZERO)
        order_initial = sum((self.order_margin(o) for o in self.account.orders.open_orders()), ZERO)
        cross_wallet = wallet - isolated_wallets
        available = (
            cross_wallet + cross_upnl - sum((f.initial for f in cross), ZERO) - order_initial
        )
        return Totals(
            wallet=wallet,
            cross_wallet=cross_wallet,
            cross_upnl=cross_upnl,
            upnl=sum((f.upnl for f in figs), ZERO),
            position_initial=sum((f.initial for f in figs), ZERO),
            order_initial=order_initial,
            maint=sum((f.maint for f in figs), ZERO),
            available=available,
        )

    def liquidation_price(self, f: Figures) -> Decimal:
        pos = f.position
        if pos.amount == 0:
            return ZERO
        qty, sign = abs(pos.amount), Decimal(1 if pos.amount > 0 else -1)
        bracket = f.spec.bracket_for(abs(f.notional))
        if f.isolated:
            wallet, others_maint, others_upnl = pos.isolated_wallet, ZERO, ZERO
        else:
            others = [
                self.figures(p)
                for p in self.account.open_positions()
                if p is not pos and self.account.settings_of(p.symbol).marginType == "CROSSED"
            ]
            wallet = self.totals().cross_wallet
            others_maint = sum((o.maint for o in others), ZERO)
            others_upnl = sum((o.upnl for o in others), ZERO)
        denominator = qty * bracket.mmr - sign * qty
        if denominator == 0:
            return ZERO
        price = (
            wallet - others_maint + others_upnl + bracket.cum - sign * qty * pos.entry
        ) / denominator
        return max(price, ZERO).quantize(EIGHT_PLACES)

    @staticmethod
    def break_even(pos: Position) -> Decimal:
        """Entry price moved by the taker fee paid to open and the one to close."""
        if pos.amount == 0:
            return ZERO
        if pos.amount > 0:
            return pos.entry * (1 + TAKER_RATE) / (1 - TAKER_RATE)
        return pos.entry * (1 - TAKER_RATE) / (1 + TAKER_RATE)

    # ----- reports -------------------------------------------------------------------------

    def sides(self) -> tuple[str, ...]:
        return ("LONG", "SHORT") if self.account.dualSidePosition else ("BOTH",)

    def _position(self, symbol: str, side: str) -> Position:
        held = self.account.positions.get(f"{symbol}:{side}")
        return held if held is not None else Position(symbol=symbol, positionSide=side)

    def position_risk(self, symbol: str | None, version: int) -> list[dict[str, Any]]:
        """GET /fapi/v2|v3/positionRisk. v2 lists every symbol; v3 only those holding a
        position or an open order."""
        rows = []
        for name in sorted(self.market.specs) if symbol is None else [symbol]:
            busy = bool(
                self.account.orders.open_orders(name) or self.account.algo_orders.open_orders(name)
            )
            for side in self.sides():
                pos = self._position(name, side)
                if version >= 3 and pos.amount == 0 and not busy:
                    continue
                rows.append(self._risk_row(pos, version))
        return rows

    def _risk_row(self, pos: Position, version: int) -> dict[str, Any]:
        f = self.figures(pos)
        spec = f.spec
        isolated_margin = pos.isolated_wallet + f.upnl if f.isolated and pos.amount else ZERO
        row: dict[str, Any] = {
            "symbol": pos.symbol,
            "positionSide": pos.positionSide,
            "positionAmt": spec.qty_str(pos.amount),
            "entryPrice": fmt(pos.entry),
            "breakEvenPrice": fmt(self.break_even(pos)),
            "markPrice": fmt(f.mark),
            "unRealizedProfit": fmt(f.upnl),
            "liquidationPrice": fmt(self.liquidation_price(f)),
            "isolatedMargin": fmt(isolated_margin),
            "notional": fmt(f.notional),
            "isolatedWallet": fmt(pos.isolated_wallet if f.isolated else ZERO),
        }
        if version >= 3:
            order_margin = sum(
                (
                    self.order_margin(o)
                    for o in self.account.orders.open_orders(pos.symbol)
                    if o.positionSide == pos.positionSide
                ),
                ZERO,
            )
            row |= {
                "marginAsset": MARGIN_ASSET,
                "initialMargin": fmt(f.initial + order_margin),
                "maintMargin": fmt(f.maint),
                "positionInitialMargin": fmt(f.initial),
                "openOrderInitialMargin": fmt(order_margin),
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
            }
        else:
            row |= {
                "leverage": str(f.leverage),
                "maxNotionalValue": f"{spec.max_notional(f.leverage):f}",
                "marginType": "isolated" if f.isolated else "cross",
                "isAutoAddMargin": "false",
            }
        row["updateTime"] = pos.update_time
        return row

    def balances(self, now: int) -> list[dict[str, Any]]:
        """GET /fapi/v2|v3/balance."""
        t = self.totals()
        rows = []
        for asset in self._assets():
            is_margin = asset == MARGIN_ASSET
            balance = self.account.wallet.get(asset, ZERO)
            available = max(t.available, ZERO) if is_margin else balance
            rows.append(
                {
                    "accountAlias": "SgsRmYFzTiAuPa",
                    "asset": asset,
                    "balance": fmt(balance),
                    "crossWalletBalance": fmt(t.cross_wallet if is_margin else balance),
                    "crossUnPnl": fmt(t.cross_upnl if is_margin else ZERO),
                    "availableBalance": fmt(available),
                    "maxWithdrawAmount": fmt(min(available, balance)),
                    "marginAvailable": True,
                    "updateTime": self.account.update_time or now,
                }
            )
        return rows

    def _assets(self) -> list[str]:
        return [MARGIN_ASSET, *sorted(a for a in self.account.wallet if a != MARGIN_ASSET)]

    def account_info(self, now: int, version: int) -> dict[str, Any]:
        """GET /fapi/v2|v3/account (single-asset mode)."""
        t = self.totals()
        available = max(t.available, ZERO)
        totals = {
            "totalInitialMargin": fmt(t.position_initial + t.order_initial),
            "totalMaintMargin": fmt(t.maint),
            "totalWalletBalance": fmt(t.wallet),
            "totalUnrealizedProfit": fmt(t.upnl),
            "totalMarginBalance": fmt(t.wallet + t.upnl),
            "totalPositionInitialMargin": fmt(t.position_initial),
            "totalOpenOrderInitialMargin": fmt(t.order_initial),
            "totalCrossWalletBalance": fmt(t.cross_wallet),
            "totalCrossUnPnl": fmt(t.cross_upnl),
            "availableBalance": fmt(available),
            "maxWithdrawAmount": fmt(min(available, t.cross_wallet)),
        }
        assets = []
        for asset in self._assets():
            margin = asset == MARGIN_ASSET
            balance = self.account.wallet.get(asset, ZERO)
            row = {
                "asset": asset,
                "walletBalance": fmt(balance),
                "unrealizedProfit": fmt(t.upnl if margin else ZERO),
                "marginBalance": fmt(balance + (t.upnl if margin else ZERO)),
                "maintMargin": fmt(t.maint if margin else ZERO),
                "initialMargin": fmt(t.position_initial + t.order_initial if margin else ZERO),
                "positionInitialMargin": fmt(t.position_initial if margin else ZERO),
                "openOrderInitialMargin": fmt(t.order_initial if margin else ZERO),
                "crossWalletBalance": fmt(t.cross_wallet if margin else balance),
                "crossUnPnl": fmt(t.cross_upnl if margin else ZERO),
                "availableBalance": fmt(available if margin else balance),
                "maxWithdrawAmount": fmt(min(available, t.cross_wallet) if margin else balance),
                "updateTime": self.account.update_time or now,
            }
            if version < 3:
                row["marginAvailable"] = True
            assets.append(row)
        positions = []
        for name in sorted(self.market.specs):
            for side in self.sides():
                pos = self._position(name, side)
                if version >= 3 and pos.amount == 0:
                    continue
                positions.append(self._account_position(pos, version))
        head: dict[str, Any] = {}
        if version < 3:
            head = {
                "feeTier": 0,
                "feeBurn": False,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
            }
        return {**head, **totals, "assets": assets, "positions": positions}

    def _account_position(self, pos: Position, version: int) -> dict[str, Any]:
        f = self.figures(pos)
        if version >= 3:
            return {
                "symbol": pos.symbol,
                "positionSide": pos.positionSide,
                "positionAmt": f.spec.qty_str(pos.amount),
                "unrealizedProfit": fmt(f.upnl),
                "isolatedMargin": fmt(pos.isolated_wallet + f.upnl if f.isolated else ZERO),
                "notional": fmt(f.notional),
                "isolatedWallet": fmt(pos.isolated_wallet if f.isolated else ZERO),
                "initialMargin": fmt(f.initial),
                "maintMargin": fmt(f.maint),
                "updateTime": pos.update_time,
            }
        return {
            "symbol": pos.symbol,
            "initialMargin": fmt(f.initial),
            "maintMargin": fmt(f.maint),
            "unrealizedProfit": fmt(f.upnl),
            "positionInitialMargin": fmt(f.initial),
            "openOrderInitialMargin": fmt(ZERO),
            "leverage": str(f.leverage),
            "isolated": f.isolated,
            "entryPrice": fmt(pos.entry),
            "breakEvenPrice": fmt(self.break_even(pos)),
            "maxNotional": f"{f.spec.max_notional(f.leverage):f}",
            "bidNotional": "0",
            "askNotional": "0",
            "positionSide": pos.positionSide,
            "positionAmt": f.spec.qty_str(pos.amount),
            "updateTime": pos.update_time,
        }
