"""Human approval (SPEC §4.5) end to end over MCP against the paper exchange: elicitation on
both protocol eras, and the out-of-band approvals queue driven from the CLI, with the paper
exchange's state proving what was placed."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult

from binance_mcp.cli.main import main
from binance_mcp.guard.approvals import ApprovalError, ApprovalQueue
from binance_mcp.paper.runner import PaperExchange
from binance_mcp.server.approval import ApprovalAnswer, Approver, Asked
from tests.mcp_fixtures import fails, ok
from tests.test_guard import BUY_LIMIT, audit_lines, guarded_server, orders_sent

pytestmark = pytest.mark.anyio

APPROVE_ORDERS = """
    version: 1
    classes: {read: allow, financial: allow}
    tools:
      binance_spot_place_order:
        approve_if:
          - when: { notional: { gt: "50" } }
            reason: above 50 USDT a human decides
"""

Answer = Callable[[ElicitRequestParams], Awaitable[ElicitResult]]


def answering(result: ElicitResult, asked: list[str], delay: float = 0.0) -> Any:
    async def callback(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        await anyio.sleep(delay)
        return result

    return callback


async def test_accepted_elicitation_places_the_order(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    asked: list[str] = []
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS)
    accept = ElicitResult(action="accept", content={"approve": True})
    async with Client(server, mode=mode, elicitation_callback=answering(accept, asked)) as c:
        placed = await ok(c, "binance_spot_place_order", BUY_LIMIT)
        # Under the threshold: nobody is asked.
        await ok(c, "binance_spot_place_order", {**BUY_LIMIT, "quantity": "0.0002"})
    assert placed["order"]["status"] == "NEW"
    assert len(asked) == 1
    lines = asked[0].splitlines()
    assert lines[:4] == [
        "Approve binance_spot_place_order on paper?",
        "symbol: BTCUSDT · side: BUY · type: LIMIT",
        "quantity: 0.001 · price: 95000",
        "notional: 95",
    ]
    assert lines[4] == (
        "why: above 50 USDT a human decides (tools.binance_spot_place_order.approve_if[0])"
    )
    assert len(orders_sent(paper)) == 2
    audit = audit_lines(tmp_path)
    assert [(a["decision"], a.get("approval"), a["outcome"]) for a in audit] == [
        ("approve", "elicitation", "ok"), ("allow", None, "ok")]  # fmt: skip


async def test_a_policy_edit_that_brings_in_approval_asks_at_the_next_call(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    asked: list[str] = []
    server = guarded_server(paper, tmp_path, "version: 1\nclasses: {read: allow, financial: allow}")
    accept = ElicitResult(action="accept", content={"approve": True})
    async with Client(server, mode=mode, elicitation_callback=answering(accept, asked)) as c:
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert asked == []
        (tmp_path / "policy.yaml").write_text(textwrap.dedent(APPROVE_ORDERS))
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert len(asked) == 1  # asked at the first call after the edit
        (tmp_path / "policy.yaml").write_text(
            "version: 1\nclasses: {read: allow, financial: allow}\n"
        )
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
        assert len(asked) == 1  # and no longer once the edit is undone
    assert len(orders_sent(paper)) == 3
    audit = audit_lines(tmp_path)
    assert [(a["decision"], a.get("approval")) for a in audit] == [
        ("allow", None), ("approve", "elicitation"), ("allow", None)]  # fmt: skip


async def test_a_yes_given_while_the_policy_was_edited_is_not_used(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    """The person is asked under one policy; the file is edited (approval still required, for
    another reason) before they answer yes. That yes answers another question: on 2025-11-25
    the call is refused ("call again"), on 2026-07-28 the person is asked again."""
    asked: list[str] = []

    async def edit_then_accept(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        if len(asked) == 1:
            edited = APPROVE_ORDERS.replace("above 50 USDT", "over 50 USDT")
            (tmp_path / "policy.yaml").write_text(textwrap.dedent(edited))
        return ElicitResult(action="accept", content={"approve": True})

    server = guarded_server(paper, tmp_path, APPROVE_ORDERS)
    async with Client(server, mode=mode, elicitation_callback=edit_then_accept) as c:
        if mode == "legacy":
            text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
            assert "the policy changed while the approval was pending; call again" in text
            assert orders_sent(paper) == []
            assert audit_lines(tmp_path)[0]["approval"] == "stale"
        else:
            await ok(c, "binance_spot_place_order", BUY_LIMIT)
            assert len(asked) == 2 and "over 50 USDT" in asked[1]
            assert len(orders_sent(paper)) == 1
        # Asked under the policy now in force, the yes is used.
        asked.append("edited already")
        await ok(c, "binance_spot_place_order", BUY_LIMIT)
    assert "over 50 USDT" in asked[-1]


@pytest.mark.parametrize(
    ("answer", "why", "how"),
    [
        (ElicitResult(action="decline"), "declined by the user", "declined"),
        (ElicitResult(action="cancel"), "the user cancelled the approval", "cancelled"),
        (ElicitResult(action="accept", content={"approve": False}), "declined by the user",
         "declined"),
    ],
)  # fmt: skip
async def test_declined_or_cancelled_places_nothing(
    paper: PaperExchange, tmp_path: Path, mode: Any, answer: ElicitResult, why: str, how: str
) -> None:
    asked: list[str] = []
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS)
    async with Client(server, mode=mode, elicitation_callback=answering(answer, asked)) as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert text.endswith(
        "Denied by policy: approval required (tools.binance_spot_place_order.approve_if[0]: "
        f"above 50 USDT a human decides), and {why}"
    )
    assert len(asked) == 1
    assert orders_sent(paper) == []
    assert audit_lines(tmp_path)[0]["approval"] == how


async def test_no_answer_in_time_places_nothing(
    paper: PaperExchange, tmp_path: Path, mode: Any
) -> None:
    asked: list[str] = []
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=1.0)
    late = answering(ElicitResult(action="accept", content={"approve": True}), asked, delay=1.5)
    async with Client(server, mode=mode, elicitation_callback=late) as c:
        text = await fails(c, "binance_spot_place_order", BUY_LIMIT)
    assert text.endswith("and no answer within 1 s")
    assert orders_sent(paper) == []
    assert audit_lines(tmp_path)[0]["approval"] == "timeout"


class Progress:
    """Progress notifications of one waiting call; the first names its approval request."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.arrived = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")
        self.arrived.set()

    async def request_id(self) -> str:
        with anyio.fail_after(5):
            await self.arrived.wait()
        found = re.search(r"approvals approve ([0-9a-f]+)", self.messages[0])
        assert found is not None, self.messages
        return found.group(1)


