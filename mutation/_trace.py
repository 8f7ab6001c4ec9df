"""A pytest plugin for mutation/run.py: which lines of the mutated modules each test runs.

Loaded with `-p mutation._trace` in the repository's copy; the files to watch and where to
write the map come from the environment (MUTATION_TRACE_FILES, MUTATION_TRACE_OUT). Lines run
in a subprocess (a stdio server) are not seen: a mutant only such a test reaches is reported as
reached by no test, never wrongly as killed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

_FILES = {
    name
    for path in os.environ.get("MUTATION_TRACE_FILES", "").split(os.pathsep)
    if path
    for name in (path, os.path.realpath(path))
}
_seen: set[tuple[str, int]] = set()
_by_test: dict[str, dict[str, list[int]]] = {}


def _line(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _seen.add((frame.f_code.co_filename, frame.f_lineno))
    return _line


def _call(frame: FrameType, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename in _FILES:
        _seen.add((frame.f_code.co_filename, frame.f_lineno))
        return _line
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    _seen.clear()
    threading.settrace(_call)
    sys.settrace(_call)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)
        lines: dict[str, list[int]] = {}
        for filename, number in _seen:
            lines.setdefault(os.path.realpath(filename), []).append(number)
        _by_test[item.nodeid] = {name: sorted(numbers) for name, numbers in lines.items()}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("MUTATION_TRACE_OUT")
    if out:
        Path(out).write_text(json.dumps(_by_test), encoding="utf-8")
