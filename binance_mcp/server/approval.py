"""Human approval (SPEC §4.5): a call the policy sends to `approve` runs only after a person says
yes, through a channel the agent cannot reach.

- Clients that can elicit are asked through the SDK's `Resolve`/`Elicit` path, which works on
  both protocol eras: on 2025-11-25 the question goes out mid-call (and is bounded by the
  approval timeout here); on 2026-07-28 the call returns the question and the client calls
  again with the answer, so the question carries a one-time ticket that the answer must match
  — a replayed answer meets a new ticket and is asked again.
- Other clients: the request waits in the state dir's queue for `binance-mcp approvals
  approve ID` from a terminal (guard/verdicts.py), with progress notifications meanwhile.

Every approval is bound to the digest of the tool, its normalised arguments and the policy in
force, is used once, and expires.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import anyio
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from pydantic import BaseModel, Field

from binance_mcp.guard.console_link import console_url
from binance_mcp.guard.tool_index import ToolSpec
from binance_mcp.guard.verdicts import Verdict, from_outcome
from binance_mcp.tools.declare import ToolDef

log = logging.getLogger(__name__)

# The first protocol revision that carries elicitation inside the tool call's result.
_INPUT_REQUIRED_ERA: Final = "2026-07-28"
# How often a host is told the call is still waiting for a person.
_PROGRESS_EVERY_S: Final = 5.0


class ApprovalAnswer(BaseModel):
    approve: bool = Field(description="Yes: send this call to Binance")


@dataclass(frozen=True)
class Asked:
    """What the resolver did before the tool body runs."""

    how: Literal["not_needed", "elicited", "queue", "console"]
    outcome: Literal["accept", "decline", "cancel", "timeout"] | None = None
    # The call (tool, arguments, policy version) the person was asked about.
    digest: str | None = None


NOT_NEEDED: Final = Asked("not_needed")


@dataclass
class _Ticket:
    nonce: str
    message: str
    expires: float


def era_is_input_required(ctx: Context[Any, Any]) -> bool:
    version = ctx.protocol_version
    return version is not None and version >= _INPUT_REQUIRED_ERA


def can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    # A bare `elicitation: {}` means form support; url-only clients cannot show our form.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def can_open_links(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and elicitation.url is not None


class Approver:
    """Asks for approvals and checks the answers, for one server process."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._tickets: dict[str, _Ticket] = {}

    # --- elicitation ---------------------------------------------------------------------------

    async def ask(
        self, ctx: Context[Any, Any], digest: str, text: str, console: str | None = None
    ) -> Asked | Elicit[Any]:
        """Called by the resolver once the call is known to need approval. With a console
        running (`console`, its URL) and a client that can open links (URL-mode elicitation,
        2025-11-25), the call waits in the queue and the person is sent the console's link."""
        if console is not None and can_open_links(ctx) and not era_is_input_required(ctx):
            return Asked("console")
        if not can_elicit(ctx):
            return Asked("queue")
        if era_is_input_required(ctx):
            ticket = self._tickets.get(digest)
            answering = bool(ctx.input_responses)
            if answering and ticket is not None and ticket.expires <= time.time():
                # The answer came too late; asking again would loop for as long as it does.
                del self._tickets[digest]
                return Asked("elicited", "timeout")
            return Elicit(self._ticket(digest, text).message, ApprovalAnswer)
        with anyio.move_on_after(self.timeout):
            async with anyio.create_task_group() as tasks:
                # Hosts that honour progress keep waiting for a person instead of timing out.
                tasks.start_soon(self._report_waiting, ctx)
                result = await ctx.elicit(text, ApprovalAnswer)
                tasks.cancel_scope.cancel()
            if isinstance(result, AcceptedElicitation):
                approved = isinstance(result.data, ApprovalAnswer) and result.data.approve
                return Asked("elicited", "accept" if approved else "decline", digest)
            return Asked("elicited", result.action, digest)
        return Asked("elicited", "timeout", digest)

    async def _report_waiting(self, ctx: Context[Any, Any]) -> None:
        started = time.monotonic()
        while True:
            await anyio.sleep(_PROGRESS_EVERY_S)
            waited = time.monotonic() - started
            await ctx.report_progress(waited, self.timeout, "waiting for a person to approve")

    def _ticket(self, digest: str, text: str) -> _Ticket:
        now = time.time()
        for key in [k for k, t in self._tickets.items() if t.expires <= now - self.timeout]:
            del self._tickets[key]
        ticket = self._tickets.get(digest)
        if ticket is None or ticket.expires <= now:
            nonce = secrets.token_hex(4)
            # The same question, word for word, on every round of this call: the SDK matches
            # the answer to the exact text it was given for.
            message = f"{text}\napproval {nonce} · expires in {self.timeout:.0f} s"
            ticket = _Ticket(nonce, message, now + self.timeout)
            self._tickets[digest] = ticket
        return ticket

    def verdict(self, injected: Any, digest: str) -> Verdict | None:
        """The answer the resolver obtained, checked; None when nobody was asked."""
        asked = injected.data if isinstance(injected, AcceptedElicitation) else injected
        if isinstance(asked, Asked):
            if asked.how != "elicited":
                return None
            if asked.outcome == "accept" and asked.digest != digest:
                # The policy changed while the person was deciding (the digest names its
                # version): that yes was given to another question.
                return Verdict(
                    False, "stale", "the policy changed while the approval was pending; call again"
                )
            return from_outcome(asked.outcome, self.timeout)
        if isinstance(injected, AcceptedElicitation):
            ticket = self._tickets.pop(digest, None)
            if ticket is None:
                return Verdict(False, "stale", "the approval does not match this call")
            if ticket.expires <= time.time():
                return from_outcome("timeout", self.timeout)
            approved = isinstance(asked, ApprovalAnswer) and asked.approve
            return from_outcome("accept" if approved else "decline", self.timeout)
        self._tickets.pop(digest, None)
        return from_outcome(getattr(injected, "action", "cancel"), self.timeout)


