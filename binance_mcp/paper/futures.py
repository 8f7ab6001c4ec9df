"""The USD-M futures account and its matching: regular orders (LIMIT, MARKET) with Binance's
checks, fills against the contract's book, positions in one-way and hedge mode, commission
and realized PnL, funding and the dead-man switch. Conditional orders live in `futures_algo`,
settings in `futures_settings`, history in `futures_history`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError, mandatory, not_required
from binance_mcp.paper.filters import check_futures_order
from binance_mcp.paper.futures_algo import AlgoEngine
from binance_mcp.paper.futures_market import (
    EIGHT_PLACES,
    FUNDING_INTERVAL_MS,
    FuturesMarket,
    FuturesSpec,
)
from binance_mcp.paper.futures_models import (
    ZERO,
    FuturesAccount,
    FuturesOrder,
    FuturesTrade,
    Income,
    Position,
)
from binance_mcp.paper.futures_params import (
    CANCEL_ALL_DONE,
    CONDITIONAL_TYPES,
    ORDER_TYPES,
    POSITION_SIDES,
    SIDES,
    STP_MODES,
    STP_RANGE_MSG,
    TIME_IN_FORCE,
    WORKING_TYPES,
    check_precision,
    flag,
)
from binance_mcp.paper.futures_risk import (
    MAKER_RATE,
    MARGIN_ASSET,
    TAKER_RATE,
    Risk,
    opening_qty,
)
from binance_mcp.paper.lookup import find_order
from binance_mcp.paper.market import BookLevel
from binance_mcp.paper.params import Params, new_client_id

GTD_MIN_AHEAD_MS = 600_000
# After a long downtime, settle at most this many missed funding times (30 days' worth).
MAX_FUNDING_CATCH_UP = 90


class FuturesEngine:
    def __init__(self, account: FuturesAccount, market: FuturesMarket) -> None:
        self.account = account
        self.market = market
        self.risk = Risk(account, market)
        self.algo = AlgoEngine(self)

    # ----- reading -------------------------------------------------------------------------

    def spec(self, symbol: str | None) -> FuturesSpec:
        if symbol is None:
            raise mandatory("symbol")
        spec = self.market.specs.get(symbol)
        if spec is None:
            raise E.err(E.INVALID_SYMBOL)
        return spec

    def side_of(self, p: Params) -> str:
        side = p.choice("side", SIDES, -1117, "Invalid side.")
        if side is None:
            raise mandatory("side")
        return side

    def position_side(self, p: Params) -> str:
        """The order's position side, held to the account's mode as Binance holds it."""
        raw = p.text("positionSide")
        if raw is not None and raw not in POSITION_SIDES:
            raise E.err(E.INVALID_POSITION_SIDE)
        if self.account.dualSidePosition:
            if raw not in ("LONG", "SHORT"):
                raise E.err(E.POSITION_SIDE_MISMATCH)
            return raw
        if raw not in (None, "BOTH"):
            raise E.err(E.POSITION_SIDE_MISMATCH)
        return "BOTH"

    def reduce_only(self, p: Params) -> bool:
        # Hedge mode expresses closing through positionSide; Binance refuses the flag there.
        if self.account.dualSidePosition and "reduceOnly" in p:
            raise not_required("reduceOnly")
        return bool(flag(p, "reduceOnly"))

    def amount(self, symbol: str, side: str) -> Decimal:
        held = self.account.positions.get(f"{symbol}:{side}")
        return held.amount if held else ZERO

    def open_orders(self, symbol: str | None) -> list[FuturesOrder]:
        if symbol is not None:
            self.spec(symbol)
        return self.account.orders.open_orders(symbol)

    def open_counts(self, symbol: str) -> tuple[int, int]:
        orders = len(self.account.orders.open_orders(symbol))
        return orders, len(self.account.algo_orders.open_orders(symbol))

    def find(self, p: Params, missing: tuple[int, str]) -> FuturesOrder:
        symbol = self.spec(p.text("symbol")).symbol
        return find_order(self.account.orders, symbol, p, missing)

    # ----- placing -------------------------------------------------------------------------

    def place(self, p: Params, now: int, test: bool) -> dict[str, Any]:
        spec = self.spec(p.text("symbol"))
        side = self.side_of(p)
        kind = p.choice("type", ORDER_TYPES, -1116, "Invalid orderType.")
        if kind is None:
            raise mandatory("type")
        if kind in CONDITIONAL_TYPES:
            raise E.err(E.USE_ALGO_API)
        position_side = self.position_side(p)
        reduce_only = self.reduce_only(p)
        if flag(p, "closePosition"):
            raise not_required("closePosition")
        for name in ("stopPrice", "activationPrice", "callbackRate"):
            if name in p:
                raise not_required(name)
        tif = p.choice("timeInForce", TIME_IN_FORCE, -1115, "Invalid timeInForce.")
        resp_type = p.choice(
            "newOrderRespType", ("ACK", "RESULT"), -1136, "Invalid newOrderRespType."
        )
        stp = p.choice("selfTradePreventionMode", STP_MODES, -1100, STP_RANGE_MSG)
        p.choice("workingType", WORKING_TYPES, *E.INVALID_WORKING_TYPE)
        if p.text("priceMatch") not in (None, "NONE"):
            raise BinanceError(-1130, "Data sent for parameter 'priceMatch' is not valid.")
        flag(p, "priceProtect")
        client_id = p.client_id("newClientOrderId")
        quantity = p.decimal("quantity")
        price = p.decimal("price")
        if kind == "LIMIT":
            if tif is None:
                raise mandatory("timeInForce")
            if quantity is None:
                raise mandatory("quantity")
            if price is None:
                raise mandatory("price")
        else:
            if tif is not None:
                raise not_required("timeInForce")
            if quantity is None:
                raise mandatory("quantity")
            if price is not None:
                raise not_required("price")
        gtd = p.integer("goodTillDate")
        if tif == "GTD":
            if gtd is None:
                raise mandatory("goodTillDate")
            if gtd <= now + GTD_MIN_AHEAD_MS or gtd >= 253402300799000:
                raise BinanceError(
                    -5040,
                    "The goodTillDate timestamp must be greater than the current time plus 600 seconds and smaller than 253402300799000",
                )
        elif gtd is not None:
            raise not_required("goodTillDate")
        check_precision(spec, p, ("price",))
        orders, algos = self.open_counts(spec.symbol)
        check_futures_order(
            spec,
            side=side,
            kind=kind,
            quantity=quantity,
            price=price,
            trigger=None,
            mark=self.market.mark(spec.symbol),
            reduce_only=reduce_only,
            open_orders=orders,
            open_algos=algos,
            algo=False,
        )
        if client_id is not None and any(
            o.clientOrderId == client_id for o in self.open_orders(None)
        ):
            raise E.err(E.FUT_DUPLICATE_ORDER)
        assert quantity is not None
        order, ack = self.submit(
            spec,
            side=side,
            position_side=position_side,
            kind=kind,
            qty=quantity,
            price=price or ZERO,
            tif=tif or "GTC",
            reduce_only=reduce_only,
            client_id=client_id,
            now=now,
            stp=stp or "EXPIRE_MAKER",
            gtd=gtd or 0,
            test=test,
        )
        if test or order is None:
            return {}
        return ack if resp_type in (None, "ACK") else order.placed(spec)

    def submit(
        self,
        spec: FuturesSpec,
        *,
        side: str,
        position_side: str,
        kind: str,
        qty: Decimal,
        price: Decimal,
        tif: str,
        reduce_only: bool,
        client_id: str | None,
        now: int,
        close_position: bool = False,
        orig_type: str | None = None,
        stop_price: Decimal = ZERO,
        working_type: str = "CONTRACT_PRICE",
        price_protect: bool = False,
        stp: str = "EXPIRE_MAKER",
        gtd: int = 0,
        algo_id: int = 0,
        test: bool = False,
    ) -> tuple[FuturesOrder | None, dict[str, Any]]:
        """Checks that depend on the account (reduce-only, margin, post-only), then books and
        executes the order. Returns it with its acknowledgement (its state before matching)."""
        self._check_reduce(spec, side, position_side, qty, reduce_only)
        estimate = price
        if kind == "MARKET":
            bid, ask = self.market.best(spec.symbol)
            estimate = ask if side == "BUY" else bid
        self._check_margin(spec, side, position_side, qty, estimate, reduce_only)
        if kind == "LIMIT" and tif == "GTX" and self._would_take(spec.symbol, side, price):
            raise E.err(E.POST_ONLY_REJECTED)
        if test:
            return None, {}
        order = FuturesOrder(
            symbol=spec.symbol,
            orderId=self.account.next_order_id,
            clientOrderId=client_id or new_client_id(),
            price=price,
            origQty=qty,
            timeInForce=tif,
            type=kind,
            origType=orig_type or kind,
            side=side,
            positionSide=position_side,
            reduceOnly=reduce_only and not close_position,
            closePosition=close_position,
            stopPrice=stop_price,
            workingType=working_type,
            priceProtect=price_protect,
            selfTradePreventionMode=stp,
            goodTillDate=gtd,
            time=now,
            updateTime=now,
            algo_id=algo_id,
        )
        self.account.next_order_id += 1
        self.account.orders.add(order)
        self.account.update_time = now
        ack = order.placed(spec)
        self._execute(order, spec, now)
        return order, ack

    def closing(self, side: str, position_side: str) -> bool:
        """Hedge mode: whether this side closes (rather than opens) the position side."""
        return (position_side == "LONG" and side == "SELL") or (
            position_side == "SHORT" and side == "BUY"
        )

    def closable(self, symbol: str, side: str, position_side: str) -> Decimal:
        """How much an order on this side can close of the position it faces; 0 when it faces
        none (one-way: a SELL faces a long, a BUY a short; hedge: see `closing`)."""
        held = self.amount(symbol, position_side)
        if position_side == "BOTH":
            facing = (side == "SELL" and held > 0) or (side == "BUY" and held < 0)
        else:
            facing = self.closing(side, position_side)
        return abs(held) if facing else ZERO

    def _check_reduce(
        self, spec: FuturesSpec, side: str, position_side: str, qty: Decimal, reduce_only: bool
    ) -> None:
        if position_side == "BOTH":
            # A reduce-only order may only shrink the position it faces.
            if reduce_only and self.closable(spec.symbol, side, "BOTH") == 0:
                raise E.err(E.REDUCE_ONLY_REJECTED)
            return
        if self.closing(side, position_side) and qty > self.closable(
            spec.symbol, side, position_side
        ):
            raise E.err(E.REDUCE_ONLY_REJECTED)

    def _check_margin(
        self,
        spec: FuturesSpec,
        side: str,
        position_side: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
    ) -> None:
        if reduce_only:
            return
        opening = opening_qty(self.account, spec.symbol, side, position_side, qty)
        if opening == 0:
            return
        leverage = self.account.settings_of(spec.symbol).leverage
        if opening * price / leverage > self.risk.totals().available:
            raise E.err(E.MARGIN_INSUFFICIENT)
        held = self.amount(spec.symbol, position_side)
        # Adding to a position (or opening one) grows it; turning one round starts afresh.
        after = abs(held) + opening if opening == qty else opening
        if after * self.market.mark(spec.symbol) > spec.max_notional(leverage):
            raise E.err(E.MAX_POSITION_AT_LEVERAGE)

    def _would_take(self, symbol: str, side: str, price: Decimal) -> bool:
        bid, ask = self.market.best(symbol)
        return price >= ask if side == "BUY" else price <= bid

    def _capacity(self, order: FuturesOrder) -> Decimal | None:
        """How much more this order may execute: a reduce-only or closing order never more
        than the position it closes (None: no such bound)."""
        if order.positionSide == "BOTH":
            bounded = order.reduceOnly or order.closePosition
        else:
            bounded = self.closing(order.side, order.positionSide)
        return self.closable(order.symbol, order.side, order.positionSide) if bounded else None

    def _take(
        self, levels: Iterable[BookLevel], qty: Decimal, limit: Decimal | None, side: str
    ) -> list[tuple[Decimal, Decimal]]:
        out: list[tuple[Decimal, Decimal]] = []
        want = qty
        for level in levels:
            if want <= 0:
                break
            if limit is not None and (
                level.price > limit if side == "BUY" else level.price < limit
            ):
                break
            take = min(level.qty, want)
            out.append((level.price, take))
            want -= take
        return out

    def _execute(self, order: FuturesOrder, spec: FuturesSpec, now: int) -> None:
        capacity = self._capacity(order)
        wanted = order.remaining if capacity is None else min(order.remaining, capacity)
        levels = self.market.taker_levels(spec.symbol, order.side)
        limit = order.price if order.type == "LIMIT" else None
        slices = self._take(levels, wanted, limit, order.side)
        filled = sum((q for _, q in slices), ZERO)
        if order.type == "LIMIT" and order.timeInForce == "FOK" and filled < order.origQty:
            self._finish(order, "EXPIRED", now)
            return
        for price, qty in slices:
            self._fill(order, spec, price, qty, maker=False, now=now)
        if not order.is_open:
            return
        if order.type == "MARKET" or order.timeInForce == "IOC":
            # What the book (or, reduce-only, the position) could not take does not rest.
            self._finish(order, "EXPIRED", now)

    def _finish(self, order: FuturesOrder, status: str, now: int) -> None:
        order.status = status
        order.updateTime = now
        self.account.update_time = now
        if order.algo_id:
            self.algo.on_order_done(order)

    def _fill(
        self,
        order: FuturesOrder,
        spec: FuturesSpec,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        now: int,
    ) -> None:
        settings = self.account.settings_of(spec.symbol)
        position = self.account.position(spec.symbol, order.positionSide)
        realized = self._move_position(
            position,
            order.side,
            qty,
            price,
            settings.leverage,
            settings.marginType == "ISOLATED",
            now,
        )
        commission = (price * qty * (MAKER_RATE if maker else TAKER_RATE)).quantize(EIGHT_PLACES)
        self.account.wallet[MARGIN_ASSET] = (
            self.account.wallet.get(MARGIN_ASSET, ZERO) + realized - commission
        )
        order.executedQty += qty
        order.cumQuote += price * qty
        order.status = "FILLED" if order.executedQty >= order.origQty else "PARTIALLY_FILLED"
        order.updateTime = now
        trade_id = self.account.next_trade_id
        self.account.next_trade_id += 1
        self.account.trades.append(
            FuturesTrade(
                symbol=spec.symbol,
                id=trade_id,
                orderId=order.orderId,
                side=order.side,
                positionSide=order.positionSide,
                price=price,
                qty=qty,
                realizedPnl=realized,
                commission=commission,
                commissionAsset=MARGIN_ASSET,
                time=now,
                maker=maker,
            )
        )
        if realized:
            self._income(spec.symbol, "REALIZED_PNL", realized, now, str(trade_id))
        self._income(spec.symbol, "COMMISSION", -commission, now, str(trade_id))
        self.account.update_time = now
        if order.algo_id and not order.is_open:
            self.algo.on_order_done(order)

    @staticmethod
    def _move_position(
        pos: Position,
        side: str,
        qty: Decimal,
        price: Decimal,
        leverage: int,
        isolated: bool,
        now: int,
    ) -> Decimal:
        """Apply a fill to a position; returns the PnL it realized."""
        signed = qty if side == "BUY" else -qty
        held = pos.amount
        pos.update_time = now
        if held == 0 or (held > 0) == (signed > 0):
            pos.entry = (abs(held) * pos.entry + qty * price) / abs(held + signed)
            pos.amount = held + signed
            if isolated:
                pos.isolated_wallet += qty * price / leverage
            return ZERO
        closing = min(qty, abs(held))
        direction = 1 if held > 0 else -1
        realized = closing * (price - pos.entry) * direction
        if isolated:
            pos.isolated_wallet -= pos.isolated_wallet * closing / abs(held)
        pos.amount = held - closing * direction
        if pos.amount == 0:
            pos.entry = ZERO
            pos.isolated_wallet = ZERO
        rest = qty - closing
        if rest > 0:  # one-way mode: the order turns the position round
            pos.amount = rest if side == "BUY" else -rest
            pos.entry = price
            if isolated:
                pos.isolated_wallet = rest * price / leverage
        return realized

    def _income(
        self, symbol: str, kind: str, amount: Decimal, now: int, trade_id: str = ""
    ) -> Income:
        row = Income(
            symbol=symbol,
            incomeType=kind,
            income=amount,
            asset=MARGIN_ASSET,
            time=now,
            tranId=self.account.next_tran_id,
            tradeId=trade_id,
        )
        self.account.next_tran_id += 1
        self.account.income.append(row)
        return row

    # ----- cancelling ----------------------------------------------------------------------

    def cancel(self, p: Params, now: int) -> dict[str, Any]:
        order = self.find(p, E.UNKNOWN_ORDER)
        if not order.is_open:
            raise E.err(E.UNKNOWN_ORDER)
        self._finish(order, "CANCELED", now)
        return order.placed(self.spec(order.symbol))

    def cancel_all(self, p: Params, now: int) -> dict[str, Any]:
        symbol = self.spec(p.text("symbol")).symbol
        for order in self.open_orders(symbol):
            self._finish(order, "CANCELED", now)
        return dict(CANCEL_ALL_DONE)

    def countdown(self, p: Params, now: int) -> dict[str, Any]:
        symbol = self.spec(p.text("symbol")).symbol
        countdown = p.integer("countdownTime", required=True)
        assert countdown is not None
        if countdown == 0:
            self.account.countdowns.pop(symbol, None)
        else:
            self.account.countdowns[symbol] = now + countdown
        return {"symbol": symbol, "countdownTime": str(countdown)}

    # ----- time and the market moving ------------------------------------------------------

    def on_time(self, now: int) -> bool:
        """Deadlines that fall due with the clock: dead-man switches, good-till-date orders
        and funding times. Returns whether anything changed."""
        changed = False
        for symbol, deadline in list(self.account.countdowns.items()):
            if deadline <= now:
                del self.account.countdowns[symbol]
                for order in self.open_orders(symbol):
                    self._finish(order, "CANCELED", now)
                changed = True
        for order in self.open_orders(None):
            if order.timeInForce == "GTD" and order.goodTillDate <= now:
                self._finish(order, "EXPIRED", now)
                changed = True
        boundary = now - now % FUNDING_INTERVAL_MS
        if self.account.funded_until == 0:
            self.account.funded_until = boundary
            changed = True
        if self.account.funded_until < boundary:
            due = max(
                self.account.funded_until + FUNDING_INTERVAL_MS,
                boundary - (MAX_FUNDING_CATCH_UP - 1) * FUNDING_INTERVAL_MS,
            )
            while due <= boundary:
                self.settle_funding(due, due)
                due += FUNDING_INTERVAL_MS
            self.account.funded_until = boundary
            changed = True
        return changed

    def settle_funding(self, funding_time: int, now: int) -> list[Income]:
        """Pay or receive funding on every open position: longs pay shorts when the rate is
        positive. Binance charges position notional at the mark price times the rate."""
        rows = []
        for pos in self.account.open_positions():
            rate = self.market.funding_rate(pos.symbol, funding_time)
            fee = (-pos.amount * self.market.mark(pos.symbol) * rate).quantize(EIGHT_PLACES)
            if fee == 0:
                continue
            self.account.wallet[MARGIN_ASSET] = self.account.wallet.get(MARGIN_ASSET, ZERO) + fee
            if self.account.settings_of(pos.symbol).marginType == "ISOLATED":
                pos.isolated_wallet += fee
            rows.append(self._income(pos.symbol, "FUNDING_FEE", fee, now))
        if rows:
            self.account.update_time = now
        return rows

    def apply_funding(self, now: int) -> list[Income]:
        """Settle funding now, at the rate due at the next funding time (for tests and demos)."""
        return self.settle_funding(self.market.next_funding_time(now), now)

    def on_price(self, now: int) -> None:
        """Fill resting limits the latest prices crossed, then fire conditional orders."""
        self.on_time(now)
        for order in self.open_orders(None):
            if order.type != "LIMIT":
                continue
            last = self.market.last(order.symbol)
            crossed = last <= order.price if order.side == "BUY" else last >= order.price
            if not crossed:
                continue
            capacity = self._capacity(order)
            qty = order.remaining if capacity is None else min(order.remaining, capacity)
            if qty > 0:
                self._fill(order, self.spec(order.symbol), order.price, qty, maker=True, now=now)
            if order.is_open:  # a reduce-only order outlived the position it was closing
                self._finish(order, "EXPIRED", now)
        self.algo.on_price(now)
