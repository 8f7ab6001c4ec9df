"""Interpreters for Binance's own Python connectors, which tests/test_paper_connectors.py runs
against the paper exchange. `binance-connector` (spot, `binance.spot`) and
`binance-futures-connector` (USD-M, `binance.um_futures`) each install a top-level `binance`
package: it would replace python-binance's in the project's venv, and the two replace each
other's shared modules (`binance/api.py`, `binance/error.py`, ... differ between them). So each
gets a virtualenv of its own, built with pip at the first run and kept in the user's cache dir
under a name that hashes the pinned versions and this interpreter: later runs reuse it, and a
version bump or another Python builds afresh. A failed install fails the test with pip's
output; nothing is skipped."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import platformdirs
import pytest

# Bump these together with the scripts in tests/connectors/ when a new release is to be tested.
CONNECTORS: Final = {
    "spot": ("binance-connector", "3.13.0"),
    "futures": ("binance-futures-connector", "4.2.0"),
}
INSTALL_TIMEOUT_S: Final = 600
_LOCK: Final = threading.Lock()


def cache_root() -> Path:
    pins = json.dumps([CONNECTORS, sys.version, sys.base_prefix], sort_keys=True)
    digest = hashlib.sha256(pins.encode()).hexdigest()[:12]
    return platformdirs.user_cache_path("binance-mcp-tests") / f"connectors-{digest}"


def connector_python(name: str) -> Path:
    """The interpreter that has connector `name` ("spot" or "futures") installed. The first
    call builds every connector's venv that is missing, side by side: on a fresh machine pip
    spends most of its time downloading."""
    with _LOCK:
        missing = {
            home: f"{package}=={version}"
            for home, (package, version) in (
                (cache_root() / n, pin) for n, pin in CONNECTORS.items()
            )
            if not _python_in(home).exists()
        }
        if missing:
            with ThreadPoolExecutor(len(missing)) as pool:
                for built in [pool.submit(_build, h, r) for h, r in missing.items()]:
                    built.result()
    return _python_in(cache_root() / name)


def _build(home: Path, requirement: str) -> None:
    # Built beside its final place and renamed into it last, so a run that is killed halfway,
    # or another pytest process building at the same time, never leaves a half-built venv
    # where a later run would take it for a finished one.
    building = home.with_name(f"{home.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        pip = _create(building)
        # --no-compile: byte-compiling every installed module costs more than the install;
        # the few modules the scripts import are compiled when first imported.
        install = [*pip, "install", "--disable-pip-version-check", "--no-input", "--no-compile"]
        try:
            done = subprocess.run(
                [*install, requirement],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"pip install {requirement} took over {exc.timeout} s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(
                f"pip install {requirement} failed (exit {done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
        try:
            building.rename(home)
        except OSError:
            # Another process finished first: its venv is as good as ours.
            if not _python_in(home).exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _create(target: Path) -> list[str]:
    """A fresh virtualenv at `target`; returns the pip command that installs into it. This
    interpreter's pip installs into it with `--python` (no copy of pip in each venv, seconds
    saved); without a pip here, the venv gets its own."""
    target.parent.mkdir(parents=True, exist_ok=True)
    own_pip = importlib.util.find_spec("pip") is not None
    venv.create(target, with_pip=not own_pip, symlinks=os.name != "nt")
    python = str(_python_in(target))
    return [sys.executable, "-m", "pip", "--python", python] if own_pip else [python, "-m", "pip"]


def _python_in(home: Path) -> Path:
    return home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
