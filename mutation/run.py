"""Mutation testing of the guard's decision core, on demand (not in CI).

    python -m mutation.run                                  # the six core modules, 2 jobs
    python -m mutation.run --module engine --module store   # some modules only
    python -m mutation.run --tests tests/test_guard_core.py # other tests
    python -m mutation.run --list                           # the mutants, without running

The repository is copied to a temporary directory once per job (the working tree is never
touched); in its copy each job writes one mutant at a time (the module's AST with one change,
unparsed), runs the chosen tests (`pytest -x -q -p no:cacheprovider`, with a timeout per
mutant) and puts the module back. A mutant is killed when the tests fail (or time out), and
survives when they pass. Survivors listed in mutation/equivalent.md, by module, line text and
mutation, are reported as equivalent and left out of the kill rate that counts.

Mutations: comparison flips (< <=, > >=, == !=, in / not in, is / is not), and/or swap,
True/False, arithmetic operator swaps, integer and float constants + 1, removing a `not`,
`return x` → `return None`, deleting one statement of an `if` body, emptying a string or
f-string. Docstrings, annotations, decorators and logging calls are not mutated.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE: Final = ROOT / "mutation" / "equivalent.md"

DEFAULT_MODULES: Final = (
    "binance_mcp/guard/conditions.py",
    "binance_mcp/guard/counting.py",  # the engine's budget and rate-limit denials
    "binance_mcp/guard/engine.py",
    "binance_mcp/guard/facts.py",
    "binance_mcp/guard/store.py",
    "binance_mcp/guard/trading_state.py",  # the kill switch (halt.py before trading states)
)
# The guard's tests, the fast and focused ones first: with -x a mutant dies at its first
# failing test, so most runs stop within seconds. Files that do not exist are skipped.
DEFAULT_TESTS: Final = (
    "tests/test_guard_core.py",
    "tests/test_conditions.py",
    "tests/test_policy.py",
    "tests/test_guard_behaviours.py",
    "tests/test_guard.py",
    "tests/test_budgets.py",
    "tests/test_fail_closed.py",
    "tests/test_bypass.py",
    "tests/test_account_limits.py",
    "tests/test_approval.py",
    "tests/test_policy_cli.py",
    "tests/test_fuzz.py",
)
COPY_IGNORE: Final = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".*_cache", ".hypothesis", "mutants", "*.egg-info", "build",
    "dist",
)  # fmt: skip

COMPARE_SWAPS: Final[dict[type[ast.cmpop], type[ast.cmpop]]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS: Final[dict[type[ast.operator], type[ast.operator]]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
}
SYMBOLS: Final[dict[type[ast.AST], str]] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip
LOGGERS: Final = frozenset({"log", "logger", "logging"})

# Given the node at a site, in a fresh copy of the module's tree: what replaces it.
Replace = Callable[[ast.AST], ast.AST]


@dataclass(frozen=True)
class Site:
    """One mutation of one node: the node's position in `ast.walk` order and its change."""

    index: int
    line: int
    description: str
    replace: Replace
    span: tuple[int, int]  # the lines of the changed node
    col: int  # where on its line: "#2" is the second of a kind in reading order


@dataclass(frozen=True)
class Placed:
    """A site and whether a test can reach it only by running its lines (inside a function
    body), or also by importing the module (module level, class bodies, default values)."""

    site: Site
    in_function: bool


@dataclass(frozen=True)
class Mutant:
    module: str  # path from the repository root
    number: int  # 1-based, within the module
    line: int
    description: str  # the mutation, e.g. "> → >="; "#2" when the line has it twice
    source: str  # the original line, stripped
    span: tuple[int, int] | None  # lines a test must run to reach it; None: any test may

    @property
    def name(self) -> str:
        return Path(self.module).name

    @property
    def key(self) -> tuple[str, str, str]:
        """How equivalent.md names it: stable when lines move."""
        return self.name, self.source, self.description


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed | timeout | survived | unreached (no test runs its lines)
    seconds: float
    killed_by: str = ""
    tests: int = 0  # how many tests were run against it


# --- generating mutants --------------------------------------------------------------------


