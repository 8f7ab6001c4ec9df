"""The paper account on disk: SQLite in WAL mode, written incrementally.

Why SQLite rather than a JSON file: the account's history (every order, fill and income row)
grows without bound, and rewriting it whole after each change made every request slower than
the one before. Here each request writes only what it changed, in one transaction committed
before the answer leaves (`PaperState.commit`), and reads of history go through indexes.

In memory stay only the open orders (indexed by id, client id and symbol), a bounded cache of
recently finished ones, and what changed since the last commit; everything else is read back
from the database when asked for.

Writes are done through the same connection as reads, inside one open transaction per request:
a history query made while a request is being handled sees that request's own rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, PrivateAttr

DB_FILE = "paper-account.sqlite3"
# Finished orders kept as objects after they leave the open index: an order just filled or
# cancelled is often read back at once (GET order, a retried cancel).
DONE_CACHE = 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    kind TEXT NOT NULL, id INTEGER NOT NULL, symbol TEXT NOT NULL, client_id TEXT NOT NULL,
    time INTEGER NOT NULL, is_open INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_symbol ON orders (kind, symbol, id);
CREATE INDEX IF NOT EXISTS orders_client ON orders (kind, client_id, id);
CREATE INDEX IF NOT EXISTS orders_time ON orders (kind, symbol, time, id);
CREATE INDEX IF NOT EXISTS orders_open ON orders (kind, id) WHERE is_open = 1;
CREATE TABLE IF NOT EXISTS events (
    kind TEXT NOT NULL, id INTEGER NOT NULL, symbol TEXT NOT NULL, ref INTEGER NOT NULL,
    type TEXT NOT NULL, time INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_symbol ON events (kind, symbol, id);
CREATE INDEX IF NOT EXISTS events_ref ON events (kind, symbol, ref, id);
CREATE INDEX IF NOT EXISTS events_time ON events (kind, symbol, time, id);
CREATE INDEX IF NOT EXISTS events_all_time ON events (kind, time, id);
"""


class Tracked(BaseModel):
    """A model that tells its index when any field is assigned, so the index writes exactly
    the orders a request changed, however deep in the matching code the change was made."""

    _sink: Callable[[Any], None] | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name[0] != "_":
            sink = self._sink
            if sink is not None:
                sink(self)


