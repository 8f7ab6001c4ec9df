"""Programs some tests need from the system (a real Redis server, a real browser): found on the
PATH, or installed from Debian's packages when missing and this process may (root with apt),
so that the README's one test command works on a fresh machine. Under `CI=true` a program that
cannot be had fails the test instead of skipping it."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from typing import Final

import pytest

_LOCK: Final = threading.Lock()
_UPDATED: list[bool] = []


def ensure(program: str, package: str) -> str:
    """The path of `program`, installing Debian's `package` first when it is missing."""
    with _LOCK:
        found = shutil.which(program)
        if found is not None:
            return found
        problem = _install(package)
        found = shutil.which(program)
        if found is not None:
            return found
    message = f"{program} is needed and could not be installed ({problem})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _install(package: str) -> str:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return f"install the Debian package {package}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if not _UPDATED:
            subprocess.run(
                ["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600
            )
            _UPDATED.append(True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            check=True,
            env=env,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"apt-get install {package} failed: {exc}"
    return "installed"
