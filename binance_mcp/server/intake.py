"""What the server accepts from a client before any tool, guard or SDK validation sees it.

Tool arguments are strict: a name the tool does not take is refused with the nearest valid
one (a misspelt `reduceonly` must not be dropped silently while the order goes out). Values are
bounded in nesting, size and magnitude, so no input can make one call use more than a moment of
CPU or memory.

On stdio a JSON-RPC line that the SDK's parser cannot take (nested past its recursion limit, or
too long) would be dropped without an answer; `screened_lines` hands the SDK, instead, the same
request with its arguments replaced by a refusal that `refusal` recognises, so the client hears
why.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final

# No tool takes more than a list of strings; a little room above that for clients that wrap.
MAX_DEPTH: Final = 4
MAX_ITEMS: Final = 1000
MAX_STRING: Final = 1024
# Binance's ids and times are 64-bit.
MAX_INT: Final = 2**63 - 1
# A request line larger than this is refused whole (the largest real call is a few KiB).
MAX_LINE: Final = 1 << 20
# The SDK's JSON parser stops at 200 levels of nesting; screening starts well before.
_SUSPICIOUS_BRACKETS: Final = 128
# Put in place of arguments that could not be taken off the wire; recognised by `refusal`.
REFUSED_KEY: Final = "__binance_mcp_refused__"


def unknown_arguments(tool: str, given: Iterable[str], known: Iterable[str]) -> str | None:
    """Why the call is refused for names the tool does not take, or None."""
    names = list(given)
    lookup = known if isinstance(known, Mapping | AbstractSet) else frozenset(known)
    if all(name in lookup for name in names):
        return None  # every call that is not refused: nothing to sort or suggest
    valid = sorted(lookup)
    unknown = [name for name in names if name not in lookup]
    if not unknown:
        return None
    by_lower = {v.lower(): v for v in valid}
    parts = []
    for name in unknown[:5]:
        shown = _clip(name, 40)
        near = by_lower.get(name.lower()) or next(
            iter(difflib.get_close_matches(name, valid, n=1, cutoff=0.6)), None
        )
        parts.append(f"{shown!r} (did you mean {near!r}?)" if near else repr(shown))
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    return (
        f"{tool} does not take the argument{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(parts)}{more}; nothing was sent. Its arguments: {', '.join(valid) or 'none'}"
    )


def oversized(arguments: Mapping[str, Any]) -> str | None:
    """Why an argument's value is out of bounds (nesting, size, magnitude), or None."""
    for name, value in arguments.items():
        problem = _check(value, 1)
        if problem is not None:
            return f"argument {_clip(name, 40)!r}: {problem}; nothing was sent"
    return None


def _check(value: Any, depth: int) -> str | None:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"a text of {len(value)} characters is longer than the {MAX_STRING} allowed"
        return None
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else "the number is out of range (64-bit)"
    if isinstance(value, list | dict):
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if len(value) > MAX_ITEMS:
            return f"{len(value)} items are more than the {MAX_ITEMS} allowed"
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            problem = _check(item, depth + 1)
            if problem is not None:
                return problem
    return None


def refusal(arguments: Mapping[str, Any]) -> str | None:
    """The reason put in place of arguments that could not be taken off the wire, if any."""
    reason = arguments.get(REFUSED_KEY)
    return reason if isinstance(reason, str) else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def screen_line(line: str) -> str:
    """The line, or when the SDK could not parse it (too long, nested too deep), a tools/call
    request with the same id whose arguments carry the reason. The id is the request's own
    (a key of the top-level object, never one inside its arguments); a line without one is
    passed on, and the SDK drops it as it always has (nothing is run)."""
    if len(line) <= MAX_LINE and line.count("[") + line.count("{") < _SUSPICIOUS_BRACKETS:
        return line
    top = _top_level(line)
    if len(line) > MAX_LINE:
        reason = f"the request is {len(line)} bytes, more than the {MAX_LINE} allowed"
    elif top.depth < 150:
        return line
    else:
        reason = f"an argument is nested {top.depth} levels deep (at most {MAX_DEPTH})"
    if top.ident is None or top.method != "tools/call":
        return line
    return (
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": json.loads(top.ident),
                "method": "tools/call",
                "params": {
                    "name": top.name or "unknown",
                    "arguments": {REFUSED_KEY: reason + "; nothing was sent"},
                },
            }
        )
        + "\n"
    )


@dataclass
class _TopLevel:
    depth: int = 0
    ident: str | None = None  # the JSON text of the top-level "id"
    method: str | None = None
    name: str | None = None  # params.name


_STRUCTURE: Final = re.compile(r'[\[\]{}"]')
# The rest of a JSON string, unrolled so that a long string is one scan, not one step a char.
_STRING_END: Final = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"')
_AFTER_KEY: Final = re.compile(r'\s*:\s*(-?\d{1,18}(?![\d.eE])|"(?:[^"\\]|\\.){0,200}")')


def _top_level(line: str) -> _TopLevel:
    """One pass over the line's brackets and strings (the regex engine skips everything else):
    the deepest nesting, and the top-level id, method and params.name."""
    found = _TopLevel()
    depth = 0
    in_params = False
    pos = 0
    while (m := _STRUCTURE.search(line, pos)) is not None:
        ch, pos = m.group(), m.end()
        if ch == '"':
            end = _STRING_END.match(line, pos)
            if end is None:
                break
            text, pos = line[m.start() : end.end()], end.end()
            value = _AFTER_KEY.match(line, pos) if depth in (1, 2) else None
            if value is not None:
                key, raw = text[1:-1], value.group(1)
                if depth == 1 and key == "id" and found.ident is None:
                    found.ident = raw
                elif depth == 1 and key == "method" and found.method is None:
                    found.method = json.loads(raw) if raw[0] == '"' else None
                elif depth == 2 and in_params and key == "name" and found.name is None:
                    found.name = json.loads(raw)[:64] if raw[0] == '"' else None
            in_params = in_params or (depth == 1 and text == '"params"')
        elif ch in "[{":
            depth += 1
            found.depth = max(found.depth, depth)
        else:
            depth -= 1
            if depth == 1:
                in_params = False
    return found


async def screened_lines(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        yield screen_line(line)