def _short(text: str, limit: int = 32) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_mutated(tree: ast.Module) -> set[int]:
    """ids of the nodes left alone: docstrings (any bare string), annotations, decorators,
    logging calls, `encoding=` arguments and the parts of f-strings (an f-string is emptied as
    a whole)."""
    skip: set[int] = set()

    def under(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        # Docstrings, and the strings documenting an attribute or enum member: no-ops.
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            under(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            under(node.returns)
            for decorator in node.decorator_list:
                under(decorator)
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                under(decorator)
        if isinstance(node, ast.arg):
            under(node.annotation)
        if isinstance(node, ast.AnnAssign):
            under(node.annotation)
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in ast.walk(node) if n is not node)
        if isinstance(node, ast.keyword) and node.arg == "encoding":
            under(node)  # an empty encoding fails loudly everywhere: nothing to learn
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in LOGGERS
        ):
            under(node)
    return skip


def _sites_of(node: ast.AST, index: int) -> Iterable[Site]:
    line = getattr(node, "lineno", 0)
    span = (line, getattr(node, "end_lineno", None) or line)
    col = getattr(node, "col_offset", 0)
    if isinstance(node, ast.Compare):
        for j, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap is not None:

                def flip(n: ast.AST, j: int = j, swap: type[ast.cmpop] = swap) -> ast.AST:
                    assert isinstance(n, ast.Compare)
                    n.ops[j] = swap()
                    return n

                yield Site(index, line, f"{SYMBOLS[type(op)]} → {SYMBOLS[swap]}", flip, span, col)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And

        def swap_bool(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.BoolOp)
            n.op = other()
            return n

        yield Site(
            index, line, f"{SYMBOLS[type(node.op)]} → {SYMBOLS[other]}", swap_bool, span, col
        )
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        swap_op = BINOP_SWAPS[type(node.op)]

        def swap_arith(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.BinOp)
            n.op = swap_op()
            return n

        description = f"{SYMBOLS[type(node.op)]} → {SYMBOLS[swap_op]}"
        yield Site(index, line, description, swap_arith, span, col)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):

        def operand(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.UnaryOp)
            return n.operand

        yield Site(index, line, "remove not", operand, span, col)
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            flipped = f"{value} → {not value}"
            yield Site(index, line, flipped, lambda n: ast.Constant(not value), span, col)
        elif isinstance(value, int | float):
            bigger = f"{value} → {value + 1}"
            yield Site(index, line, bigger, lambda n: ast.Constant(value + 1), span, col)
        elif isinstance(value, str) and value:
            description = f"empty {_short(repr(value))}"
            yield Site(index, line, description, lambda n: ast.Constant(""), span, col)
    elif isinstance(node, ast.JoinedStr):
        description = f"empty {_short(ast.unparse(node))}"
        yield Site(index, line, description, lambda n: ast.Constant(""), span, col)
    elif isinstance(node, ast.Return) and not isinstance(node.value, ast.Constant | None):
        # A constant returned has its own mutation (True → False, ...).

        def none(n: ast.AST) -> ast.AST:
            assert isinstance(n, ast.Return)
            n.value = ast.Constant(None)
            return n

        yield Site(index, line, "return None", none, span, col)
    if isinstance(node, ast.If):
        for k, stmt in enumerate(node.body):
            if isinstance(stmt, ast.Pass):
                continue

            def delete(n: ast.AST, k: int = k) -> ast.AST:
                assert isinstance(n, ast.If)
                n.body[k] = ast.Pass()
                return n

            stmt_span = (stmt.lineno, stmt.end_lineno or stmt.lineno)
            yield Site(index, stmt.lineno, "delete statement", delete, stmt_span, stmt.col_offset)


