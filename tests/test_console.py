"""The console (`binance-mcp console`) in a real browser: Debian's Chromium, driven headless by
playwright (tests/system_deps.py installs the browser; no downloaded browser build). An MCP
client that cannot elicit places orders under a policy that asks for approval; a person approves
one and denies another by clicking in the page, halts trading there, and reads both calls in
the live audit stream. Screenshots of each page go to tests/artifacts/console/.

Also: the token, the session cookie and the CSRF token, over plain HTTP."""

from __future__ import annotations

import http.client
import json
import queue
import shutil
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from mcp import Client

from binance_mcp.console.run import Console
from binance_mcp.console.view import ConsoleView
from binance_mcp.guard import console_link
from binance_mcp.guard import trading_state as states
from binance_mcp.paper.runner import PaperExchange
from tests.system_deps import ensure
from tests.test_approval import Progress
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLICY = """
    version: 1
    classes: {read: allow, financial: allow}
    tools:
      binance_spot_place_order:
        rate_limit: 10/minute
        approve_if:
          - when: { notional: { gt: "50" } }
            reason: above 50 USDT a human decides
    limits:
      daily_notional: "1000"
      max_open_orders: 5
      max_order_notional: "500"
"""


class Browser:
    """Chromium through playwright's sync API, in a thread of its own (the tests' event loop
    runs in the main one): `run(fn)` calls fn(page) there and returns its result."""

    def __init__(self, executable: str) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.Queue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(executable,), daemon=True)
        self._thread.start()
        self._ready.result(60)

    def _main(self, executable: str) -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                self._ready.set_result(None)
                while (job := self._jobs.get()) is not None:
                    fn, done = job
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    try:
                        done.set_result(fn(context))
                    except BaseException as exc:
                        done.set_exception(exc)
                    finally:
                        context.close()
                browser.close()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)

    def session(self, fn: Callable[[Any], Any]) -> Any:
        """fn(context) in a fresh browser context (cookies of its own)."""
        done: Future[Any] = Future()
        self._jobs.put((fn, done))
        return done.result(120)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = ensure("chromium", "chromium")
    b = Browser(chromium)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def console(paper: PaperExchange, tmp_path: Path) -> Iterator[Console]:
    (tmp_path / "policy.yaml").write_text(textwrap.dedent(POLICY))
    view = ConsoleView(
        tmp_path / "state", policy=str(tmp_path / "policy.yaml"), paper_dir=tmp_path / "paper"
    )
    running = Console(view, port=0).start()
    try:
        yield running
    finally:
        running.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.anyio
async def test_approve_deny_halt_and_the_audit_stream_in_the_page(
    paper: PaperExchange, tmp_path: Path, console: Console, browser: Browser
) -> None:
    server = guarded_server(paper, tmp_path, POLICY, approval_timeout=30.0)
    state_dir = tmp_path / "state"
    assert console_link.console_url(state_dir) == console.base
    results: dict[str, Any] = {}
    seen = {"first": Progress(), "second": Progress()}

    def open_page(ctx: Any) -> Any:
        page = ctx.new_page()
        page.goto(console.url)
        assert "token" not in page.url  # dropped from the address bar once the cookie is set
        page.wait_for_selector("body[data-loaded=yes]")
        return page

    def approve(ident: str) -> Callable[[Any], None]:
        def act(ctx: Any) -> None:
            page = open_page(ctx)
            row = page.locator(f"#approvals tr[data-id='{ident}']")
            row.wait_for()
            cells = row.locator("td").all_inner_texts()
            assert cells[1:7] == [
                "binance_spot_place_order", "BTCUSDT", "BUY", "0.001", "95000", "95"]  # fmt: skip
            assert "above 50 USDT a human decides" in cells[7]
            assert "tools.binance_spot_place_order.approve_if[0]" in cells[7]
            assert cells[8] == "paper" and cells[9].endswith(" s")
            shot(page, "1-approvals")
            row.get_by_role("button", name="Approve").click()
            row.wait_for(state="detached")

        return act

    def deny(ident: str) -> Callable[[Any], None]:
        def act(ctx: Any) -> None:
            page = open_page(ctx)
            row = page.locator(f"#approvals tr[data-id='{ident}']")
            row.get_by_role("button", name="Deny").click()
            row.wait_for(state="detached")

        return act

    async with Client(server, mode="legacy") as c:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                results["first"] = await c.call_tool(
                    "binance_spot_place_order", BUY_LIMIT, progress_callback=seen["first"]
                )

            tg.start_soon(call)
            first = await seen["first"].request_id()
            # The waiting call names the console to the person.
            assert f"or answer in the console at {console.base}" in seen["first"].messages[0]
            await anyio.to_thread.run_sync(browser.session, approve(first))
        assert not results["first"].is_error, results["first"].content
        assert len(orders_sent(paper)) == 1

        async with anyio.create_task_group() as tg:

            async def call_again() -> None:
                results["second"] = await c.call_tool(
                    "binance_spot_place_order",
                    {**BUY_LIMIT, "price": "94000"},
                    progress_callback=seen["second"],
                )

            tg.start_soon(call_again)
            second = await seen["second"].request_id()
            await anyio.to_thread.run_sync(browser.session, deny(second))
        assert results["second"].is_error
        assert "denied from the approvals CLI" in results["second"].content[0].text
        assert len(orders_sent(paper)) == 1  # nothing sent

        def halt(ctx: Any) -> None:
            page = open_page(ctx)
            page.click("a[data-page=trading]")
            page.fill("#trading-reason", "stopped from the console test")
            page.click("#halt")
            page.wait_for_selector("#state-badge.state-halted")
            shot(page, "2-trading-halted")

        await anyio.to_thread.run_sync(browser.session, halt)
        assert states.read(state_dir).state is states.TradingState.HALTED
        # Under the approval threshold: only the halt stands in the way.
        small = await c.call_tool("binance_spot_place_order", {**BUY_LIMIT, "quantity": "0.0002"})
        assert small.is_error and "trading is halted" in small.content[0].text
        assert "stopped from the console test" in small.content[0].text
        assert len(orders_sent(paper)) == 1

    # Values for the paper chart: the exchange saves its account, the price moves, it saves.
    for price in ("96000", "97000", "95500"):
        paper.state.set_price("BTCUSDT", __import__("decimal").Decimal(price))
        paper.state.save()
        console.view.values.sample()
        await anyio.sleep(0.02)

    def audit_limits_paper(ctx: Any) -> dict[str, Any]:
        from playwright.sync_api import expect

        page = open_page(ctx)
        page.click("a[data-page=audit]")
        rows = page.locator("#audit tbody tr")
        rows.nth(2).wait_for()
        texts = rows.all_inner_texts()
        shot(page, "3-audit")
        page.select_option("#filter-decision", "deny")
        expect(rows).to_have_count(1)  # the halted call, the only denial
        denied = rows.all_inner_texts()
        shot(page, "4-audit-deny-filter")
        page.click("a[data-page=limits]")
        page.wait_for_selector(".limit")
        limits = page.locator("#limits").inner_text()
        shot(page, "5-limits")
        page.click("a[data-page=paper]")
        page.wait_for_selector("svg.chart polyline")
        shot(page, "6-paper")
        page.click("a[data-page=trading]")
        page.click("#resume")
        page.wait_for_selector("#state-badge.state-active")
        return {"texts": texts, "denied": denied, "limits": limits}

    seen_in_page = await anyio.to_thread.run_sync(browser.session, audit_limits_paper)
    placed = [t for t in seen_in_page["texts"] if "binance_spot_place_order" in t]
    assert len(placed) == 3
    assert any("approve" in t and "cli" in t and "ok" in t for t in placed)  # approved
    assert any("approve" in t and "denied" in t for t in placed)  # denied
    assert all("deny" in t for t in seen_in_page["denied"])
    assert "limits.daily_notional" in seen_in_page["limits"]
    assert "95 / 1000" in seen_in_page["limits"]  # the approved order's notional
    assert "tools.binance_spot_place_order.rate_limit" in seen_in_page["limits"]
    # Counted: the approved and the denied call; the halted one was denied before the count.
    assert "2 / 10/minute" in seen_in_page["limits"]
    assert states.read(state_dir).state is states.TradingState.ACTIVE
    assert [a["approval"] for a in audit_lines(tmp_path)[:2]] == ["cli", "denied"]
    copy = Path(".artifacts") / "console"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ARTIFACTS, copy)


