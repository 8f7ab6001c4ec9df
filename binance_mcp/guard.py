"""The guard: wrapped around every tool where tools are registered, it decides each call against
the local policy before any request is sent, and records the decision in the audit log.

Policy file changes are picked up at the next call; a broken new version keeps the last good
policy in force and is reported on stderr and in `binance_account_status`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import time
import typing
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Elicit
from mcp.server.mcpserver.exceptions import ToolError

from binance_mcp.approval import (
    NOT_NEEDED,
    Approver,
    Asked,
    Verdict,
    approval_parameter,
    can_elicit,
    summary,
)
from binance_mcp.approval_queue import ApprovalQueue
from binance_mcp.audit import AuditLog, digest, trading_args, utc_now
from binance_mcp.config import Settings
from binance_mcp.exchange import Exchange
from binance_mcp.facts import Venue, base_facts, derive
from binance_mcp.halt import halted
from binance_mcp.policy import DEFAULT_POLICY, Policy, PolicyError, RateLimit, load_policy
from binance_mcp.policy_engine import (
    ORDER_TOOLS,
    Decision,
    Unknown,
    base_action,
    decide,
    may_need_approval,
    needed_facts,
)
from binance_mcp.runtime import Runtime
from binance_mcp.state_store import (
    BudgetHit,
    MemoryCounters,
    OrderSlot,
    RateHit,
    StateStore,
    StateUnavailable,
)
from binance_mcp.symbol_rules import dec_str
from binance_mcp.tools.declare import ToolDef, ToolFn
from binance_mcp.tools.risk import RiskClass

log = logging.getLogger(__name__)


def _version(policy: Policy) -> str:
    """Approvals are bound to the policy they were asked under: any edit voids them."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]


