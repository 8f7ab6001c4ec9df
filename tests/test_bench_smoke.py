"""The benchmarks in bench/ run, each with its one command in `--quick` mode, and print what
they promise: the machine, their figures, the baseline, the ratio, the target and a verdict.

Nothing here checks a timing: a figure is the benchmark's business (run `python -m bench`),
and a loaded CI machine must not fail the suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system_deps import ensure

REPO = Path(__file__).resolve().parent.parent
BENCHES = [
    "startup", "guard", "context", "call_overhead", "throughput", "transports", "paper_exchange",
    "shared_state",
]  # fmt: skip
# What each one prints among its figures, whatever the numbers.
FIGURES = {
    "startup": ["tools/list answered", "peak RSS at tools/list", "35"],
    "guard": ["generated, 50 rules", "decisions/s", "p99"],
    "context": ["legacy (2025-11-25)", "default (2026-07-28)", "largest 5 tools"],
    "call_overhead": ["direct python-binance", "binance-mcp, legacy", "p90", "audit log"],
    "throughput": ["calls/s", "lag max", "full GCs", "event loop blocked"],
    "transports": ["stdio", "http", "SDK floor", "server CPU/call", "ours/floor"],
    "paper_exchange": ["1–1000", "p99", "price read (GET)", "MARKET order (POST)", "32 clients"],
    "shared_state": ["sqlite", "redis", "8 processes", "added latency of Redis over SQLite"],
}


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("name", BENCHES)
def test_benchmark_runs_quick_and_reports(name: str) -> None:
    if name == "shared_state":
        ensure("redis-server", "redis-server")
    out = run(f"bench.{name}", "--quick")
    assert out.startswith("=== ")
    assert re.search(r"^machine: .+ · \d+ cores · CPython 3\.\d+", out, re.M), out
    for figure in FIGURES[name]:
        assert figure in out, f"{figure!r} missing from:\n{out}"
    assert re.search(r"^baseline: \S", out, re.M), out
    assert re.search(r"^ratio: +\d+\.\d\d \(", out, re.M), out
    assert re.search(r"^target: +.+ → (PASS|MISS)$", out, re.M), out


def test_run_all_prints_a_summary_table() -> None:
    out = run("bench", "--quick", "guard", "context")
    summary = out.split("=== summary ===", 1)[1]
    for name in ("guard", "context"):
        assert re.search(rf"^{name} .+ \d+\.\d\d .+ (PASS|MISS)$", summary, re.M), summary
