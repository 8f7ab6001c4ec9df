"""The `binance-mcp` command: `serve` (the default, the stdio MCP server), `paper` (the paper
exchange on its own), and the guard's side — `policy check|explain|test`, `tools`, `halt`,
`resume`, `approvals`, `audit`, `status`, `console` (a web page). Errors in the configuration end in one line on stderr
and exit code 2.

Heavy imports (the MCP SDK, python-binance, the paper exchange) happen inside the subcommand
that needs them, so `--help` and `--version` stay instant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import re
import select
import signal
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from binance_mcp import __version__
from binance_mcp.config import (
    ENV_ALLOW_WITHDRAWAL_KEY,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_FUTURES_URL,
    ENV_SPOT_URL,
    ENV_VENUE,
    ConfigError,
    paper_state_dir,
    resolve_keys,
    resolve_policy_path,
    resolve_settings,
    resolve_state_dir,
    resolve_state_url,
)
from binance_mcp.logs import setup_logging

PROG = "binance-mcp"
EXIT_USAGE = 2

log = logging.getLogger("binance_mcp.cli.main")


class _Parser(argparse.ArgumentParser):
    """argparse prints the whole usage before an error; one line is easier to read in an MCP
    host's log, and matches how configuration errors are reported."""

    def error(self, message: str) -> NoReturn:
        _fail(message)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    raise SystemExit(EXIT_USAGE)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (got {value})")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0 (got {text!r})")
    return value


_ASSET = re.compile(r"[A-Z0-9]{1,20}")


def _balance(text: str) -> tuple[str, Decimal]:
    asset, sep, amount = text.partition("=")
    asset = asset.strip().upper()
    if not sep or not _ASSET.fullmatch(asset):
        raise argparse.ArgumentTypeError(f"expected ASSET=AMOUNT, e.g. USDT=5000 (got {text!r})")
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"amount in {text!r} is not a decimal number, e.g. USDT=5000"
        ) from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"amount in {text!r} must be a decimal >= 0")
    return asset, value


def _balances(pairs: list[tuple[str, Decimal]] | None, flag: str) -> dict[str, Decimal] | None:
    if not pairs:
        return None
    result: dict[str, Decimal] = {}
    for asset, amount in pairs:
        if asset in result:
            _fail(f"argument {flag}: {asset} given more than once")
        result[asset] = amount
    return result


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps a subcommand's unset option from overwriting the same option given
    # before the subcommand (`binance-mcp --venue paper serve`).
    parser.add_argument(
        "--venue",
        default=argparse.SUPPRESS,
        metavar="VENUE",
        help=f"live, testnet, demo or paper (wins over {ENV_VENUE}; "
        "default: paper without API keys, live with them)",
    )
    parser.add_argument(
        "--policy",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="policy file (wins over BINANCE_MCP_POLICY; default: the built-in policy)",
    )
    parser.add_argument(
        "--allow-withdrawal-key",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"start even when the API key can withdraw (also {ENV_ALLOW_WITHDRAWAL_KEY}=1); "
        "without it such a key stops the server",
    )
    _add_state_dir(parser)
    _add_transport_options(parser)


