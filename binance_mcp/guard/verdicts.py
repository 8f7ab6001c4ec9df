"""A person's say on a call the policy sends to `approve` (SPEC §4.5): the question they are
shown, the verdict, and waiting for one in the state dir's queue (guard/approvals.py).

How the question reaches the person is the server's business (MCP elicitation lives beside the
server); the guard only needs a `Verdict`, through an `ApprovalChannel` handed to each call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol

import anyio

from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.approvals import Queue
from binance_mcp.guard.audit import trading_args
from binance_mcp.guard.engine import Decision
from binance_mcp.guard.store import StateUnavailable

log = logging.getLogger(__name__)

_POLL_S: Final = 0.25

# Told how long the call has waited: (seconds waited, seconds allowed, message).
Progress = Callable[[float, float, str], Awaitable[None]]


@dataclass(frozen=True)
class Verdict:
    approved: bool
    how: str  # for the audit log: elicitation, cli, declined, cancelled, timeout, ...
    reason: str = ""


class ApprovalChannel(Protocol):
    """How one call obtains a verdict: `call` is the digest the approval is bound to, `question`
    builds the text a person is shown (only when someone is asked)."""

    async def verdict(
        self, call: str, tool: str, question: Callable[[], Awaitable[str]]
    ) -> Verdict: ...


def summary(tool: str, venue: str, facts: dict[str, Any], decision: Decision) -> str:
    """One screen: what would be sent and why a person must agree."""
    shown = trading_args(facts)
    lines = [f"Approve {tool} on {venue}?"]
    core = [f"{k}: {shown[k]}" for k in ("symbol", "side", "type") if k in shown]
    if core:
        lines.append(" · ".join(core))
    size = [f"{k}: {v}" for k, v in shown.items() if k not in ("symbol", "side", "type")]
    if size:
        lines.append(" · ".join(size))
    notional = facts.get("notional")
    if notional is not None and not isinstance(notional, Exception):
        lines.append(
            f"notional: {dec_str(notional) if isinstance(notional, Decimal) else notional}"
        )
    leverage = facts.get("leverage")
    if leverage is not None and not isinstance(leverage, Exception) and "leverage" not in shown:
        lines.append(f"leverage: {leverage}x")
    why = (
        decision.reason
        if decision.rule in decision.reason
        else f"{decision.reason} ({decision.rule})"
    )
    lines.append(f"why: {why}")
    return "\n".join(lines)


def from_outcome(outcome: str | None, timeout: float) -> Verdict:
    """The verdict for an answer given in the client (accept, decline, cancel, timeout)."""
    if outcome == "accept":
        return Verdict(True, "elicitation")
    if outcome == "decline":
        return Verdict(False, "declined", "declined by the user")
    if outcome == "timeout":
        return Verdict(False, "timeout", f"no answer within {timeout:.0f} s")
    return Verdict(False, "cancelled", "the user cancelled the approval")


def _from_request(status: str, reason: str, ident: str, timeout: float) -> Verdict:
    if status == "approved":
        return Verdict(True, "cli")
    if status == "denied":
        return Verdict(False, "denied", f"denied from the approvals CLI ({ident})" + (
            f": {reason}" if reason else ""))  # fmt: skip
    if status == "expired":
        return Verdict(False, "timeout", f"no approval for {ident} within {timeout:.0f} s")
    return Verdict(False, status, f"approval {ident} is {status}")


async def wait_in_queue(
    queue: Queue,
    expires_in: float,
    digest: str,
    tool: str,
    text: str,
    progress: Progress | None = None,
    console: str | None = None,
    on_filed: Callable[[str], Coroutine[Any, Any, None]] | None = None,
) -> Verdict:
    """File the call in the queue and wait for `binance-mcp approvals approve|deny ID`, or the
    console's Approve/Deny when one runs at `console` (its URL, named to the person).
    `on_filed(id)` runs beside the wait once the request is filed (pointing the person to it)."""
    try:
        ident = await queue.file(digest, tool, text, expires_in, os.getpid())
    except StateUnavailable as exc:
        return Verdict(False, "unavailable", f"the approvals queue is unavailable: {exc}")
    where = f" or answer in the console at {console}" if console else ""
    log.warning(
        "approval needed for %s: run `binance-mcp approvals approve %s` (or deny)%s within "
        "%.0f s\n%s",
        tool,
        ident,
        where,
        expires_in,
        text,
    )
    started = time.monotonic()
    last_report = -1

    async def poll() -> Verdict:
        nonlocal last_report
        while True:
            try:
                request = await queue.settle(ident, digest)
            except StateUnavailable as exc:
                return Verdict(False, "unavailable", f"the approvals queue failed: {exc}")
            if request is not None:
                return _from_request(request.status, request.reason, ident, expires_in)
            waited = int(time.monotonic() - started)
            if progress is not None and waited != last_report:
                last_report = waited
                await progress(
                    waited,
                    expires_in,
                    f"waiting for `binance-mcp approvals approve {ident}` in a terminal{where}",
                )
            await anyio.sleep(_POLL_S)

    try:
        if on_filed is None:
            return await poll()
        async with anyio.create_task_group() as beside:
            beside.start_soon(on_filed, ident)
            verdict = await poll()
            beside.cancel_scope.cancel()
        return verdict
    except BaseException:
        # Cancelled by the client: nobody may approve the request any more. Shielded, so the
        # cancellation does not stop the withdrawal itself.
        with anyio.CancelScope(shield=True), contextlib.suppress(StateUnavailable):
            await queue.withdraw(ident)
        raise
