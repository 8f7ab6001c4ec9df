"""The guard: it decides each call against the local policy before any request is sent, carries
out what was decided, and records the call in the audit log.

It knows a tool by its `ToolSpec` (name and risk class) and is handed, per call, the body to
run, the venue to ask for facts and the channel through which a person approves; wrapping the
MCP tools with it is the server's adapter (server/guarded.py).

Policy file changes are picked up at the next call; a broken new version keeps the last good
policy in force and is reported on stderr and in `binance_account_status`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.exchange.symbol_rules import dec_str
from binance_mcp.guard.approvals import ApprovalQueue, InlineQueue, Queue
from binance_mcp.guard.audit import (
    DEFAULT_KEEP,
    DEFAULT_MAX_BYTES,
    AuditLog,
    digest,
    trading_args,
    utc_now,
)
from binance_mcp.guard.counting import count
from binance_mcp.guard.engine import (
    ORDER_TOOLS,
    Decision,
    Unknown,
    base_action,
    decide,
    decide_counting,
    may_need_approval,
    needed_facts,
    only_shrinks,
)
from binance_mcp.guard.facts import base_facts, derive
from binance_mcp.guard.file_system import is_local
from binance_mcp.guard.policy import DEFAULT_POLICY, Policy, PolicyError, RateLimit, load_policy
from binance_mcp.guard.store import (
    BudgetHit,
    CounterStore,
    InlineStore,
    MemoryCounters,
    OrderSlot,
    RateHit,
    StateStore,
    StateUnavailable,
)
from binance_mcp.guard.tool_index import RiskClass, ToolSpec
from binance_mcp.guard.trading_state import (
    ACTIVE,
    BY_LOSS_LIMIT,
    Trading,
    TradingState,
    halted,
    utc_today,
)
from binance_mcp.guard.trading_state import read as read_trading_state
from binance_mcp.guard.trading_state import set_state as set_trading_state
from binance_mcp.guard.verdicts import ApprovalChannel, Verdict, summary

if TYPE_CHECKING:  # redis is imported only when a state URL is set
    from binance_mcp.guard.redis_state import RedisState

log = logging.getLogger(__name__)

# Who is calling, as the transport knows it (an MCP client's name): set by the server around
# each call and written into the call's audit line, so that clients sharing a server (HTTP)
# can be told apart.
CALLER: ContextVar[str | None] = ContextVar("caller", default=None)


# The policy the server looked at for the call in progress (server/app.py sets it around the
# call), which the guard's first look in that call takes: one look at the file per call.
LOOKED: ContextVar[Policy | None] = ContextVar("binance_mcp_policy_looked", default=None)

# A policy file's status is trusted to tell an edit only once its last change is this old: no
# file system's timestamps are coarser (FAT's mtime: 2 s).
SETTLED_S: Final = 3.0


def _version(policy: Policy) -> str:
    """Approvals are bound to the policy they were asked under: any edit voids them."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]


