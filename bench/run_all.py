"""Run every benchmark, one after the other, each in its own process (so that none inherits
another's imports, threads or heap), then print a summary table of their headlines.

    python -m bench [--quick] [NAME ...]      (or python -m bench.run_all)

Exit status: 0 when every benchmark ran, whatever its verdict (a MISS is a figure, not a
failure); 1 when one of them crashed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from bench.common import REPO, Summary, machine_info, table

BENCHES: Final = (
    "startup",
    "guard",
    "context",
    "call_overhead",
    "throughput",
    "transports",
    "paper_exchange",
    "shared_state",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="a few iterations each (smoke test)")
    p.add_argument("names", nargs="*", metavar="NAME", help="some of: " + ", ".join(BENCHES))
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    names = args.names or list(BENCHES)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, "-m", f"bench.{name}", "--summary-json", str(out)]
            if args.quick:
                command.append("--quick")
            sys.stdout.flush()
            done = subprocess.run(command, cwd=REPO, check=False)
            print()
            if done.returncode != 0 or not out.exists():
                rows.append([name, "crashed (see its output above)", "", "", "", "ERROR"])
                continue
            s = Summary(**json.loads(out.read_text(encoding="utf-8")))
            rows.append([s.bench, s.figure, s.baseline, f"{s.ratio:.2f}", s.target, s.verdict])
    print("=== summary ===")
    print(machine_info())
    if args.quick:
        print("(--quick: too few iterations for the figures to mean anything)")
    print()
    print(table(rows, ["bench", "figure", "baseline", "ratio", "target", "verdict"]))
    return 1 if any(r[-1] == "ERROR" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
