"""The paper account in its database: a killed exchange keeps everything it answered, an old
`paper-account.json` is imported once and kept, and memory holds open orders only."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.config import PaperConfig
from binance_mcp.paper.runner import start_paper_exchange
from binance_mcp.paper.spot import Balance, SpotOrder, SpotTrade
from binance_mcp.paper.state import IMPORTED_FILE, STATE_FILE, LegacySpot, Saved
from binance_mcp.paper.store import DB_FILE, DONE_CACHE
from tests.paper_fixtures import binance_client, point_client_at

KEY, SECRET = "K" * 64, "S" * 64


class PaperProcess:
    """`binance-mcp paper` in its own process, as a user runs it."""

    def __init__(self, state: Path) -> None:
        env = {
            "PATH": os.environ["PATH"],
            "BINANCE_API_KEY": KEY,
            "BINANCE_API_SECRET": SECRET,
        }
        # Limits lifted: the run places a few hundred resting orders a second.
        args = ["paper", "--state-dir", str(state), "--port", "0", "--walk-interval", "0"]
        args += ["--limits", "off"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_mcp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stderr is not None
        stderr = self.proc.stderr
        threading.Thread(target=lambda: [lines.put(x) for x in stderr], daemon=True).start()
        while True:
            line = lines.get(timeout=30)
            if "listening on " in line:
                self.url = line.strip().rsplit(" ", 1)[1]
                break

    def client(self) -> Any:
        from binance import Client

        c = Client(KEY, SECRET, ping=False)
        return point_client_at(c, self.url + "/api", self.url + "/fapi")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def _orders_seen(c: Any, symbol: str) -> dict[int, tuple[str, str]]:
    return {
        o["orderId"]: (o["status"], o["executedQty"])
        for o in c.get_all_orders(symbol=symbol, limit=1000)
    }


def test_a_killed_exchange_keeps_every_answered_order_fill_and_balance(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = PaperProcess(state)
    try:
        c = first.client()
        answered: dict[int, dict[str, Any]] = {}
        c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        eth = Decimal(c.get_symbol_ticker(symbol="ETHUSDT")["price"])
        below = str((eth * Decimal("0.9")).quantize(Decimal("0.01")))
        killer = threading.Timer(1.0, first.kill)
        killer.start()
        lost = None
        for i in range(10_000):  # until the kill cuts the run short
            try:
                if i % 3 == 0:
                    order = c.create_order(
                        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001"
                    )
                else:
                    order = c.create_order(
                        symbol="ETHUSDT",
                        side="BUY",
                        type="LIMIT",
                        timeInForce="GTC",
                        quantity="0.01",
                        price=below,
                    )
                    answered[order["orderId"]] = order
                    if i % 3 == 2:
                        order = c.cancel_order(symbol="ETHUSDT", orderId=order["orderId"])
                answered[order["orderId"]] = order
                balances = c.get_account()["balances"]
                trades = c.get_my_trades(symbol="BTCUSDT", limit=1000)
            except requests.ConnectionError as exc:  # the kill
                lost = exc
                break
        killer.join()
        assert lost is not None and len(answered) > 10, "the run ended before the kill"
        position = None
    finally:
        if first.proc.poll() is None:
            first.kill()

    second = PaperProcess(state)
    try:
        c = second.client()
        seen = {**_orders_seen(c, "BTCUSDT"), **_orders_seen(c, "ETHUSDT")}
        for order_id, order in answered.items():
            assert order_id in seen, f"answered order {order_id} lost"
            status, executed = seen[order_id]
            if order["status"] in ("FILLED", "CANCELED"):
                assert (status, executed) == (order["status"], order["executedQty"])
        # The last balances and fills read before the kill are all there (an order placed
        # after them may have been answered too, or lost with its answer; not fewer).
        assert c.get_my_trades(symbol="BTCUSDT", limit=1000)[: len(trades)] == trades
        after = {b["asset"]: b for b in c.get_account()["balances"]}
        for b in balances:
            if b["asset"] == "ETH":
                assert Decimal(after["ETH"]["free"]) >= Decimal(b["free"])
        position = c.futures_position_information(symbol="BTCUSDT")
        assert position[0]["positionAmt"] == "0.010"
        # Still open orders stay open and indexed: they can be cancelled after the restart.
        open_now = c.get_open_orders(symbol="ETHUSDT")
        assert {o["orderId"] for o in open_now} == {
            i for i, (status, _) in seen.items() if status == "NEW"
        }
        if open_now:
            gone = c.cancel_order(symbol="ETHUSDT", orderId=open_now[0]["orderId"])
            assert gone["status"] == "CANCELED"
    finally:
        second.kill()
    assert (state / "paper" / DB_FILE).is_file()


def _legacy_file(path: Path) -> Saved:
    order = SpotOrder(
        symbol="BTCUSDT",
        orderId=7,
        clientOrderId="old-one",
        price=Decimal("50000"),
        origQty=Decimal("0.001"),
        executedQty=Decimal("0.001"),
        cummulativeQuoteQty=Decimal("50"),
        status="FILLED",
        timeInForce="GTC",
        type="LIMIT",
        side="BUY",
        time=1_700_000_000_000,
        updateTime=1_700_000_000_000,
        workingTime=1_700_000_000_000,
    )
    resting = order.model_copy(
        update={
            "orderId": 8,
            "clientOrderId": "old-open",
            "price": Decimal("10000"),
            "executedQty": Decimal(0),
            "cummulativeQuoteQty": Decimal(0),
            "status": "NEW",
            "lock_asset": "USDT",
            "locked": Decimal("10"),
        }
    )
    trade = SpotTrade(
        symbol="BTCUSDT",
        id=3,
        orderId=7,
        price=Decimal("50000"),
        qty=Decimal("0.001"),
        quoteQty=Decimal("50"),
        commission=Decimal("0.000001"),
        commissionAsset="BTC",
        time=1_700_000_000_000,
        isBuyer=True,
        isMaker=True,
    )
    saved = Saved(
        prices={"BTCUSDT": Decimal("60000")},
        walk_steps=5,
        next_trade_id=4,
        spot=LegacySpot(
            balances={"USDT": Balance(free=Decimal("940"), locked=Decimal("10"))},
            orders={7: order, 8: resting},
            trades=[trade],
            next_order_id=9,
        ),
    )
    path.write_text(saved.model_dump_json(by_alias=True))
    return saved


def test_an_old_account_file_is_imported_once_and_kept(tmp_path: Path) -> None:
    legacy = tmp_path / STATE_FILE
    _legacy_file(legacy)
    original = legacy.read_text()
    config = PaperConfig(state_dir=tmp_path, walk_interval=0, api_key=KEY, api_secret=SECRET)
    with start_paper_exchange(config) as ex:
        c = binance_client(ex)
        assert c.get_order(symbol="BTCUSDT", origClientOrderId="old-one")["status"] == "FILLED"
        assert [t["id"] for t in c.get_my_trades(symbol="BTCUSDT")] == [3]
        assert [o["orderId"] for o in c.get_open_orders(symbol="BTCUSDT")] == [8]
        usdt = next(b for b in c.get_account()["balances"] if b["asset"] == "USDT")
        assert (usdt["free"], usdt["locked"]) == ("940.00000000", "10.00000000")
        assert c.get_symbol_ticker(symbol="BTCUSDT")["price"] == "60000.00000000"
        placed = c.create_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
            quantity="0.001", price="55000",
        )  # fmt: skip
        assert placed["orderId"] == 9  # the ids go on from the file's
    assert (tmp_path / IMPORTED_FILE).read_text() == original
    # The database is the account now: a changed file is not imported again.
    legacy.write_text(original.replace('"940"', '"1"'))
    with start_paper_exchange(config) as ex:
        c = binance_client(ex)
        assert [o["orderId"] for o in c.get_open_orders(symbol="BTCUSDT")] == [8, 9]
        assert len(c.get_all_orders(symbol="BTCUSDT")) == 3


def test_memory_holds_open_orders_not_history(tmp_path: Path) -> None:
    config = PaperConfig(
        state_dir=tmp_path, walk_interval=0, api_key=KEY, api_secret=SECRET, limit_scale=None
    )
    with start_paper_exchange(config) as ex:
        c = binance_client(ex)
        orders = ex.state.spot_account.orders
        btc = Decimal(c.get_symbol_ticker(symbol="BTCUSDT")["price"])
        below = str((btc * Decimal("0.9")).quantize(Decimal("0.01")))
        for i in range(DONE_CACHE + 50):
            placed = c.create_order(
                symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                quantity="0.0001", price=below, newClientOrderId=f"o{i}",
            )  # fmt: skip
            if i % 50:
                c.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
        open_ids = [o["orderId"] for o in c.get_open_orders(symbol="BTCUSDT")]
        assert len(open_ids) == (DONE_CACHE + 50 + 49) // 50
        # Only open orders and a bounded cache of finished ones are objects in memory.
        assert sorted(orders._open_by_id) == open_ids
        assert len(orders._done) <= DONE_CACHE and not orders._dirty
        # The oldest finished orders come back from the database, by id and by client id.
        assert c.get_order(symbol="BTCUSDT", origClientOrderId="o1")["status"] == "CANCELED"
        assert len(orders) == DONE_CACHE + 50
        first = c.get_all_orders(symbol="BTCUSDT", orderId=1, limit=3)
        assert [o["clientOrderId"] for o in first] == ["o0", "o1", "o2"]
        last = c.get_all_orders(symbol="BTCUSDT", limit=2)
        assert [o["clientOrderId"] for o in last] == [f"o{DONE_CACHE + 48}", f"o{DONE_CACHE + 49}"]
        with pytest.raises(BinanceAPIException) as gone:
            c.cancel_order(symbol="BTCUSDT", origClientOrderId="o1")
        assert gone.value.code == -2011
