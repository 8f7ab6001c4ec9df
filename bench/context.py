"""Context cost: the size of the `tools/list` answer, which a host puts in the model's context
on every turn.

The server is built as `binance-mcp serve` builds it (venue paper, the allow-everything example
policy, so no tool is hidden) and listed by the SDK's in-process client on both protocol eras:
`mode="legacy"` (2025-11-25, what most hosts speak) and the default (2026-07-28). Characters are
of the result as sent: `result.model_dump_json(by_alias=True, exclude_none=True)`. Tokens are
estimated as characters ÷ 4 (no tokenizer is installed; real counts vary by model). The
baseline is the target itself, 20 000 characters: ratio = characters ÷ 20 000.

    python -m bench.context [--quick]
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

from mcp import Client
from mcp.types import ListToolsResult

from bench.common import ALLOW_ALL_POLICY, Summary, finish, header, parser, table
from binance_mcp.config import resolve_settings
from binance_mcp.server.app import build_server

TARGET_CHARS: Final = 20_000  # SPEC §7
# Listing sends no request: the venue is never contacted, so nothing needs to listen here.
UNUSED_URL: Final = "http://127.0.0.1:9"


Mode = Literal["legacy", "auto"]
MODES: Final[tuple[Mode, ...]] = ("legacy", "auto")


async def list_tools(state_dir: Path, mode: Mode) -> ListToolsResult:
    # The server's start-up lines (and its warning about missing keys) are not our output.
    logging.getLogger("binance_mcp").setLevel(logging.ERROR)
    settings = resolve_settings(
        {
            "BINANCE_MCP_STATE_DIR": str(state_dir),
            "BINANCE_MCP_SPOT_URL": f"{UNUSED_URL}/api",
            "BINANCE_MCP_FUTURES_URL": f"{UNUSED_URL}/fapi",
        },
        venue="paper",
        policy=ALLOW_ALL_POLICY,
    )
    async with Client(build_server(settings), mode=mode) as client:
        return await client.list_tools()


def chars(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    p = parser("context", __doc__ or "")
    args = p.parse_args(argv)
    header(
        "context cost: the tools/list answer",
        "characters of the result as sent (JSON, aliases, no nulls); tokens ≈ characters ÷ 4",
        args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="bench-context-") as state:
        results = {mode: asyncio.run(list_tools(Path(state), mode)) for mode in MODES}
    sizes = {
        mode: len(r.model_dump_json(by_alias=True, exclude_none=True))
        for mode, r in results.items()
    }
    labels = {"legacy": "legacy (2025-11-25)", "auto": "default (2026-07-28)"}
    rows = [
        [
            labels[mode],
            str(len(results[mode].tools)),
            f"{size:,}",
            f"{size // 4:,}",
            f"{size / TARGET_CHARS:.2f}",
        ]
        for mode, size in sizes.items()
    ]
    print(table(rows, ["mode", "tools", "characters", "≈ tokens", "÷ 20 000"]))

    tools = [
        t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in results["legacy"].tools
    ]
    parts = dict.fromkeys(("inputSchema", "outputSchema", "annotations", "description", "name"), 0)
    for tool in tools:
        for key in parts:
            parts[key] += chars(tool.get(key, ""))
    total = sizes["legacy"]
    shares = [(k, v) for k, v in parts.items()] + [
        ("keys, punctuation, envelope", total - sum(parts.values()))
    ]
    print("\nwhere the characters go (legacy):")
    print(
        table(
            [[k, f"{v:,}", f"{v / total:.0%}"] for k, v in shares], ["part", "characters", "share"]
        )
    )
    largest = sorted(tools, key=chars, reverse=True)[:5]
    print("\nlargest 5 tools:")
    print(
        table(
            [
                [
                    t["name"],
                    f"{chars(t):,}",
                    f"{chars(t.get('inputSchema', {})):,}",
                    f"{chars(t.get('outputSchema', {})):,}",
                    f"{chars(t.get('description', '')):,}",
                ]
                for t in largest
            ],
            ["tool", "characters", "inputSchema", "outputSchema", "description"],
        )
    )
    worst = max(sizes.values())
    ratio = worst / TARGET_CHARS
    finish(
        args,
        Summary(
            bench="context",
            figure=f"{sizes['legacy']:,} / {sizes['auto']:,} chars (legacy / default), ≈ {worst // 4:,} tokens",
            baseline=f"the target, {TARGET_CHARS:,} characters",
            ratio=ratio,
            target=f"< {TARGET_CHARS:,} characters in both modes",
            passed=worst < TARGET_CHARS,
        ),
        "larger of the two modes ÷ 20 000",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
