"""The out-of-band approval queue (SPEC §4.5), for clients that cannot elicit: a call that needs
approval waits here, in the state dir, for `binance-mcp approvals approve ID` (or `deny`) from
another terminal.

A request is bound to one call (the digest of its tool, normalised arguments and the policy in
force), decided once, used once by the call that filed it, and expires.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

from binance_mcp.guard.store import Database

Status = Literal["pending", "approved", "denied", "expired", "used"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    tool TEXT NOT NULL,
    summary TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL
);
"""
# The columns of a `Request`, in its field order.
_SELECT: Final = "SELECT id, digest, tool, summary, created, expires, status, reason FROM approvals"
# Decided and expired requests are kept this long for `binance-mcp approvals` to show.
_KEEP_S: Final = 86400.0


class ApprovalError(Exception):
    """What `approve`/`deny` could not do, said for the person at the terminal."""


@dataclass(frozen=True)
class Request:
    id: str
    digest: str
    tool: str
    summary: str
    created: float
    expires: float
    status: Status
    reason: str

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires


class Queue(Protocol):
    """Where approval requests wait: `ApprovalQueue` (SQLite in the state dir, through
    `InlineQueue`) or `RedisApprovalQueue` (guard/redis_state.py)."""

    async def file(
        self, digest: str, tool: str, summary: str, expires_in: float, pid: int
    ) -> str: ...
    async def listing(self, everything: bool = False) -> list[Request]: ...
    async def decide(self, ident: str, approve: bool, reason: str = "") -> Request: ...
    async def settle(self, ident: str, digest: str) -> Request | None: ...
    async def withdraw(self, ident: str) -> None: ...
    def close(self) -> None: ...


class ApprovalQueue(Database):
    schema = _SCHEMA

    def file(self, digest: str, tool: str, summary: str, timeout: float, pid: int) -> str:
        """Queue a request; its id is what the person types."""
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM approvals WHERE expires < ?", (now - _KEEP_S,))
            while True:
                ident = secrets.token_hex(3)
                if db.execute("SELECT 1 FROM approvals WHERE id = ?", (ident,)).fetchone() is None:
                    break
            db.execute(
                "INSERT INTO approvals (id, digest, tool, summary, created, expires, status, pid) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (ident, digest, tool, summary, now, now + timeout, pid),
            )
        return ident

    def listing(self, everything: bool = False) -> list[Request]:
        now = time.time()
        with self.transaction() as db:
            rows = db.execute(f"{_SELECT} ORDER BY created").fetchall()
        found = [Request(*row) for row in rows]
        if everything:
            return found
        return [r for r in found if r.status == "pending" and not r.expired(now)]

    def decide(self, ident: str, approve: bool, reason: str = "") -> Request:
        """A person's answer to a pending request."""
        ident = ident.strip().lower()
        now = time.time()
        with self.transaction() as db:
            row = db.execute(
                f"{_SELECT} WHERE id = ?",
                (ident,),
            ).fetchone()
            if row is None:
                raise ApprovalError(
                    f"no approval request {ident!r}; `binance-mcp approvals` lists them"
                )
            request = Request(*row)
            if request.status != "pending":
                raise ApprovalError(f"request {ident} is already {request.status}")
            if request.expired(now):
                db.execute("UPDATE approvals SET status = 'expired' WHERE id = ?", (ident,))
                raise ApprovalError(f"request {ident} has expired; the call was denied")
            status: Status = "approved" if approve else "denied"
            db.execute(
                "UPDATE approvals SET status = ?, reason = ? WHERE id = ?", (status, reason, ident)
            )
        return replace(request, status=status, reason=reason)

    def settle(self, ident: str, digest: str) -> Request | None:
        """The waiting call's look at its request: once approved or denied, the request is used
        up (an approval is spent by exactly one call, the one whose digest it carries); past
        its expiry it is expired. None while still pending."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute(
                f"{_SELECT} WHERE id = ? AND digest = ?",
                (ident, digest),
            ).fetchone()
            if row is None:
                return Request(ident, digest, "", "", now, now, "expired", "request not found")
            request = Request(*row)
            if request.status == "pending":
                if not request.expired(now):
                    return None
                db.execute("UPDATE approvals SET status = 'expired' WHERE id = ?", (ident,))
                return replace(request, status="expired")
            db.execute("UPDATE approvals SET status = 'used' WHERE id = ?", (ident,))
        return request

    def withdraw(self, ident: str) -> None:
        """The waiting call ended (cancelled by the client): nobody may approve it any more."""
        with self.transaction() as db:
            db.execute(
                "UPDATE approvals SET status = 'expired' WHERE id = ? AND status IN "
                "('pending', 'approved')",
                (ident,),
            )


class InlineQueue:
    """`ApprovalQueue` as a `Queue`: the CLI calls the queue itself; a waiting call awaits it
    through this, inline on the event loop (one short SQLite transaction in the state dir)."""

    def __init__(self, queue: ApprovalQueue) -> None:
        self.queue = queue

    async def file(self, digest: str, tool: str, summary: str, expires_in: float, pid: int) -> str:
        return self.queue.file(digest, tool, summary, expires_in, pid)

    async def listing(self, everything: bool = False) -> list[Request]:
        return self.queue.listing(everything)

    async def decide(self, ident: str, approve: bool, reason: str = "") -> Request:
        return self.queue.decide(ident, approve, reason)

    async def settle(self, ident: str, digest: str) -> Request | None:
        return self.queue.settle(ident, digest)

    async def withdraw(self, ident: str) -> None:
        self.queue.withdraw(ident)

    def close(self) -> None:
        self.queue.close()
