"""The tool catalogue: the `tools/list` entries of all 35 tools, with each tool's area and risk
class, kept in `catalogue.json` beside this module.

Building a tool (its pydantic argument model, its schemas) costs milliseconds each; an MCP host
launches the server at every session and asks for the list at once. So the list is read from
this file at start-up and each tool is built on its first call. The file is generated from the
declarations and a test fails when it no longer matches them:

    python -m binance_mcp.tools.catalogue          # rewrite catalogue.json
    python -m binance_mcp.tools.catalogue --check  # exit 1 when it is out of date

The same run writes the guard's table of tools (guard/tool_index.py): their risk classes and
argument names, which the guard reads without importing the tools.
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

from binance_mcp.guard.tool_index import INDEX_FILE, RiskClass, ToolSpec, render_index

if TYPE_CHECKING:
    from binance_mcp.guard.policy import Policy

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
    sdk: MCPServer[Any] = MCPServer(tools=[build_tool(t, t.fn) for t in declared])
    tools = anyio.run(sdk.list_tools)
    return [
        {"area": t.fn.__module__.rsplit(".", 1)[1], "risk": t.risk, "tool": _dump(tool)}
        for t, tool in zip(declared, tools, strict=True)
    ]


def render(data: list[dict[str, Any]]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def index_of(data: list[dict[str, Any]]) -> str:
    """The guard's table of tools (guard/tool_index.json) for the catalogue `data`."""
    return render_index([ToolSpec(e.name, e.risk, e.arguments) for e in _entries(data)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m binance_mcp.tools.catalogue", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = p.parse_args(argv)
    data = generate()
    stale = 0
    for path, text in ((CATALOGUE_FILE, render(data)), (INDEX_FILE, index_of(data))):
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if text == current:
            continue
        if args.check:
            sys.stderr.write(f"{path} is out of date: run {p.prog}\n")
            stale = 1
        else:
            path.write_text(text, encoding="utf-8")
            sys.stderr.write(f"wrote {path}\n")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
