"""Guard state shared through Redis (issue 21): a real `redis-server`, started by the tests on a
free loopback port in a temp dir (installed from Debian's packages when missing)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.cli.main import main
from binance_mcp.guard.policy import RateLimit
from binance_mcp.guard.redis_state import RedisCounterStore, account_of, open_shared
from binance_mcp.guard.store import (
    CounterStore,
    InlineStore,
    OrderSlot,
    Reach,
    StateStore,
    StateUnavailable,
)
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.app import build_server
from tests.mcp_fixtures import fails, ok, paper_settings
from tests.system_deps import ensure
from tests.test_guard import BUY_LIMIT, audit_lines, orders_sent

PASSWORD = "s3cret-redis-pw-4711"
ALLOW = "version: 1\nclasses: {read: allow, write: allow, financial: allow, destructive: allow}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server of the test's own, with a password; `restart(keep=…)` brings it
    back with its data (append-only file) or empty."""

    def __init__(self, root: Path) -> None:
        self.binary = ensure("redis-server", "redis-server")
        self.root = root
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--requirepass", PASSWORD, "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self, keep: bool) -> None:
        self.stop()
        if not keep:
            for path in self.root.rglob("*"):
                if path.is_file():
                    path.unlink()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _slot(notional: str, **extra: Any) -> OrderSlot:
    return OrderSlot("spot", Decimal(notional), Decimal("100"), None, None, None, **extra)


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CounterStore]:
    if request.param == "sqlite":
        sqlite = InlineStore(StateStore(tmp_path, "paper"))
        yield sqlite
        sqlite.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    shared = open_shared(server.url, tmp_path, account="acct", venue="paper")
    yield RedisCounterStore(shared)
    await shared.aclose()


# --- one suite, both stores ------------------------------------------------------------------


@pytest.mark.anyio
async def test_rate_limits_count_all_or_none(store: CounterStore) -> None:
    two = RateLimit(count=2, seconds=60, text="2/minute")
    one = RateLimit(count=1, seconds=60, text="1/minute")
    assert await store.take_calls([("class:read", two)]) is None
    hit = await store.take_calls([("class:read", two), ("tool:x", one)])
    assert hit is None
    hit = await store.take_calls([("class:read", two), ("tool:y", one)])
    assert hit is not None and hit.key == "class:read" and 0 < hit.retry_in <= 60
    assert await store.take_calls([("tool:y", one)]) is None  # the denied call used no slot of y


@pytest.mark.anyio
async def test_the_daily_budget_reserves_settles_and_releases(store: CounterStore) -> None:
    first = await store.reserve(_slot("60"))
    assert isinstance(first, str)
    hit = await store.reserve(_slot("50"))
    assert not isinstance(hit, str) and hit.rule == "limits.daily_notional"
    assert "60 used, 40 left, this order needs 50" in hit.reason
    await store.settle(first, placed=False)  # rejected: released
    second = await store.reserve(_slot("50"))
    assert isinstance(second, str)
    await store.settle(second, placed=True)  # placed: spent
    assert await store.used_today() == Decimal("50")
    assert not isinstance(await store.reserve(_slot("51")), str)


@pytest.mark.anyio
async def test_orders_in_flight_count_against_a_position(store: CounterStore) -> None:
    def slot(after: str, read_at: float) -> OrderSlot:
        reach = Reach(Decimal(0), Decimal(after), Decimal("500"), read_at)
        return _slot("0", symbol="BTCUSDT", size=Decimal("200"), position=reach)

    now = time.time()
    first = await store.reserve(slot("200", now))
    second = await store.reserve(slot("200", now))
    assert isinstance(first, str) and isinstance(second, str)
    third = await store.reserve(slot("200", now))  # 200 + 400 in flight
    assert not isinstance(third, str) and third.rule == "limits.max_position_notional"
    assert "600" in third.reason and "400 of it in orders being placed" in third.reason
    await store.settle(first, placed=True)
    # Read before the first was answered: it may be missing from that reading, still counted.
    assert not isinstance(await store.reserve(slot("200", now)), str)
    # The second was rejected: released. Read after the first was answered, the exchange
    # shows it (200 of the 400 after this order), and nothing else is in flight.
    await store.settle(second, placed=False)
    assert isinstance(await store.reserve(slot("400", time.time() + 1)), str)


@pytest.mark.anyio
async def test_the_days_loss_is_below_the_high_water_mark(store: CounterStore) -> None:
    assert await store.daily_loss(Decimal("1000")) == 0
    assert await store.daily_loss(Decimal("1100")) == 0  # a gain (or a deposit) raises the mark
    assert await store.daily_loss(Decimal("1000")) == Decimal("100")
    await store.restart_loss_count()
    assert await store.daily_loss(Decimal("990")) == 0


@pytest.mark.anyio
async def test_racing_reservations_never_pass_the_budget_together(store: CounterStore) -> None:
    """Concurrent reservations on one event loop (the Redis client awaits each round trip, so
    they interleave): exactly as many pass as the budget holds."""
    results = await asyncio.gather(*(store.reserve(_slot("10")) for _ in range(25)))
    assert sum(isinstance(r, str) for r in results) == 10
    assert await store.used_today() == Decimal("100")