def _add_transport_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default=argparse.SUPPRESS,
        help="stdio (the default: launched by an MCP host) or http (streamable HTTP, for "
        "several clients or web-based hosts; every request needs the bearer token)",
    )
    parser.add_argument(
        "--host",
        default=argparse.SUPPRESS,
        help="http: address to listen on (default 127.0.0.1; others need --allow-remote)",
    )
    parser.add_argument(
        "--port", type=_port, default=argparse.SUPPRESS, help="http: port (default 8000)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        default=argparse.SUPPRESS,
        help="http: allow a non-loopback --host (needs BINANCE_MCP_HTTP_TOKEN)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="http: a further name clients reach the server by (Host/Origin check), repeatable",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        default=argparse.SUPPRESS,
        help="stderr log level (wins over BINANCE_MCP_LOG_LEVEL; default INFO: one line per "
        "call; DEBUG adds request weights, retries and timings)",
    )


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="state directory (wins over BINANCE_MCP_STATE_DIR; "
        "default: the platform's user state dir)",
    )
    parser.add_argument(
        "--state-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="shared guard state in Redis, redis://[user:password@]host:port/db or rediss:// "
        "(wins over BINANCE_MCP_STATE_URL; default: the state dir's own)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A guarded MCP server (stdio) for Binance spot and USD-M futures, "
        "with a bundled paper exchange.",
        epilog="Without a command, runs `serve`. Keys come from BINANCE_API_KEY and "
        "BINANCE_API_SECRET; logging goes to stderr (BINANCE_MCP_LOG_LEVEL).",
    )
    _add_version(parser)
    _add_server_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the MCP server on stdio (the default) or streamable HTTP",
        description="Run the MCP server on stdin/stdout, as MCP clients launch it, or with "
        "--transport http on streamable HTTP (http://127.0.0.1:8000/mcp, bearer token from "
        "BINANCE_MCP_HTTP_TOKEN or generated into the state dir).",
    )
    _add_version(serve)
    _add_server_options(serve)

    paper = commands.add_parser(
        "paper",
        help="run the paper exchange alone, for any Binance client",
        description="Run the Binance-compatible paper exchange in the foreground. Keys come "
        f"from {ENV_API_KEY}/{ENV_API_SECRET}; without them a pair is generated and shown "
        "on stderr. The account lives in <state dir>/paper, shared with `serve`.",
    )
    _add_version(paper)
    paper.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    paper.add_argument(
        "--port", type=_port, default=8800, help="port, 0 for any free one (%(default)s)"
    )
    _add_state_dir(paper)
    paper.add_argument(
        "--reset", action="store_true", help="start from a fresh account, discarding state"
    )
    paper.add_argument("--seed", type=int, default=None, help="random-walk seed (reproducible)")
    paper.add_argument(
        "--walk-interval",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds between price steps; 0 freezes prices",
    )
    paper.add_argument(
        "--balance",
        type=_balance,
        action="append",
        metavar="ASSET=AMOUNT",
        help="starting spot balance of a new account, repeatable (e.g. USDT=5000); "
        "replaces the default balances",
    )
    paper.add_argument(
        "--futures-balance",
        type=_balance,
        action="append",
        metavar="ASSET=AMOUNT",
        help="starting USD-M futures balance of a new account, repeatable",
    )
    paper.add_argument(
        "--limits",
        type=_limit_scale,
        default=1.0,
        metavar="SCALE|off",
        help="multiply Binance's rate limits (request weight, new orders) by SCALE; "
        "off lifts them, for benchmarks (default: Binance's own)",
    )

    policy = commands.add_parser(
        "policy",
        help="check, explain and test a policy file",
        description="Work with policy files, offline.",
    )
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = policy_commands.add_parser(
        "check",
        help="validate a policy file; exit 1 listing every error with its location",
        description="Validate a policy file. Prints `ok` and exits 0, or lists every error "
        "with its location and exits 1.",
    )
    check.add_argument("file", type=Path, metavar="FILE")
    policy_commands.add_parser(
        "templates",
        help="list the example policies that come with the package",
        description="List the example policies `policy init` can write.",
    )
    init = policy_commands.add_parser(
        "init",
        help="write an example policy to start from",
        description="Write one of the packaged example policies (see `policy templates`) to "
        "FILE, or to stdout without FILE. An existing FILE is kept unless --force.",
    )
    init.add_argument("file", type=Path, nargs="?", default=None, metavar="FILE")
    init.add_argument(
        "--template", default="read-only", metavar="NAME", help="the template (%(default)s)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing FILE")
    explain = policy_commands.add_parser(
        "explain",
        help="what the policy decides for one call, and why",
        description="Decide one call offline, as the server would: the decision, the rule "
        "that made it, its reason and the facts it used. Facts the server would get from the "
        "exchange (a MARKET order's notional, the current leverage, open_orders) are given "
        "with --fact; without them the call is denied, as in the server.",
    )
    explain.add_argument("file", type=Path, metavar="FILE")
    explain.add_argument("tool", metavar="TOOL", help="tool name, e.g. binance_spot_place_order")
    explain.add_argument(
        "--args", default="{}", metavar="JSON", help="the call's arguments as a JSON object"
    )
    explain.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fact the exchange would give, e.g. notional=120 (repeatable)",
    )
    explain.add_argument("--venue", default="live", help="the venue fact (%(default)s)")
    explain.add_argument(
        "--halted", default=None, metavar="REASON", help="decide as if the kill switch were on"
    )
    cases = policy_commands.add_parser(
        "test",
        help="run a policy's test cases: calls with the decision each must get",
        description="Decide each case of CASES (YAML: a list of {tool, args, expect, and "
        "optionally name, rule, reason, facts, venue, halted, used_today, repeat}) against "
        "FILE. Prints ok/FAIL per case; exit 0 when all pass, 1 otherwise.",
    )
    cases.add_argument("file", type=Path, metavar="FILE")
    cases.add_argument("cases", type=Path, metavar="CASES")

    tools = commands.add_parser(
        "tools",
        help="the 35 tools, their risk class and what a policy does with each",
        description="List the tools with their risk class and the policy's action for each "
        "(hidden, allow, deny, approve, dry_run) and what can change it per call.",
    )
    # Resolved as `serve` resolves it: this flag, else `binance-mcp --policy FILE tools`,
    # else BINANCE_MCP_POLICY, else the built-in policy. SUPPRESS keeps an unset flag here
    # from overwriting the one given before the command.
    tools.add_argument(
        "--policy",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="the policy file (wins over BINANCE_MCP_POLICY; default: the built-in policy)",
    )

    halt = commands.add_parser(
        "halt",
        help="kill switch: deny orders and other writes in every running server",
        description="Set the trading state of the state dir: `halted` (the kill switch: every "
        "server using that state dir denies write and financial calls from its next call on; "
        "reads and cancels still pass), or with --reducing `reducing` (only cancels and orders "
        "that can only shrink a position pass). A state dir no server has used is refused (a "
        "mistyped path would halt nothing) unless --create is given.",
    )
    halt.add_argument("--reason", default=None, help="shown in every denial")
    halt.add_argument(
        "--reducing",
        action="store_true",
        help="only let cancels and orders that can only shrink a position through",
    )
    halt.add_argument(
        "--create",
        action="store_true",
        help="halt a state dir no server has used yet, creating it: servers started on it "
        "deny orders from the start",
    )
    _add_state_dir(halt)
    resume = commands.add_parser(
        "resume",
        help="back to active trading",
        description="Back to `active`: ends a halt, a reducing state set by a person, or the one "
        "the daily loss limit set (today's loss is then counted afresh).",
    )
    _add_state_dir(resume)
    approvals = commands.add_parser(
        "approvals",
        help="list calls waiting for approval; approve or deny one",
        description="Calls that need a person's approval, from MCP clients that cannot ask "
        "you themselves, wait here (for BINANCE_MCP_APPROVAL_TIMEOUT seconds, default 120). "
        "Without an action, lists the waiting requests with their summaries.",
    )
    _add_state_dir(approvals)
    approvals.add_argument(
        "--all", action="store_true", help="also show recent decided and expired requests"
    )
    approval_actions = approvals.add_subparsers(dest="approval_action", metavar="ACTION")
    approve = approval_actions.add_parser(
        "approve", help="let one waiting call go ahead", description="Approve one request."
    )
    approve.add_argument("id", metavar="ID")
    _add_state_dir(approve)
    deny = approval_actions.add_parser(
        "deny", help="refuse one waiting call", description="Deny one request."
    )
    deny.add_argument("id", metavar="ID")
    deny.add_argument("--reason", default=None, help="shown to the agent")
    _add_state_dir(deny)

    status = commands.add_parser(
        "status",
        help="the servers running on a state dir, and whether trading is halted",
        description="List the servers running on the state dir (pid, venue, policy, since) "
        "and its trading state: halted, with the reason, or active. Entries left by servers "
        "that are no longer running are removed.",
    )
    _add_state_dir(status)
    state = commands.add_parser(
        "state",
        help="the shared guard state in Redis: reset it after it lost its data",
        description="`binance-mcp state reset --state-url URL` drops the account's shared guard "
        "state (budgets, counters, reservations, trading state, approvals, the day's loss "
        "figures) and writes a new marker: after a Redis lost its data, servers refuse trading "
        "until a person does this. Asks for confirmation unless --yes.",
    )
    state_commands = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    reset = state_commands.add_parser("reset", help="start the shared state afresh")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_state_dir(reset)

    console = commands.add_parser(
        "console",
        help="a local web page to watch the agent, approve its orders and stop it",
        description="Serve the console on 127.0.0.1: pending approvals with Approve/Deny, the "
        "trading state with Halt/Reducing/Resume, the audit log live, the limits used vs "
        "allowed, and the paper account's value. Prints a URL with a random token: the link "
        "is the key.",
    )
    _add_state_dir(console)
    console.add_argument(
        "--port", type=_port, default=8765, help="port, 0 for any free one (%(default)s)"
    )
    console.add_argument("--open", action="store_true", help="open the page in a browser")
    console.add_argument(
        "--policy",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="the policy whose limits are shown (default: the running server's, else "
        "BINANCE_MCP_POLICY, else the built-in policy)",
    )
    console.add_argument(
        "--venue",
        default=argparse.SUPPRESS,
        metavar="VENUE",
        help="whose budgets are shown (default: the running servers' venues, else paper)",
    )

    from binance_mcp.cli import audit as audit_view

    audit_view.add_parser(commands, _add_state_dir)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `binance-mcp audit | head`: the reader left; nothing more to say.
        sys.stderr.close()
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup_logging(level=getattr(args, "log_level", None))
        if args.command == "paper":
            return _run_paper(args)
        if args.command in ("policy", "halt", "resume", "tools", "approvals", "status", "state"):
            return _run_guard_command(args)
        if args.command == "audit":
            return _run_audit(args)
        if args.command == "console":
            return _run_console(args)
        return _run_serve(args)
    except ConfigError as exc:
        _fail(str(exc))


