"""What the console shows, read from the state dir, and the changes a person makes there.

Reads go through the guard's own readers (the approvals queue's `listing`, `trading_state.read`,
the state store's counters, `load_policy`); changes through the functions the CLI uses. The
page's requests run these in worker threads; shared state in Redis is read in an event loop of
the request's own (`RedisState.blocking`), as the CLI does. The
paper account's value is read from the paper exchange's account file, never from the exchange.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from binance_mcp.config import resolve_policy_path
from binance_mcp.guard import servers
from binance_mcp.guard import trading_state as states
from binance_mcp.guard.approvals import ApprovalError, ApprovalQueue, Request
from binance_mcp.guard.policy import DEFAULT_POLICY, Policy, PolicyError, RateLimit, load_policy
from binance_mcp.guard.redis_state import RedisApprovalQueue, RedisCounterStore, RedisState
from binance_mcp.guard.store import CounterStore, InlineStore, StateStore, StateUnavailable

PAPER_ACCOUNT_FILE: Final = "paper-account.json"
VALUES_FILE: Final = "console-paper-values.jsonl"
# Points of the paper account's value kept (and drawn).
KEEP_VALUES: Final = 2000
_PAIR: Final = re.compile(r"^([A-Za-z_]+): (.*)$")


class ConsoleError(Exception):
    """What a person's action could not do, said for the page."""


def _num(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


def approval_fields(request: Request, now: float) -> dict[str, Any]:
    """A pending request as the page lists it: the fields of its summary (the question the
    server wrote, guard/verdicts.py `summary`) split out."""
    shown: dict[str, str] = {}
    lines = request.summary.splitlines()
    venue = ""
    head = re.match(r"^Approve (\S+) on (\S+)\?$", lines[0]) if lines else None
    if head is not None:
        venue = head.group(2)
    why = ""
    for line in lines[1:]:
        if line.startswith("why: "):
            why = line.removeprefix("why: ")
            continue
        for part in line.split(" · "):
            found = _PAIR.match(part)
            if found is not None:
                shown[found.group(1)] = found.group(2)
    rule, reason = "", why
    ruled = re.match(r"^(.*) \(([^()]+)\)$", why)
    if ruled is not None:
        reason, rule = ruled.group(1), ruled.group(2)
    elif " requires approval" in why:
        rule = why.split(" requires approval")[0]
    return {
        "id": request.id,
        "digest": request.digest,
        "tool": request.tool,
        "venue": venue,
        "symbol": shown.get("symbol", ""),
        "side": shown.get("side", ""),
        "type": shown.get("type", ""),
        "quantity": shown.get("quantity", shown.get("quoteOrderQty", "")),
        "price": shown.get("price", shown.get("stopPrice", "")),
        "notional": shown.get("notional", ""),
        "leverage": shown.get("leverage", ""),
        "rule": rule,
        "reason": reason,
        "summary": request.summary,
        "waited": round(now - request.created),
        "left": max(round(request.expires - now), 0),
    }


@dataclass
class PaperValues:
    """The paper account's value over time: sampled from its account file whenever the paper
    exchange saves it (about once a second while something changes), kept in the state dir
    so the chart survives a restart of the console."""

    account: Path
    record: Path
    points: list[tuple[float, str]] = field(default_factory=list)
    _seen: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        try:
            for line in self.record.read_text("utf-8").splitlines()[-KEEP_VALUES:]:
                item = json.loads(line)
                self.points.append((float(item["t"]), str(item["v"])))
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def sample(self) -> None:
        try:
            mtime = self.account.stat().st_mtime
        except OSError:
            return
        with self._lock:
            if mtime == self._seen:
                return
            self._seen = mtime
            value = paper_value(self.account)
            if value is None:
                return
            text = _num(value) or "0"
            if self.points and self.points[-1][1] == text and time.time() - self.points[-1][0] < 60:
                return
            self.points.append((time.time(), text))
            del self.points[:-KEEP_VALUES]
            try:
                with self.record.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"t": round(time.time(), 3), "v": text}) + "\n")
            except OSError:
                pass

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"t": t, "v": v} for t, v in self.points]


def _dec(value: Any) -> Decimal:
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return found if found.is_finite() else Decimal(0)


