"""The paper exchange's wire rules: API key, HMAC signature over the exact query and body,
timestamp and recvWindow, request weight with 429/418, fault injection, persistence."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from binance.exceptions import BinanceAPIException

from binance_mcp.paper.faults import Fault
from binance_mcp.paper.runner import PaperConfig, PaperExchange, start_paper_exchange
from tests.paper_fixtures import binance_client


def signed_query(secret: str, query: str) -> str:
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


def now_ms() -> int:
    return int(time.time() * 1000)


def error_of(response: requests.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["code"], body["msg"]


def test_signature_covers_the_exact_query(paper: PaperExchange) -> None:
    key, secret = paper.config.api_key, paper.config.api_secret
    url = paper.spot_url + "/v3/account"
    query = f"omitZeroBalances=true&timestamp={now_ms()}"
    ok = requests.get(
        f"{url}?{signed_query(secret, query)}", headers={"X-MBX-APIKEY": key}, timeout=5
    )
    assert ok.status_code == 200 and ok.json()["accountType"] == "SPOT"
    assert {b["asset"] for b in ok.json()["balances"]} == {"USDT", "BTC", "ETH"}
    # The same parameters in another order are another payload: the signature no longer fits.
    signed = signed_query(secret, query)
    reordered = f"timestamp={query.split('timestamp=')[1]}&omitZeroBalances=true&signature={signed.split('signature=')[1]}"
    bad = requests.get(f"{url}?{reordered}", headers={"X-MBX-APIKEY": key}, timeout=5)
    assert error_of(bad) == (400, -1022, "Signature for this request is not valid.")


def test_signature_over_query_and_body_together(paper: PaperExchange) -> None:
    key, secret = paper.config.api_key, paper.config.api_secret
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quantity=0.001&timestamp={now_ms()}"
    signature = hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    r = requests.post(
        f"{paper.spot_url}/v3/order?{query}",
        data=f"{body}&signature={signature}",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "FILLED"


def test_api_key_errors(paper: PaperExchange) -> None:
    query = signed_query(paper.config.api_secret, f"timestamp={now_ms()}")
    url = f"{paper.spot_url}/v3/account?{query}"
    assert error_of(requests.get(url, timeout=5)) == (401, -2014, "API-key format invalid.")
    wrong = requests.get(url, headers={"X-MBX-APIKEY": "A1" * 32}, timeout=5)
    assert error_of(wrong) == (401, -2015, "Invalid API-key, IP, or permissions for action.")
    # Binance's keys are 64 letters and digits: anything else is malformed, not unknown.
    for malformed in ("not-the-key", "A1" * 31, "A1" * 31 + "-_"):
        answer = requests.get(url, headers={"X-MBX-APIKEY": malformed}, timeout=5)
        assert error_of(answer) == (401, -2014, "API-key format invalid.")


def test_timestamp_rules(paper: PaperExchange, client: Any) -> None:
    client.timestamp_offset = -20_000  # recvWindow is 10 s in python-binance
    with pytest.raises(BinanceAPIException) as exc:
        client.get_account()
    assert (exc.value.code, exc.value.message) == (
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    client.timestamp_offset = 5_000
    with pytest.raises(BinanceAPIException) as exc:
        client.get_account()
    assert exc.value.code == -1021 and "ahead of the server's time" in exc.value.message
    client.timestamp_offset = 0
    key, secret = paper.config.api_key, paper.config.api_secret
    missing = requests.get(
        f"{paper.spot_url}/v3/account?{signed_query(secret, 'omitZeroBalances=true')}",
        headers={"X-MBX-APIKEY": key},
        timeout=5,
    )
    assert error_of(missing)[1] == -1102 and "'timestamp'" in error_of(missing)[2]
    too_wide = requests.get(
        f"{paper.spot_url}/v3/account?{signed_query(secret, f'recvWindow=70000&timestamp={now_ms()}')}",
        headers={"X-MBX-APIKEY": key},
        timeout=5,
    )
    assert error_of(too_wide)[1] == -1131


def test_unknown_and_duplicate_parameters(paper: PaperExchange) -> None:
    extra = requests.get(f"{paper.spot_url}/v3/depth?symbol=BTCUSDT&foo=1", timeout=5)
    assert error_of(extra)[1] == -1104
    twice = requests.get(f"{paper.spot_url}/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT", timeout=5)
    assert error_of(twice)[1] == -1101
    nowhere = requests.get(f"{paper.spot_url}/v3/nothing", timeout=5)
    assert nowhere.status_code == 404


@pytest.fixture
def small_weight(tmp_path: Path) -> Any:
    exchange = start_paper_exchange(
        PaperConfig(state_dir=tmp_path, walk_interval=0, weight_limit=60)
    )
    yield exchange
    exchange.stop()


def test_exceeding_weight_gives_429_then_418(small_weight: PaperExchange) -> None:
    url = f"{small_weight.spot_url}/v3/exchangeInfo"  # weight 20
    seconds_into_minute = time.time() % 60
    if seconds_into_minute > 50:  # weight counts per calendar minute: start a fresh one
        time.sleep(60.5 - seconds_into_minute)
    used = [int(requests.get(url, timeout=5).headers["X-MBX-USED-WEIGHT-1M"]) for _ in range(3)]
    assert used == [20, 40, 60]
    limited = requests.get(url, timeout=5)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["code"] == -1003 and "request weight" in limited.json()["msg"]
    banned = None
    for _ in range(5):
        banned = requests.get(url, timeout=5)
        if banned.status_code == 418:
            break
    assert banned is not None and banned.status_code == 418
    assert "banned until" in banned.json()["msg"] and int(banned.headers["Retry-After"]) > 0
    client = binance_client(small_weight)
    with pytest.raises(BinanceAPIException) as exc:
        client.ping()
    assert exc.value.status_code == 418 and exc.value.code == -1003


def test_fault_status_for_the_next_n_requests(paper: PaperExchange, client: Any) -> None:
    paper.state.faults.arm(Fault(path="/api/v3/ticker/price", kind="status", status=503, count=2))
    for _ in range(2):
        with pytest.raises(BinanceAPIException) as exc:
            client.get_symbol_ticker(symbol="BTCUSDT")
        assert exc.value.status_code == 503
    assert client.get_symbol_ticker(symbol="BTCUSDT")["symbol"] == "BTCUSDT"


def test_fault_delay_times_the_client_out(paper: PaperExchange, client: Any) -> None:
    paper.state.faults.arm(Fault(path="/api/v3/time", kind="delay", delay=1.5))
    client.REQUEST_TIMEOUT = 0.5
    with pytest.raises(requests.exceptions.Timeout):
        client.get_server_time()
    assert client.get_server_time()["serverTime"] > 0


def test_fault_drop_after_accept_leaves_the_order_placed(paper: PaperExchange, client: Any) -> None:
    paper.state.faults.arm(Fault(path="/api/v3/order", kind="drop", method="POST"))
    with pytest.raises(requests.exceptions.ConnectionError):
        client.create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId="lost-1"
        )
    placed = client.get_order(symbol="BTCUSDT", origClientOrderId="lost-1")
    assert placed["status"] == "FILLED"
    assert len(client.get_all_orders(symbol="BTCUSDT")) == 1


def test_faults_over_http_control_endpoint(paper: PaperExchange, client: Any) -> None:
    headers = {"X-MBX-APIKEY": paper.config.api_key}
    control = f"{paper.base_url}/paper/faults"
    assert (
        requests.post(
            control, json={"path": "/api/v3/ping", "kind": "status"}, timeout=5
        ).status_code
        == 401
    )
    armed = requests.post(
        control,
        json={"path": "/api/v3/ping", "kind": "status", "status": 500},
        headers=headers,
        timeout=5,
    )
    assert armed.status_code == 200
    with pytest.raises(BinanceAPIException):
        client.ping()
    assert client.ping() == {}
    bad = requests.post(control, json={"path": "/x", "kind": "explode"}, headers=headers, timeout=5)
    assert bad.status_code == 400
    walked = requests.post(
        f"{paper.base_url}/paper/walk", json={"steps": 3}, headers=headers, timeout=5
    )
    assert walked.json()["steps"] == 3
    log = requests.get(f"{paper.base_url}/paper/requests", headers=headers, timeout=5).json()
    assert [e["path"] for e in log][-1] == "/api/v3/ping"
    assert all("signature" not in e["params"] for e in log)


def test_account_survives_a_restart(tmp_path: Path) -> None:
    config = PaperConfig(state_dir=tmp_path, walk_interval=0, api_key="k" * 64, api_secret="s" * 64)
    with start_paper_exchange(config) as first:
        c = binance_client(first)
        c.create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1")
        resting = c.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price="80000",
        )
        before = c.get_account()["balances"]
    with start_paper_exchange(config) as second:
        c = binance_client(second)
        assert c.get_account()["balances"] == before
        assert [o["orderId"] for o in c.get_open_orders()] == [resting["orderId"]]
        newer = c.create_order(symbol="XRPUSDT", side="BUY", type="MARKET", quantity="10")
        assert newer["orderId"] > resting["orderId"]
    fresh = PaperConfig(
        state_dir=tmp_path, walk_interval=0, reset=True, spot_balances={"USDT": Decimal(5)}
    )
    with start_paper_exchange(fresh) as third:
        balances = {
            b["asset"]: b["free"]
            for b in binance_client(third).get_account(omitZeroBalances="true")["balances"]
        }
        assert balances == {"USDT": "5.00000000"}


def test_a_damaged_account_file_is_not_silently_replaced(tmp_path: Path) -> None:
    (tmp_path / "paper-account.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="--reset"):
        start_paper_exchange(PaperConfig(state_dir=tmp_path, walk_interval=0))
    assert (tmp_path / "paper-account.json").read_text() == "{not json"


def test_walk_runs_by_itself(tmp_path: Path) -> None:
    with start_paper_exchange(PaperConfig(state_dir=tmp_path, walk_interval=0.05)) as ex:
        deadline = time.time() + 5
        while ex.state.walk.steps < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert ex.state.walk.steps >= 3
    saved = json.loads((tmp_path / "paper-account.json").read_text())
    assert saved["walk_steps"] >= 3


def test_a_ban_says_how_long_is_left() -> None:
    from binance_mcp.paper.errors import BinanceError
    from binance_mcp.paper.weights import WeightMeter

    meter = WeightMeter(limit=10, banned_until_ms=100_000)
    with pytest.raises(BinanceError) as raised:
        meter.charge(1, now_ms=98_500)
    assert raised.value.status == 418
    assert raised.value.headers["Retry-After"] == "2"
