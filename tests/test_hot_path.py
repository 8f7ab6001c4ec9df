"""What a call does on every call, made cheaper for throughput (bench/transports.py), still does
what it did: a policy edit is seen at the next call however the file is checked, a text that
holds a JSON list is still taken as the list, and the per-call log lines wait at most for the
end of the loop's turn, in order."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.guard import gate
from binance_mcp.guard.file_system import file_system_of, is_local
from binance_mcp.guard.gate import PolicyHolder
from binance_mcp.logs import info_line, setup_logging
from tests.mcp_fixtures import ok

ALLOW = "version: 1\nmode: enforce\ndefault: allow\n"
DENY = "version: 1\nmode: enforce\ndefault: deny \n"


@pytest.mark.parametrize("local", [True, False])
def test_a_same_size_edit_with_the_old_mtime_is_seen_once_the_status_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: bool
) -> None:
    """With the status trusted at once (as it is 3 s after a change), the next look is a stat
    (local) or an open and fstat (elsewhere): an edit that keeps the size and puts the mtime
    back still changes the ctime, and the new content is read."""
    monkeypatch.setattr(gate, "SETTLED_S", 0.0)
    path = tmp_path / "policy.yaml"
    path.write_text(ALLOW)
    holder = PolicyHolder(path)
    holder._stat_only = local
    assert holder.current().default == "allow"
    assert holder._settled is not None  # looked at without reading from now on
    before = path.stat()
    assert len(DENY) == before.st_size
    path.write_text(DENY)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert holder.current().default == "deny"


def test_a_status_too_recent_to_trust_reads_the_content_every_time(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ALLOW)
    holder = PolicyHolder(path)
    assert holder._settled is None  # written just now: timestamps may not tell the next edit
    assert holder.current().default == "allow"


def test_a_policy_file_that_goes_away_keeps_the_last_good_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ALLOW)
    holder = PolicyHolder(path)
    path.unlink()
    assert holder.current().default == "allow"
    assert holder.error is not None and "cannot read" in holder.error


def test_the_file_system_is_read_from_the_mount_table(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "30 22 0:40 / /home rw,relatime shared:2 - nfs4 server:/home rw\n"
        "31 30 8:2 / /home/u/local rw - xfs /dev/sda2 rw\n"
        "32 22 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
    )
    assert file_system_of(Path("/etc/hosts"), table) == "ext4"
    assert file_system_of(Path("/home/u/policy.yaml"), table) == "nfs4"
    assert file_system_of(Path("/home/u/local/policy.yaml"), table) == "xfs"
    assert file_system_of(Path("/home/u/localx/policy.yaml"), table) == "nfs4"
    assert file_system_of(Path("/mnt/with space/p.yaml"), table) == "tmpfs"
    assert not is_local(Path("/home/u/policy.yaml"), table)
    assert is_local(Path("/home/u/local/policy.yaml"), table)
    assert file_system_of(Path("/x"), tmp_path / "missing") is None
    assert not is_local(Path("/x"), tmp_path / "missing")


@pytest.mark.anyio
async def test_a_json_list_sent_as_text_is_still_a_list(server: Any) -> None:
    """Some clients send list arguments as JSON text; the SDK decodes them, and the server
    only skips trying on texts that cannot be a list, an object or null."""
    async with Client(server) as c:
        both = await ok(c, "binance_spot_price", {"symbols": '  ["BTCUSDT","ETHUSDT"]'})
        assert [p["symbol"] for p in both["prices"]] == ["BTCUSDT", "ETHUSDT"]
        one = await ok(c, "binance_spot_price", {"symbol": "ethusdt"})
        assert [p["symbol"] for p in one["prices"]] == ["ETHUSDT"]


def test_log_lines_wait_for_the_end_of_the_loop_turn_and_keep_their_order() -> None:
    root, ours = logging.getLogger(), logging.getLogger("binance_mcp")
    saved = root.handlers[:], root.level, ours.level
    setup_logging({}, "INFO")
    handler = next(h for h in root.handlers if getattr(h, "_binance_mcp", False))
    out = io.StringIO()
    handler.setStream(out)  # type: ignore[attr-defined]
    log = logging.getLogger("binance_mcp.calls")
    seen: list[str] = []

    async def calls() -> None:
        log.info("one")
        log.info("two")
        seen.append(out.getvalue())
        await asyncio.sleep(0)
        seen.append(out.getvalue())
        log.info("three")
        log.warning("four")  # written at once, after what waits
        seen.append(out.getvalue())
        log.info("five")

    try:
        asyncio.run(calls())
        log.info("six")  # no loop running: at once
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        ours.setLevel(saved[2])
    lines = [line.split(": ", 1)[1] for line in out.getvalue().splitlines()]
    assert seen[0] == ""
    assert seen[1].count("\n") == 2
    assert seen[2].count("\n") == 4
    assert lines == ["one", "two", "three", "four", "five", "six"]


@pytest.fixture
def stderr_log() -> Iterator[io.StringIO]:
    """The server's logging as `setup_logging` makes it, writing into a buffer; restored after."""
    root, ours = logging.getLogger(), logging.getLogger("binance_mcp")
    saved = root.handlers[:], root.level, ours.level
    setup_logging({}, "INFO")
    handler = next(h for h in root.handlers if getattr(h, "_binance_mcp", False))
    out = io.StringIO()
    handler.setStream(out)  # type: ignore[attr-defined]
    try:
        yield out
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        ours.setLevel(saved[2])


def test_the_line_made_without_logging_is_the_line_logging_makes(
    stderr_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)
    log = logging.getLogger("binance_mcp.calls")
    text = "binance_spot_price: ok (allow) on paper in 1.2 ms client=signature=abc123"
    info_line(log, text)
    log.info("%s", text)
    made, logged = stderr_log.getvalue().splitlines()
    assert made == logged
    assert made.endswith("client=signature=<redacted>")


def test_any_other_handler_or_filter_on_the_way_gets_the_record(stderr_log: io.StringIO) -> None:
    log = logging.getLogger("binance_mcp.calls")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    log.addHandler(handler)
    try:
        info_line(log, "through logging")
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in seen] == ["through logging"]
    assert stderr_log.getvalue().endswith("INFO binance_mcp.calls: through logging\n")
    logging.getLogger("binance_mcp").setLevel(logging.WARNING)
    info_line(log, "not at WARNING")
    assert "not at WARNING" not in stderr_log.getvalue()