def cli(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


async def test_queue_waits_for_the_cli(paper: PaperExchange, tmp_path: Path, mode: Any) -> None:
    """A client that cannot elicit: the call waits, with progress notifications naming the
    request, until a person approves it from a terminal."""
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = str(tmp_path / "state")
    progress = Progress()
    results: list[Any] = []

    async with Client(server, mode=mode) as c, anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(
                await c.call_tool("binance_spot_place_order", BUY_LIMIT, progress_callback=progress)
            )

        tg.start_soon(call)
        ident = await progress.request_id()
        assert orders_sent(paper) == []  # nothing sent while it waits
        code, listing = await anyio.to_thread.run_sync(cli, "approvals", "--state-dir", state)
        assert code == 0
        assert f"{ident}  binance_spot_place_order  (waiting" in listing
        assert "    quantity: 0.001 · price: 95000\n    notional: 95\n" in listing
        code, out = await anyio.to_thread.run_sync(
            cli, "approvals", "approve", ident, "--state-dir", state
        )
        assert code == 0 and f"{ident} approved" in out
    assert not results[0].is_error, results[0].content
    assert results[0].structured_content["order"]["status"] == "NEW"
    assert len(orders_sent(paper)) == 1
    assert audit_lines(tmp_path)[0]["approval"] == "cli"
    # Used once: approving it again is refused.
    code, out = cli("approvals", "approve", ident, "--state-dir", state)
    assert code == 1 and f"request {ident} is already used" in out


async def test_queue_denial_timeout_and_another_id(paper: PaperExchange, tmp_path: Path) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=3.0)
    state = str(tmp_path / "state")
    seen = {"first": Progress(), "second": Progress(), "third": Progress()}
    results: dict[str, Any] = {}
    orders = {
        "first": BUY_LIMIT,
        "second": {**BUY_LIMIT, "price": "94000"},
        "third": {**BUY_LIMIT, "price": "93000"},
    }
    async with Client(server, mode="legacy") as c, anyio.create_task_group() as tg:
        for key, args in orders.items():

            async def call(key: str = key, args: dict[str, Any] = args) -> None:
                results[key] = await c.call_tool(
                    "binance_spot_place_order", args, progress_callback=seen[key]
                )

            tg.start_soon(call)
        first, second, third = [await seen[k].request_id() for k in orders]
        # Approving the second does nothing to the first; the third is denied.
        assert cli("approvals", "approve", second, "--state-dir", state)[0] == 0
        code, out = cli("approvals", "deny", third, "--reason", "not today", "--state-dir", state)
        assert code == 0 and f"{third} denied" in out
    assert not results["second"].is_error
    assert (
        results["third"]
        .content[0]
        .text.endswith(f"and denied from the approvals CLI ({third}): not today")
    )
    assert results["first"].content[0].text.endswith(f"and no approval for {first} within 3 s")
    assert [r["params"]["price"] for r in orders_sent(paper)] == ["94000"]
    code, out = cli("approvals", "approve", first, "--state-dir", state)
    assert code == 1 and f"request {first} is already expired" in out
    assert cli("approvals", "--state-dir", state)[1] == "no approval requests waiting\n"
    assert sorted(a["approval"] for a in audit_lines(tmp_path)) == ["cli", "denied", "timeout"]


