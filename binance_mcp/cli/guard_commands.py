"""The guard's command-line side: `policy check`, `halt`, `resume` and `approvals`. Each prints
what it did (stdout for results, stderr for errors) and returns the exit code."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from binance_mcp.guard import halt as kill_switch


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


def halt(state_dir: Path, reason: str | None) -> int:
    kill_switch.halt(state_dir, reason or "")
    sys.stdout.write(
        f"halted: every server using {state_dir} now denies orders and other writes "
        "(reads and cancels still pass); `binance-mcp resume` lifts it\n"
    )
    return 0


def resume(state_dir: Path) -> int:
    was_on = kill_switch.resume(state_dir)
    sys.stdout.write("resumed\n" if was_on else f"not halted (no flag in {state_dir})\n")
    return 0


def approvals(state_dir: Path, everything: bool) -> int:
    """The approval requests waiting for a person (with --all, recent decided ones too)."""
    from binance_mcp.guard.approvals import ApprovalQueue
    from binance_mcp.guard.store import StateUnavailable

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
