"""The tool catalogue: the `tools/list` entries of all 35 tools, with each tool's area and risk
class, kept in `catalogue.json` beside this module.

Building a tool (its pydantic argument model, its schemas) costs milliseconds each; an MCP host
launches the server at every session and asks for the list at once. So the list is read from
this file at start-up and each tool is built on its first call. The file is generated from the
declarations and a test fails when it no longer matches them:

    python -m binance_mcp.tools.catalogue          # rewrite catalogue.json
    python -m binance_mcp.tools.catalogue --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mcp_types import Tool as MCPTool

from binance_mcp.tools.risk import RiskClass

if TYPE_CHECKING:
    from binance_mcp.policy import Policy

CATALOGUE_FILE: Final = Path(__file__).with_name("catalogue.json")


@dataclass(frozen=True)
class Entry:
    area: str  # the module under binance_mcp/tools/ that declares the tool
    risk: RiskClass
    listed: MCPTool  # exactly what tools/list sends for it

    @property
    def name(self) -> str:
        return self.listed.name

    @property
    def arguments(self) -> frozenset[str]:
        return frozenset(self.listed.input_schema.get("properties", {}))


def _entries(data: Any) -> tuple[Entry, ...]:
    return tuple(
        Entry(item["area"], item["risk"], MCPTool.model_validate(item["tool"])) for item in data
    )


@functools.cache
def catalogue() -> dict[str, Entry]:
    """Every tool by name, in tools/list order."""
    with CATALOGUE_FILE.open(encoding="utf-8") as f:
        return {e.name: e for e in _entries(json.load(f))}


def listed(policy: Policy) -> list[MCPTool]:
    """The tools/list answer under `policy`: in monitor mode nothing is hidden (calls go through
    and are recorded as they would have been decided)."""
    show_all = policy.mode != "enforce"
    return [e.listed for e in catalogue().values() if show_all or not policy.hidden(e.name)]


def _dump(tool: MCPTool) -> dict[str, Any]:
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


def generate() -> list[dict[str, Any]]:
    """The catalogue as built from the declarations now (slow: builds every tool), listed by
    the SDK's own MCPServer as it would list them."""
    import anyio
    from mcp.server.mcpserver import MCPServer

    from binance_mcp.tools import all_tools, build_tool

    declared = all_tools()
    sdk: MCPServer[Any] = MCPServer(tools=[build_tool(t) for t in declared])
    tools = anyio.run(sdk.list_tools)
    return [
        {"area": t.fn.__module__.rsplit(".", 1)[1], "risk": t.risk, "tool": _dump(tool)}
        for t, tool in zip(declared, tools, strict=True)
    ]


def render(data: list[dict[str, Any]]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m binance_mcp.tools.catalogue", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if catalogue.json is stale")
    args = p.parse_args(argv)
    text = render(generate())
    current = CATALOGUE_FILE.read_text(encoding="utf-8") if CATALOGUE_FILE.exists() else ""
    if args.check:
        if text != current:
            sys.stderr.write(f"{CATALOGUE_FILE} is out of date: run {p.prog}\n")
            return 1
        return 0
    if text != current:
        CATALOGUE_FILE.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {CATALOGUE_FILE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
