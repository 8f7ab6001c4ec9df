"""The guard's commands against shared state in Redis (`--state-url` / BINANCE_MCP_STATE_URL):
`halt [--reducing]`, `resume`, `status`, `approvals [approve|deny ID]`, and `state reset`.
Every server on any host using the same URL and keys sees what they do at its next call. The
URL is shown without its password. Each command runs in an event loop of its own (the Redis
client is redis-py's asyncio one)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from binance_mcp.config import resolve_keys
from binance_mcp.guard import servers
from binance_mcp.guard.approvals import ApprovalError
from binance_mcp.guard.redis_state import (
    RedisApprovalQueue,
    RedisCounterStore,
    RedisState,
    account_of,
)
from binance_mcp.guard.store import StateUnavailable
from binance_mcp.guard.trading_state import (
    ACTIVE,
    BY_LOSS_LIMIT,
    BY_PERSON,
    Trading,
    TradingState,
)

NAME = "binance-mcp"
VENUES = ("live", "testnet", "demo", "paper")


def run(args: argparse.Namespace, state_dir: Path, url: SecretStr | None) -> int:
    if url is None:
        sys.stderr.write(
            f"{NAME} state: error: give the shared state with --state-url or "
            "BINANCE_MCP_STATE_URL (redis://host:port/db)\n"
        )
        return 2
    key, _ = resolve_keys(os.environ)
    account = account_of(key.get_secret_value() if key is not None else None)
    shared = RedisState(url.get_secret_value(), account=account, venue="cli")
    if args.command == "state" and not _confirmed(shared, args.yes):
        return 1
    try:
        return shared.blocking(lambda state: _run(args, state, state_dir))
    except StateUnavailable as exc:
        sys.stderr.write(f"{NAME} {args.command}: error: {exc}\n")
        return 1


async def _run(args: argparse.Namespace, shared: RedisState, state_dir: Path) -> int:
    out = sys.stdout
    if args.command == "state":
        await shared.reset()
        out.write(f"shared state at {shared.where} reset: servers trade again\n")
        return 0
    if not await shared.has_data():
        sys.stderr.write(
            f"{NAME} {args.command}: error: no binance-mcp server has used the shared state at "
            f"{shared.where} for these keys (or it lost its data); check the URL and "
            "BINANCE_API_KEY, or start a server with it first\n"
        )
        return 2
    if args.command == "halt":
        state = TradingState.REDUCING if args.reducing else TradingState.HALTED
        await shared.set_trading(Trading(state, args.reason or None, BY_PERSON, int(time.time())))
        what = "reducing" if args.reducing else "halted"
        out.write(
            f"{what}: every server using the shared state at {shared.where} for these keys "
            "applies it from its next call; `binance-mcp resume` lifts it\n"
        )
        return 0
    if args.command == "resume":
        was = await shared.read_trading()
        await shared.set_trading(ACTIVE)
        if was.by == BY_LOSS_LIMIT:
            for venue in VENUES:
                await RedisCounterStore(shared.for_venue(venue)).restart_loss_count()
        out.write("not halted\n" if was.state is TradingState.ACTIVE else "resumed\n")
        return 0
    if args.command == "status":
        trading = await shared.read_trading()
        out.write(f"shared state: {shared.where}\n")
        out.write(f"trading:      {trading.why().removeprefix('trading is ')}\n")
        alive, _ = servers.running(state_dir)
        out.write(f"servers on this host ({state_dir}): {len(alive)} running\n")
        return 0
    queue = RedisApprovalQueue(shared)
    if args.approval_action is None:
        now = time.time()
        requests = await queue.listing(args.all)
        if not requests:
            out.write("no approval requests waiting\n")
        for r in requests:
            out.write(f"{r.id}  {r.tool}  (waiting {now - r.created:.0f} s, {r.status})\n")
            for line in r.summary.splitlines():
                out.write(f"    {line}\n")
        return 0
    approve = args.approval_action == "approve"
    try:
        request = await queue.decide(args.id, approve, "" if approve else args.reason or "")
    except ApprovalError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    out.write(f"{request.id} {'approved' if approve else 'denied'}\n")
    return 0


def _confirmed(shared: RedisState, yes: bool) -> bool:
    """`state reset` asks first (before any connection), unless given `--yes`."""
    if yes:
        return True
    sys.stderr.write(
        f"This drops every budget, counter, reservation, approval and the trading state "
        f"kept at {shared.where} for these keys, and starts them afresh.\n"
        "Type RESET to go on: "
    )
    sys.stderr.flush()
    if sys.stdin.readline().strip() != "RESET":
        sys.stderr.write("nothing was changed\n")
        return False
    return True