def _run_guard_command(args: argparse.Namespace) -> int:
    from binance_mcp.cli import guard_commands

    if args.command == "policy":
        if args.policy_command == "check":
            return guard_commands.policy_check(args.file)
        if args.policy_command in ("templates", "init"):
            from binance_mcp.cli import policy_templates

            if args.policy_command == "templates":
                return policy_templates.list_templates()
            return policy_templates.init(args.template, args.file, args.force)
        from binance_mcp.cli import policy as policy_explain

        if args.policy_command == "explain":
            return policy_explain.explain(
                args.file, args.tool, args.args, args.fact, args.venue, args.halted
            )
        return policy_explain.test_cases(args.file, args.cases)
    if args.command == "tools":
        # config's own resolution, as `serve` uses it; a missing file is refused before the
        # tools are imported.
        path = resolve_policy_path(os.environ, getattr(args, "policy", None))
        from binance_mcp.cli import policy as policy_explain

        return policy_explain.tools_table(path)
    state_dir = resolve_state_dir(os.environ, getattr(args, "state_dir", None))
    url = resolve_state_url(os.environ, getattr(args, "state_url", None))
    if url is not None or args.command == "state":
        from binance_mcp.cli import shared_commands

        return shared_commands.run(args, state_dir, url)
    if args.command == "halt":
        return guard_commands.halt(
            state_dir, args.reason, create=args.create, reducing=args.reducing
        )
    if args.command == "status":
        return guard_commands.status(state_dir)
    if args.command == "approvals":
        if args.approval_action is None:
            return guard_commands.approvals(state_dir, args.all)
        approve = args.approval_action == "approve"
        reason = None if approve else args.reason
        return guard_commands.approvals_decide(state_dir, args.id, approve, reason)
    return guard_commands.resume(state_dir)


