"""The guard: wrapped around every tool where tools are registered, it decides each call against
the local policy before any request is sent, and records the decision in the audit log.

Policy file changes are picked up at the next call; a broken new version keeps the last good
policy in force and is reported on stderr and in `binance_account_status`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from binance_mcp.audit import AuditLog, digest, trading_args, utc_now
from binance_mcp.config import Settings
from binance_mcp.exchange import Exchange
from binance_mcp.facts import Venue, base_facts, derive
from binance_mcp.halt import halted
from binance_mcp.policy import DEFAULT_POLICY, Policy, PolicyError, RateLimit, load_policy
from binance_mcp.policy_engine import ORDER_TOOLS, Decision, Unknown, decide, needed_facts
from binance_mcp.runtime import Runtime
from binance_mcp.state_store import (
    BudgetHit,
    MemoryCounters,
    OrderSlot,
    RateHit,
    StateStore,
    StateUnavailable,
)
from binance_mcp.tools.declare import ToolDef, ToolFn
from binance_mcp.tools.risk import RiskClass

log = logging.getLogger(__name__)


class PolicyHolder:
    """The policy in force: the file's last good version (re-read when it changes), or the
    built-in default when no file is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None
        self._stamp: tuple[int, int] | None = None
        self.policy = DEFAULT_POLICY if path is None else load_policy(path)
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
        self.store = StateStore(settings.state_dir)
        self.local = MemoryCounters()

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

    async def run(self, tool: ToolDef, kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        policy = self.policy.current()
        ctx = kwargs.get("ctx")
        args = {k: v for k, v in kwargs.items() if k != "ctx"}
        facts = base_facts(tool.name, args, self.settings.venue)
        needed = needed_facts(policy, tool.name, tool.risk)
        if needed - facts.keys():
            await derive(tool.name, args, facts, needed, self._venue(ctx))
        counters = CallCounters(self.store, self.local, tool.risk)
        decision = decide(
            policy, tool.name, tool.risk, facts, halted=self.halted(), counters=counters
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
            record["notional"] = facts["notional"]
        enforce = policy.mode == "enforce" or decision.rule == "kill switch"
        if not enforce and decision.action != "allow":
            record["mode"] = "monitor"
        if enforce and decision.action == "deny":
            counters.settle(placed=False)
        try:
            result = await self._carry_out(tool, kwargs, decision, enforce)
        except ToolError as exc:
            # A definite failure (a rejection, a local check, a denial) placed nothing.
            counters.settle(placed=getattr(exc, "uncertain", False))
            record["outcome"] = str(exc)[:300]
            self._finish(record, started)
            raise
        except BaseException:
            counters.settle(placed=True)
            raise
        counters.settle(placed=True)
        record["outcome"] = "ok"
        order = getattr(result, "order", None)
        for key in ("orderId", "algoId", "clientOrderId"):
            if order is not None and getattr(order, key, None) is not None:
                record[key] = getattr(order, key)
        self._finish(record, started)
        return result

    def _finish(self, record: dict[str, Any], started: float) -> None:
        record["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
        self.audit.write(record)

    async def _carry_out(
        self, tool: ToolDef, kwargs: dict[str, Any], decision: Decision, enforce: bool
    ) -> Any:
        if not enforce or decision.action == "allow":
            return await tool.fn(**kwargs)
        if decision.action == "deny":
            raise ToolError(decision.denial())
        if decision.action == "approve":
            # Until a human can be asked (elicitation or the approvals queue), fail closed.
            raise ToolError(
                f"Denied by policy: approval required ({decision.rule}: {decision.reason}), "
                "and no approval channel is available"
            )
        if tool.name in ORDER_TOOLS:
            return await tool.fn(**{**kwargs, "test": True})
        shown = ", ".join(f"{k}={v}" for k, v in trading_args(kwargs).items())
        raise ToolError(
            f"Dry run by policy ({decision.rule}): would call {tool.name}({shown}); nothing sent"
        )


def guarded(tool: ToolDef) -> ToolFn:
    """`tool.fn` behind the guard held by the server's runtime."""

    @functools.wraps(tool.fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        guard: Guard = ctx.request_context.lifespan_context.guard  # type: ignore[union-attr]
        return await guard.run(tool, kwargs)

    return call
