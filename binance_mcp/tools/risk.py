"""Risk classes and the MCP annotations each one implies (SPEC §4.1). All four hints are
always explicit: a client's defaults for a missing hint assume the worst, or the best."""

from __future__ import annotations

from typing import Final, Literal

from mcp.types import ToolAnnotations

RiskClass = Literal["read", "write", "financial", "destructive"]

ANNOTATIONS: Final[dict[RiskClass, ToolAnnotations]] = {
    "read": ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    ),
    "write": ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    ),
    "financial": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    ),
    "destructive": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
    ),
}
