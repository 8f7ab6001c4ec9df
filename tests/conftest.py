"""Shared pytest fixtures. Sections are independent; add new ones at the end."""

from __future__ import annotations

import pytest

# --- async backend: every @pytest.mark.anyio test runs on asyncio ----------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- paper exchange: a real one on 127.0.0.1 per test (see tests/paper_fixtures.py) -----------

# --- MCP end to end: the server against that paper exchange (see tests/mcp_fixtures.py) --------

from tests.mcp_fixtures import mode, server  # noqa: E402, F401
from tests.paper_fixtures import client, paper, paper_config  # noqa: E402, F401
