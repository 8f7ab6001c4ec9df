"""The kill switch (SPEC §4.2 step 1): a flag file in the state dir that every running server
sees at its next call, or `BINANCE_MCP_HALT=1` in a server's environment. While on, write and
financial calls are denied; reads and cancels pass."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Final

ENV_HALT: Final = "BINANCE_MCP_HALT"
FLAG_FILE: Final = "halt.json"


def flag_path(state_dir: Path) -> Path:
    return state_dir / FLAG_FILE


def halt(state_dir: Path, reason: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"reason": reason, "since": int(time.time())})
    tmp = flag_path(state_dir).with_suffix(".tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(flag_path(state_dir))


def resume(state_dir: Path) -> bool:
    """Turn the switch off; False if it was not on."""
    try:
        flag_path(state_dir).unlink()
    except FileNotFoundError:
        return False
    return True


def halted(state_dir: Path) -> str | None:
    """Why trading is halted, or None. A flag that cannot be read or is damaged still halts
    (fail closed), and the reason names the file and the way out."""
    if os.environ.get(ENV_HALT, "").strip().lower() in ("1", "true", "yes", "on"):
        return f"{ENV_HALT} is set"
    path = flag_path(state_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return (
            f"the halt flag {path} exists but cannot be read ({exc.strerror}); trading stays "
            "halted until it is readable or removed with `binance-mcp resume`"
        )
    try:
        reason = json.loads(data.decode("utf-8")).get("reason")
    except (ValueError, AttributeError):  # UnicodeDecodeError is a ValueError
        return (
            f"the halt flag {path} is damaged (not the JSON `binance-mcp halt` writes); trading "
            "stays halted until `binance-mcp resume` removes it"
        )
    return f"halted with `binance-mcp halt`: {reason if isinstance(reason, str) and reason else 'no reason given'}"
