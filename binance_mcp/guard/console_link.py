"""Where a running console (`binance-mcp console`) can be reached, for the approval question.

While it runs, the console writes `<state dir>/console.json` (its URL and pid; never its access
token) and removes it when it stops. A server asking a person to approve a call adds the link
to the question, so the person can answer in the page. A file left by a console that died (its
pid is gone) is ignored.

Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Final

CONSOLE_FILE: Final = "console.json"


def console_path(state_dir: Path) -> Path:
    return state_dir / CONSOLE_FILE


def announce(state_dir: Path, url: str) -> None:
    """Written by the console once it listens: its URL (without the token) and its pid."""
    path = console_path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)


def withdraw(state_dir: Path) -> None:
    """Removed by the console when it stops (only its own file)."""
    path = console_path(state_dir)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text("utf-8")).get("pid") == os.getpid():
            path.unlink()


def console_url(state_dir: Path) -> str | None:
    """The URL of the console running on `state_dir`, or None."""
    try:
        data = json.loads(console_path(state_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, pid = data.get("url"), data.get("pid")
    if not isinstance(url, str) or not url.startswith("http://127.0.0.1:"):
        return None
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return url
