"""The MCP annotations each risk class implies (SPEC §4.1). All four hints are
always explicit: a client's defaults for a missing hint assume the worst, or the best."""

from __future__ import annotations

from typing import Final

from mcp.types import ToolAnnotations

from binance_mcp.guard.tool_index import RiskClass

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