def _request(
    console: Console,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        conn.close()


def test_token_session_and_csrf(console: Console, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    host = {"Host": f"127.0.0.1:{console.port}"}
    # Without the token or a session: nothing.
    for path in ("/", "/api/state", "/api/session", "/api/audit"):
        assert _request(console, "GET", path, headers=host)[0] == 401
    assert _request(console, "GET", "/?token=wrong", headers=host)[0] == 403
    halt = {"state": "halted", "reason": "x"}
    assert _request(console, "POST", "/api/trading", headers=host, body=halt)[0] == 401
    # The token opens a session (a cookie) and sends the browser on without it.
    query = urlsplit(console.url).query
    status, headers, _ = _request(console, "GET", f"/?{query}", headers=host)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"].split(";")[0]
    assert "httponly" in headers["set-cookie"].lower()
    assert "samesite=strict" in headers["set-cookie"].lower()
    signed = {**host, "Cookie": cookie}
    status, _, page = _request(console, "GET", "/", headers=signed)
    assert status == 200 and "binance-mcp console" in page
    status, _, text = _request(console, "GET", "/api/session", headers=signed)
    csrf = json.loads(text)["csrf"]
    # A POST without the CSRF token, with a wrong one, or from another origin: refused.
    assert _request(console, "POST", "/api/trading", headers=signed, body=halt)[0] == 403
    wrong = {**signed, "X-CSRF-Token": "nope"}
    assert _request(console, "POST", "/api/trading", headers=wrong, body=halt)[0] == 403
    evil = {**signed, "X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert _request(console, "POST", "/api/trading", headers=evil, body=halt)[0] == 403
    assert states.read(state_dir).state is states.TradingState.ACTIVE
    # Another Host (a DNS-rebound name), even with the session: refused.
    rebound = {**signed, "Host": f"evil.example:{console.port}"}
    assert _request(console, "GET", "/api/state", headers=rebound)[0] == 403
    # With all of it, the POST goes through.
    good = {**signed, "X-CSRF-Token": csrf, "Origin": f"http://127.0.0.1:{console.port}"}
    status, _, text = _request(console, "POST", "/api/trading", headers=good, body=halt)
    assert status == 200 and json.loads(text)["state"] == "halted"
    assert states.read(state_dir).state is states.TradingState.HALTED
    # Approving a request that is not waiting (or not the call shown) is refused.
    answer = {"digest": "x", "approve": True}
    status, _, text = _request(console, "POST", "/api/approvals/abc123", headers=good, body=answer)
    assert status == 409 and "no longer waiting" in text
    # The static assets come from the package, and the page loads nothing from elsewhere.
    status, headers, _ = _request(console, "GET", "/static/console.js", headers=host)
    assert status == 200
    assert (
        "default-src 'self'"
        in _request(console, "GET", "/", headers=signed)[1]["content-security-policy"]
    )
    assert "http" not in page.replace("http-equiv", "")