def paper_value(path: Path) -> Decimal | None:
    """The paper account's value in USDT from its account file: every spot balance (free and
    locked) at the file's last USDT price (USDT at 1; an asset without a USDT market counts 0),
    plus the futures wallet's USDT and the unrealized PnL of its positions at those prices."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    prices = {str(k): _dec(v) for k, v in (data.get("prices") or {}).items()}

    def price(asset: str) -> Decimal:
        return Decimal(1) if asset == "USDT" else prices.get(f"{asset}USDT", Decimal(0))

    total = Decimal(0)
    spot = data.get("spot") or {}
    for asset, balance in (spot.get("balances") or {}).items():
        if isinstance(balance, dict):
            amount = _dec(balance.get("free", 0)) + _dec(balance.get("locked", 0))
            total += amount * price(str(asset))
    futures = data.get("futures") or {}
    total += _dec((futures.get("wallet") or {}).get("USDT", 0))
    for position in (futures.get("positions") or {}).values():
        if not isinstance(position, dict):
            continue
        amount = _dec(position.get("amount", 0))
        mark = prices.get(str(position.get("symbol", "")))
        if amount and mark is not None:
            total += amount * (mark - _dec(position.get("entry", 0)))
    return total


def paper_positions(path: Path) -> dict[str, Decimal] | None:
    """The paper account's futures positions by symbol, |amount| × the file's last price (the
    figure the guard checks at each order also counts open orders; this is what is held)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    prices = {str(k): _dec(v) for k, v in (data.get("prices") or {}).items()}
    held: dict[str, Decimal] = {}
    for position in ((data.get("futures") or {}).get("positions") or {}).values():
        if isinstance(position, dict):
            symbol = str(position.get("symbol", ""))
            notional = abs(_dec(position.get("amount", 0))) * prices.get(symbol, Decimal(0))
            if notional:
                held[symbol] = held.get(symbol, Decimal(0)) + notional
    return held


