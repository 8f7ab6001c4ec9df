"""Trimming of the JSON schemas pydantic generates, before they go out in `tools/list`.

The tool list is paid for in the model's context on every turn. Pydantic adds a `title` to
every schema and spells an optional argument as `anyOf: [T, null]` with `default: null`; neither
tells a model anything the property name and `required` do not, and together they are about a
third of the list.
"""

from __future__ import annotations

from typing import Any


def compact(schema: Any) -> Any:
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants and "default" in out:
        rest = [v for v in variants if v != {"type": "null"}]
        if out["default"] is None:
            del out["default"]
        del out["anyOf"]
        merged = rest[0] if len(rest) == 1 else {"anyOf": rest}
        out = {**merged, **out}
    return out
