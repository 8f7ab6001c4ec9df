"""The spot account and its matching: balances and locks, order placement with Binance's
checks, fills against the simulated book, resting orders and stop triggers. Order lists
(`order_lists.py`) build on it and hear of their orders' lives through `ListEvents`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, Field, PrivateAttr

from binance_mcp.paper import errors as E
from binance_mcp.paper.errors import BinanceError, filter_failure, mandatory
from binance_mcp.paper.filters import check_spot_order
from binance_mcp.paper.lookup import find_order
from binance_mcp.paper.market import BookLevel, SymbolSpec, Walk, fmt
from binance_mcp.paper.numbers import quantize_down
from binance_mcp.paper.params import Params
from binance_mcp.paper.params import new_client_id as generated_client_id
from binance_mcp.paper.spot_params import STOP_TYPES, OrderRequest, read_order
from binance_mcp.paper.store import EventKey, EventLog, OrderIndex, OrderKey, Store, Tracked

# PENDING_NEW: an order list's order waiting for its working order to fill; open (listed,
# counted against MAX_NUM_ORDERS, cancellable) but not on the book.
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")
MARKET_STOPS = ("STOP_LOSS", "TAKE_PROFIT")
CANCEL_RESTRICTIONS = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")
MAKER_RATE = Decimal("0.001")
TAKER_RATE = Decimal("0.001")
ZERO = Decimal(0)


class Balance(BaseModel):
    free: Decimal = ZERO
    locked: Decimal = ZERO


class SpotOrder(Tracked):
    symbol: str
    orderId: int
    clientOrderId: str
    price: Decimal
    origQty: Decimal
    executedQty: Decimal = ZERO
    cummulativeQuoteQty: Decimal = ZERO
    status: str = "NEW"
    timeInForce: str
    type: str
    side: str
    stopPrice: Decimal = ZERO
    time: int
    updateTime: int
    workingTime: int = -1
    origQuoteOrderQty: Decimal = ZERO
    orderListId: int = -1
    # What this order still holds locked, in `lock_asset` (quote for buys, base for sells).
    lock_asset: str = ""
    locked: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_working(self) -> bool:
        return self.workingTime != -1

    @property
    def is_pending(self) -> bool:
        return self.status == "PENDING_NEW"

    def wire(self) -> dict[str, Any]:
        """The order as GET /api/v3/order shows it."""
        return {
            "symbol": self.symbol,
            "orderId": self.orderId,
            "orderListId": self.orderListId,
            "clientOrderId": self.clientOrderId,
            "price": fmt(self.price),
            "origQty": fmt(self.origQty),
            "executedQty": fmt(self.executedQty),
            "cummulativeQuoteQty": fmt(self.cummulativeQuoteQty),
            "status": self.status,
            "timeInForce": self.timeInForce,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(self.stopPrice),
            "icebergQty": fmt(ZERO),
            "time": self.time,
            "updateTime": self.updateTime,
            "isWorking": self.is_working,
            "workingTime": self.workingTime,
            "origQuoteOrderQty": fmt(self.origQuoteOrderQty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


class SpotTrade(BaseModel):
    symbol: str
    id: int
    orderId: int
    price: Decimal
    qty: Decimal
    quoteQty: Decimal
    commission: Decimal
    commissionAsset: str
    time: int
    isBuyer: bool
    isMaker: bool
    orderListId: int = -1

    def wire(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.orderId,
            "orderListId": self.orderListId,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.quoteQty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commissionAsset,
            "time": self.time,
            "isBuyer": self.isBuyer,
            "isMaker": self.isMaker,
            "isBestMatch": True,
        }


def _order_key(o: SpotOrder) -> OrderKey:
    return OrderKey(o.orderId, o.symbol, o.clientOrderId, o.time, o.status in OPEN_STATUSES)


def _trade_key(t: SpotTrade) -> EventKey:
    return EventKey(t.id, t.symbol, t.orderId, "", t.time)


class SpotAccount(BaseModel):
    """The spot account's small part (balances, counters), stored whole at each commit; its
    orders and fills live in the store, indexed (`attach`)."""

    balances: dict[str, Balance] = Field(default_factory=dict)
    next_order_id: int = 1
    next_order_list_id: int = 1
    update_time: int = 0
    _orders: OrderIndex[SpotOrder] | None = PrivateAttr(default=None)
    _trades: EventLog[SpotTrade] | None = PrivateAttr(default=None)

    def attach(self, store: Store) -> None:
        self._orders = OrderIndex(store, "spot", SpotOrder, _order_key)
        self._trades = EventLog(store, "spot", SpotTrade, _trade_key)

    @property
    def orders(self) -> OrderIndex[SpotOrder]:
        assert self._orders is not None, "attach() the account to its store first"
        return self._orders

    @property
    def trades(self) -> EventLog[SpotTrade]:
        assert self._trades is not None, "attach() the account to its store first"
        return self._trades

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())


class Fill(BaseModel):
    price: Decimal
    qty: Decimal
    commission: Decimal
    commissionAsset: str
    tradeId: int


def _rest_of(order: SpotOrder) -> Decimal:
    return order.origQty - order.executedQty


def triggered(kind: str, side: str, stop: Decimal, last: Decimal) -> bool:
    """Stop-loss buys trigger on a rise, sells on a fall; take-profit the other way round."""
    rising = kind.startswith("STOP_LOSS") == (side == "BUY")
    return last >= stop if rising else last <= stop


class ListEvents(Protocol):
    """What the order lists hear of their orders from the matching (`order_lists.py`)."""

    def activating(self, order: SpotOrder, now: int) -> None:
        """`order` is about to trigger or fill: an OCO's other leg gives way first."""

    def settled(self, order: SpotOrder, now: int) -> None:
        """`order` triggered, filled or expired: the list moves on (pending orders placed,
        the other leg expired, the list done)."""

    def cancel(self, order: SpotOrder, new_client_id: str | None, now: int) -> dict[str, Any]:
        """Cancelling one order of a list cancels the list: the list's cancellation report."""