class Store:
    """One SQLite database (a file in the state dir, or in memory without one), shared by
    every index; one lock guards the connection, which several threads use."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.RLock()
        target = str(path) if path is not None else ":memory:"
        self.conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        try:
            if path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a commit is in the OS before the answer goes out, so a
                # crash of this process loses nothing answered; only a power cut may lose the
                # last commits. FULL would add an fsync to every order.
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            self.conn.close()
            raise
        self._in_tx = False
        self.flushers: list[Callable[[], None]] = []

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, args)

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        """A write inside the current transaction (opened here if none is)."""
        with self.lock:
            if not self._in_tx:
                self.conn.execute("BEGIN")
                self._in_tx = True
            self.conn.execute(sql, args)

    def write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.lock:
            if not self._in_tx:
                self.conn.execute("BEGIN")
                self._in_tx = True
            self.conn.executemany(sql, rows)

    def get_meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def pending(self) -> bool:
        return self._in_tx

    def commit(self) -> None:
        """Write what the indexes hold as changed, then commit the transaction."""
        with self.lock:
            for flush in self.flushers:
                flush()
            if self._in_tx:
                self.conn.execute("COMMIT")
                self._in_tx = False

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class OrderKey(NamedTuple):
    id: int
    symbol: str
    client_id: str
    time: int
    is_open: bool


M = TypeVar("M", bound=Tracked)


class OrderIndex(Mapping[int, M], Generic[M]):
    """One kind of order (spot, futures, algo): open ones in memory by id, symbol and client
    id; finished ones in the database. As a Mapping it shows every order ever placed (by id,
    read back from the database for finished ones): tests and tools read it that way, the
    matching code uses `open_orders`, `get` and `find`, which never scan history."""

    def __init__(
        self, store: Store, kind: str, model: type[M], key: Callable[[M], OrderKey]
    ) -> None:
        self.store, self.kind, self.model, self.key = store, kind, model, key
        self._open: dict[str, dict[int, M]] = {}
        self._open_by_id: dict[int, M] = {}
        self._open_by_client: dict[str, M] = {}
        self._done: OrderedDict[int, M] = OrderedDict()
        self._dirty: dict[int, M] = {}
        store.flushers.append(self.flush)
        with store.lock:
            cur = store.execute(
                "SELECT body FROM orders WHERE kind = ? AND is_open = 1 ORDER BY id", (kind,)
            )
            for (body,) in cur.fetchall():
                self._index_open(self._attach(model.model_validate_json(body)))
            self._count = int(
                store.execute("SELECT COUNT(*) FROM orders WHERE kind = ?", (kind,)).fetchone()[0]
            )

    def _attach(self, order: M) -> M:
        order._sink = self._touched
        return order

    def _touched(self, order: M) -> None:
        self._dirty[self.key(order).id] = order

    def _index_open(self, order: M) -> None:
        k = self.key(order)
        self._open.setdefault(k.symbol, {})[k.id] = order
        self._open_by_id[k.id] = order
        self._open_by_client[k.client_id] = order

    def _unindex_open(self, order: M) -> None:
        k = self.key(order)
        self._open.get(k.symbol, {}).pop(k.id, None)
        self._open_by_id.pop(k.id, None)
        if self._open_by_client.get(k.client_id) is order:
            del self._open_by_client[k.client_id]

    def _cache_done(self, order: M) -> None:
        k = self.key(order).id
        self._done[k] = order
        self._done.move_to_end(k)
        while len(self._done) > DONE_CACHE:
            self._done.popitem(last=False)

    def _row(self, order: M) -> tuple[Any, ...]:
        k = self.key(order)
        return (
            self.kind,
            k.id,
            k.symbol,
            k.client_id,
            k.time,
            int(k.is_open),
            order.model_dump_json(),
        )

    # ----- writing -------------------------------------------------------------------------

    def add(self, order: M) -> None:
        """A new order: indexed now, written in the current transaction (so history queries
        in the same request see it), rewritten at commit if it changes meanwhile."""
        self._attach(order)
        k = self.key(order)
        self.store.write(
            "INSERT OR REPLACE INTO orders (kind, id, symbol, client_id, time, is_open, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            self._row(order),
        )
        self._count += 1
        if k.is_open:
            self._index_open(order)
        else:
            self._cache_done(order)

    def __setitem__(self, order_id: int, order: M) -> None:
        self.add(order)

    def flush(self) -> None:
        """Write the orders changed since the last commit; move the ones that finished out of
        the open index."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        self.store.write_many(
            "INSERT OR REPLACE INTO orders (kind, id, symbol, client_id, time, is_open, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [self._row(o) for o in dirty.values()],
        )
        for order in dirty.values():
            if not self.key(order).is_open:
                self._unindex_open(order)
                self._cache_done(order)

    # ----- reading -------------------------------------------------------------------------

    def open_orders(self, symbol: str | None = None) -> list[M]:
        """Open orders, oldest first; of one symbol, or all."""
        if symbol is not None:
            return [o for o in self._open.get(symbol, {}).values() if self.key(o).is_open]
        rows = [o for o in self._open_by_id.values() if self.key(o).is_open]
        return sorted(rows, key=lambda o: self.key(o).id)

    def open_count(self, symbol: str) -> int:
        return len(self._open.get(symbol, {}))

    def open_with_client_id(self, client_id: str) -> M | None:
        order = self._open_by_client.get(client_id)
        return order if order is not None and self.key(order).is_open else None

    def get(self, order_id: int, default: Any = None) -> Any:
        hit = self._open_by_id.get(order_id)
        if hit is None:
            hit = self._dirty.get(order_id)
        if hit is None:
            hit = self._done.get(order_id)
        if hit is not None:
            return hit
        row = self.store.execute(
            "SELECT body FROM orders WHERE kind = ? AND id = ?", (self.kind, order_id)
        ).fetchone()
        if row is None:
            return default
        order = self._attach(self.model.model_validate_json(row[0]))
        self._cache_done(order)
        return order

    def find(self, symbol: str | None, order_id: int | None, client_id: str | None) -> M | None:
        """The order named by id and/or client id (within `symbol` when given); a reused client
        id names the newest order that had it."""
        if order_id is None:
            if client_id is None:
                return None
            found = self.open_with_client_id(client_id)
            if found is None:
                sql = "SELECT id FROM orders WHERE kind = ? AND client_id = ?"
                args: tuple[Any, ...] = (self.kind, client_id)
                if symbol is not None:
                    sql += " AND symbol = ?"
                    args += (symbol,)
                row = self.store.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
                if row is None:
                    return None
                order_id = int(row[0])
            else:
                order_id = self.key(found).id
        order: M | None = self.get(order_id)
        if order is None:
            return None
        k = self.key(order)
        if symbol is not None and k.symbol != symbol:
            return None
        if client_id is not None and k.client_id != client_id:
            return None
        return order

    def history(
        self,
        symbol: str | None,
        from_id: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
        oldest_first: bool = False,
        offset: int = 0,
    ) -> list[M]:
        """Orders of one symbol (or of all) by id, filtered as Binance's allOrders filters
        them: the first `limit` from `from_id`/`start` when `oldest_first`, else the last
        `limit`."""
        sql = "SELECT id FROM orders WHERE kind = ?"
        args: tuple[Any, ...] = (self.kind,)
        if symbol is not None:
            sql += " AND symbol = ?"
            args += (symbol,)
        if from_id is not None:
            sql += " AND id >= ?"
            args += (from_id,)
        if start is not None:
            sql += " AND time >= ?"
            args += (start,)
        if end is not None:
            sql += " AND time <= ?"
            args += (end,)
        sql += f" ORDER BY id {'ASC' if oldest_first else 'DESC'} LIMIT ? OFFSET ?"
        ids = [int(r[0]) for r in self.store.execute(sql, (*args, limit, offset)).fetchall()]
        if not oldest_first:
            ids.reverse()
        return [o for o in (self.get(i) for i in ids) if o is not None]

    # ----- Mapping: every order ever placed ------------------------------------------------

    def __getitem__(self, order_id: int) -> M:
        order: M | None = self.get(order_id)
        if order is None:
            raise KeyError(order_id)
        return order

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        rows = self.store.execute(
            "SELECT id FROM orders WHERE kind = ? ORDER BY id", (self.kind,)
        ).fetchall()
        return iter([int(r[0]) for r in rows])

    def __contains__(self, order_id: object) -> bool:
        return isinstance(order_id, int) and self.get(order_id) is not None