def paper_open_orders(path: Path) -> tuple[int, int] | None:
    """Open spot and futures orders in the paper account file."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    live = {"NEW", "PARTIALLY_FILLED"}
    spot = (data.get("spot") or {}).get("orders") or {}
    futures = data.get("futures") or {}
    spot_open = sum(1 for o in spot.values() if isinstance(o, dict) and o.get("status") in live)
    fut = [*(futures.get("orders") or {}).values(), *(futures.get("algo_orders") or {}).values()]
    fut_open = sum(1 for o in fut if isinstance(o, dict) and o.get("status") in live | {"NEW"})
    return spot_open, fut_open


class ConsoleView:
    """The console's facade over one state dir."""

    def __init__(
        self,
        state_dir: Path,
        *,
        policy: str | None = None,
        venue: str | None = None,
        paper_dir: Path | None = None,
        shared: RedisState | None = None,
    ) -> None:
        self.state_dir = state_dir
        # Shared guard state in Redis (`--state-url`): its queue, trading state and counters.
        self.shared = shared
        self._policy_flag = policy
        self._venue_flag = venue
        self.paper_dir = paper_dir if paper_dir is not None else state_dir / "paper"
        # The state dir's queue; with shared state, the queue is in Redis.
        self.queue = ApprovalQueue(state_dir) if shared is None else None
        self.values = PaperValues(self.paper_dir / PAPER_ACCOUNT_FILE, state_dir / VALUES_FILE)

    def close(self) -> None:
        """The state dir's queue; shared state holds no connection between requests."""
        if self.queue is not None:
            self.queue.close()

    # --- approvals ------------------------------------------------------------------------------

    def _listing(self) -> list[Request]:
        if self.shared is None:
            assert self.queue is not None
            return self.queue.listing()
        return self.shared.blocking(lambda s: RedisApprovalQueue(s).listing())

    def pending(self) -> list[dict[str, Any]]:
        now = time.time()
        return [approval_fields(r, now) for r in self._listing()]

    def decide(self, ident: str, digest: str, approve: bool, reason: str) -> dict[str, Any]:
        """The same answer as `binance-mcp approvals approve|deny ID`, given only if the request
        is still the call the page showed (its digest)."""
        waiting = {r.id: r for r in self._listing()}
        request = waiting.get(ident.strip().lower())
        if request is None:
            raise ConsoleError(f"request {ident} is no longer waiting")
        if request.digest != digest:
            raise ConsoleError(f"request {ident} is not the call shown; reload")
        try:
            if self.shared is None:
                assert self.queue is not None
                done = self.queue.decide(ident, approve, reason)
            else:
                done = self.shared.blocking(
                    lambda s: RedisApprovalQueue(s).decide(ident, approve, reason)
                )
        except (ApprovalError, StateUnavailable) as exc:
            raise ConsoleError(str(exc)) from None
        return {"id": done.id, "status": done.status}

    # --- trading state --------------------------------------------------------------------------

    def trading(self) -> dict[str, Any]:
        trading = states.read(self.state_dir)
        if self.shared is not None:
            # As the servers see it: the stricter of this host's state dir and the shared one.
            shared = self.shared.blocking(lambda s: s.read_trading())
            order = [
                states.TradingState.ACTIVE,
                states.TradingState.REDUCING,
                states.TradingState.HALTED,
            ]
            trading = max(trading, shared, key=lambda t: order.index(t.state))
        alive, _ = servers.running(self.state_dir)
        return {
            "state": trading.state.value,
            "why": trading.why(),
            "reason": trading.reason,
            "by": trading.by,
            "since": trading.since,
            "env": bool(os.environ.get(states.ENV_HALT)),
            "servers": [
                {"pid": e.pid, "venue": e.venue, "policy": e.policy, "since": e.since}
                for e in alive
            ],
        }

    def set_trading(self, state: str, reason: str) -> dict[str, Any]:
        if self.shared is not None:
            return self._set_shared(state, reason)
        if state == "active":
            _, _, problem = states.resume_trading(self.state_dir)
            if problem is not None:
                raise ConsoleError(f"resumed, but today's loss could not be reset: {problem}")
        elif state in ("halted", "reducing"):
            states.set_state(self.state_dir, states.TradingState(state), reason.strip() or None)
        else:
            raise ConsoleError(f"unknown trading state {state!r}")
        return self.trading()

    def _set_shared(self, state: str, reason: str) -> dict[str, Any]:
        assert self.shared is not None
        if state not in ("active", "halted", "reducing"):
            raise ConsoleError(f"unknown trading state {state!r}")

        async def change(shared: RedisState) -> None:
            if state == "active":
                was = await shared.read_trading()
                await shared.set_trading(states.ACTIVE)
                states.resume(self.state_dir)
                if was.by == states.BY_LOSS_LIMIT:
                    for venue in ("live", "testnet", "demo", "paper"):
                        await RedisCounterStore(shared.for_venue(venue)).restart_loss_count()
            else:
                await shared.set_trading(
                    states.Trading(states.TradingState(state), reason.strip() or None,
                                   states.BY_PERSON, int(time.time()))
                )  # fmt: skip

        try:
            self.shared.blocking(change)
        except StateUnavailable as exc:
            raise ConsoleError(str(exc)) from None
        return self.trading()

    # --- limits ---------------------------------------------------------------------------------

    def policy(self) -> tuple[Policy | None, str, str | None]:
        """The policy in force, where it came from, and why it could not be read."""
        alive, _ = servers.running(self.state_dir)
        named = {e.policy for e in alive}
        path: Path | None
        if self._policy_flag is None and len(named) == 1:
            only = next(iter(named))
            path = None if only == servers.BUILT_IN_POLICY else Path(only)
            source = "the running server's"
        else:
            path = resolve_policy_path(os.environ, self._policy_flag)
            source = "--policy" if self._policy_flag else "BINANCE_MCP_POLICY or built-in"
        if path is None:
            return DEFAULT_POLICY, "built-in default", None
        try:
            return load_policy(path), f"{path} ({source})", None
        except PolicyError as exc:
            return None, str(path), "; ".join(exc.errors)

    def venues(self) -> list[str]:
        if self._venue_flag:
            return [self._venue_flag]
        alive, _ = servers.running(self.state_dir)
        return sorted({e.venue for e in alive}) or ["paper"]

    def limits(self) -> dict[str, Any]:
        policy, source, error = self.policy()
        result: dict[str, Any] = {"policy": source, "error": error, "venues": []}
        if policy is None:
            return result
        rates = [
            (f"tool:{tool}", rules.rate_limit, f"tools.{tool}.rate_limit")
            for tool, rules in policy.tools.items()
            if rules.rate_limit is not None
        ] + [
            (f"class:{risk}", rules.rate_limit, f"classes.{risk}.rate_limit")
            for risk, rules in policy.classes.items()
            if rules.rate_limit is not None
        ]
        limits = policy.limits
        result["caps"] = [
            {"rule": f"limits.{name}", "value": _num(v) if isinstance(v, Decimal) else str(v)}
            for name, v in (
                ("max_order_notional", limits.max_order_notional),
                ("max_leverage", limits.max_leverage),
            )
            if v is not None
        ] + [{"rule": "limits.futures", "value": limits.futures}]
        if limits.symbols is not None:
            kind = "allow" if limits.symbols.allow is not None else "deny"
            listed = limits.symbols.allow or limits.symbols.deny or []
            result["caps"].append({"rule": f"limits.symbols.{kind}", "value": ", ".join(listed)})
        paper_file = self.paper_dir / PAPER_ACCOUNT_FILE
        for venue in self.venues():
            bars: list[dict[str, Any]] = []
            try:
                spent, calls, high = self._counted(
                    venue,
                    limits.daily_notional is not None,
                    [(key, rate) for key, rate, _ in rates],
                    limits.max_daily_loss is not None,
                )
                if limits.daily_notional is not None:
                    assert spent is not None
                    bars.append(
                        _bar("limits.daily_notional", "notional placed today (UTC)",
                             spent, limits.daily_notional)
                    )  # fmt: skip
                for (_, rate, place), used in zip(rates, calls, strict=True):
                    bars.append(_bar(place, f"calls in the last {rate.text.split('/')[1]}",
                                     Decimal(used), Decimal(rate.count), rate.text))  # fmt: skip
                if limits.max_daily_loss is not None:
                    value = paper_value(paper_file) if venue == "paper" else None
                    if high is not None and value is not None:
                        bars.append(_bar("limits.max_daily_loss",
                                         f"below today's high {_num(high)} USDT",
                                         max(high - value, Decimal(0)), limits.max_daily_loss))  # fmt: skip
                    else:
                        bars.append(_unknown("limits.max_daily_loss", limits.max_daily_loss,
                            "today's high " + (f"{_num(high)} USDT; " if high is not None
                                               else "not seen yet; ")
                            + "the loss is measured at each order"))  # fmt: skip
            except StateUnavailable as exc:
                bars.append({"rule": "state store", "error": str(exc)})
            orders = paper_open_orders(paper_file) if venue == "paper" else None
            if limits.max_open_orders is not None:
                if orders is not None:
                    bars.append(_bar("limits.max_open_orders", "open spot orders (per market)",
                                     Decimal(orders[0]), Decimal(limits.max_open_orders)))  # fmt: skip
                else:
                    bars.append(_unknown("limits.max_open_orders", limits.max_open_orders,
                                         "counted from the exchange at each order"))  # fmt: skip
            held = paper_positions(paper_file) if venue == "paper" else None
            for name in ("max_position_notional", "max_exposure"):
                cap = getattr(limits, name)
                if cap is None:
                    continue
                if held is None:
                    bars.append(_unknown(f"limits.{name}", cap,
                                         "read from the exchange at each order"))  # fmt: skip
                elif name == "max_exposure":
                    bars.append(_bar("limits.max_exposure", "gross futures positions at the price",
                                     sum(held.values(), Decimal(0)), cap))  # fmt: skip
                else:
                    symbol, largest = max(
                        held.items(), key=lambda kv: kv[1], default=("", Decimal(0))
                    )
                    what = (
                        f"largest futures position ({symbol})" if symbol else "no futures position"
                    )
                    bars.append(_bar("limits.max_position_notional", what, largest, cap))
            result["venues"].append({"venue": venue, "bars": bars})
        return result

    def _counted(
        self, venue: str, spent: bool, rates: list[tuple[str, RateLimit]], high: bool
    ) -> tuple[Decimal | None, list[int], Decimal | None]:
        """What `venue`'s counters hold: today's notional (if `spent`), the calls in each rate
        limit's window, today's high-water mark (if `high`)."""

        async def read(store: CounterStore) -> tuple[Decimal | None, list[int], Decimal | None]:
            try:
                return (
                    await store.used_today() if spent else None,
                    [await store.calls_in_window(key, rate.seconds) for key, rate in rates],
                    await store.day_high() if high else None,
                )
            finally:
                store.close()

        if self.shared is None:
            return asyncio.run(read(InlineStore(StateStore(self.state_dir, venue))))
        return self.shared.blocking(lambda s: read(RedisCounterStore(s.for_venue(venue))))


def _bar(
    rule: str, what: str, used: Decimal, allowed: Decimal, text: str | None = None
) -> dict[str, Any]:
    share = float(used / allowed) if allowed > 0 else 1.0
    return {
        "rule": rule,
        "what": what,
        "used": _num(used),
        "allowed": text or _num(allowed),
        "share": min(max(share, 0.0), 1.0),
        "over": used >= allowed,
    }


def _unknown(rule: str, allowed: Decimal | int, what: str) -> dict[str, Any]:
    value = _num(allowed) if isinstance(allowed, Decimal) else str(allowed)
    return {"rule": rule, "what": what, "used": None, "allowed": value, "share": None}
