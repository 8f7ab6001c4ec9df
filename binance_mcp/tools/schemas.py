"""Trimming of the JSON schemas pydantic generates, before they go out in `tools/list`.

The tool list is paid for in the model's context on every turn. Pydantic adds a `title` to
every schema and spells an optional argument as `anyOf: [T, null]` with `default: null`; neither
tells a model anything the property name and `required` do not, and together they are about a
third of the list.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def compact(schema: Any, *, optional_is_absent: bool = False) -> Any:
    """`schema` without titles; with `optional_is_absent` (input schemas, where leaving an
    optional argument out is the same as null) also without the null branch of optionals.
    Output schemas keep it: a result field may really be null."""
    if isinstance(schema, list):
        return [compact(item, optional_is_absent=optional_is_absent) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: compact(sub, optional_is_absent=optional_is_absent)
                for name, sub in value.items()
            }
        else:
            out[key] = compact(value, optional_is_absent=optional_is_absent)
    variants = out.get("anyOf")
    if (
        optional_is_absent
        and isinstance(variants, list)
        and {"type": "null"} in variants
        and "default" in out
    ):
        rest = [v for v in variants if v != {"type": "null"}]
        if out["default"] is None:
            del out["default"]
        del out["anyOf"]
        merged = rest[0] if len(rest) == 1 else {"anyOf": rest}
        out = {**merged, **out}
    if "enum" in out and out.get("type") in ("string", "integer"):
        del out["type"]  # the enum already says which values, hence which type
    return out


def merge_any_of(schema: Any) -> Any:
    """`anyOf` of plain types merged into one `type` list where no keyword is shared: pydantic's
    Decimal `anyOf: [{type: number, exclusiveMinimum: 0}, {type: string}]` becomes
    `{type: [number, string], exclusiveMinimum: 0}`, which accepts the same values (numeric
    keywords only constrain numbers)."""
    if isinstance(schema, list):
        return [merge_any_of(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: merge_any_of(value) for key, value in schema.items()}
    variants = out.get("anyOf")
    if not isinstance(variants, list) or not all(
        isinstance(v, dict) and isinstance(v.get("type"), str) for v in variants
    ):
        return out
    keys = [k for v in variants for k in v if k != "type"]
    if len(keys) != len(set(keys)) or any(k in out for k in keys):
        return out
    merged: dict[str, Any] = {"type": [v["type"] for v in variants]}
    for v in variants:
        merged.update({k: x for k, x in v.items() if k != "type"})
    del out["anyOf"]
    return {**merged, **out}


def shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema reduced to its top level: each property keeps its type (and enum), while
    nested objects and arrays of objects are typed as such without their fields. The result is
    still validated in full against the tool's pydantic model before it is sent; the published
    schema is a looser but true description, at a fraction of the context cost. `required` and
    enums are left out for the same reason: every declared field is always present, and the
    values are Binance's own."""
    defs = schema.get("$defs", {})
    props = {name: _shallow_property(sub, defs) for name, sub in schema["properties"].items()}
    return {"type": "object", "properties": props}


def _shallow_property(sub: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in sub:
        types = [_shallow_property(v, defs).get("type") for v in sub["anyOf"]]
        flat: list[Any] = []
        for t in types:
            flat.extend(t if isinstance(t, list) else [t])
        return {"type": flat}
    if "$ref" in sub:
        return {"type": "object"}
    kind = sub.get("type")
    if kind == "array":
        item_type = _shallow_property(sub.get("items", {}), defs).get("type")
        # Arrays of strings or numbers say so; arrays of rows are typed as arrays only.
        if item_type in ("string", "integer", "number", "boolean"):
            return {"type": "array", "items": {"type": item_type}}
        return {"type": "array"}
    if kind == "object":
        return {"type": "object"}
    return {"type": kind} if kind else {}


_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def shallow_model(model: type[BaseModel]) -> dict[str, Any]:
    """`shallow` of the model's JSON schema, read from its field annotations instead: generating
    the full schema for 35 result models only to cut it down was a tenth of the start-up time.
    A test checks both give the same schema for every tool."""
    props = {
        field.alias or name: _shallow_annotation(field.annotation)
        for name, field in model.model_fields.items()
    }
    return {"type": "object", "properties": props}


def _shallow_annotation(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        flat: list[Any] = []
        for arm in typing.get_args(annotation):
            kind = "null" if arm is type(None) else _shallow_annotation(arm).get("type")
            flat.extend(kind if isinstance(kind, list) else [kind])
        return {"type": flat}
    if origin is typing.Literal:
        kinds = {_PRIMITIVES.get(type(v)) for v in typing.get_args(annotation)}
        return {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        item_type = _shallow_annotation(item).get("type")
        if item_type in ("string", "integer", "number", "boolean"):
            return {"type": "array", "items": {"type": item_type}}
        return {"type": "array"}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"type": "object"}
    if annotation in _PRIMITIVES:
        return {"type": _PRIMITIVES[annotation]}
    if origin is typing.Annotated:
        return _shallow_annotation(typing.get_args(annotation)[0])
    # Anything rarer: ask pydantic, for this field only.
    from pydantic import TypeAdapter

    return _shallow_property(TypeAdapter(annotation).json_schema(), {})