class PolicyHolder:
    """The policy in force: the file's last good version (re-read when it changes), or the
    built-in default when no file is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None
        self._stamp: tuple[int, int] | None = None
        self.policy = DEFAULT_POLICY if path is None else load_policy(path)
        self.version = _version(self.policy)
        if path is not None:
            self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> Policy:
        if self.path is None:
            return self.policy
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.policy = load_policy(self.path)
            except PolicyError as exc:
                self.error = "; ".join(exc.errors)
                log.error(
                    "policy %s rejected, the previous one stays in force: %s", self.path, self.error
                )
            else:
                self.error = None
                self.version = _version(self.policy)
                log.info("policy %s reloaded", self.path)
        return self.policy

    def describe(self) -> str:
        return str(self.path) if self.path is not None else "built-in default"


class CallCounters:
    """One call's view of the shared counters: remembers the budget it reserved so the guard
    can settle it. Rate limits on reads fall back to this process's memory while the store is
    unavailable (reads stay possible); everything else fails closed."""

    def __init__(self, store: StateStore, fallback: MemoryCounters, risk: RiskClass) -> None:
        self.store = store
        self.fallback = fallback
        self.risk = risk
        self.reservation: str | None = None

    def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        try:
            return self.store.take_calls(limits)
        except StateUnavailable as exc:
            if self.risk != "read":
                raise
            log.warning("%s; counting read calls in this process only", exc)
            return self.fallback.take_calls(limits)

    def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        reserved = self.store.reserve(slot)
        if isinstance(reserved, str):
            self.reservation = reserved
        return reserved

    def settle(self, placed: bool) -> None:
        if self.reservation is None:
            return
        try:
            self.store.settle(self.reservation, placed)
        except StateUnavailable as exc:
            # Unsettled, the reservation keeps counting: the safe side of a budget.
            log.error("could not settle a budget reservation: %s", exc)
        self.reservation = None


class Guard:
    def __init__(self, settings: Settings, policy: PolicyHolder) -> None:
        self.settings = settings
        self.policy = policy
        self.audit = AuditLog(settings.state_dir)
        self.store = StateStore(settings.state_dir, settings.venue)
        self.local = MemoryCounters()
        self.approver = Approver(ApprovalQueue(settings.state_dir), settings.approval_timeout)

    def close(self) -> None:
        """The audit log and the SQLite connections; each reopens if used again."""
        self.audit.close()
        self.store.close()
        self.approver.queue.close()

    @staticmethod
    def _venue(ctx: Any) -> Venue:
        async def exchange() -> Exchange:
            if ctx is None:
                raise Unknown("exchange", "no exchange in this context")
            runtime: Runtime = ctx.request_context.lifespan_context
            return await runtime.exchange()

        return exchange

    def halted(self) -> str | None:
        return halted(self.settings.state_dir)

    def _halted(self, tool: ToolDef) -> str | None:
        # The kill switch concerns writes and orders only: reads and cancels skip the file.
        return self.halted() if tool.risk in ("write", "financial") else None

    async def _facts(
        self, tool: ToolDef, args: dict[str, Any], policy: Policy, ctx: Any
    ) -> dict[str, Any]:
        facts = base_facts(tool.name, args, self.settings.venue)
        needed = needed_facts(policy, tool.name, tool.risk)
        if needed - facts.keys():
            await derive(tool.name, args, facts, needed, self._venue(ctx))
        return facts

    def _call_digest(self, tool: ToolDef, args: dict[str, Any]) -> str:
        """What an approval is bound to: the tool, its normalised arguments, the policy."""
        given = {k: v for k, v in args.items() if v is not None}
        return digest({"tool": tool.name, "args": digest(given), "policy": self.policy.version})

    async def ask_approval(
        self, tool: ToolDef, args: dict[str, Any], ctx: Any
    ) -> Asked | Elicit[Any]:
        """Run by the approval resolver before the tool body: asks a person when this call will
        need approval. Counts nothing; the body decides again, with the counters (and re-reads
        a changed policy file: one stat per call is enough)."""
        policy = self.policy.policy
        if policy.mode != "enforce" or not may_need_approval(policy, tool.name, tool.risk):
            return NOT_NEEDED
        args = {k: v for k, v in args.items() if v is not None}
        facts = await self._facts(tool, args, policy, ctx)
        decision = decide(policy, tool.name, tool.risk, facts, halted=self._halted(tool))
        if decision.action != "approve":
            return NOT_NEEDED
        text = await self._describe(tool, args, facts, decision, ctx)
        return await self.approver.ask(ctx, self._call_digest(tool, args), text)

    async def _describe(
        self,
        tool: ToolDef,
        args: dict[str, Any],
        facts: dict[str, Any],
        decision: Decision,
        ctx: Any,
    ) -> str:
        """The approval question; a person sees an order's notional and leverage even when the
        policy did not need them."""
        wanted = {"notional"} if tool.name in ORDER_TOOLS else set()
        if tool.name == "binance_futures_place_order":
            wanted.add("leverage")
        shown = dict(facts)
        if wanted - shown.keys():
            await derive(tool.name, args, shown, frozenset(wanted), self._venue(ctx))
        return summary(tool, self.settings.venue, shown, decision)

    async def run(self, tool: ToolDef, kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        policy = self.policy.current()
        version = self.policy.version
        ctx = kwargs.get("ctx")
        injected = kwargs.pop("approval", NOT_NEEDED)
        args = {k: v for k, v in kwargs.items() if k != "ctx"}
        facts = await self._facts(tool, args, policy, ctx)
        counters = CallCounters(self.store, self.local, tool.risk)
        decision = decide(
            policy, tool.name, tool.risk, facts, halted=self._halted(tool), counters=counters
        )
        record: dict[str, Any] = {
            "time": utc_now(),
            "tool": tool.name,
            "class": tool.risk,
            "venue": self.settings.venue,
            "decision": decision.action,
            "rule": decision.rule,
            "reason": decision.reason,
            "args": trading_args(args),
            "digest": digest(args),
        }
        if "notional" in facts and not isinstance(facts["notional"], Exception):
            notional = facts["notional"]
            record["notional"] = dec_str(notional) if isinstance(notional, Decimal) else notional
        enforce = policy.mode == "enforce" or decision.rule == "kill switch"
        if not enforce and decision.action != "allow":
            record["mode"] = "monitor"
        action = decision.action if enforce else "allow"
        try:
            if tool.risk != "read" and action != "deny":
                problem = self.audit.problem()
                if problem is not None:
                    raise ToolError(
                        f"Denied by policy: the audit log cannot be written ({problem}); "
                        "nothing was sent"
                    )
            if action == "approve":
                verdict = await self._approval(tool, args, facts, decision, injected, ctx)
                record["approval"] = verdict.how
                if not verdict.approved:
                    raise ToolError(
                        f"Denied by policy: approval required ({decision.rule}: "
                        f"{decision.reason}), and {verdict.reason}"
                    )
                # A person may take a while: a halt or a policy edit meanwhile wins.
                changed = self._changed_while_waiting(tool, version)
                if changed is not None:
                    raise ToolError(f"Denied by policy: {changed}; nothing was sent")
                # Approved: what the policy does next (a dry run stays a dry run).
                base, _ = base_action(policy, tool.name, tool.risk)
                action = "dry_run" if base == "dry_run" else "allow"
            result = await self._carry_out(tool, kwargs, decision, action)
        except ToolError as exc:
            # A definite failure (a rejection, a local check, a denial) placed nothing.
            counters.settle(placed=action != "dry_run" and getattr(exc, "uncertain", False))
            record["outcome"] = str(exc)[:300]
            self._finish(record, started)
            raise
        except BaseException:
            counters.settle(placed=action != "dry_run")
            raise
        # A dry run sent a test order at most: it spent nothing of the day's budget.
        counters.settle(placed=action != "dry_run")
        record["outcome"] = "ok"
        # Reads place nothing; a missing attribute on a pydantic result is a costly miss.
        order = None if tool.risk == "read" else getattr(result, "order", None)
        for key in ("orderId", "algoId", "clientOrderId"):
            if order is not None and getattr(order, key, None) is not None:
                record[key] = getattr(order, key)
        self._finish(record, started)
        return result

    def _changed_while_waiting(self, tool: ToolDef, version: str) -> str | None:
        reason = self._halted(tool)
        if reason is not None:
            return f"trading was halted while the approval was pending: {reason}"
        self.policy.current()
        if self.policy.version != version:
            return "the policy changed while the approval was pending; call again"
        return None

    async def _approval(
        self,
        tool: ToolDef,
        args: dict[str, Any],
        facts: dict[str, Any],
        decision: Decision,
        injected: Any,
        ctx: Any,
    ) -> Verdict:
        call = self._call_digest(tool, args)
        verdict = self.approver.verdict(injected, call)
        if verdict is not None:
            return verdict
        if ctx is not None and can_elicit(ctx):
            # The resolver saw no need to ask (the policy changed in between): ask on a new call.
            return Verdict(False, "not asked", "nobody was asked (the policy changed); call again")
        text = await self._describe(tool, args, facts, decision, ctx)
        return await self.approver.wait_in_queue(ctx, call, tool.name, text)

    def _finish(self, record: dict[str, Any], started: float) -> None:
        record["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
        try:
            self.audit.write(record)
        except OSError as exc:
            # The call has happened: its result must reach the agent (an error would invite
            # a second order). The record goes to stderr instead.
            log.error("audit log %s not written (%s): %s", self.audit.path, exc, record)

    async def _carry_out(
        self, tool: ToolDef, kwargs: dict[str, Any], decision: Decision, action: str
    ) -> Any:
        if action == "allow":
            return await tool.fn(**kwargs)
        if action == "deny":
            raise ToolError(decision.denial())
        if tool.name in ORDER_TOOLS:
            return await tool.fn(**{**kwargs, "test": True})
        shown = ", ".join(f"{k}={v}" for k, v in trading_args(kwargs).items())
        raise ToolError(
            f"Dry run by policy ({decision.rule}): would call {tool.name}({shown}); nothing sent"
        )


def guarded(tool: ToolDef, *, asks: bool = True) -> ToolFn:
    """`tool.fn` behind the guard held by the server's runtime. With `asks`, it has the
    approval parameter that a resolver fills before the body runs (approval.py); without,
    the body's decision stands alone (a call it finds needing approval goes to the queue, or
    is refused with "call again" where the client could have been asked)."""

    async def call(**kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        guard: Guard = ctx.request_context.lifespan_context.guard  # type: ignore[union-attr]
        return await guard.run(tool, kwargs)

    # Annotations evaluated in the tool's own module, where their names live.
    signature = inspect.signature(tool.fn, eval_str=True)
    functools.update_wrapper(call, tool.fn)
    del call.__wrapped__  # type: ignore[attr-defined]
    call.__annotations__ = typing.get_type_hints(tool.fn, include_extras=True)
    if asks:
        parameter, annotation = approval_parameter(tool)
        signature = signature.replace(parameters=[*signature.parameters.values(), parameter])
        call.__annotations__["approval"] = annotation
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call
