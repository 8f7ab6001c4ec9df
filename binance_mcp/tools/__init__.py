"""The MCP tools. Each area module declares its tools with `@tool` (tools/declare.py), which
records the risk class; `all_tools` is the table of all of them, in SPEC order. The server
lists them from tools/catalogue.py and builds each, behind the guard, at its first call.

May import: `binance_mcp.guard` (risk classes, the guard's status for binance_account_status),
`binance_mcp.exchange`, the MCP SDK. Never the server, the CLI or the paper exchange."""

from __future__ import annotations

import typing
from typing import Any, Final

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from pydantic import BaseModel

from binance_mcp.tools.declare import DECLARED, ToolDef, ToolFn
from binance_mcp.tools.risk import ANNOTATIONS
from binance_mcp.tools.schemas import compact, merge_any_of, shallow_model

# The areas in SPEC order (§3.1-§3.5); tools/list follows it, then declaration order.
AREAS = ("account", "spot", "futures", "market", "analysis")


def all_tools() -> list[ToolDef]:
    import importlib

    for area in AREAS:  # imported for their @tool declarations
        importlib.import_module(f"binance_mcp.tools.{area}")
    return sorted(DECLARED, key=lambda t: AREAS.index(t.fn.__module__.rsplit(".", 1)[1]))


def tool_def(name: str, area: str) -> ToolDef:
    """The declaration of one tool, importing only its own area's module."""
    import importlib

    importlib.import_module(f"binance_mcp.tools.{area}")
    return next(t for t in DECLARED if t.name == name)


# What `json.loads` skips before a value; and the first characters of the only JSON texts the
# SDK's `pre_parse_json` puts in place of the text: a list, an object, null.
_JSON_SPACE: Final = " \t\n\r"
_REPLACED: Final = ("[", "{", "n")


class _Arguments(FuncMetadata):
    """The SDK's argument handling without a failed `json.loads` per text argument on every
    call: the SDK tries to decode each text given for a parameter not typed plain `str` (some
    clients send lists as JSON text) and keeps the result only if it is a list, an object or
    null, so a text that cannot decode to one of those is passed on untouched without trying.
    Any other text goes through the SDK's own code."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        for value in data.values():
            if isinstance(value, str) and value.lstrip(_JSON_SPACE)[:1] in _REPLACED:
                return super().pre_parse_json(data)
        return data.copy()


def build_tool(t: ToolDef, fn: ToolFn) -> Tool:
    """The MCP tool object for `t` calling `fn` (the tool's function, or the server's guarded
    wrapper of it, which keeps its signature), with compacted schemas (tools/schemas.py)."""
    # Without structured_output the SDK skips generating the full output schema; the model
    # and its shallow schema are set here (FuncMetadata reads both at every call).
    built = Tool.from_function(
        fn,
        name=t.name,
        description=t.description,
        annotations=ANNOTATIONS[t.risk],
        structured_output=False,
    )
    sdk = built.fn_metadata
    built.fn_metadata = _Arguments(
        **{name: getattr(sdk, name) for name in FuncMetadata.model_fields}
    )
    built.parameters = merge_any_of(compact(built.parameters, optional_is_absent=True))
    # Strict: an argument the tool does not take is refused, never dropped (server/intake.py).
    built.parameters["additionalProperties"] = False
    result = typing.get_type_hints(t.fn)["return"]
    assert isinstance(result, type) and issubclass(result, BaseModel), t.name
    built.fn_metadata.output_model = result
    built.fn_metadata.output_schema = shallow_model(result)
    return built