class PolicyHolder:
    """The policy in force: the file's last good version, or the built-in default when no file
    is configured. The file is looked at on every call and reloaded whenever its content
    differs — not its timestamp or size, which an editor or a swap can leave unchanged.

    Looking costs one stat on a local file system, an open and fstat elsewhere (an open
    revalidates a network file system's cache where a stat may not: guard/file_system.py). The
    content is read again whenever the file's
    identity, size, mtime or ctime differ from the last read's, or that read came less than
    `SETTLED_S` after the file's last change: timestamps are coarse (a clock tick; 2 s on FAT),
    so a second same-size write in the same tick would leave them all unchanged, but only
    while that tick is recent. ctime cannot be set back by a program (`touch -d` and swaps
    change it), so an unchanged status after that means an unchanged file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None
        self._content: bytes | None = None
        # The status the content was last read with, once it is old enough to be trusted.
        self._settled: tuple[int, ...] | None = None
        self._stat_only = path is not None and is_local(path)
        if path is None:
            self.policy = DEFAULT_POLICY
        else:
            self._content, _ = self._read(None)
            self.policy = load_policy(path, self._content)
        self.version = _version(self.policy)

    def _read(self, known: tuple[int, ...] | None) -> tuple[bytes | None, bool]:
        """The file's content (None: unreadable), and False when its status is `known`, in
        which case the content is not read (and returned as None)."""
        assert self.path is not None
        if known is not None and self._stat_only:
            try:
                st = os.stat(self.path)
            except OSError:
                pass  # opened below, which tells what is wrong
            else:
                if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == known:
                    return None, False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._settled = None
            return None, True
        try:
            st = os.fstat(fd)
            status = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if known is not None and status == known:
                return None, False
            chunks = []
            while chunk := os.read(fd, max(st.st_size, 1 << 12)):
                chunks.append(chunk)
        except OSError:
            self._settled = None
            return None, True
        finally:
            os.close(fd)
        changed = max(st.st_mtime_ns, st.st_ctime_ns)
        self._settled = status if time.time_ns() - changed > SETTLED_S * 1e9 else None
        return b"".join(chunks), True

    def current(self) -> Policy:
        if self.path is None:
            return self.policy
        looked = LOOKED.get()
        if looked is not None:
            # The server looked for this call a moment ago: the guard's first look takes that
            # answer, unless another call has reloaded the file since. Once: a later look in
            # the same call (after an approval wait) reads the file again.
            LOOKED.set(None)
            if looked is self.policy:
                return looked
        content, read = self._read(self._settled)
        if read and content != self._content:
            self._content = content
            try:
                self.policy = load_policy(self.path, content)
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

    def __init__(self, store: CounterStore, fallback: MemoryCounters, risk: RiskClass) -> None:
        self.store = store
        self.fallback = fallback
        self.risk = risk
        self.reservation: str | None = None

    async def take_calls(self, limits: Sequence[tuple[str, RateLimit]]) -> RateHit | None:
        try:
            return await self.store.take_calls(limits)
        except StateUnavailable as exc:
            if self.risk != "read":
                raise
            log.warning("%s; counting read calls in this process only", exc)
            return self.fallback.take_calls(limits)

    async def reserve(self, slot: OrderSlot) -> str | BudgetHit:
        reserved = await self.store.reserve(slot)
        if isinstance(reserved, str):
            self.reservation = reserved
        return reserved

    async def settle(self, placed: bool) -> None:
        if self.reservation is None:
            return
        # Shielded: a call cancelled by its client still gives back what it did not place.
        with anyio.CancelScope(shield=True):
            try:
                await self.store.settle(self.reservation, placed)
            except StateUnavailable as exc:
                # Unsettled, the reservation keeps counting: the safe side of a budget.
                log.error("could not settle a budget reservation: %s", exc)
        self.reservation = None


_STRICTNESS: Final = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}

# Asked for the venue's client when a fact needs the exchange (a price, the open orders).
VenueSource = Callable[[], Awaitable[Exchange]]
# Sends the call with these arguments (the tool's body); a dry run sends `test: True`.
Send = Callable[[dict[str, Any]], Awaitable[Any]]


class Refused(ToolFailure):
    """The guard's own refusal: denied by policy, not approved, or stopped while waiting.
    Nothing was sent."""

    # How the call ended, for the audit line: denied, or timeout (no answer to the approval).
    end: str = "denied"


async def _no_venue() -> Exchange:
    raise Unknown("exchange", "no exchange in this context")


class Guard:
    def __init__(
        self,
        policy: PolicyHolder,
        *,
        state_dir: Path,
        venue: str,
        approval_timeout: float,
        audit_max_bytes: int = DEFAULT_MAX_BYTES,
        audit_keep: int = DEFAULT_KEEP,
        shared: RedisState | None = None,
    ) -> None:
        self.policy = policy
        self.state_dir = state_dir
        self.venue = venue
        self.approval_timeout = approval_timeout
        self.audit = AuditLog(state_dir, max_bytes=audit_max_bytes, keep=audit_keep)
        self.shared = shared
        self.store: CounterStore
        self.queue: Queue
        if shared is None:
            self.store = InlineStore(StateStore(state_dir, venue))
            self.queue = InlineQueue(ApprovalQueue(state_dir))
        else:
            from binance_mcp.guard.redis_state import RedisApprovalQueue, RedisCounterStore

            self.store, self.queue = RedisCounterStore(shared), RedisApprovalQueue(shared)
        self.local = MemoryCounters()
        # Called with each audit record once it is written (server/call_log.py).
        self.observers: list[Callable[[dict[str, Any]], None]] = []

    async def aclose(self) -> None:
        """The audit log, the SQLite connections and this loop's Redis connections; each
        reopens if used again."""
        self.audit.close()
        self.store.close()
        self.queue.close()
        if self.shared is not None:
            await self.shared.aclose()

    async def halted(self) -> str | None:
        if self.shared is None:
            return halted(self.state_dir)
        trading = await self.trading()
        if trading.state is not TradingState.HALTED:
            return None
        return trading.why().removeprefix("trading is halted: ")

    async def trading(self) -> Trading:
        """The state dir's trading state, read afresh (every server on it sees a change)."""
        local = read_trading_state(self.state_dir)
        if self.shared is None:
            return local
        # Shared across hosts, and this host's own state dir too: the stricter state wins.
        shared = await self.shared.read_trading()
        return max(local, shared, key=lambda t: _STRICTNESS[t.state])

    async def _trading(self, tool: ToolSpec) -> Trading:
        # The trading state concerns writes and orders only: reads and cancels skip the file.
        return await self.trading() if tool.risk in ("write", "financial") else ACTIVE

    async def _facts(
        self,
        tool: ToolSpec,
        args: dict[str, Any],
        policy: Policy,
        venue: VenueSource,
        trading: Trading = ACTIVE,
    ) -> dict[str, Any]:
        facts = base_facts(tool.name, args, self.venue)
        needed = needed_facts(policy, tool.name, tool.risk)
        if trading.state is TradingState.REDUCING and tool.name == "binance_spot_place_order":
            needed |= {"sells_held"}  # the one way a spot order can pass while reducing
        if needed - facts.keys():
            await derive(tool.name, args, facts, needed, venue)
        value = facts.pop("account_value", None)
        if value is not None and "daily_loss" not in facts:
            facts["daily_loss"] = await self._daily_loss(value)
        return facts

    async def _daily_loss(self, value: Any) -> Any:
        if isinstance(value, Unknown):
            return value
        try:
            return await self.store.daily_loss(value)
        except StateUnavailable as exc:
            return Unknown("daily_loss", str(exc))

    async def _loss_limit(self, policy: Policy, facts: dict[str, Any], trading: Trading) -> Trading:
        """The trading state after the day's loss is compared with `max_daily_loss`: reached,
        trading turns `reducing` until the end of the UTC day (or `binance-mcp resume`)."""
        limit, loss = policy.limits.max_daily_loss, facts.get("daily_loss")
        if limit is None or not isinstance(loss, Decimal) or loss < limit:
            return trading
        if trading.state is not TradingState.ACTIVE:
            return trading
        reason = (
            f"the day's loss {dec_str(loss)} USDT reached the limit {dec_str(limit)} "
            "(limits.max_daily_loss)"
        )
        if self.shared is None:
            changed = set_trading_state(
                self.state_dir, TradingState.REDUCING, reason, by=BY_LOSS_LIMIT, day=utc_today()
            )
        else:
            changed = Trading(
                TradingState.REDUCING, reason, BY_LOSS_LIMIT, int(time.time()), utc_today()
            )
            try:
                await self.shared.set_trading(changed)
            except StateUnavailable as exc:
                log.error("could not record the reducing state: %s", exc)
        log.warning("trading is now reducing: %s", reason)
        self._finish(
            {
                "time": utc_now(),
                "event": "trading_state_changed",
                "venue": self.venue,
                "from": trading.state.value,
                "to": changed.state.value,
                "rule": BY_LOSS_LIMIT,
                "reason": reason,
                "daily_loss": dec_str(loss),
                "limit": dec_str(limit),
            },
            time.perf_counter(),
        )
        return changed

    async def _decide(
        self,
        policy: Policy,
        tool: ToolSpec,
        facts: dict[str, Any],
        trading: Trading,
        counters: CallCounters | None = None,
    ) -> Decision:
        """Without `counters`, budgets and rate limits are not checked (nothing is counted)."""
        state = trading.state
        why_halted = (
            trading.why().removeprefix("trading is halted: ")
            if state is TradingState.HALTED
            else None
        )
        reducing = trading.why() if state is TradingState.REDUCING else None
        if counters is None:
            return decide(policy, tool.name, tool.risk, facts, halted=why_halted, reducing=reducing)
        pending = decide_counting(
            policy, tool.name, tool.risk, facts, halted=why_halted, reducing=reducing
        )
        return await count(pending, counters)

    def _call_digest(self, tool: ToolSpec, args: dict[str, Any]) -> str:
        """What an approval is bound to: the tool, its normalised arguments, the policy."""
        given = {k: v for k, v in args.items() if v is not None}
        return digest({"tool": tool.name, "args": digest(given), "policy": self.policy.version})

    async def approval_question(
        self, tool: ToolSpec, args: dict[str, Any], venue: VenueSource
    ) -> tuple[str, str] | None:
        """Before the body runs: (the call's digest, the question for a person) when this call
        will need approval, else None. Counts nothing; `run` decides again, with the counters
        (and re-reads a changed policy file: one stat per call is enough)."""
        policy = self.policy.policy
        if policy.mode != "enforce" or not may_need_approval(policy, tool.name, tool.risk):
            return None
        args = {k: v for k, v in args.items() if v is not None}
        trading = await self._trading(tool)
        facts = await self._facts(tool, args, policy, venue, trading)
        decision = await self._decide(policy, tool, facts, trading)
        if decision.action != "approve":
            return None
        text = await self._describe(tool, args, facts, decision, venue)
        return self._call_digest(tool, args), text

    async def _describe(
        self,
        tool: ToolSpec,
        args: dict[str, Any],
        facts: dict[str, Any],
        decision: Decision,
        venue: VenueSource,
    ) -> str:
        """The approval question; a person sees an order's notional and leverage even when the
        policy did not need them."""
        wanted = {"notional"} if tool.name in ORDER_TOOLS else set()
        if tool.name == "binance_futures_place_order":
            wanted.add("leverage")
        shown = dict(facts)
        if wanted - shown.keys():
            await derive(tool.name, args, shown, frozenset(wanted), venue)
        return summary(tool.name, self.venue, shown, decision)

    async def run(
        self,
        tool: ToolSpec,
        args: dict[str, Any],
        send: Send,
        *,
        venue: VenueSource = _no_venue,
        approvals: ApprovalChannel | None = None,
    ) -> Any:
        """Decide the call, carry it out, and write its one audit line whatever the end (`end`:
        ok, denied, failed, crashed, cancelled, abandoned, timeout). Every refusal or failure
        leaves as a `ToolFailure` whose text the agent reads."""
        started = time.perf_counter()
        record: dict[str, Any] = {
            "time": utc_now(),
            "tool": tool.name,
            "class": tool.risk,
            "venue": self.venue,
            "decision": "deny",
            "rule": "error",
            "reason": "the call ended before it was decided",
        }
        counters = CallCounters(self.store, self.local, tool.risk)
        action = "deny"
        waiting = False
        try:
            # Inside: whatever the arguments hold, a failure to record them is the call's end.
            record["args"], record["digest"] = trading_args(args), digest(args)
            policy = self.policy.current()
            version = self.policy.version
            trading = await self._trading(tool)
            facts = await self._facts(tool, args, policy, venue, trading)
            trading = await self._loss_limit(policy, facts, trading)
            decision = await self._decide(policy, tool, facts, trading, counters)
            record.update(decision=decision.action, rule=decision.rule, reason=decision.reason)
            if trading.state is not TradingState.ACTIVE:
                record["trading"] = trading.why()
            if "notional" in facts and not isinstance(facts["notional"], Exception):
                notional = facts["notional"]
                shown = dec_str(notional) if isinstance(notional, Decimal) else notional
                record["notional"] = shown
            # A person's halt, or the loss limit's, holds in monitor mode too.
            enforce = policy.mode == "enforce" or decision.rule in ("kill switch", "trading state")
            if not enforce and decision.action != "allow":
                record["mode"] = "monitor"
            action = decision.action if enforce else "allow"
            if tool.risk != "read" and action != "deny":
                problem = self.audit.problem()
                if problem is not None:
                    raise Refused(
                        f"Denied by policy: the audit log cannot be written ({problem}); "
                        "nothing was sent"
                    )
            if action == "approve":
                waiting = True
                verdict = await self._approval(tool, args, facts, decision, approvals, venue)
                waiting = False
                record["approval"] = verdict.how
                if not verdict.approved:
                    refused = Refused(
                        f"Denied by policy: approval required ({decision.rule}: "
                        f"{decision.reason}), and {verdict.reason}"
                    )
                    refused.end = "timeout" if verdict.how == "timeout" else "denied"
                    raise refused
                # A person may take a while: a halt or a policy edit meanwhile wins.
                changed = await self._changed_while_waiting(tool, facts, version)
                if changed is not None:
                    raise Refused(f"Denied by policy: {changed}; nothing was sent")
                # Approved: what the policy does next (a dry run stays a dry run).
                base, _ = base_action(policy, tool.name, tool.risk)
                action = "dry_run" if base == "dry_run" else "allow"
            result = await self._carry_out(tool, args, send, decision, action)
        except ToolFailure as exc:
            # A definite failure (a rejection, a local check, a denial) placed nothing.
            await counters.settle(placed=action != "dry_run" and exc.uncertain)
            record["outcome"] = str(exc)[:300]
            record["end"] = exc.end if isinstance(exc, Refused) else "failed"
            await self._finish_soon(record, started)
            raise
        except Exception as exc:
            log.exception("%s failed unexpectedly", tool.name)
            crash = ToolFailure(
                f"{tool.name} failed inside the server ({type(exc).__name__}); details are in "
                "the server's log. If this was an order or a cancel, check its state with a "
                "read tool before retrying."
            )
            crash.uncertain = action in ("allow", "dry_run")
            await counters.settle(placed=action != "dry_run" and crash.uncertain)
            record["outcome"] = str(crash)[:300]
            record["end"] = "crashed"
            self._finish(record, started)
            raise crash from None
        except BaseException:
            # Cancelled by the client (or the process is stopping): what was sent may count.
            await counters.settle(placed=action != "dry_run" and not waiting)
            record["outcome"] = (
                "abandoned by the client while waiting for approval; the request was withdrawn"
                if waiting
                else "cancelled by the client; if this was an order, check its state"
            )
            record["end"] = "abandoned" if waiting else "cancelled"
            self._finish(record, started)
            raise
        # A dry run sent a test order at most: it spent nothing of the day's budget.
        await counters.settle(placed=action != "dry_run")
        record["outcome"] = "ok"
        record["end"] = "ok"
        # Reads place nothing; a missing attribute on a pydantic result is a costly miss.
        order = None if tool.risk == "read" else getattr(result, "order", None)
        for key in ("orderId", "algoId", "clientOrderId"):
            if order is not None and getattr(order, key, None) is not None:
                record[key] = getattr(order, key)
        await self._finish_soon(record, started)
        return result

    def refused_before(
        self,
        tool: str,
        risk: RiskClass | None,
        args: Mapping[str, Any],
        reason: str,
        end: str,
    ) -> None:
        """The audit line of a call refused before the guard could decide it: an unknown tool,
        an argument the tool does not take, a value out of bounds or of the wrong type. Only
        short plain values are kept: the arguments are the agent's, and may be hostile."""
        plain = {
            k: v
            for k, v in args.items()
            if isinstance(k, str) and len(k) <= 64
            and isinstance(v, str | int | float | bool) and len(str(v)) <= 64
        }  # fmt: skip
        record: dict[str, Any] = {
            "time": utc_now(),
            "tool": tool[:64],
            "class": risk,
            "venue": self.venue,
            "decision": "deny",
            "rule": "arguments",
            "reason": reason[:300],
            "args": trading_args(plain),
            "outcome": reason[:300],
            "end": end,
        }
        self._finish(record, time.perf_counter())

    async def _changed_while_waiting(
        self, tool: ToolSpec, facts: dict[str, Any], version: str
    ) -> str | None:
        trading = await self._trading(tool)
        if trading.state is TradingState.HALTED:
            return f"trading was halted while the approval was pending: {await self.halted()}"
        if trading.state is TradingState.REDUCING and not only_shrinks(tool.name, facts):
            return f"while the approval was pending, {trading.why()}"
        self.policy.current()
        if self.policy.version != version:
            return "the policy changed while the approval was pending; call again"
        return None

    async def _approval(
        self,
        tool: ToolSpec,
        args: dict[str, Any],
        facts: dict[str, Any],
        decision: Decision,
        approvals: ApprovalChannel | None,
        venue: VenueSource,
    ) -> Verdict:
        if approvals is None:
            return Verdict(False, "not asked", "nobody can be asked in this context")

        async def question() -> str:
            return await self._describe(tool, args, facts, decision, venue)

        return await approvals.verdict(self._call_digest(tool, args), tool.name, question)

    def _finish(self, record: dict[str, Any], started: float) -> None:
        self._stamp(record, started)
        try:
            self.audit.write(record)
        except OSError as exc:
            self._unwritten(record, exc)
        self._observe(record)

    async def _finish_soon(self, record: dict[str, Any], started: float) -> None:
        """`_finish` for a call that ends as decided: its line may share one write with the
        lines of other calls ending in the same turn of the event loop (audit.py `append`),
        and is in the log before the call returns."""
        self._stamp(record, started)
        try:
            await self.audit.append(record)
        except OSError as exc:
            self._unwritten(record, exc)
        finally:
            # Also when the wait is cancelled: the line is written all the same.
            self._observe(record)

    def _stamp(self, record: dict[str, Any], started: float) -> None:
        caller = CALLER.get()
        if caller is not None and "tool" in record:
            record["client"] = caller
        record["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)

    def _unwritten(self, record: dict[str, Any], exc: OSError) -> None:
        # The call has happened: its result must reach the agent (an error would invite a
        # second order). The record goes to stderr instead.
        log.error("audit log %s not written (%s): %s", self.audit.path, exc, record)

    def _observe(self, record: dict[str, Any]) -> None:
        # The server's per-call log line and log notifications come from this same record.
        for observe in self.observers:
            try:
                observe(record)
            except Exception:
                log.exception("a call observer failed")

    async def _carry_out(
        self, tool: ToolSpec, args: dict[str, Any], send: Send, decision: Decision, action: str
    ) -> Any:
        if action == "allow":
            return await send(args)
        if action == "deny":
            raise Refused(decision.denial())
        if tool.name in ORDER_TOOLS:
            return await send({**args, "test": True})
        shown = ", ".join(f"{k}={v}" for k, v in trading_args(args).items())
        raise Refused(
            f"Dry run by policy ({decision.rule}): would call {tool.name}({shown}); nothing sent"
        )