# --- Redis only: lost data, outages, secrets ------------------------------------------------


@pytest.mark.anyio
async def test_a_redis_that_lost_its_data_refuses_until_reset(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # The CLI below has no keys in its environment: the account of no key.
    shared = open_shared(redis_server.url, tmp_path, account=account_of(None), venue="paper")
    store = RedisCounterStore(shared)
    assert isinstance(await store.reserve(_slot("90")), str)
    redis_server.restart(keep=True)  # persistence: nothing lost
    assert await store.used_today() == Decimal("90")
    redis_server.restart(keep=False)  # restarted empty: no fresh budget
    with pytest.raises(StateUnavailable, match=r"lost its data.*binance-mcp state reset"):
        await store.reserve(_slot("10"))
    # A new server on this host does not write a new marker over the loss either.
    again = open_shared(redis_server.url, tmp_path, account=account_of(None), venue="paper")
    with pytest.raises(StateUnavailable, match="lost its data"):
        await RedisCounterStore(again).used_today()
    code, out = _cli("state", "reset", "--yes", "--state-url", redis_server.url)
    assert code == 0 and "reset" in out and PASSWORD not in out
    assert isinstance(await store.reserve(_slot("10")), str)
    await shared.aclose()
    await again.aclose()


@pytest.mark.anyio
async def test_redis_down_denies_and_recovers(redis_server: RedisServer, tmp_path: Path) -> None:
    shared = open_shared(redis_server.url, tmp_path, account="acct", venue="paper", timeout=0.3)
    store = RedisCounterStore(shared)
    redis_server.stop()
    started = time.monotonic()
    with pytest.raises(StateUnavailable) as exc:
        await store.reserve(_slot("10"))
    assert time.monotonic() - started < 3
    assert PASSWORD not in str(exc.value) and f"127.0.0.1:{redis_server.port}" in str(exc.value)
    trading = await shared.read_trading()
    assert trading.state == "halted" and "cannot be read" in (trading.reason or "")
    redis_server.start()
    assert isinstance(await store.reserve(_slot("10")), str)
    await shared.aclose()


@pytest.mark.anyio
async def test_a_slow_redis_denies_within_the_timeout(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Slower than the timeout (here: stopped, connection open) is unavailable too, and the
    event loop keeps serving other work meanwhile."""
    shared = open_shared(redis_server.url, tmp_path, account="acct", venue="paper", timeout=0.2)
    store = RedisCounterStore(shared)
    assert isinstance(await store.reserve(_slot("10")), str)  # connected
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        started = time.monotonic()
        with pytest.raises(StateUnavailable) as exc:
            await store.reserve(_slot("10"))
        assert time.monotonic() - started < 3
        assert "TimeoutError" in str(exc.value) and PASSWORD not in str(exc.value)
        assert ticks > 5  # the wait did not block the loop
    finally:
        ticker.cancel()
        redis_server.proc.send_signal(signal.SIGCONT)
    assert isinstance(await store.reserve(_slot("10")), str)
    await shared.aclose()


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


# --- end to end: two hosts, one Redis ------------------------------------------------------


def _host(paper: PaperExchange, root: Path, url: str, policy: str) -> Any:
    root.mkdir(parents=True, exist_ok=True)
    (root / "policy.yaml").write_text(policy)
    settings = paper_settings(paper, root / "state", policy=root / "policy.yaml")
    from pydantic import SecretStr

    return build_server(replace(settings, state_url=SecretStr(url)))


@pytest.mark.anyio
async def test_two_hosts_share_one_budget_one_position_limit_and_one_halt(
    paper: PaperExchange, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI names the account by the same keys as the servers.
    monkeypatch.setenv("BINANCE_API_KEY", paper.config.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", paper.config.api_secret)
    policy = ALLOW + 'limits: {daily_notional: "300", max_position_notional: "500"}\n'
    one = _host(paper, tmp_path / "one", redis_server.url, policy)
    two = _host(paper, tmp_path / "two", redis_server.url, policy)
    results: list[bool] = []
    futures = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
    async with Client(one, mode="legacy") as a, Client(two, mode="legacy") as b:

        async def order(c: Client) -> None:
            result = await c.call_tool("binance_futures_place_order", futures)
            results.append(not result.is_error)

        async with anyio.create_task_group() as tg:
            for c in (a, b, a, b):
                tg.start_soon(order, c)
        # ~194 each: the 300 budget lets one through, whichever host asked.
        assert results.count(True) == 1
        code, out = await anyio.to_thread.run_sync(
            _cli, "halt", "--reason", "desk closed", "--state-url", redis_server.url
        )
        assert code == 0 and "halted" in out and PASSWORD not in out
        text = await fails(b, "binance_spot_place_order", BUY_LIMIT)
        assert "trading is halted" in text and "desk closed" in text
        code, out = await anyio.to_thread.run_sync(_cli, "status", "--state-url", redis_server.url)
        assert "halted" in out and PASSWORD not in out
        assert _cli("resume", "--state-url", redis_server.url)[0] == 0
        await ok(a, "binance_spot_price", {"symbol": "BTCUSDT"})
    assert len([o for o in orders_sent(paper) if o["path"] != "/api/v3/order"]) == 1
    for host in ("one", "two"):
        text = (tmp_path / host / "state" / "audit.jsonl").read_text()
        assert PASSWORD not in text
    assert any(a.get("rule") == "limits.daily_notional" for a in audit_lines(tmp_path / "one"))


@pytest.mark.anyio
async def test_calls_are_denied_while_redis_is_down(
    paper: PaperExchange, tmp_path: Path, redis_server: RedisServer
) -> None:
    policy = ALLOW + 'limits: {daily_notional: "1000"}\n'
    server = _host(paper, tmp_path / "host", redis_server.url, policy)
    async with Client(server, mode="legacy") as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        redis_server.stop()
        sent = len(orders_sent(paper))
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
        assert "Denied by policy" in text and "cannot be read" in text and PASSWORD not in text
        assert len(orders_sent(paper)) == sent
        redis_server.start()
        await ok(c, "binance_spot_place_order", BUY_LIMIT)


def test_the_guards_end_to_end_tests_pass_against_redis(redis_server: RedisServer) -> None:
    """The guard's end-to-end tests and the attack list once more, every server's guard state
    in Redis (`guarded_server` reads BINANCE_MCP_TEST_STATE_URL). Tests that drive the state
    dir's own approvals queue from the CLI are left out: with shared state, the queue is in
    Redis and the CLI takes `--state-url` (tested above)."""
    import os
    import sys

    env = {**os.environ, "BINANCE_MCP_TEST_STATE_URL": redis_server.url}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_guard.py",
         "tests/test_bypass.py::test_bypass_attempt_is_refused",
         "tests/test_account_limits.py::test_a_position_cannot_grow_past_its_limit",
         "tests/test_account_limits.py::test_exposure_stops_orders_over_several_symbols",
         "tests/test_account_limits.py::test_ten_concurrent_orders_never_pass_the_limit"],
        cwd=Path(__file__).parent.parent, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_the_console_follows_the_shared_state(redis_server: RedisServer, tmp_path: Path) -> None:
    from binance_mcp.console.view import ConsoleView
    from binance_mcp.guard.redis_state import RedisApprovalQueue, RedisState

    shared = open_shared(redis_server.url, tmp_path, account=account_of(None), venue="paper")
    view = ConsoleView(
        tmp_path, shared=RedisState(redis_server.url, account=account_of(None), venue="cli")
    )
    ident = shared.blocking(
        lambda s: RedisApprovalQueue(s).file("d1", "binance_spot_place_order", "Approve?", 60, 1)
    )
    assert [p["id"] for p in view.pending()] == [ident]
    assert view.decide(ident, "d1", True, "")["status"] == "approved"
    view.set_trading("halted", "from the console")
    assert shared.blocking(lambda s: s.read_trading()).state == "halted"
    assert view.trading()["state"] == "halted"
    view.set_trading("active", "")
    assert shared.blocking(lambda s: s.read_trading()).state == "active"
    view.close()


@pytest.mark.anyio
async def test_two_server_processes_on_two_state_dirs_share_one_redis(
    paper: PaperExchange, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `binance-mcp` processes, as two hosts run them (each its own state dir), race
    orders against one daily budget and one position limit; a halt given through one host's
    CLI stops the other's next order."""
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    from tests.mcp_fixtures import stdio_server

    monkeypatch.setenv("BINANCE_API_KEY", paper.config.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", paper.config.api_secret)
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW + 'limits: {daily_notional: "500", max_position_notional: "450"}\n')
    futures = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
    results: list[bool] = []
    halted = anyio.Event()
    after_halt: list[str] = []

    async def host(name: str, first: bool) -> None:
        params = stdio_server(paper, tmp_path / name / "state", policy)
        params.env = {**(params.env or {}), "BINANCE_MCP_STATE_URL": redis_server.url}
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

            async def one() -> None:
                result = await session.call_tool("binance_futures_place_order", futures)
                results.append(not result.is_error)

            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(one)
            if first:
                code, out = await anyio.to_thread.run_sync(
                    _cli, "halt", "--reason", "desk closed", "--state-url", redis_server.url
                )
                assert code == 0, out
                halted.set()
            else:
                await halted.wait()
                result = await session.call_tool("binance_spot_place_order", BUY_LIMIT)
                after_halt.append(str(result.content[0].text))  # type: ignore[union-attr]

    async with anyio.create_task_group() as tg:
        tg.start_soon(host, "one", True)
        tg.start_soon(host, "two", False)
    held = paper.state.futures_account.positions.get("BTCUSDT:BOTH")
    amount = held.amount if held else Decimal(0)
    # ~194 each: the position limit (450) lets two through, whichever host asked.
    assert results.count(True) == 2 and amount == Decimal("0.004")
    assert "trading is halted" in after_halt[0] and "desk closed" in after_halt[0]
