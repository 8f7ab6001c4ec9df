"""`binance-mcp audit`: read the audit log (SPEC §4.7), filter it, and show one line per call,
or the stored JSON lines; `--follow` keeps watching the file like `tail -F`. The rotated files
(`audit.jsonl.N` ... `audit.jsonl.1`) are read first, oldest first, as one log.

The reader trusts nothing in the file: fields may be missing, of another type, or new, and a
line that is not a JSON object is skipped and counted rather than ending the command.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from binance_mcp.config import resolve_state_dir
from binance_mcp.guard.audit import AUDIT_FILE, TRADING_ARGS
from binance_mcp.guard.audit_reader import (
    Filter,
    Reader,
    follow,
    log_files,
    read_all,
    record_time,
)

NAME: Final = "binance-mcp audit"
DECISIONS: Final = ("allow", "deny", "approve", "dry_run")

# Column widths: the longest decision (`approve`, `dry_run`) and the longest tool name
# (`binance_futures_cancel_all_orders`). Fixed rather than measured so that `--follow` output
# lines up with what came before it.
DECISION_WIDTH: Final = 7
TOOL_WIDTH: Final = 33
ARGS_WIDTH: Final = 32
REASON_MAX: Final = 120
OUTCOME_MAX: Final = 100

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SINCE_FORMS: Final = (
    "an ISO date or date-time (2026-11-21, 2026-11-21T10:00, 2026-11-21T10:00:00+02:00; "
    "without a zone it is UTC) or a duration back from now (45s, 30m, 2h, 1d, 1w)"
)
# Trading arguments are shown as a trader reads them; the rest as key=value.
_SHOWN_ARGS: Final = frozenset(TRADING_ARGS)
# What an enforced deny or dry run puts in `outcome`: the reason again, not a result.
_POLICY_OUTCOMES: Final = ("Denied by policy", "Dry run by policy")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from an ISO date/date-time (naive = UTC) or a duration like `2h`."""
    raw = text.strip()
    match = _DURATION.fullmatch(raw)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            # Further back than datetime reaches: everything in the log is newer.
            return datetime.min.replace(tzinfo=UTC)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {_SINCE_FORMS} (got {text!r})") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _clean(value: Any) -> str:
    """One line of printable text: the log's contents come partly from an agent, so control
    characters (newlines, terminal escapes) must not reach the terminal."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _args_summary(args: Any) -> str:
    if not isinstance(args, dict):
        return ""
    a = {k: _clean(v) for k, v in args.items() if v is not None}
    parts = [a[k] for k in ("symbol", "positionSide", "side", "type") if k in a]
    if "quantity" in a:
        parts.append(a["quantity"])
    if "quoteOrderQty" in a:
        parts.append(f"for {a['quoteOrderQty']} quote")
    if "price" in a:
        parts.append(f"@ {a['price']}")
    if "stopPrice" in a:
        parts.append(f"stop {a['stopPrice']}")
    if "leverage" in a:
        parts.append(f"leverage {a['leverage']}")
    if "marginType" in a:
        parts.append(a["marginType"])
    if "orderId" in a:
        parts.append(f"order {a['orderId']}")
    if "origClientOrderId" in a:
        parts.append(f"client id {a['origClientOrderId']}")
    if "algoId" in a:
        parts.append(f"algo {a['algoId']}")
    parts += [f"{_clean(k)}={v}" for k, v in a.items() if k not in _SHOWN_ARGS]
    return " ".join(parts)


def _outcome(record: dict[str, Any]) -> str | None:
    outcome = record.get("outcome")
    if outcome is None:
        return None
    text = _clean(outcome)
    if text.startswith(_POLICY_OUTCOMES) and record.get("mode") != "monitor":
        return None
    if text != "ok":
        return "error: " + _cut(text, OUTCOME_MAX)
    ids = [
        f"{label} {_clean(record[key])}"
        for key, label in (("orderId", "order"), ("algoId", "algo"))
        if record.get(key) is not None
    ]
    return " ".join(["ok", *ids])


def format_record(record: dict[str, Any]) -> str:
    """One aligned line: time, decision, tool, trading arguments, then what matters for the
    decision (rule and reason when not allowed; outcome, order id and latency when run)."""
    when = record_time(record)
    shown_time = (
        when.strftime("%Y-%m-%d %H:%M:%SZ") if when else _cut(_clean(record.get("time", "?")), 20)
    )
    event = record.get("event")
    if event is not None:
        # Not a call: a change the guard made (the daily loss limit switching trading state).
        change = f"{_clean(record.get('from', '?'))} -> {_clean(record.get('to', '?'))}"
        reason = _cut(_clean(record.get("reason") or ""), REASON_MAX)
        return f"{shown_time:<20}  {'event':<{DECISION_WIDTH}}  {_clean(event)}  {change}: {reason}"
    decision = _clean(record.get("decision", "?"))
    columns = [
        f"{shown_time:<20}",
        f"{decision:<{DECISION_WIDTH}}",
        f"{_clean(record.get('tool', '?')):<{TOOL_WIDTH}}",
        f"{_args_summary(record.get('args')):<{ARGS_WIDTH}}",
    ]
    details: list[str] = []
    if record.get("notional") is not None:
        details.append(f"notional {_clean(record['notional'])}")
    if decision != "allow":
        monitor = "monitor, not enforced: " if record.get("mode") == "monitor" else ""
        rule = _clean(record.get("rule") or "?")
        reason = _cut(_clean(record.get("reason") or ""), REASON_MAX)
        details.append(f"{monitor}{rule}: {reason}" if reason else f"{monitor}{rule}")
    outcome = _outcome(record)
    if outcome is not None:
        details.append(outcome)
        latency = record.get("latencyMs")
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            details.append(f"{latency:.1f} ms")
    return "  ".join([*columns, *details]).rstrip()


def add_parser(
    commands: argparse._SubParsersAction[Any],
    add_state_dir: Callable[[argparse.ArgumentParser], None],
) -> None:
    audit = commands.add_parser(
        "audit",
        help="show the audit log: every decided tool call, filtered",
        description="Show the audit log (<state dir>/audit.jsonl, after its rotated files "
        "audit.jsonl.N ... audit.jsonl.1, oldest first): one line per decided tool call with its time, decision, tool, trading arguments, and the rule and reason of a "
        "denial or the outcome, order id and latency of a call that ran. Filters combine; "
        "a repeated --tool or --decision matches any of its values.",
    )
    audit.add_argument(
        "--tool",
        action="append",
        metavar="NAME",
        help="only this tool; a shell pattern such as 'binance_spot_*' matches several",
    )
    audit.add_argument(
        "--decision", action="append", choices=DECISIONS, help="only calls decided this way"
    )
    audit.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="only calls from then on: an ISO date or date-time (UTC unless it has a zone) "
        "or a duration back from now such as 45s, 30m, 2h, 1d",
    )
    audit.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="after the existing lines, keep printing new ones until Ctrl-C",
    )
    audit.add_argument(
        "--json", action="store_true", help="print the matching records as stored (JSON lines)"
    )
    add_state_dir(audit)


def run(args: argparse.Namespace) -> int:
    path = resolve_state_dir(os.environ, getattr(args, "state_dir", None)) / AUDIT_FILE
    selected = Filter(tuple(args.tool or ()), tuple(args.decision or ()), args.since)
    reader = Reader()
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        # Reasons come from the user's policy and may hold characters a legacy console
        # encoding lacks; a replaced character beats a crash halfway through the log.
        out.reconfigure(errors="backslashreplace")

    def emit(records: Iterator[tuple[str, dict[str, Any]]], flush: bool) -> None:
        for line, record in records:
            if selected.matches(record):
                out.write((line if args.json else format_record(record)) + "\n")
                if flush:
                    out.flush()

    try:
        # Rotated files count: the current file may be gone while older ones remain.
        exists = bool(log_files(path))
        if args.follow:
            if not exists:
                _note(f"no audit log at {path} yet; waiting for it (Ctrl-C to stop)")
            emit(follow(path, reader), flush=True)
        elif not exists:
            _note(f"no audit log at {path}: no tool call has been recorded there yet")
        else:
            emit(read_all(path, reader), flush=False)
            out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep the interpreter's final
        # flush of stdout from failing again.
        _silence_stdout()
        return 0
    except OSError as exc:
        where = exc.filename or path
        sys.stderr.write(f"{NAME}: error: cannot read {where}: {exc.strerror or exc}\n")
        return 1
    if reader.skipped:
        rotated = any(p != path for p in log_files(path))
        where = f"{path} and its rotated files" if rotated else str(path)
        _note(f"skipped {reader.skipped} malformed line(s) in {where} (not a JSON object)")
    return 0


def _note(message: str) -> None:
    sys.stderr.write(f"{NAME}: {message}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