def _run_audit(args: argparse.Namespace) -> int:
    from binance_mcp.cli import audit as audit_view
    from binance_mcp.cli import guard_commands

    # `--follow` may be started before the server it is meant to watch: it waits for the log.
    if not args.follow:
        state_dir = resolve_state_dir(os.environ, getattr(args, "state_dir", None))
        if (refused := guard_commands.refuse_unused(state_dir, "audit")) is not None:
            return refused
    return audit_view.run(args)


def _run_console(args: argparse.Namespace) -> int:
    from binance_mcp.cli import guard_commands

    state_dir = resolve_state_dir(os.environ, getattr(args, "state_dir", None))
    if (refused := guard_commands.refuse_unused(state_dir, "console")) is not None:
        return refused
    from binance_mcp.console.run import run_console

    url = resolve_state_url(os.environ, getattr(args, "state_url", None))
    shared = None
    if url is not None:
        from binance_mcp.guard.redis_state import RedisState, account_of

        key, _ = resolve_keys(os.environ)
        account = account_of(key.get_secret_value() if key is not None else None)
        shared = RedisState(url.get_secret_value(), account=account, venue="cli")
    return run_console(
        state_dir,
        port=args.port,
        open_browser=args.open,
        policy=getattr(args, "policy", None),
        venue=getattr(args, "venue", None),
        shared=shared,
    )


