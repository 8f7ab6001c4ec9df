"""The package as users get it: the wheel built from this tree, installed in a fresh virtualenv
(its dependencies borrowed from the test environment, so the test needs no network once the
build backend is at hand), then run: `--version`, `policy init` (the packaged templates), and
a stdio `tools/list`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=300, check=False,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh virtualenv's bin dir, with the wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", base / "dist"]
    if importlib.util.find_spec("hatchling") is not None:
        build.append("--no-build-isolation")  # offline: the backend is installed already
    built = run(*build, ROOT)
    if built.returncode != 0 and "hatchling" in built.stderr + built.stdout:
        pytest.skip(f"the build backend (hatchling) cannot be installed here: {built.stderr}")
    assert built.returncode == 0, built.stderr
    [wheel] = (base / "dist").glob("binance_guard_mcp-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())  # fmt: skip
    # Dependencies from this environment, as a plain path: its .pth files (the editable
    # install of this checkout among them) are not processed, so binance_mcp comes from
    # the wheel alone.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet"]
    installed = run(*pip, wheel)
    assert installed.returncode == 0, installed.stderr
    return bin_dir


def test_the_wheel_runs_by_both_names(installed: Path, tmp_path: Path) -> None:
    for command in ("binance-guard-mcp", "binance-mcp"):
        version = run(installed / command, "--version", cwd=tmp_path)
        assert version.returncode == 0, version.stderr
        assert version.stdout.startswith("binance-mcp ")
    where = run(installed / "python", "-c", "import binance_mcp; print(binance_mcp.__file__)",
                cwd=tmp_path)  # fmt: skip
    assert str(installed.parent) in where.stdout, "imported from the checkout, not the wheel"


def test_policy_init_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    target = tmp_path / "policy.yaml"
    made = run(installed / "binance-guard-mcp", "policy", "init", "--template",
               "conservative-spot", target, cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    checked = run(installed / "binance-guard-mcp", "policy", "check", target, cwd=tmp_path)
    assert checked.returncode == 0 and "ok" in checked.stdout, checked.stderr
    templates = run(installed / "binance-guard-mcp", "policy", "templates", cwd=tmp_path)
    assert "futures-limits" in templates.stdout


def test_tools_list_over_stdio_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "wheel-test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "BINANCE_MCP_STATE_DIR": str(tmp_path / "state"), "BINANCE_MCP_VENUE": "paper"}  # fmt: skip
    process = subprocess.Popen(
        [installed / "binance-guard-mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    for request in requests:
        process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    answers = {}
    while len(answers) < 2:
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        message = json.loads(line)
        answers[message["id"]] = message
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert answers[1]["result"]["capabilities"]["logging"] == {}
    assert len(answers[2]["result"]["tools"]) == 35
