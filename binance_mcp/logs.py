"""Logging to stderr only: over stdio, stdout carries JSON-RPC and nothing else."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Final

from binance_mcp.config import ConfigError

ENV_LOG_LEVEL: Final = "BINANCE_MCP_LOG_LEVEL"
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A signed request URL carries its HMAC signature in the query; HTTP libraries log such URLs.
_SIGNATURE: Final = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")


class _RedactSignatures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SIGNATURE.sub(r"\1<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(env: Mapping[str, str] | None = None, level: str | None = None) -> int:
    """Send all logging to stderr. Our own loggers log at `level` (`--log-level`), else
    `BINANCE_MCP_LOG_LEVEL` (default INFO); other libraries only from WARNING up, since HTTP
    clients log request URLs at DEBUG. Returns the level. Calling it again replaces the handler
    rather than adding one."""
    if env is None:
        env = os.environ
    name = (level or env.get(ENV_LOG_LEVEL, "")).strip().upper() or "INFO"
    if name not in _LEVELS:
        raise ConfigError(
            f"{ENV_LOG_LEVEL} must be one of {', '.join(_LEVELS)} (got {env[ENV_LOG_LEVEL]!r})"
        )
    level = logging.getLevelName(name)
    assert isinstance(level, int)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_binance_mcp", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(_RedactSignatures())
    handler._binance_mcp = True  # type: ignore[attr-defined]
    # A root handler installed first also turns the MCP SDK's own logging.basicConfig() into a
    # no-op, so everything ends up in one format on stderr.
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("binance_mcp").setLevel(level)
    return level
