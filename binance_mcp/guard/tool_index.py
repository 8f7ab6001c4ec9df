"""The tools the guard decides for: each one's risk class (SPEC §4.1) and argument names, which
are what a policy may name.

The guard never imports the tools. This table is generated from their declarations together
with the tool catalogue (`python -m binance_mcp.tools.catalogue` writes both files, and a test
fails when either no longer matches), so the policy language can be checked and the engine run
without building a single tool.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

RiskClass = Literal["read", "write", "financial", "destructive"]

INDEX_FILE: Final = Path(__file__).with_name("tool_index.json")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    risk: RiskClass
    arguments: frozenset[str]


@functools.cache
def tool_index() -> dict[str, ToolSpec]:
    """Every tool by name, in tools/list order."""
    with INDEX_FILE.open(encoding="utf-8") as f:
        rows = json.load(f)
    return {
        row["name"]: ToolSpec(row["name"], row["risk"], frozenset(row["arguments"])) for row in rows
    }


def render_index(specs: list[ToolSpec]) -> str:
    """The file's text for `specs` (written by the catalogue generator)."""
    rows = [{"name": s.name, "risk": s.risk, "arguments": sorted(s.arguments)} for s in specs]
    return json.dumps(rows, indent=1) + "\n"