def _run_serve(args: argparse.Namespace) -> int:
    settings = resolve_settings(
        os.environ,
        venue=getattr(args, "venue", None),
        policy=getattr(args, "policy", None),
        state_dir=getattr(args, "state_dir", None),
        allow_withdrawal_key=getattr(args, "allow_withdrawal_key", False),
        state_url=getattr(args, "state_url", None),
    )
    from binance_mcp.guard import servers

    try:
        # Before the handshake (and the heavy imports): on a state dir it cannot write, every
        # call would fail later.
        servers.check_writable(settings.state_dir)
    except servers.StateDirError as exc:
        _fail(str(exc))
    http = _http_options(args)
    if http is not None:
        from binance_mcp.server.http import check_bind

        check_bind(http, os.environ)
    from binance_mcp.guard.policy import PolicyError
    from binance_mcp.server import heap
    from binance_mcp.server.app import build_server

    try:
        server = build_server(settings)
    except PolicyError as exc:
        # Fail closed: a broken policy at start-up means no server, not a permissive one.
        _fail(f"policy {exc.source} is not usable: " + "; ".join(exc.errors))
    if http is not None:
        return _serve_http(server, http, settings.state_dir)
    stopper = _GracefulStop()
    # Everything built so far lives as long as the process: moved out of the collector's way,
    # full collections stop pausing the event loop for tens of milliseconds (and so does what
    # the first calls build: server/heap.py). No collection first: start-up leaves a few dozen
    # unreachable objects, and finding them costs ~30 ms.
    heap.freeze()
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopped")
        return 0
    except BaseException as exc:
        # A key refused at start (exchange/key_check.py) ends the lifespan before anything is
        # served; the SDK's task groups hand it over wrapped.
        refused = _key_refused(exc)
        if refused is None:
            raise
        _fail(str(refused))
    if stopper.signal is not None:
        log.info("stopped (%s)", signal.Signals(stopper.signal).name)
    return 0


def _http_options(args: argparse.Namespace) -> Any:
    """The HTTP options, or None for stdio; HTTP-only flags without `--transport http` are
    refused rather than ignored."""
    given = [f"--{n.replace('_', '-')}" for n in ("host", "port", "allow_remote", "allow_host")
             if hasattr(args, n)]  # fmt: skip
    if getattr(args, "transport", "stdio") != "http":
        if given:
            _fail(f"{', '.join(given)} only apply with --transport http")
        return None
    from binance_mcp.server.http import HttpOptions

    return HttpOptions(
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8000),
        allow_remote=getattr(args, "allow_remote", False),
        allowed_hosts=tuple(getattr(args, "allow_host", ())),
    )


def _serve_http(server: Any, options: Any, state_dir: Path) -> int:
    import anyio

    from binance_mcp.server import heap
    from binance_mcp.server.http import resolve_token, serve

    token = resolve_token(os.environ, state_dir)
    heap.freeze()  # as for stdio: start-up objects live as long as the process
    try:
        stopped = anyio.run(serve, server, options, token)
    except BaseException as exc:
        refused = _key_refused(exc)
        if refused is None:
            raise
        _fail(str(refused))
    how = f" ({signal.Signals(stopped).name})" if stopped is not None else ""
    log.info("stopped%s", how)
    return 0


def _key_refused(exc: BaseException) -> BaseException | None:
    from binance_mcp.exchange.key_check import KeyRefused

    if isinstance(exc, KeyRefused):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _key_refused(inner)) is not None:
                return found
    return None