def approval_parameter(tool: ToolDef) -> tuple[inspect.Parameter, Any]:
    """The parameter added to every guarded tool: filled, before the tool body runs, by a
    resolver that asks a person when the policy requires it. It is not an argument the agent
    can give (resolved parameters are left out of the input schema)."""
    names = [p for p in inspect.signature(tool.fn).parameters if p != "ctx"]

    spec = ToolSpec(tool.name, tool.risk, frozenset(names))

    async def resolver(ctx: Context[Any, Any], **args: Any) -> Asked | Elicit[Any]:
        # The server's Runtime (server/runtime.py), which holds the guard and the approver.
        runtime = ctx.request_context.lifespan_context
        try:
            question = await runtime.guard.approval_question(spec, args, runtime.exchange)
        except Exception:
            # Nobody is asked; the body decides the call again, and refuses and audits it.
            log.exception("%s: could not prepare the approval question", tool.name)
            return NOT_NEEDED
        if question is None:
            return NOT_NEEDED
        try:
            console = console_url(runtime.guard.state_dir)
            asked: Asked | Elicit[Any] = await runtime.approver.ask(ctx, *question, console)
        except Exception:
            # The client answered the question with an error: nobody said yes.
            log.exception("%s: the approval question failed", tool.name)
            return Asked("elicited", "cancel", question[0])
        return asked

    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY)]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names]
    resolver.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    resolver.__annotations__ = {"ctx": Context}
    # The SDK keys each resolver's state by module:qualname; one per tool.
    resolver.__qualname__ = f"approval.{tool.name}"
    annotation = Annotated[ElicitationResult[ApprovalAnswer], Resolve(resolver)]
    parameter = inspect.Parameter(
        "approval", inspect.Parameter.KEYWORD_ONLY, default=NOT_NEEDED, annotation=annotation
    )
    return parameter, annotation
