"""The trading state of a state dir (SPEC §4.2 step 1), seen by every server on it at its next
call:

- `active`: the policy decides.
- `reducing`: only cancels and orders that can only shrink a position pass (reduceOnly,
  closePosition, `binance_futures_close_position`, hedge-mode closing sides, a spot SELL of at
  most the free balance of the asset). Entered by `binance-mcp halt --reducing`, or by itself
  when the day's loss reaches `max_daily_loss` (then it ends with the UTC day).
- `halted` (the kill switch): write and financial calls are denied; reads and cancels pass.
  Entered by `binance-mcp halt`, or `BINANCE_MCP_HALT=1` in a server's environment.

`binance-mcp resume` returns to `active`. The state lives in `<state dir>/trading-state.json`;
`halt.json`, written by earlier versions, still halts. A file that cannot be read or is damaged
halts (fail closed), and says which file and the way out.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

ENV_HALT: Final = "BINANCE_MCP_HALT"
STATE_FILE: Final = "trading-state.json"
# Written by versions before trading states; read (it halts) and removed by `resume`.
LEGACY_FLAG: Final = "halt.json"
# Who put the state in place, when not a person.
BY_PERSON: Final = "person"
BY_LOSS_LIMIT: Final = "limits.max_daily_loss"


def halted_by_environment() -> bool:
    """Fail closed: any value of BINANCE_MCP_HALT but an explicit "off" halts
    (`BINANCE_MCP_HALT=halt` must not leave trading on)."""
    return os.environ.get(ENV_HALT, "").strip().lower() not in ("", "0", "false", "no", "off")


class TradingState(StrEnum):
    ACTIVE = "active"
    """The policy decides every call."""
    REDUCING = "reducing"
    """Only cancels and orders that can only shrink a position pass."""
    HALTED = "halted"
    """Write and financial calls are denied; reads and cancels pass."""


@dataclass(frozen=True)
class Trading:
    state: TradingState
    reason: str | None = None
    by: str = BY_PERSON
    since: int | None = None  # Unix seconds
    # A state that ends with this UTC day (the daily loss limit's), else None.
    day: str | None = None

    def why(self) -> str:
        """The state and why, as denials, the audit and `status` say it."""
        reason = self.reason or "no reason given"
        if self.by == BY_PERSON:
            command = "halt --reducing" if self.state is TradingState.REDUCING else "halt"
            reason = (
                f"{'halted' if command == 'halt' else 'set'} with `binance-mcp {command}`: {reason}"
            )
        if self.state is TradingState.HALTED:
            return f"trading is halted: {reason}"
        if self.state is TradingState.REDUCING:
            until = " until the end of the UTC day" if self.day else ""
            return f"trading is reducing{until} ({reason})"
        return "trading is active"


ACTIVE: Final = Trading(TradingState.ACTIVE)


def flag_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def set_state(
    state_dir: Path,
    state: TradingState,
    reason: str | None,
    *,
    by: str = BY_PERSON,
    day: str | None = None,
) -> Trading:
    """Put `state` in place for every server on the state dir (atomically: a reader sees the old
    file or the new one). `active` removes the files instead."""
    if state is TradingState.ACTIVE:
        resume(state_dir)
        return ACTIVE
    state_dir.mkdir(parents=True, exist_ok=True)
    trading = Trading(state, reason, by, int(time.time()), day)
    body = json.dumps(
        {"state": state.value, "reason": reason, "by": by, "since": trading.since, "day": day}
    )
    path = flag_path(state_dir)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(path)
    if state is TradingState.REDUCING:
        # A reducing state replaces a halt written by an earlier version.
        (state_dir / LEGACY_FLAG).unlink(missing_ok=True)
    return trading


def halt(state_dir: Path, reason: str) -> None:
    set_state(state_dir, TradingState.HALTED, reason)


def resume(state_dir: Path) -> bool:
    """Back to `active`; False if it was active already."""
    was = False
    for name in (STATE_FILE, LEGACY_FLAG):
        try:
            (state_dir / name).unlink()
        except FileNotFoundError:
            continue
        was = True
    return was


def read(state_dir: Path) -> Trading:
    """The trading state in force."""
    if halted_by_environment():
        return Trading(TradingState.HALTED, f"{ENV_HALT} is set", "environment")
    legacy = _read_file(state_dir / LEGACY_FLAG)
    if legacy is not None:
        if isinstance(legacy, Trading):
            return legacy
        reason = legacy.get("reason")
        return Trading(TradingState.HALTED, reason if isinstance(reason, str) and reason else None)
    data = _read_file(flag_path(state_dir))
    if data is None or isinstance(data, Trading):
        return data or ACTIVE
    try:
        state = TradingState(data["state"])
        reason = data.get("reason")
        by, since, day = data.get("by", BY_PERSON), data.get("since"), data.get("day")
        if not (reason is None or isinstance(reason, str)) or not isinstance(by, str):
            raise ValueError(reason)
        if not (day is None or isinstance(day, str)) or not (
            since is None or isinstance(since, int)
        ):
            raise ValueError(day)
    except (KeyError, ValueError, TypeError):
        return _damaged(flag_path(state_dir))
    if day is not None and day != utc_today():
        return ACTIVE  # the daily loss limit's state ends with its day
    return Trading(state, reason, by, since, day)


def resume_trading(state_dir: Path) -> tuple[Trading, bool, str | None]:
    """A person's resume (`binance-mcp resume`, the console's Resume): back to `active`. After
    the daily loss limit, today's loss is counted afresh from the next value seen, or the same
    loss would switch trading back to reducing at the next call. Returns the state it was in,
    whether a state was on, and why the loss count could not be restarted (None if it was)."""
    from binance_mcp.guard.store import StateStore, StateUnavailable

    was = read(state_dir)
    was_on = resume(state_dir)
    problem = None
    if was.by == BY_LOSS_LIMIT:
        try:
            for venue in ("live", "testnet", "demo", "paper"):
                store = StateStore(state_dir, venue)
                store.restart_loss_count()
                store.close()
        except StateUnavailable as exc:
            problem = str(exc)
    return was, was_on, problem


def halted(state_dir: Path) -> str | None:
    """Why trading is halted, or None (also None while merely reducing)."""
    trading = read(state_dir)
    return trading.why().removeprefix("trading is halted: ") if trading.state == "halted" else None


def _read_file(path: Path) -> dict[str, Any] | Trading | None:
    """The file's JSON object, None when there is no file, or the halted state that a file
    which cannot be read or is damaged stands for."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Trading(
            TradingState.HALTED,
            f"the {_named(path)} {path} exists but cannot be read ({exc.strerror}); "
            "trading stays halted until it is readable or removed with `binance-mcp resume`",
            "damaged file",
        )
    try:
        parsed = json.loads(data.decode("utf-8"))  # UnicodeDecodeError is a ValueError
    except ValueError:
        return _damaged(path)
    return parsed if isinstance(parsed, dict) else _damaged(path)


def _named(path: Path) -> str:
    return "halt flag" if path.name == LEGACY_FLAG else "trading state file"


def _damaged(path: Path) -> Trading:
    return Trading(
        TradingState.HALTED,
        f"the {_named(path)} {path} is damaged (not the JSON `binance-mcp halt` writes); "
        "trading stays halted until `binance-mcp resume` removes it",
        "damaged file",
    )
