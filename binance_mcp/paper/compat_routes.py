"""Endpoints outside spot and USD-M trading that stock clients call before they trade: ccxt's
`binance()` reads the coins (`/sapi/v1/capital/config/getall`), the margin pairs when asked
to, and the COIN-M exchange info (`/dapi/v1/exchangeInfo`) in `load_markets()`. They answer
in Binance's shapes with what the paper exchange has: the snapshot's assets with deposits and
withdrawals disabled, no margin pairs, no COIN-M contracts."""

from __future__ import annotations

from typing import Any

from binance_mcp.paper.market import fmt
from binance_mcp.paper.params import Params
from binance_mcp.paper.routing import Endpoint, Routes
from binance_mcp.paper.spot import TAKER_RATE as SPOT_RATE
from binance_mcp.paper.spot import Balance
from binance_mcp.paper.state import PaperState

# Each asset's name and its main network, as Binance names them.
ASSETS: dict[str, tuple[str, str, str]] = {
    "BTC": ("Bitcoin", "BTC", "Bitcoin"),
    "ETH": ("Ethereum", "ETH", "Ethereum (ERC20)"),
    "BNB": ("BNB", "BSC", "BNB Smart Chain (BEP20)"),
    "SOL": ("Solana", "SOL", "Solana"),
    "XRP": ("Ripple", "XRP", "Ripple"),
    "USDT": ("TetherUS", "ETH", "Ethereum (ERC20)"),
}
NO_DEPOSIT = "The paper exchange takes no deposits."
NO_WITHDRAW = "The paper exchange makes no withdrawals."
# COIN-M's own limits (dapi.binance.com), listed although no contract is served there.
DAPI_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
]


def _assets(state: PaperState) -> list[str]:
    held = set(state.spot.account.balances)
    return sorted({a for s in state.spot_specs.values() for a in (s.base, s.quote)} | held)


def _network(coin: str) -> dict[str, Any]:
    _, network, network_name = ASSETS.get(coin, (coin, coin, coin))
    return {
        "network": network,
        "coin": coin,
        "withdrawIntegerMultiple": "0.00000001",
        "isDefault": True,
        "depositEnable": False,
        "withdrawEnable": False,
        "depositDesc": NO_DEPOSIT,
        "withdrawDesc": NO_WITHDRAW,
        "specialTips": "",
        "specialWithdrawTips": "",
        "name": network_name,
        "resetAddressStatus": False,
        "addressRegex": "",
        "memoRegex": "",
        "withdrawFee": "0",
        "withdrawMin": "0",
        "withdrawMax": "0",
        "withdrawInternalMin": "0",
        "depositDust": "0",
        "minConfirm": 0,
        "unLockConfirm": 0,
        "sameAddress": False,
        "withdrawTag": False,
        "estimatedArrivalTime": 0,
        "busy": False,
    }


def coins(state: PaperState, p: Params, now: int) -> Any:
    """GET /sapi/v1/capital/config/getall: every asset of the snapshot and of the account,
    with the spot balance, tradable, neither deposits nor withdrawals enabled."""
    rows = []
    for coin in _assets(state):
        b = state.spot.account.balances.get(coin, Balance())
        rows.append(
            {
                "coin": coin,
                "depositAllEnable": False,
                "withdrawAllEnable": False,
                "name": ASSETS.get(coin, (coin,))[0],
                "free": fmt(b.free),
                "locked": fmt(b.locked),
                "freeze": "0",
                "withdrawing": "0",
                "ipoing": "0",
                "ipoable": "0",
                "storage": "0",
                "isLegalMoney": False,
                "trading": True,
                "networkList": [_network(coin)],
            }
        )
    return rows


def dapi_exchange_info(state: PaperState, p: Params, now: int) -> Any:
    """GET /dapi/v1/exchangeInfo: COIN-M futures are not simulated, so no symbols."""
    return {
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": DAPI_RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [],
    }


def trade_fee(state: PaperState, p: Params, now: int) -> Any:
    """GET /sapi/v1/asset/tradeFee: the spot commission of one symbol or of all."""
    symbol = p.text("symbol")
    specs = [state.spot.spec(symbol)] if symbol is not None else state.spot_specs.values()
    rate = fmt(SPOT_RATE)
    return [{"symbol": s.symbol, "makerCommission": rate, "takerCommission": rate} for s in specs]


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


COMPAT_ROUTES: Routes = {
    ("GET", "/sapi/v1/system/status"): Endpoint(
        lambda s, p, n: {"status": 0, "msg": "normal"}, 1, False, _s()
    ),
    ("GET", "/sapi/v1/asset/tradeFee"): Endpoint(trade_fee, 1, True, _s("symbol")),
    ("GET", "/sapi/v1/capital/config/getall"): Endpoint(coins, 10, True, _s()),
    # MARKET_DATA on Binance (a key, no signature needed); served signed, as ccxt sends it.
    ("GET", "/sapi/v1/margin/allPairs"): Endpoint(lambda s, p, n: [], 1, True, _s("symbol")),
    ("GET", "/sapi/v1/margin/isolated/allPairs"): Endpoint(
        lambda s, p, n: [], 10, True, _s("symbol")
    ),
    ("GET", "/dapi/v1/ping"): Endpoint(lambda s, p, n: {}, 1, False, _s()),
    ("GET", "/dapi/v1/time"): Endpoint(lambda s, p, n: {"serverTime": n}, 1, False, _s()),
    ("GET", "/dapi/v1/exchangeInfo"): Endpoint(dapi_exchange_info, 1, False, _s()),
}