class _GracefulStop:
    """SIGTERM (how MCP hosts and service managers stop a process) and SIGINT (Ctrl-C) stop
    the server the way an MCP host ends a session: by closing its input. The session ends,
    the lifespan unwinds (the paper account saved, the server's entry in the state dir
    removed) and the process exits 0.

    Why not cancel: the SDK's stdio transport reads stdin in a worker thread that no
    cancellation reaches, so a cancelled server still waits for its next input line and never
    exits while the host keeps the pipe open. Here the server reads a pipe of ours instead,
    fed from the real stdin by a relay thread, and a stop signal closes that pipe.

    The handlers are installed whatever dispositions were inherited: `cmd &` in a
    non-interactive shell starts the process with SIGINT ignored. A second signal stops at
    once (KeyboardInterrupt), as a second Ctrl-C does elsewhere."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._relay = _StdinRelay.start()
        if self._relay is None:
            # No POSIX pipes to relay through (or no stdin): stop by KeyboardInterrupt, which
            # the runner turns into a cancellation.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of the main thread: no logging (its lock may be held)
        # and nothing that can block, only a byte written to the relay's wake-up pipe.
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        assert self._relay is not None
        self._relay.end()


class _StdinRelay:
    """Copies the real stdin to a pipe that fd 0 is moved onto, until stdin ends or `end` is
    called; then closes the pipe, so whoever reads fd 0 sees the end of input."""

    def __init__(self, source: int, sink: int) -> None:
        self._source = source
        self._sink = sink
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._sink, False)

    @classmethod
    def start(cls) -> _StdinRelay | None:
        if os.name != "posix" or not hasattr(select, "poll"):
            return None
        try:
            source = os.dup(0)
        except OSError:
            return None  # started without a stdin at all
        read_end, sink = os.pipe()
        # sys.stdin keeps its fd 0 and, with it, now reads the pipe. Nothing has read stdin
        # yet, so nothing is lost in sys.stdin's buffer.
        os.dup2(read_end, 0)
        os.close(read_end)
        relay = cls(source, sink)
        threading.Thread(target=relay._pump, name="stdin-relay", daemon=True).start()
        return relay

    def end(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe has a wake-up in it already
            os.write(self._wake_w, b"\0")

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        poller.register(self._source, select.POLLIN)
        pending = b""
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self._wake_r in ready:
                    return
                if self._sink in ready:
                    # Only the sink is watched while data waits, so a reader that falls behind
                    # holds the relay back rather than filling its memory.
                    with contextlib.suppress(BlockingIOError):
                        pending = pending[os.write(self._sink, pending) :]
                    if not pending:
                        poller.unregister(self._sink)
                        poller.register(self._source, select.POLLIN)
                elif self._source in ready:
                    pending = os.read(self._source, 1 << 16)
                    if not pending:
                        return  # the real end of input
                    poller.unregister(self._source)
                    poller.register(self._sink, select.POLLOUT)
        except OSError:
            return  # stdin failed, or the reader closed its end: the input is over either way
        finally:
            os.close(self._sink)
            os.close(self._source)


def _limit_scale(text: str) -> float | None:
    """`--limits`: a positive factor, or `off` (None: no limits)."""
    if text.strip().lower() in ("off", "none", "unlimited"):
        return None
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0  # refused just below, with the same message
    if not scale > 0 or scale == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number or 'off', got {text!r}")
    return scale


def _run_paper(args: argparse.Namespace) -> int:
    api_key, api_secret = resolve_keys(os.environ)
    state_dir = paper_state_dir(resolve_state_dir(os.environ, getattr(args, "state_dir", None)))
    spot_balances = _balances(args.balance, "--balance")
    futures_balances = _balances(args.futures_balance, "--futures-balance")

    from binance_mcp.paper.runner import PaperConfig, serve_forever

    config = PaperConfig(host=args.host, port=args.port, state_dir=state_dir, reset=args.reset)
    config.use_keys(api_key, api_secret)
    if args.seed is not None:
        config.seed = args.seed
    if args.walk_interval is not None:
        config.walk_interval = args.walk_interval
    if spot_balances is not None:
        config.spot_balances = spot_balances
    if futures_balances is not None:
        config.futures_balances = futures_balances
    config.limit_scale = args.limits

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create the paper account dir {state_dir}: {exc.strerror or exc}")
    generated = (config.api_key, config.api_secret) if api_key is None else None

    def announce(base_url: str) -> None:
        _announce_paper(base_url, state_dir, generated)

    try:
        # serve_forever stops on SIGTERM and SIGINT by itself, whatever was inherited; a
        # KeyboardInterrupt is left only where the loop cannot take signals (Windows).
        stopped_by = asyncio.run(serve_forever(config, on_start=announce))
    except KeyboardInterrupt:
        stopped_by = None
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        sys.stderr.write(f"{PROG}: error: paper exchange on {where}: {exc.strerror or exc}\n")
        return 1
    how = f" ({stopped_by.name})" if stopped_by is not None else ""
    sys.stderr.write(f"{PROG} paper: stopped{how}; account saved in {state_dir}\n")
    return 0


def _announce_paper(base: str, state_dir: Path, generated: tuple[str, str] | None) -> None:
    # Shown regardless of the log level: the user needs the URL (and generated keys) to use it.
    lines = [
        f"{PROG} paper: listening on {base}",
        f"  spot API:    {base}/api",
        f"  futures API: {base}/fapi",
        f"  account:     {state_dir}",
    ]
    if generated is not None:
        lines += [
            "  generated keys for this run (set BINANCE_API_KEY/BINANCE_API_SECRET to choose):",
            f"  BINANCE_API_KEY={generated[0]}",
            f"  BINANCE_API_SECRET={generated[1]}",
        ]
    else:
        lines.append("  keys: from BINANCE_API_KEY / BINANCE_API_SECRET")
    lines.append(
        f"  use it from binance-mcp: {ENV_VENUE}=paper {ENV_SPOT_URL}={base}/api "
        f"{ENV_FUTURES_URL}={base}/fapi"
    )
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
