"""The USD-M futures account as persisted: wallet, per-symbol settings, positions, orders,
conditional (algo) orders, fills and income, with the wire shapes Binance gives them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from binance_mcp.paper.futures_market import FuturesSpec
from binance_mcp.paper.market import fmt
from binance_mcp.paper.store import EventKey, EventLog, OrderIndex, OrderKey, Store, Tracked

ZERO = Decimal(0)
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
OPEN_ALGO_STATUSES = ("NEW",)
DEFAULT_LEVERAGE = 20
FIRST_ALGO_ID = 1_000_001  # a separate range, so an algoId is never mistaken for an orderId


class SymbolSettings(BaseModel):
    leverage: int = DEFAULT_LEVERAGE
    marginType: str = "CROSSED"


class Position(BaseModel):
    symbol: str
    positionSide: str
    amount: Decimal = ZERO  # signed: above zero long, below zero short
    entry: Decimal = ZERO
    # Margin set aside for an isolated position (part of the wallet, not available).
    isolated_wallet: Decimal = ZERO
    update_time: int = 0


class FuturesOrder(Tracked):
    symbol: str
    orderId: int
    clientOrderId: str
    price: Decimal = ZERO
    origQty: Decimal
    executedQty: Decimal = ZERO
    cumQuote: Decimal = ZERO
    status: str = "NEW"
    timeInForce: str
    type: str
    origType: str
    side: str
    positionSide: str
    reduceOnly: bool = False
    closePosition: bool = False
    stopPrice: Decimal = ZERO
    workingType: str = "CONTRACT_PRICE"
    priceProtect: bool = False
    selfTradePreventionMode: str = "EXPIRE_MAKER"
    goodTillDate: int = 0
    time: int
    updateTime: int
    algo_id: int = 0  # the conditional order whose trigger placed this one

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.origQty - self.executedQty

    @property
    def avg_price(self) -> Decimal:
        return self.cumQuote / self.executedQty if self.executedQty else ZERO

    def wire(self, spec: FuturesSpec) -> dict[str, Any]:
        """The order as GET /fapi/v1/order shows it."""
        return {
            "orderId": self.orderId,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.clientOrderId,
            "price": spec.price_str(self.price),
            "avgPrice": fmt(self.avg_price),
            "origQty": spec.qty_str(self.origQty),
            "executedQty": spec.qty_str(self.executedQty),
            "cumQuote": fmt(self.cumQuote),
            "timeInForce": self.timeInForce,
            "type": self.type,
            "reduceOnly": self.reduceOnly,
            "closePosition": self.closePosition,
            "side": self.side,
            "positionSide": self.positionSide,
            "stopPrice": spec.price_str(self.stopPrice),
            "workingType": self.workingType,
            "priceProtect": self.priceProtect,
            "origType": self.origType,
            "priceMatch": "NONE",
            "selfTradePreventionMode": self.selfTradePreventionMode,
            "goodTillDate": self.goodTillDate,
            "time": self.time,
            "updateTime": self.updateTime,
        }

    def placed(self, spec: FuturesSpec) -> dict[str, Any]:
        """The order as POST/DELETE /fapi/v1/order answer with it."""
        row = self.wire(spec)
        del row["time"]
        row["cumQty"] = row["executedQty"]
        return row


class AlgoOrder(Tracked):
    algoId: int
    clientAlgoId: str
    orderType: str
    symbol: str
    side: str
    positionSide: str
    timeInForce: str
    quantity: Decimal = ZERO
    algoStatus: str = "NEW"
    triggerPrice: Decimal = ZERO
    price: Decimal = ZERO
    workingType: str = "CONTRACT_PRICE"
    priceProtect: bool = False
    reduceOnly: bool = False
    closePosition: bool = False
    activatePrice: Decimal = ZERO
    callbackRate: Decimal = ZERO
    selfTradePreventionMode: str = "NONE"
    goodTillDate: int = 0
    createTime: int
    updateTime: int
    triggerTime: int = 0
    actualOrderId: int = 0
    actualPrice: Decimal = ZERO
    # Trailing stops: whether the activation price was reached, and the best price since.
    activated: bool = False
    extreme: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.algoStatus in OPEN_ALGO_STATUSES

    def wire(self, spec: FuturesSpec) -> dict[str, Any]:
        row: dict[str, Any] = {
            "algoId": self.algoId,
            "clientAlgoId": self.clientAlgoId,
            "algoType": "CONDITIONAL",
            "orderType": self.orderType,
            "symbol": self.symbol,
            "side": self.side,
            "positionSide": self.positionSide,
            "timeInForce": self.timeInForce,
            "quantity": spec.qty_str(self.quantity),
            "algoStatus": self.algoStatus,
            "actualOrderId": str(self.actualOrderId) if self.actualOrderId else "",
            "actualPrice": spec.price_str(self.actualPrice),
            "triggerPrice": spec.price_str(self.triggerPrice),
            "price": spec.price_str(self.price),
            "icebergQuantity": None,
            "tpTriggerPrice": spec.price_str(ZERO),
            "tpPrice": spec.price_str(ZERO),
            "slTriggerPrice": spec.price_str(ZERO),
            "slPrice": spec.price_str(ZERO),
            "tpOrderType": "",
            "selfTradePreventionMode": self.selfTradePreventionMode,
            "workingType": self.workingType,
            "priceMatch": "NONE",
            "closePosition": self.closePosition,
            "priceProtect": self.priceProtect,
            "reduceOnly": self.reduceOnly,
            "createTime": self.createTime,
            "updateTime": self.updateTime,
            "triggerTime": self.triggerTime,
            "goodTillDate": self.goodTillDate,
        }
        if self.orderType == "TRAILING_STOP_MARKET":
            row["activatePrice"] = spec.price_str(self.activatePrice)
            row["callbackRate"] = f"{self.callbackRate:f}"
        return row


class FuturesTrade(BaseModel):
    symbol: str
    id: int
    orderId: int
    side: str
    positionSide: str
    price: Decimal
    qty: Decimal
    realizedPnl: Decimal
    commission: Decimal
    commissionAsset: str
    time: int
    maker: bool

    def wire(self, spec: FuturesSpec) -> dict[str, Any]:
        return {
            "buyer": self.side == "BUY",
            "commission": fmt(self.commission),
            "commissionAsset": self.commissionAsset,
            "id": self.id,
            "maker": self.maker,
            "orderId": self.orderId,
            "price": spec.price_str(self.price),
            "qty": spec.qty_str(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "realizedPnl": fmt(self.realizedPnl),
            "side": self.side,
            "positionSide": self.positionSide,
            "symbol": self.symbol,
            "time": self.time,
        }


class Income(BaseModel):
    symbol: str
    incomeType: str
    income: Decimal
    asset: str
    time: int
    tranId: int
    tradeId: str = ""

    def wire(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "incomeType": self.incomeType,
            "income": fmt(self.income),
            "asset": self.asset,
            "info": self.incomeType,
            "time": self.time,
            "tranId": self.tranId,
            "tradeId": self.tradeId,
        }


class FuturesAccount(BaseModel):
    """The futures account's small part (wallet, settings, positions, counters), stored whole
    at each commit; its orders, algo orders, fills and income live in the store, indexed
    (`attach`)."""

    wallet: dict[str, Decimal] = Field(default_factory=dict)
    dualSidePosition: bool = False
    settings: dict[str, SymbolSettings] = Field(default_factory=dict)
    positions: dict[str, Position] = Field(default_factory=dict)  # "SYMBOL:SIDE"
    countdowns: dict[str, int] = Field(default_factory=dict)  # symbol -> cancel-all deadline
    next_order_id: int = 1
    next_algo_id: int = FIRST_ALGO_ID
    next_trade_id: int = 1
    next_tran_id: int = 1
    funded_until: int = 0  # the last funding time settled
    update_time: int = 0

    _orders: OrderIndex[FuturesOrder] | None = PrivateAttr(default=None)
    _algo_orders: OrderIndex[AlgoOrder] | None = PrivateAttr(default=None)
    _trades: EventLog[FuturesTrade] | None = PrivateAttr(default=None)
    _income: EventLog[Income] | None = PrivateAttr(default=None)

    def attach(self, store: Store) -> None:
        self._orders = OrderIndex(store, "futures", FuturesOrder, _order_key)
        self._algo_orders = OrderIndex(store, "algo", AlgoOrder, _algo_key)
        self._trades = EventLog(store, "futures", FuturesTrade, _trade_key)
        self._income = EventLog(store, "income", Income, _income_key)

    @property
    def orders(self) -> OrderIndex[FuturesOrder]:
        assert self._orders is not None, "attach() the account to its store first"
        return self._orders

    @property
    def algo_orders(self) -> OrderIndex[AlgoOrder]:
        assert self._algo_orders is not None, "attach() the account to its store first"
        return self._algo_orders

    @property
    def trades(self) -> EventLog[FuturesTrade]:
        assert self._trades is not None, "attach() the account to its store first"
        return self._trades

    @property
    def income(self) -> EventLog[Income]:
        assert self._income is not None, "attach() the account to its store first"
        return self._income

    def settings_of(self, symbol: str) -> SymbolSettings:
        return self.settings.setdefault(symbol, SymbolSettings())

    def position(self, symbol: str, side: str) -> Position:
        return self.positions.setdefault(
            f"{symbol}:{side}", Position(symbol=symbol, positionSide=side)
        )

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.amount != 0]


META_FIELDS: set[str] = set(FuturesAccount.model_fields)


def _order_key(o: FuturesOrder) -> OrderKey:
    return OrderKey(o.orderId, o.symbol, o.clientOrderId, o.time, o.status in OPEN_STATUSES)


def _algo_key(a: AlgoOrder) -> OrderKey:
    return OrderKey(
        a.algoId, a.symbol, a.clientAlgoId, a.createTime, a.algoStatus in OPEN_ALGO_STATUSES
    )


def _trade_key(t: FuturesTrade) -> EventKey:
    return EventKey(t.id, t.symbol, t.orderId, "", t.time)


def _income_key(i: Income) -> EventKey:
    return EventKey(i.tranId, i.symbol, 0, i.incomeType, i.time)