class EventKey(NamedTuple):
    id: int
    symbol: str
    ref: int  # the order it belongs to (0: none)
    type: str
    time: int


E = TypeVar("E", bound=BaseModel)


class EventLog(Generic[E]):
    """An append-only history (fills, income rows): written to the database as appended, read
    back by index. Keeps per symbol only a count and the last row in memory."""

    def __init__(
        self, store: Store, kind: str, model: type[E], key: Callable[[E], EventKey]
    ) -> None:
        self.store, self.kind, self.model, self.key = store, kind, model, key
        self._counts: dict[str, int] = {}
        self._last: dict[str, E] = {}
        with store.lock:
            for symbol, count, last in store.execute(
                "SELECT symbol, COUNT(*), MAX(id) FROM events WHERE kind = ? GROUP BY symbol",
                (kind,),
            ).fetchall():
                self._counts[str(symbol)] = int(count)
                body = store.execute(
                    "SELECT body FROM events WHERE kind = ? AND id = ?", (kind, last)
                ).fetchone()[0]
                self._last[str(symbol)] = model.model_validate_json(body)

    def append(self, row: E) -> None:
        k = self.key(row)
        self.store.write(
            "INSERT OR REPLACE INTO events (kind, id, symbol, ref, type, time, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.kind, k.id, k.symbol, k.ref, k.type, k.time, row.model_dump_json()),
        )
        self._counts[k.symbol] = self._counts.get(k.symbol, 0) + 1
        self._last[k.symbol] = row

    def count(self, symbol: str | None = None) -> int:
        if symbol is None:
            return sum(self._counts.values())
        return self._counts.get(symbol, 0)

    def __len__(self) -> int:
        return self.count()

    def last(self, symbol: str) -> E | None:
        return self._last.get(symbol)

    def query(
        self,
        symbol: str | None = None,
        ref: int | None = None,
        from_id: int | None = None,
        start: int | None = None,
        end: int | None = None,
        type_: str | None = None,
        limit: int = 500,
        oldest_first: bool = False,
        offset: int = 0,
    ) -> list[E]:
        """Rows by id (the order they happened in): the first `limit` when `oldest_first`,
        else the last `limit`, returned oldest first either way."""
        sql = "SELECT body FROM events WHERE kind = ?"
        args: tuple[Any, ...] = (self.kind,)
        for column, value in (("symbol", symbol), ("ref", ref), ("type", type_)):
            if value is not None:
                sql += f" AND {column} = ?"
                args += (value,)
        for clause, value in (("id >= ?", from_id), ("time >= ?", start), ("time <= ?", end)):
            if value is not None:
                sql += f" AND {clause}"
                args += (value,)
        sql += f" ORDER BY id {'ASC' if oldest_first else 'DESC'} LIMIT ? OFFSET ?"
        rows = [
            self.model.model_validate_json(r[0])
            for r in self.store.execute(sql, (*args, limit, offset)).fetchall()
        ]
        if not oldest_first:
            rows.reverse()
        return rows

    def __iter__(self) -> Iterator[E]:
        """Every row, oldest first (tests; the engines use `query`)."""
        return iter(self.query(limit=-1, oldest_first=True))
