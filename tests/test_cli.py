"""The command line, run as a real subprocess the way users and MCP hosts run it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from binance_mcp import __version__
from binance_mcp.exchange.binance_api import make_client
from binance_mcp.exchange.venues import Endpoints


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # A minimal environment: none of the developer's BINANCE_* settings leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env["BINANCE_MCP_STATE_DIR"] = str(tmp_path / "state")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["serve", "paper", "--venue", "--policy", "--state-dir", "--version"]),
        (["serve", "--help"], ["--venue", "--policy", "--state-dir"]),
        (
            ["paper", "--help"],
            [
                "--host",
                "--port",
                "--state-dir",
                "--reset",
                "--seed",
                "--walk-interval",
                "--balance",
                "--futures-balance",
            ],
        ),
    ],
)
def test_help(args: list[str], expected: list[str], tmp_path: Path) -> None:
    result = run(args, base_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: binance-mcp")
    for word in expected:
        assert word in result.stdout


@pytest.mark.parametrize("args", [["--version"], ["serve", "--version"], ["paper", "--version"]])
def test_version(args: list[str], tmp_path: Path) -> None:
    result = run(args, base_env(tmp_path))
    assert (result.returncode, result.stdout.strip()) == (0, f"binance-mcp {__version__}")


BAD_RUNS: list[tuple[list[str], dict[str, str], str]] = [
    (
        ["--venue", "mainnet"],
        {},
        "unknown venue 'mainnet' (from --venue); valid: live, testnet, demo, paper",
    ),
    (["serve", "--venue", "x"], {}, "unknown venue 'x' (from --venue)"),
    ([], {"BINANCE_MCP_VENUE": "prod"}, "unknown venue 'prod' (from BINANCE_MCP_VENUE)"),
    ([], {"BINANCE_TESTNET": "true", "BINANCE_DEMO": "true"}, "BINANCE_TESTNET and BINANCE_DEMO"),
    ([], {"BINANCE_API_KEY": "abc"}, "BINANCE_API_KEY is set but BINANCE_API_SECRET"),
    ([], {"BINANCE_MCP_SPOT_URL": "https://x/{}/api", "BINANCE_MCP_VENUE": "live"}, "'{' or '}'"),
    (["--policy", "/nonexistent/policy.yaml"], {}, "policy file /nonexistent/policy.yaml"),
    ([], {"BINANCE_MCP_LOG_LEVEL": "LOUD"}, "BINANCE_MCP_LOG_LEVEL must be one of DEBUG"),
    (["paper", "--balance", "USDT=-5"], {}, "argument --balance: amount in 'USDT=-5' must be"),
    (["paper", "--balance", "USDT"], {}, "expected ASSET=AMOUNT"),
    (["paper", "--balance", "USDT=lots"], {}, "is not a decimal number"),
    (["paper", "--balance", "USDT=NaN"], {}, "must be a decimal >= 0"),
    (["paper", "--balance", "USDT=1", "--balance", "usdt=2"], {}, "USDT given more than once"),
    (["paper", "--futures-balance", "=5"], {}, "argument --futures-balance: expected ASSET="),
    (["paper", "--port", "70000"], {}, "argument --port: port must be 0-65535"),
    (["paper", "--walk-interval", "-1"], {}, "argument --walk-interval: must be a number"),
    (["paper", "--seed", "x"], {}, "argument --seed: invalid int value"),
    (["paper"], {"BINANCE_API_SECRET": "abc"}, "BINANCE_API_SECRET is set but BINANCE_API_KEY"),
    (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
    (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
]


@pytest.mark.parametrize(("args", "env", "expected"), BAD_RUNS)
def test_bad_configuration_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = run(args, base_env(tmp_path, **env))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("binance-mcp: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_unusable_state_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "paper").write_text("not a directory")
    result = run(["paper", "--port", "0"], base_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("binance-mcp: error: cannot create the paper account dir ")
    assert len(result.stderr.splitlines()) == 1


def test_secret_never_in_error_output(tmp_path: Path) -> None:
    secret = "S3cr3tValue" * 4
    env = base_env(tmp_path, BINANCE_API_SECRET=secret, BINANCE_SECRET_KEY=secret + "x")
    result = run([], env)
    assert result.returncode == 2 and secret not in result.stderr


# --- `binance-mcp paper` ------------------------------------------------------------------------


def start_paper(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    """Start `binance-mcp paper`, wait for its announcement; returns (process, base URL, text)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "binance_mcp", "paper", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("  use it from binance-mcp:"):
            break
    text = "".join(lines)
    match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", text)
    if match is None:
        proc.kill()
        proc.wait()
        pytest.fail(f"no announcement; stderr so far:\n{text}")
    return proc, match.group(1), text


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_paper_serves_and_announces_generated_keys(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    proc, base, text = start_paper(["--port", "0", "--walk-interval", "0", "--seed", "3"], env)
    try:
        assert not base.endswith(":0")
        assert f"spot API:    {base}/api" in text
        assert f"futures API: {base}/fapi" in text
        assert re.search(r"BINANCE_API_KEY=[0-9a-f]{64}", text)
        assert re.search(r"BINANCE_API_SECRET=[0-9a-f]{64}", text)
        assert get_json(base + "/api/v3/ping") == {}
        server_time = get_json(base + "/api/v3/time")
        assert isinstance(server_time, dict)
        assert abs(server_time["serverTime"] - time.time() * 1000) < 10_000
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert out == ""  # stdout stays clean; everything went to stderr
    assert "stopped" in err and "Traceback" not in err
    # The account lives in <state dir>/paper, where the stdio server looks for it too.
    assert any((tmp_path / "state" / "paper").iterdir())


def test_paper_uses_keys_from_env_and_does_not_print_them(tmp_path: Path) -> None:
    key, secret = "a" * 64, "b" * 64
    env = base_env(tmp_path, BINANCE_API_KEY=key, BINANCE_API_SECRET=secret)
    proc, base, text = start_paper(["--port", "0", "--balance", "USDT=5000"], env)
    try:
        assert "keys: from BINANCE_API_KEY" in text
        assert key not in text and secret not in text
        client = make_client(
            Endpoints("paper", base + "/api", base + "/fapi", SecretStr(key), SecretStr(secret))
        )
        try:
            balances = {b["asset"]: b["free"] for b in client.get_account()["balances"]}
        finally:
            client.close_connection()
        assert balances["USDT"] == "5000.00000000"
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert key not in err and secret not in err


def test_paper_port_in_use_is_a_clean_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["paper", "--port", str(port)], base_env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"binance-mcp: error: paper exchange on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr
