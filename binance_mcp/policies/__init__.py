"""Example policies shipped in the package (copies of examples/policies/, kept equal by
tests/test_policy_templates.py), so that an installed server has them too:
`binance-mcp policy templates` lists them, `binance-mcp policy init` writes one out."""

from __future__ import annotations

from importlib import resources
from typing import Final

# In the order `policy templates` lists them: the safest first.
TEMPLATES: Final = (
    "read-only",
    "conservative-spot",
    "futures-reduce-only",
    "futures-limits",
    "paper-everything",
)
DEFAULT_TEMPLATE: Final = "read-only"


def text(name: str) -> str:
    """The template's YAML; KeyError for a name not in TEMPLATES."""
    if name not in TEMPLATES:
        raise KeyError(name)
    return (resources.files(__name__) / f"{name}.yaml").read_text(encoding="utf-8")


def summary(name: str) -> str:
    """The first sentence of the template's opening comment."""
    lines = []
    for line in text(name).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    joined = " ".join(lines)
    first = joined.split(". ")[0].rstrip(".")
    return first if len(first) <= 90 else first[:89] + "…"
