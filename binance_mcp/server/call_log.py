"""A server you can watch: one INFO line per call on stderr, and the same events as MCP log
notifications (`notifications/message`) to the client that made the call, at the level it asked
for.

Both come from the call's audit record (guard/gate.py `_finish` hands each record to the
guard's observers), so the line, the notification and the audit log never disagree. A record
holds no secret: the guard keeps only trading arguments and a digest of the rest, and Binance's
texts have the keys redacted before they become outcomes. The client's name is the client's own
input, and is clipped and stripped of control characters before it is written anywhere.
"""

from __future__ import annotations

import logging
import re
import warnings
from contextvars import ContextVar
from typing import Any, Final

from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import EmptyResult, LoggingLevel, SetLevelRequestParams

from binance_mcp.logs import info_line

log = logging.getLogger("binance_mcp.calls")

# The audit records of the call in progress, sent to its client when the call ends.
PENDING: ContextVar[list[dict[str, Any]] | None] = ContextVar("call_events", default=None)

# The MCP levels in order (RFC 5424 names).
LEVELS: Final[tuple[LoggingLevel, ...]] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
# Where the level a 2025-11-25 client set with logging/setLevel is kept (per connection).
LEVEL_KEY: Final = "binance_mcp.log_level"

_CODE: Final = re.compile(r"Binance error (-?\d+)")
_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e]")
_ORDER_KEYS: Final = ("orderId", "algoId", "clientOrderId")

# Log notifications are a deprecated feature of 2026-07-28 (SEP-2577) that 2025-11-25 hosts
# still show; the SDK warns at each use. The feature is wanted here: silence that one warning.
warnings.filterwarnings("ignore", message=".*logging capability.*", category=MCPDeprecationWarning)


def client_name(raw: object) -> str | None:
    """A client's self-declared name, safe to write in a log line: printable ASCII, at most
    64 characters."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    return _UNPRINTABLE.sub("?", raw.strip())[:64]


def level_of(record: dict[str, Any]) -> LoggingLevel:
    end = record.get("end")
    if end == "ok":
        return "info"
    if end == "crashed":
        return "error"
    return "warning"


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the line and the notification show of an audit record."""
    if "tool" not in record:  # an event of the state dir, e.g. the loss limit reached
        return {k: record[k] for k in ("event", "venue", "from", "to", "reason") if k in record}
    shown: dict[str, Any] = {
        "tool": record["tool"],
        "end": record.get("end"),
        "decision": record.get("decision"),
        "venue": record.get("venue"),
        "latencyMs": record.get("latencyMs"),
    }
    if record.get("end") != "ok" or record.get("decision") != "allow":
        shown["rule"] = record.get("rule")
    for key in ("client", "approval", *_ORDER_KEYS):
        if record.get(key) is not None:
            shown[key] = record[key]
    found = _CODE.search(str(record.get("outcome", "")))
    if record.get("end") != "ok" and found:
        shown["error"] = int(found.group(1))
    return shown


def line(shown: dict[str, Any]) -> str:
    if "tool" not in shown:
        return " ".join(f"{k}={v}" for k, v in shown.items())
    text = f"{shown['tool']}: {shown['end']} ({shown['decision']}"
    text += f" by {shown['rule']})" if "rule" in shown else ")"
    text += f" on {shown['venue']} in {shown['latencyMs']} ms"
    for key in ("client", "approval", *_ORDER_KEYS, "error"):
        if key in shown:
            text += f" {key}={shown[key]}"
    return text


def observe(record: dict[str, Any]) -> None:
    """The guard's observer: the stderr line now, the notification when the call returns."""
    pending = PENDING.get()
    if pending is not None:
        # Summarised by `tell` if the client wants it: most clients never ask for one.
        pending.append(record)
    if log.isEnabledFor(logging.INFO):
        info_line(log, line(summary(record)))


def wanted(requested: str | None, level: LoggingLevel) -> bool:
    return requested in LEVELS and LEVELS.index(level) >= LEVELS.index(requested)


def request_of(context: Any) -> Any:
    """The SDK's request context of the call in progress, or None outside a session. Read once
    per call: through the SDK's `Context` (pydantic private attributes) it costs ~3 µs a time."""
    try:
        return context.request_context
    except (AttributeError, LookupError, ValueError):
        return None  # no request in progress (a call made outside a session)


def _session(request: Any) -> Any:
    return getattr(request, "session", None)


def caller_of(request: Any) -> str | None:
    """The calling client's name from its clientInfo (the handshake's, or on 2026-07-28 the
    request envelope's when it sent one); `request` as `request_of` returns it."""
    session = _session(request)
    params = getattr(session, "client_params", None)
    info = getattr(params, "client_info", None)
    return client_name(getattr(info, "name", None))


async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    """logging/setLevel (2025-11-25): the level is the connection's, kept for its calls."""
    connection = getattr(ctx.session, "_connection", None)
    if connection is not None:
        connection.state[LEVEL_KEY] = params.level
    return EmptyResult()


async def tell(request: Any, events: list[dict[str, Any]]) -> None:
    """Send a call's events to its client (`request` as `request_of` returns it). On
    2026-07-28 the SDK delivers only at or above the level the request opted in to (its
    `_meta`); on 2025-11-25 only once the client has set a level with logging/setLevel, and at
    or above it. A client that has gone misses them."""
    session = _session(request) if events else None
    if session is None:
        return
    # SDK internals read defensively: without them no notification is sent, nothing breaks.
    connection = getattr(session, "_connection", None)
    modern = getattr(session, "_log_is_request_scoped", False)
    requested = None if connection is None else connection.state.get(LEVEL_KEY)
    allowed: frozenset[str] = getattr(session, "_allowed_log_levels", frozenset())
    for record in events:
        level = level_of(record) if "tool" in record else "warning"
        # Decided here for both eras: no notification is even built for a client that did not
        # ask for this level (the SDK would drop it on 2026-07-28, after the work).
        if (level not in allowed) if modern else not wanted(requested, level):
            continue
        try:
            await session.send_log_message(
                level=level,
                data=summary(record),
                logger="binance_mcp.calls",
                related_request_id=request.request_id,
            )
        except Exception as exc:
            log.debug("log notification not sent: %r", exc)
            return