class SpotEngine:
    def __init__(self, account: SpotAccount, walk: Walk, specs: dict[str, SymbolSpec]) -> None:
        self.account = account
        self.walk = walk
        self.specs = specs
        # Orders filled for the first time since the order counts last heard of it: spot counts
        # only unfilled orders against its ORDERS limits (`PaperState.settle_order_counts`).
        self.first_fills = 0
        self.lists: ListEvents | None = None

    # ----- reading -------------------------------------------------------------------------

    def spec(self, symbol: str | None) -> SymbolSpec:
        if symbol is None:
            raise mandatory("symbol")
        spec = self.specs.get(symbol)
        if spec is None:
            raise E.err(E.INVALID_SYMBOL)
        return spec

    def find(self, p: Params, missing: tuple[int, str]) -> SpotOrder:
        symbol = self.spec(p.text("symbol")).symbol
        return find_order(self.account.orders, symbol, p, missing)

    def account_info(self, p: Params, now: int) -> dict[str, Any]:
        omit_zero = p.text("omitZeroBalances") == "true"
        assets = sorted(
            {a for s in self.specs.values() for a in (s.base, s.quote)} | set(self.account.balances)
        )
        rows = []
        for asset in assets:
            b = self.account.balances.get(asset, Balance())
            if omit_zero and b.free == 0 and b.locked == 0:
                continue
            rows.append({"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)})
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt(MAKER_RATE),
                "taker": fmt(TAKER_RATE),
                "buyer": fmt(ZERO),
                "seller": fmt(ZERO),
            },
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.account.update_time or now,
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["SPOT"],
            "uid": 100000001,
        }

    def open_orders(self, symbol: str | None) -> list[SpotOrder]:
        if symbol is not None:
            self.spec(symbol)
        return self.account.orders.open_orders(symbol)

    def all_orders(self, p: Params) -> list[dict[str, Any]]:
        symbol = self.spec(p.text("symbol")).symbol
        from_id, start, end = p.integer("orderId"), p.integer("startTime"), p.integer("endTime")
        rows = self.account.orders.history(
            symbol,
            from_id=from_id,
            start=start,
            end=end,
            limit=p.limit(500, 1000),
            oldest_first=from_id is not None or start is not None,
        )
        return [o.wire() for o in rows]

    def my_trades(self, p: Params) -> list[dict[str, Any]]:
        symbol = self.spec(p.text("symbol")).symbol
        order_id, from_id = p.integer("orderId"), p.integer("fromId")
        start, end = p.integer("startTime"), p.integer("endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        rows = self.account.trades.query(
            symbol=symbol,
            ref=order_id,
            from_id=from_id,
            start=start,
            end=end,
            limit=p.limit(500, 1000),
            oldest_first=from_id is not None or start is not None,
        )
        return [t.wire() for t in rows]

    # ----- placing -------------------------------------------------------------------------

    def place(self, p: Params, now: int, test: bool) -> dict[str, Any]:
        req = read_order(p, self.spec(p.text("symbol")))
        self.check(req)
        self.check_live(req)
        return {} if test else self.submit(req, now)

    def submit(self, req: OrderRequest, now: int) -> dict[str, Any]:
        """Book an order whose checks passed and answer as POST /api/v3/order does; -2010
        (balance, liquidity) changes nothing."""
        order = self.new_order(req, self.account.next_order_id, now)
        fills = self.start(order, now)
        self.account.next_order_id += 1
        self.account.orders.add(order)
        self.account.update_time = now
        default_full = order.type in ("MARKET", "LIMIT")
        return self.response(
            order, fills, req.resp_type or ("FULL" if default_full else "ACK"), now
        )

    def check(self, req: OrderRequest, placed_before: int = 0, stops_before: int = 0) -> None:
        """Binance's filters, for an order placed after `placed_before` others of the same
        request (an order list's legs count against MAX_NUM_ORDERS together)."""
        open_here = self.open_orders(req.spec.symbol)
        check_spot_order(
            req.spec,
            side=req.side,
            kind=req.kind,
            quantity=req.quantity,
            quote_qty=req.quote_qty,
            price=req.price,
            stop=req.stop,
            reference=self.walk.prices[req.spec.symbol],
            open_orders=len(open_here) + placed_before,
            open_stops=sum(1 for o in open_here if o.type in STOP_TYPES) + stops_before,
        )

    def check_live(self, req: OrderRequest) -> None:
        """What the book says of an order going on it now: a stop already met, a maker order
        that would take, a client order id an open order has."""
        last = self.walk.prices[req.spec.symbol]
        if req.stop is not None and triggered(req.kind, req.side, req.stop, last):
            raise BinanceError(-2010, "Stop price would trigger immediately.")
        maker = req.kind == "LIMIT_MAKER" and req.price is not None
        if maker and self.would_take(req.spec.symbol, req.side, req.price or ZERO):
            raise E.err(E.WOULD_TAKE)
        if req.client_id is not None and self.account.orders.open_with_client_id(req.client_id):
            raise E.err(E.DUPLICATE_ORDER)

    def would_take(self, symbol: str, side: str, price: Decimal) -> bool:
        bid, ask = self.walk.best(symbol)
        return price >= ask if side == "BUY" else price <= bid

    def new_order(self, req: OrderRequest, order_id: int, now: int, list_id: int = -1) -> SpotOrder:
        """The order `req` asks for, not yet on the book nor in the account."""
        return SpotOrder(
            symbol=req.spec.symbol,
            orderId=order_id,
            clientOrderId=req.client_id or generated_client_id(),
            price=req.price or ZERO,
            origQty=req.quantity or ZERO,
            timeInForce=req.tif or "GTC",
            type=req.kind,
            side=req.side,
            stopPrice=req.stop or ZERO,
            time=now,
            updateTime=now,
            origQuoteOrderQty=req.quote_qty or ZERO,
            orderListId=list_id,
        )

    def start(self, order: SpotOrder, now: int, lock: bool = True) -> list[Fill]:
        """Put `order` to work: a market order fills now, a limit order takes what it can and
        rests, a stop waits for its trigger. `lock=False` when its funds are held already
        (an OCO's legs share one lock)."""
        spec = self.specs[order.symbol]
        if order.type == "MARKET":
            return self._market(order, spec, now)
        if lock:
            self.lock(order)
        if order.type in STOP_TYPES:
            return []  # waits for its trigger
        order.workingTime = now
        return self._limit(order, spec, now)

    def response(
        self, order: SpotOrder, fills: list[Fill], resp_type: str, now: int
    ) -> dict[str, Any]:
        """The answer of a new order: ACK, RESULT or FULL."""
        ack: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.orderId,
            "orderListId": order.orderListId,
            "clientOrderId": order.clientOrderId,
            "transactTime": now,
        }
        if resp_type == "ACK":
            return ack
        result = {
            **ack,
            "price": fmt(order.price),
            "origQty": fmt(order.origQty),
            "executedQty": fmt(order.executedQty),
            "origQuoteOrderQty": fmt(order.origQuoteOrderQty),
            "cummulativeQuoteQty": fmt(order.cummulativeQuoteQty),
            "status": order.status,
            "timeInForce": order.timeInForce,
            "type": order.type,
            "side": order.side,
            "workingTime": order.workingTime,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if order.type in STOP_TYPES:
            result["stopPrice"] = fmt(order.stopPrice)
        if resp_type == "FULL":
            result["fills"] = [
                {
                    "price": fmt(f.price),
                    "qty": fmt(f.qty),
                    "commission": fmt(f.commission),
                    "commissionAsset": f.commissionAsset,
                    "tradeId": f.tradeId,
                }
                for f in fills
            ]
        return result

    def lock_needed(self, order: SpotOrder) -> tuple[str, Decimal]:
        """What resting `order` holds: quote for a buy (at its price, or its stop price for a
        stop-market), base for a sell."""
        spec = self.specs[order.symbol]
        if order.side == "BUY":
            return spec.quote, order.origQty * (order.price or order.stopPrice)
        return spec.base, order.origQty

    def lock(self, order: SpotOrder) -> None:
        """Move what `order` needs from free to locked, held by the order; -2010 insufficient
        balance, changing nothing, if it is not free."""
        asset, amount = self.lock_needed(order)
        bal = self.account.balance(asset)
        if bal.free < amount:
            raise E.err(E.INSUFFICIENT_BALANCE)
        bal.free -= amount
        bal.locked += amount
        order.lock_asset, order.locked = asset, order.locked + amount

    def _unlock(self, order: SpotOrder) -> None:
        if order.locked:
            bal = self.account.balance(order.lock_asset)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO

    def _take_levels(
        self,
        levels: Iterable[BookLevel],
        qty: Decimal | None,
        quote: Decimal | None,
        limit: Decimal | None,
        side: str,
        step: Decimal,
    ) -> list[tuple[Decimal, Decimal]]:
        """Walk the book: (price, qty) slices for up to `qty` base or `quote` quote, never
        beyond `limit`."""
        out: list[tuple[Decimal, Decimal]] = []
        want_qty = qty
        spent = ZERO
        for level in levels:
            if limit is not None and (
                level.price > limit if side == "BUY" else level.price < limit
            ):
                break
            if want_qty is not None:
                take = min(level.qty, want_qty)
                want_qty -= take
            else:
                assert quote is not None
                take = min(level.qty, quantize_down((quote - spent) / level.price, step))
                spent += take * level.price
            if take > 0:
                out.append((level.price, take))
            if (want_qty is not None and want_qty == 0) or (quote is not None and take < level.qty):
                break
        return out

    def _market(self, order: SpotOrder, spec: SymbolSpec, now: int) -> list[Fill]:
        slices = self._take_levels(
            self.walk.taker_levels(spec.symbol, order.side),
            order.origQty if order.origQty else None,
            order.origQuoteOrderQty if not order.origQty else None,
            None,
            order.side,
            spec.step,
        )
        total_qty = sum((q for _, q in slices), ZERO)
        total_quote = sum((p * q for p, q in slices), ZERO)
        if order.origQty and total_qty < order.origQty:
            raise BinanceError(
                -2010, "Order book liquidity is less than LOT_SIZE filter minimum quantity."
            )
        if order.side == "BUY":
            if self.account.balance(spec.quote).free < total_quote:
                raise E.err(E.INSUFFICIENT_BALANCE)
        elif self.account.balance(spec.base).free < total_qty:
            raise E.err(E.INSUFFICIENT_BALANCE)
        if not order.origQty:
            # A quoteOrderQty order becomes a quantity here, so the lot filters apply to it.
            if total_qty < spec.min_qty:
                raise filter_failure("LOT_SIZE")
            if spec.market_max_qty and total_qty > spec.market_max_qty:
                raise filter_failure("MARKET_LOT_SIZE")
            order.origQty = total_qty
        order.workingTime = now
        return [self._fill(order, spec, p, q, maker=False, now=now) for p, q in slices]

    def _limit(self, order: SpotOrder, spec: SymbolSpec, now: int) -> list[Fill]:
        slices = self._take_levels(
            self.walk.taker_levels(spec.symbol, order.side),
            order.origQty,
            None,
            order.price,
            order.side,
            spec.step,
        )
        filled = sum((q for _, q in slices), ZERO)
        if order.timeInForce == "FOK" and filled < order.origQty:
            order.status = "EXPIRED"
            self._unlock(order)
            return []
        fills = [self._fill(order, spec, p, q, maker=False, now=now) for p, q in slices]
        if order.status != "FILLED" and order.timeInForce == "IOC":
            order.status = "EXPIRED"
            self._unlock(order)
        return fills

    def _fill(
        self,
        order: SpotOrder,
        spec: SymbolSpec,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        now: int,
    ) -> Fill:
        rate = MAKER_RATE if maker else TAKER_RATE
        if not order.executedQty:
            self.first_fills += 1
        quote_amount = price * qty
        base_bal, quote_bal = self.account.balance(spec.base), self.account.balance(spec.quote)
        if order.side == "BUY":
            commission, commission_asset = qty * rate, spec.base
            if order.locked:
                reserved = qty * (order.price or order.stopPrice)
                order.locked -= reserved
                quote_bal.locked -= reserved
                quote_bal.free += reserved - quote_amount
            else:
                quote_bal.free -= quote_amount
            base_bal.free += qty - commission
        else:
            commission, commission_asset = quote_amount * rate, spec.quote
            if order.locked:
                order.locked -= qty
                base_bal.locked -= qty
            else:
                base_bal.free -= qty
            quote_bal.free += quote_amount - commission
        order.executedQty += qty
        order.cummulativeQuoteQty += quote_amount
        order.status = "FILLED" if order.executedQty >= order.origQty else "PARTIALLY_FILLED"
        order.updateTime = now
        if order.status == "FILLED":
            self._unlock(order)  # whatever a better fill price left over
        trade_id = self.walk.next_trade_id
        self.walk.record_trade(
            spec.symbol, price, qty, now, is_buyer_maker=(order.side == "BUY") == maker
        )
        self.account.trades.append(
            SpotTrade(
                symbol=spec.symbol,
                id=trade_id,
                orderId=order.orderId,
                price=price,
                qty=qty,
                quoteQty=quote_amount,
                commission=commission,
                commissionAsset=commission_asset,
                time=now,
                isBuyer=order.side == "BUY",
                isMaker=maker,
                orderListId=order.orderListId,
            )
        )
        self.account.update_time = now
        return Fill(
            price=price,
            qty=qty,
            commission=commission,
            commissionAsset=commission_asset,
            tradeId=trade_id,
        )

    # ----- cancelling ----------------------------------------------------------------------

    def cancel(self, p: Params, now: int) -> dict[str, Any]:
        """DELETE /api/v3/order."""
        order = self.find(p, E.UNKNOWN_ORDER)
        return self.cancel_order(
            order, p.client_id("newClientOrderId"), cancel_restriction(p, "cancelRestrictions"), now
        )

    def cancel_order(
        self, order: SpotOrder, new_client_id: str | None, restriction: str | None, now: int
    ) -> dict[str, Any]:
        """Cancel an open order (its whole list, if it is in one) and report it."""
        if not order.is_open:
            raise E.err(E.UNKNOWN_ORDER)
        if restriction is not None and order.status != restriction.removeprefix("ONLY_"):
            raise E.err(E.CANCEL_RESTRICTED)
        if order.orderListId != -1 and self.lists is not None:
            return self.lists.cancel(order, new_client_id, now)
        self.close(order, "CANCELED", now)
        return self.cancel_report(order, new_client_id or generated_client_id(), now)

    def cancel_all(self, p: Params, now: int) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders: a list's orders are reported once, as their list."""
        symbol = self.spec(p.text("symbol")).symbol
        orders = self.open_orders(symbol)
        if not orders:
            raise E.err(E.UNKNOWN_ORDER)
        return [self.cancel_order(o, None, None, now) for o in orders if o.is_open]

    def close(self, order: SpotOrder, status: str, now: int) -> None:
        """End an open order (CANCELED, EXPIRED) and free what it holds."""
        self._unlock(order)
        order.status = status
        order.updateTime = now
        self.account.update_time = now

    def cancel_report(self, order: SpotOrder, cancel_client_id: str, now: int) -> dict[str, Any]:
        wire = order.wire()
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.clientOrderId,
            "orderId": order.orderId,
            "orderListId": order.orderListId,
            "clientOrderId": cancel_client_id,
            "transactTime": now,
            **{
                k: wire[k]
                for k in (
                    "price",
                    "origQty",
                    "executedQty",
                    "cummulativeQuoteQty",
                    "status",
                    "timeInForce",
                    "type",
                    "side",
                )
            },
            **({"stopPrice": wire["stopPrice"]} if order.type in STOP_TYPES else {}),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    # ----- the market moving ---------------------------------------------------------------

    def on_price(self, now: int) -> None:
        """Trigger stops and fill resting limits that the latest prices crossed."""
        for order in self.account.orders.open_orders():
            self.react(order, now)

    def react(self, order: SpotOrder, now: int) -> None:
        """`order` meets the latest price: a stop met triggers, a resting limit crossed fills
        (as maker, at its price)."""
        if not order.is_open or order.is_pending:
            return
        spec = self.specs[order.symbol]
        last = self.walk.prices[order.symbol]
        if order.type in STOP_TYPES and not order.is_working:
            if not triggered(order.type, order.side, order.stopPrice, last):
                return
            self._activating(order, now)
            order.workingTime = now
            order.updateTime = now
            if order.type in MARKET_STOPS:
                self._unlock(order)
                try:
                    self._market(order, spec, now)
                except BinanceError:
                    order.status = "EXPIRED"
            else:
                self._limit(order, spec, now)
            self._settled(order, now)
            return
        if order.is_working and order.price:
            crossed = last <= order.price if order.side == "BUY" else last >= order.price
            if crossed:
                self._activating(order, now)
                self._fill(order, spec, order.price, _rest_of(order), maker=True, now=now)
                self._settled(order, now)

    def _activating(self, order: SpotOrder, now: int) -> None:
        if order.orderListId != -1 and self.lists is not None:
            self.lists.activating(order, now)

    def _settled(self, order: SpotOrder, now: int) -> None:
        if order.orderListId != -1 and self.lists is not None:
            self.lists.settled(order, now)


def cancel_restriction(p: Params, name: str) -> str | None:
    """`cancelRestrictions`: cancel only a NEW, or only a PARTIALLY_FILLED, order."""
    return p.choice(name, CANCEL_RESTRICTIONS, -1145, "Invalid cancelRestrictions")
