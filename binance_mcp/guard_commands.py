"""The guard's command-line side: `policy check`, `halt` and `resume`. Each prints what it did
(stdout for results, stderr for errors) and returns the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

from binance_mcp import halt as kill_switch


def policy_check(path: Path) -> int:
    """Exit 0 for a usable policy; otherwise every error with its location, exit 1."""
    from binance_mcp.policy import PolicyError, load_policy

    try:
        policy = load_policy(path)
    except PolicyError as exc:
        sys.stderr.write(f"{path}: {len(exc.errors)} error(s)\n")
        for error in exc.errors:
            sys.stderr.write(f"  {error}\n")
        return 1
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
