"""The audit log (SPEC §4.7): one JSON line per decided call in the state dir, appended and
flushed before the call's result goes back. It holds trading arguments and a digest of all
arguments, never a key, secret or signature (none of those are tool arguments)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO

AUDIT_FILE: Final = "audit.jsonl"
TRADING_ARGS: Final = (
    "symbol",
    "side",
    "type",
    "quantity",
    "quoteOrderQty",
    "price",
    "stopPrice",
    "positionSide",
    "leverage",
    "marginType",
    "orderId",
    "origClientOrderId",
    "algoId",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def utc_now() -> str:
    """ISO 8601 in UTC with milliseconds: sortable as text and readable in the file."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(args: dict[str, Any]) -> str:
    """A stable digest of the normalised arguments (binds approvals and audit lines to a call)."""
    canonical = json.dumps({k: _plain(v) for k, v in sorted(args.items())}, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def trading_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(args[k]) for k in TRADING_ARGS if args.get(k) is not None}


class AuditLog:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / AUDIT_FILE
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    def _open(self) -> TextIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self._file

    def problem(self) -> str | None:
        """Why the log cannot be written, or None: checked before a write or order is sent, so
        that nothing goes out unrecorded."""
        with self._lock:
            try:
                self._open()
            except OSError as exc:
                return f"{self.path}: {exc.strerror or type(exc).__name__}"
        return None

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({k: _plain(v) for k, v in record.items()}, default=str)
        with self._lock:
            file = self._open()
            file.write(line + "\n")
            file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