def _in_function(tree: ast.Module) -> set[int]:
    """ids of the nodes that run only when a function runs: the bodies of functions and
    lambdas (not their default values or decorators, which run where they are defined)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
        elif isinstance(node, ast.Lambda):
            inside.update(id(n) for n in ast.walk(node.body))
    return inside


def mutants_of(module: str, source: str) -> tuple[list[Mutant], list[Site]]:
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _not_mutated(tree)
    inside = _in_function(tree)
    placed = [
        Placed(site, id(node) in inside)
        for index, node in enumerate(ast.walk(tree))
        if id(node) not in skip
        for site in _sites_of(node, index)
    ]
    # Sites in source order, so that "#2" means the second on its line.
    placed.sort(key=lambda p: (p.site.line, p.site.col, p.site.index))
    seen: Counter[tuple[str, str]] = Counter()
    found = []
    for number, (site, in_function) in enumerate(((p.site, p.in_function) for p in placed), 1):
        text = lines[site.line - 1].strip()
        seen[(text, site.description)] += 1
        count = seen[(text, site.description)]
        description = site.description + (f" #{count}" if count > 1 else "")
        span = site.span if in_function else None
        found.append(Mutant(module, number, site.line, description, text, span))
    return found, [p.site for p in placed]


def mutated_source(source: str, site: Site) -> str:
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    target = nodes[site.index]
    replacement = site.replace(target)
    if replacement is not target:
        _swap_in_parent(tree, target, replacement)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _swap_in_parent(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if child is old:
                        value[i] = new
                        return
    raise LookupError("node not found in its tree")


def check_round_trip(module: str, source: str) -> None:
    """Unparsing must not change the module, or every mutant would carry a second change."""
    again = ast.unparse(ast.parse(source))
    if ast.dump(ast.parse(again)) != ast.dump(ast.parse(source)):
        raise SystemExit(f"{module}: ast.unparse does not round-trip; cannot mutate it")


# --- equivalent mutants ----------------------------------------------------------------------


def _cells(row: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def read_equivalents(path: Path) -> dict[tuple[str, str, str], str]:
    """equivalent.md's table rows: `| module | `line` | mutation | why |`."""
    found: dict[tuple[str, str, str], str] = {}
    if not path.exists():
        return found
    for row in path.read_text(encoding="utf-8").splitlines():
        if not row.startswith("|"):
            continue
        cells = _cells(row)
        if len(cells) != 4 or not cells[0].endswith(".py"):
            continue
        module, line, mutation, why = cells
        found[(module, line.strip("`").strip(), mutation)] = why
    return found


# --- running -------------------------------------------------------------------------------


def copy_repository(into: Path) -> Path:
    target = (into / "repo").resolve()
    shutil.copytree(ROOT, target, ignore=COPY_IGNORE, symlinks=True)
    return target