def test_queue_binds_each_approval_to_one_call(tmp_path: Path) -> None:
    queue = ApprovalQueue(tmp_path)
    ident = queue.file("digest-a", "binance_spot_place_order", "summary", 60, 1)
    assert queue.settle(ident, "digest-a") is None  # still pending
    queue.decide(ident, approve=True)
    # A call with other arguments (another digest) cannot use it.
    other = queue.settle(ident, "digest-b")
    assert other is not None and other.status != "approved"
    used = queue.settle(ident, "digest-a")
    assert used is not None and used.status == "approved"
    again = queue.settle(ident, "digest-a")
    assert again is not None and again.status == "used"
    short = queue.file("digest-c", "binance_spot_place_order", "summary", 0.01, 1)
    anyio.run(anyio.sleep, 0.05)
    with pytest.raises(ApprovalError, match="has expired"):
        queue.decide(short, approve=True)
    with pytest.raises(ApprovalError, match="no approval request 'nope'"):
        queue.decide("nope", approve=True)
    queue.close()


def test_an_elicited_approval_is_single_use_and_bound(tmp_path: Path) -> None:
    """On 2026-07-28 the answer comes back with a later call: it must match the one-time ticket
    issued for exactly this call, once."""
    from mcp.server.mcpserver.resolve import AcceptedElicitation

    approver = Approver(timeout=60)
    ticket = approver._ticket("call-1", "Approve?")
    assert approver._ticket("call-1", "Approve? (reworded)").message == ticket.message
    yes = AcceptedElicitation(data=ApprovalAnswer(approve=True))
    assert approver.verdict(yes, "call-2") is not None
    assert approver.verdict(yes, "call-2").approved is False  # type: ignore[union-attr]
    verdict = approver.verdict(yes, "call-1")
    assert verdict is not None and verdict.approved
    replay = approver.verdict(yes, "call-1")
    assert replay is not None and not replay.approved and replay.how == "stale"
    assert (
        approver.verdict(AcceptedElicitation.model_construct(data=Asked("not_needed")), "call-1")
        is None
    )
    assert json.dumps(ticket.message)


async def test_a_halt_while_waiting_wins_over_the_approval(
    paper: PaperExchange, tmp_path: Path
) -> None:
    server = guarded_server(paper, tmp_path, APPROVE_ORDERS, approval_timeout=20.0)
    state = str(tmp_path / "state")
    progress = Progress()
    results: list[Any] = []
    async with Client(server, mode="legacy") as c, anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(
                await c.call_tool("binance_spot_place_order", BUY_LIMIT, progress_callback=progress)
            )

        tg.start_soon(call)
        ident = await progress.request_id()
        assert cli("halt", "--reason", "desk closed", "--state-dir", state)[0] == 0
        assert cli("approvals", "approve", ident, "--state-dir", state)[0] == 0
    assert results[0].is_error
    assert (
        results[0]
        .content[0]
        .text.endswith(
            "Denied by policy: trading was halted while the approval was pending: halted with "
            "`binance-mcp halt`: desk closed; "
            "nothing was sent"
        )
    )
    assert orders_sent(paper) == []
