"""What every benchmark shares: the command line, the machine line, statistics, and the closing
lines (baseline, ratio, target, PASS/MISS) that `python -m bench` collects into its table."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parent.parent
EXAMPLE_POLICIES: Final = REPO / "examples" / "policies"
ALLOW_ALL_POLICY: Final = EXAMPLE_POLICIES / "paper-everything.yaml"


@dataclass(frozen=True)
class Summary:
    """One benchmark's headline, as the summary table shows it."""

    bench: str
    figure: str  # the headline figure with its unit
    baseline: str  # what it was compared with, and that figure
    ratio: float
    target: str
    passed: bool

    @property
    def verdict(self) -> str:
        return verdict(self.passed)


def parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m bench.{name}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help="a few iterations only (a smoke test, not a figure)"
    )
    # How `python -m bench` collects the headline without parsing the human-readable output.
    p.add_argument("--summary-json", type=Path, default=None, help=argparse.SUPPRESS)
    return p


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
                    return f"{pretty}, {platform.system()} {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return (
        f"machine: {cpu_model()} · {cpu_count()} cores · {python} · {os_name()} · "
        f"mcp {_version('mcp')}, python-binance {_version('python-binance')}"
    )


def header(title: str, what: str, quick: bool) -> None:
    print(f"=== {title} ===")
    print(machine_info())
    print(what)
    if quick:
        print("(--quick: too few iterations for the figures to mean anything)")
    print()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def finish(args: argparse.Namespace, summary: Summary, ratio_means: str) -> None:
    """Print the closing lines every benchmark ends with, and hand the headline to
    `python -m bench` when it asked for it."""
    print()
    print(f"baseline: {summary.baseline}")
    print(f"ratio:    {summary.ratio:.2f} ({ratio_means})")
    print(f"target:   {summary.target} → {summary.verdict}")
    sys.stdout.flush()
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(asdict(summary)), encoding="utf-8")


def table(rows: Sequence[Sequence[str]], header_row: Sequence[str]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in (header_row, *rows)) for i in range(len(header_row))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header_row), rule, *(line(r) for r in rows)])
