"""The examples run as their docstrings say, against a real paper exchange."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from binance_mcp.paper.runner import PaperExchange

ROOT = Path(__file__).resolve().parent.parent


def test_paper_with_python_binance(paper: PaperExchange) -> None:
    env = {
        **os.environ,
        "BINANCE_API_KEY": paper.config.api_key,
        "BINANCE_API_SECRET": paper.config.api_secret,
    }
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "paper_with_python_binance.py"), paper.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "BTCUSDT last price: " in run.stdout
    assert "NEW" in run.stdout and "CANCELED" in run.stdout
    assert "USDT free " in run.stdout
