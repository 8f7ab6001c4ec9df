"""A client that can open links (URL-mode elicitation, 2025-11-25) is sent the console's page
for a call waiting for approval, while a console runs on the state dir (issue 22)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from binance_mcp.guard.console_link import announce
from binance_mcp.paper.runner import PaperExchange
from tests.mcp_fixtures import fails, ok
from tests.test_approval import APPROVE_ORDERS, cli
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

CONSOLE = "http://127.0.0.1:8765/"


def opening(action: str, state: Path, links: list[str]) -> Any:
    """The client's side: it shows the link; the person answers in the console (here, the
    same queue through the CLI), then the client reports what the person did with the link."""

    async def callback(context: Any, params: Any) -> ElicitResult:
        url = str(getattr(params, "url", ""))
        links.append(url)
        ident = url.rsplit("#approval-", 1)[1]
        if action == "accept":
            code, out = await anyio.to_thread.run_sync(
                cli, "approvals", "approve", ident, "--state-dir", str(state)
            )
            assert code == 0, out
        return ElicitResult(action=action)  # type: ignore[arg-type]

    return callback


async def test_the_link_is_sent_and_the_console_answers(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    announce(state, CONSOLE)
    links: list[str] = []
    async with Client(
        server, mode="legacy", elicitation_callback=opening("accept", state, links)
    ) as c:
        result = await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert result["order"]["status"] == "NEW"
    assert len(links) == 1 and links[0].startswith(f"{CONSOLE}#approval-")
    assert len(orders_sent(paper)) == 1
    assert audit_lines(tmp_path)[-1]["approval"] == "cli"


async def test_a_declined_link_denies_the_call(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = tmp_path / "state"
    announce(state, CONSOLE)
    links: list[str] = []
    async with Client(
        server, mode="legacy", elicitation_callback=opening("decline", state, links)
    ) as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert "Denied by policy: approval required" in text and "decline in the client" in text
    assert orders_sent(paper) == []