def environment(repo: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH", "")) if p)
    # No .pyc is written, so a mutant can never be run from another mutant's bytecode.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def pytest_command(tests: Sequence[str], *plugins: str) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    for plugin in plugins:
        command += ["-p", plugin]
    return [*command, "--hypothesis-seed=0", *tests]


def run_tests(
    repo: Path, command: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[str, float, str]:
    """(`passed` | `failed` | `timeout`, seconds, the first failing test or the output's end)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=repo,
        env=env or environment(repo),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = "passed" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        status = "timeout"
        _kill_group(proc.pid)
        output, _ = proc.communicate()
    _kill_group(proc.pid)  # whatever a test started and left behind (its group only)
    seconds = time.monotonic() - started
    # The summary's first failing test (an "ERROR" line may also be a captured log line).
    failing = next(
        (line for line in output.splitlines() if re.match(r"(FAILED|ERROR) \S+\.py", line)), ""
    )
    return status, seconds, failing or "\n".join(output.splitlines()[-15:])


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class Workers:
    """One copy of the repository per job; a job takes a copy, mutates, tests and restores."""

    def __init__(self, jobs: int, keep: bool) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="binance-mcp-mutation-"))
        self.keep = keep
        self.copies: Queue[Path] = Queue()
        self.all: list[Path] = []
        for i in range(jobs):
            repo = copy_repository(self.root / str(i))
            self.all.append(repo)
            self.copies.put(repo)

    def close(self) -> None:
        if self.keep:
            print(f"copies kept in {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def check(self, modules: Sequence[str], tests: Sequence[str]) -> float:
        """The unmutated tests must pass in a copy that imports its own modules."""
        repo = self.all[0]
        probe = subprocess.run(
            [sys.executable, "-c", "import binance_mcp; print(binance_mcp.__file__)"],
            cwd=repo,
            env=environment(repo),
            capture_output=True,
            text=True,
            check=True,
        )
        if not Path(probe.stdout.strip()).resolve().is_relative_to(repo):
            raise SystemExit(f"the copy imports binance_mcp from {probe.stdout.strip()}")
        for module in modules:
            if not (repo / module).is_file():
                raise SystemExit(f"no module {module}")
        status, seconds, detail = run_tests(repo, pytest_command(tests), timeout=3600)
        if status != "passed":
            raise SystemExit(f"the tests do not pass without mutants ({status}):\n{detail}")
        return seconds

    def trace(
        self, modules: Sequence[str], tests: Sequence[str]
    ) -> dict[str, dict[str, list[int]]]:
        """Each test's lines of `modules`: {node id: {module: lines}}, in the order run."""
        repo = self.all[0]
        out = self.root / "trace.json"
        env = environment(
            repo,
            MUTATION_TRACE_FILES=os.pathsep.join(str(repo / m) for m in modules),
            MUTATION_TRACE_OUT=str(out),
        )
        command = pytest_command(tests, "mutation._trace")
        status, _, detail = run_tests(repo, command, timeout=3600, env=env)
        if status != "passed":
            raise SystemExit(f"the tests do not pass while traced ({status}):\n{detail}")
        by_path: dict[str, dict[str, list[int]]] = json.loads(out.read_text(encoding="utf-8"))
        return {
            test: {Path(path).relative_to(repo).as_posix(): lines for path, lines in seen.items()}
            for test, seen in by_path.items()
        }

    def run(
        self, mutant: Mutant, site: Site, source: str, tests: Sequence[str], timeout: float
    ) -> Result:
        if not tests:
            return Result(mutant, "unreached", 0.0)
        repo = self.copies.get()
        path = repo / mutant.module
        try:
            path.write_text(mutated_source(source, site), encoding="utf-8")
            for stale in path.parent.glob(f"__pycache__/{path.stem}.*"):
                stale.unlink()
            status, seconds, detail = run_tests(repo, pytest_command(tests), timeout)
        finally:
            path.write_text(source, encoding="utf-8")
            self.copies.put(repo)
        outcome = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[status]
        return Result(mutant, outcome, seconds, detail if outcome == "killed" else "", len(tests))


def tests_reaching(
    mutant: Mutant, trace: dict[str, dict[str, list[int]]] | None, files: Sequence[str]
) -> list[str]:
    """The tests that run the mutant's lines (all the files when it runs at import, or
    without a trace)."""
    if trace is None or mutant.span is None:
        return list(files)
    first, last = mutant.span
    return [
        test
        for test, seen in trace.items()
        if any(first <= line <= last for line in seen.get(mutant.module, ()))
    ]


# --- reporting -----------------------------------------------------------------------------

LOST: Final = ("survived", "unreached")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _line(result: Result) -> str:
    m = result.mutant
    note = " (no test reaches it)" if result.outcome == "unreached" else ""
    return f"  {m.name}:{m.line}  [{m.description}]{note}  {m.source}"


def report(
    results: Sequence[Result], modules: Sequence[str], equivalents: dict[tuple[str, str, str], str]
) -> str:
    out = []
    header = f"{'module':<16} {'mutants':>7} {'killed':>7} {'survived':>8} {'equiv.':>6} "
    out.append(header + f"{'killed %':>8} {'non-equivalent killed':>24}")
    totals = Counter[str]()
    for module in modules:
        mine = [r for r in results if r.mutant.module == module]
        killed = sum(r.outcome not in LOST for r in mine)
        equivalent = sum(r.outcome in LOST and r.mutant.key in equivalents for r in mine)
        totals.update(total=len(mine), killed=killed, equivalent=equivalent)
        out.append(_row(Path(module).name, len(mine), killed, equivalent))
    out.append(_row("all", totals["total"], totals["killed"], totals["equivalent"]))
    survivors = [r for r in results if r.outcome in LOST]
    real = [r for r in survivors if r.mutant.key not in equivalents]
    out.append(f"\nsurvivors not listed as equivalent ({len(real)}):")
    out.extend(_line(r) for r in real)
    listed = [r for r in survivors if r.mutant.key in equivalents]
    out.append(f"\nsurvivors listed as equivalent in {EQUIVALENT_FILE.name} ({len(listed)}):")
    out.extend(f"{_line(r)}\n      {equivalents[r.mutant.key]}" for r in listed)
    wrong = [r for r in results if r.outcome not in LOST and r.mutant.key in equivalents]
    if wrong:
        out.append(f"\nlisted as equivalent but killed, to remove from {EQUIVALENT_FILE.name}:")
        out.extend(_line(r) for r in wrong)
    if real:
        out.append(f"\nrows for {EQUIVALENT_FILE.name}, for those you judge equivalent:")
        out.extend(
            f"| {r.mutant.name} | `{_md(r.mutant.source)}` | {_md(r.mutant.description)} | WHY |"
            for r in real
        )
    return "\n".join(out)


def _row(name: str, total: int, killed: int, equivalent: int) -> str:
    survived = total - killed
    rate = f"{100 * killed / total:.1f}" if total else "-"
    counted = total - equivalent
    real = f"{killed}/{counted} = {100 * killed / counted:.1f} %" if counted else "-"
    return f"{name:<16} {total:>7} {killed:>7} {survived:>8} {equivalent:>6} {rate:>8} {real:>24}"


# --- command line --------------------------------------------------------------------------


def resolve_module(name: str) -> str:
    """`engine`, `engine.py`, `guard/engine.py` or the full path."""
    for candidate in (name, f"binance_mcp/guard/{name}", f"binance_mcp/guard/{name}.py"):
        if (ROOT / candidate).is_file() and candidate.endswith(".py"):
            return candidate
    raise SystemExit(f"no module {name!r} (give a path from the repository root)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mutation.run",
        description="Mutation testing of the guard's decision core (see the module's docstring).",
    )
    parser.add_argument(
        "--module",
        action="append",
        help="a module to mutate (path, or a name in binance_mcp/guard/); repeat for more; "
        "default: conditions, counting, engine, facts, store, trading_state",
    )
    parser.add_argument(
        "--tests",
        action="append",
        help="a test file or node id to run against each mutant; repeat for more; default: "
        "the guard's tests (fast ones first)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a mutant's test run may take before it counts as killed (timeout); "
        "default: 3 x the unmutated run, at least 60",
    )
    parser.add_argument(
        "--all-tests",
        action="store_true",
        help="run every chosen test against every mutant, not only those that reach its lines",
    )
    parser.add_argument("--filter", help="only mutants whose line or mutation contains this text")
    parser.add_argument("--line", type=int, action="append", help="only mutants on this line")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    modules = [resolve_module(m) for m in args.module or DEFAULT_MODULES]
    tests = args.tests or [t for t in DEFAULT_TESTS if (ROOT / t).exists()]
    sources = {m: (ROOT / m).read_text(encoding="utf-8") for m in modules}
    work: list[tuple[Mutant, Site]] = []
    for module, source in sources.items():
        check_round_trip(module, source)
        found, sites = mutants_of(module, source)
        for mutant, site in zip(found, sites, strict=True):
            if args.filter and args.filter not in f"{mutant.source} {mutant.description}":
                continue
            if args.line and mutant.line not in args.line:
                continue
            work.append((mutant, site))
    if args.list:
        for mutant, _ in work:
            print(f"{mutant.name}:{mutant.line}  [{mutant.description}]  {mutant.source}")
        print(f"{len(work)} mutants", file=sys.stderr)
        return 0
    equivalents = read_equivalents(EQUIVALENT_FILE)
    started = time.monotonic()
    workers = Workers(max(1, args.jobs), args.keep)
    results: list[Result] = []
    try:
        print(f"{len(work)} mutants; tests: {' '.join(tests)}", file=sys.stderr, flush=True)
        baseline = workers.check(modules, tests)
        timeout = args.timeout or max(60.0, 3 * baseline)
        print(
            f"unmutated run: {baseline:.1f} s; timeout per mutant {timeout:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        trace = None if args.all_tests else workers.trace(modules, tests)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [
                pool.submit(
                    workers.run,
                    mutant,
                    site,
                    sources[mutant.module],
                    tests_reaching(mutant, trace, tests),
                    timeout,
                )
                for mutant, site in work
            ]
            for done, future in enumerate(as_completed(futures), 1):
                result = future.result()
                results.append(result)
                m = result.mutant
                tag = result.outcome.upper() if result.outcome in LOST else result.outcome
                print(
                    f"[{done:>4}/{len(work)}] {m.name}:{m.line} [{m.description}] {tag} "
                    f"({result.tests} tests, {result.seconds:.1f} s) "
                    f"{result.killed_by.split(' - ')[0]}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        workers.close()
    results.sort(key=lambda r: (modules.index(r.mutant.module), r.mutant.number))
    print(report(results, modules, equivalents))
    print(f"\n{len(results)} mutants in {time.monotonic() - started:.0f} s, {args.jobs} jobs")
    if args.json:
        rows = [
            {**asdict(r.mutant), "outcome": r.outcome, "seconds": round(r.seconds, 2),
             "killed_by": r.killed_by, "tests": r.tests}
            for r in results
        ]  # fmt: skip
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
