"""The guard's command-line side: `policy check`, `halt`, `resume`, `approvals` and `status`.
Each prints what it did (stdout for results, stderr for errors) and returns the exit code.

The commands that act on a state dir refuse one that no server has used (exit 2): a mistyped
`--state-dir` must not be halted, or searched for approvals, while the real one runs on."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from binance_mcp import __version__
from binance_mcp.guard import servers
from binance_mcp.guard import trading_state as kill_switch

EXIT_UNUSED = 2


def refuse_unused(state_dir: Path, command: str) -> int | None:
    """None when a server has used `state_dir`; otherwise says so on stderr, with how to make
    it a state dir on purpose, and returns the exit code."""
    if servers.is_used(state_dir):
        return None
    where = shlex.quote(str(state_dir))
    if command == "halt":
        way = (
            "; to halt it before any server starts on it, run "
            f"`binance-mcp halt --create --state-dir {where}`"
        )
    else:
        way = f", or start a server with `--state-dir {where}` first"
    sys.stderr.write(
        f"binance-mcp {command}: error: no binance-mcp server has used the state dir "
        f"{state_dir} (it has no {servers.MARKER_FILE}): check the path{way}\n"
    )
    return EXIT_UNUSED


def print_errors(where: str, errors: Sequence[str]) -> int:
    """Every error, one per line under its source, on stderr; the exit code for them."""
    sys.stderr.write(f"{where}: {len(errors)} error(s)\n")
    for error in errors:
        sys.stderr.write(f"  {error}\n")
    return 1


def policy_check(path: Path) -> int:
    """Exit 0 for a usable policy; otherwise every error with its location, exit 1."""
    from binance_mcp.guard.policy import PolicyError, load_policy

    try:
        policy = load_policy(path)
    except PolicyError as exc:
        return print_errors(str(path), exc.errors)
    hidden = "all" if "*" in policy.hide else len(policy.hide)
    sys.stdout.write(
        f"{path}: ok (mode {policy.mode}, default {policy.default}, {len(policy.tools)} tool "
        f"entries, {hidden} hidden)\n"
    )
    return 0


def halt(
    state_dir: Path, reason: str | None, *, create: bool = False, reducing: bool = False
) -> int:
    """Turn the kill switch on (or with `reducing`, let only orders that shrink a position
    through). A state dir no server has used is refused unless `create`, which marks it so
    that every server started on it applies the state from the start."""
    if create:
        try:
            servers.mark(state_dir, version=__version__, by="binance-mcp halt --create")
        except servers.StateDirError as exc:
            sys.stderr.write(f"binance-mcp halt: error: {exc}\n")
            return EXIT_UNUSED
    elif (refused := refuse_unused(state_dir, "halt")) is not None:
        return refused
    state = kill_switch.TradingState.REDUCING if reducing else kill_switch.TradingState.HALTED
    try:
        kill_switch.set_state(state_dir, state, reason or None)
    except OSError as exc:
        where = exc.filename or state_dir
        sys.stderr.write(f"binance-mcp halt: error: cannot write {where}: {exc.strerror or exc}\n")
        return 1
    alive, _ = servers.running(state_dir)
    if reducing:
        sys.stdout.write(
            f"reducing: {_reach(alive, state_dir)} let through only cancels and orders that "
            "can only shrink a position, from their next call; `binance-mcp resume` lifts it\n"
        )
        return 0
    if alive:
        count = "the server" if len(alive) == 1 else f"the {len(alive)} servers"
        sys.stdout.write(
            f"halted: {count} running on {state_dir} "
            f"(pid {', '.join(str(e.pid) for e in alive)}) deny orders and other writes from "
            "their next call, and so will any server started on it; reads and cancels still "
            "pass. `binance-mcp resume` lifts it\n"
        )
    else:
        sys.stdout.write(
            f"halted: no server is running on {state_dir} now; any server started on it will "
            "deny orders and other writes (reads and cancels pass) until `binance-mcp resume`\n"
        )
    return 0


def _reach(alive: list[servers.ServerEntry], state_dir: Path) -> str:
    if not alive:
        return f"no server is running on {state_dir} now; any server started on it will"
    count = "the server" if len(alive) == 1 else f"the {len(alive)} servers"
    return f"{count} running on {state_dir} (pid {', '.join(str(e.pid) for e in alive)})"


def resume(state_dir: Path) -> int:
    if (refused := refuse_unused(state_dir, "resume")) is not None:
        return refused
    # Shared with the console's Resume button.
    was, was_on, problem = kill_switch.resume_trading(state_dir)
    if problem is not None:
        sys.stderr.write(f"binance-mcp resume: today's loss could not be reset: {problem}\n")
    sys.stdout.write(
        ("resumed\n" if was.state is kill_switch.TradingState.HALTED else "resumed from reducing\n")
        if was_on
        else f"not halted (no flag in {state_dir})\n"
    )
    return 0


def approvals(state_dir: Path, everything: bool) -> int:
    """The approval requests waiting for a person (with --all, recent decided ones too)."""
    from binance_mcp.guard.approvals import ApprovalQueue
    from binance_mcp.guard.store import StateUnavailable

    if (refused := refuse_unused(state_dir, "approvals")) is not None:
        return refused
    try:
        requests = ApprovalQueue(state_dir).listing(everything)
    except StateUnavailable as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    if not requests:
        sys.stdout.write("no approval requests waiting\n")
        return 0
    now = time.time()
    for r in requests:
        left = max(r.expires - now, 0)
        state = f"expires in {left:.0f} s" if r.status == "pending" and left else r.status
        sys.stdout.write(f"{r.id}  {r.tool}  (waiting {now - r.created:.0f} s, {state})\n")
        for line in r.summary.splitlines():
            sys.stdout.write(f"    {line}\n")
    if not everything:
        sys.stdout.write(
            "approve with `binance-mcp approvals approve ID`, refuse with "
            "`binance-mcp approvals deny ID [--reason TEXT]`\n"
        )
    return 0


def approvals_decide(state_dir: Path, ident: str, approve: bool, reason: str | None) -> int:
    from binance_mcp.guard.approvals import ApprovalError, ApprovalQueue
    from binance_mcp.guard.store import StateUnavailable

    if (refused := refuse_unused(state_dir, "approvals")) is not None:
        return refused
    try:
        request = ApprovalQueue(state_dir).decide(ident, approve, reason or "")
    except (ApprovalError, StateUnavailable) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    for line in request.summary.splitlines():
        sys.stdout.write(f"    {line}\n")
    sys.stdout.write(
        f"{request.id} approved: the waiting call goes ahead\n"
        if approve
        else f"{request.id} denied: the waiting call is refused\n"
    )
    return 0


def status(state_dir: Path) -> int:
    """The trading state of `state_dir` and the servers running on it, from their entries in
    the registry; entries of servers that are gone are removed and reported as such."""
    if (refused := refuse_unused(state_dir, "status")) is not None:
        return refused
    out = sys.stdout
    out.write(f"state dir: {state_dir}\n")
    out.write(f"trading:   {_state_line(state_dir)}\n")
    alive, gone = servers.running(state_dir)
    now = time.time()
    if not alive:
        out.write("servers:   none running\n")
    else:
        out.write(f"servers:   {len(alive)} running\n")
        for e in alive:
            halted = f"  (halted: {kill_switch.ENV_HALT} is set)" if e.halted_by_env else ""
            out.write(
                f"  pid {e.pid}  venue {e.venue}  policy {e.policy}  since {e.since} "
                f"({_age(now - e.started)} ago){halted}\n"
            )
    for e in gone:
        out.write(
            f"  (removed the entry of pid {e.pid}, started {e.since}: that server is no "
            "longer running; it stopped without removing it)\n"
        )
    return 0


def _state_line(state_dir: Path) -> str:
    with _without_env(kill_switch.ENV_HALT):
        trading = kill_switch.read(state_dir)
    if trading.state is kill_switch.TradingState.HALTED:
        return f"HALTED: {trading.why().removeprefix('trading is halted: ')}"
    if trading.state is kill_switch.TradingState.REDUCING:
        return f"REDUCING: {trading.why().removeprefix('trading is ')}"
    return "active (not halted)"


@contextlib.contextmanager
def _without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _age(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
