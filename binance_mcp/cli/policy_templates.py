"""`binance-mcp policy templates` and `binance-mcp policy init [--template NAME] [FILE]`: the
example policies that ship in the package (binance_mcp/policies/), for an installed server
that has no checkout's examples/ next to it."""

from __future__ import annotations

import sys
from pathlib import Path

from binance_mcp import policies


def list_templates() -> int:
    width = max(len(name) for name in policies.TEMPLATES)
    for name in policies.TEMPLATES:
        default = " (default)" if name == policies.DEFAULT_TEMPLATE else ""
        sys.stdout.write(f"{name:<{width}}  {policies.summary(name)}{default}\n")
    return 0


def init(template: str, file: Path | None, force: bool) -> int:
    """Write the template to FILE (never over an existing file unless --force), or to stdout
    when FILE is `-` or not given."""
    try:
        content = policies.text(template)
    except KeyError:
        names = ", ".join(policies.TEMPLATES)
        sys.stderr.write(f"binance-mcp: error: no template {template!r}; templates: {names}\n")
        return 2
    if file is None or str(file) == "-":
        sys.stdout.write(content)
        return 0
    if file.exists() and not force:
        sys.stderr.write(f"binance-mcp: error: {file} exists; --force to replace it\n")
        return 2
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"binance-mcp: error: cannot write {file}: {exc.strerror or exc}\n")
        return 2
    sys.stderr.write(
        f"wrote the {template} policy to {file}; check it with `binance-mcp policy check "
        f"{file}` and start with `binance-mcp --policy {file}`\n"
    )
    return 0
