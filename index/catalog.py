"""The catalog: one SQLite database with what is true once per source file.

It holds each ingested file's identity (a caller-chosen ``key``), the blob of its raw
bytes in the archive, the day partitions its events went to, its *source fields*
(``attrs``: the build fields, filename, tags...) and an inverted table of those fields
so that a query on ``build_status:FAILURE`` becomes a set of ``file_id`` values.

It is also the writer's journal: a source is inserted ``pending`` (with its days)
before any of its events reach Tantivy and turns ``done`` only after every partition
committed, so recovery after ``kill -9`` knows exactly which events to delete.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    days TEXT NOT NULL,
    attrs TEXT NOT NULL,
    info TEXT NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_sha ON sources(sha256);
CREATE INDEX IF NOT EXISTS sources_key ON sources(key);
CREATE INDEX IF NOT EXISTS sources_state ON sources(state);
CREATE TABLE IF NOT EXISTS source_attrs(field TEXT NOT NULL, value TEXT NOT NULL, source_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS source_attrs_fv ON source_attrs(field, value);
CREATE INDEX IF NOT EXISTS source_attrs_id ON source_attrs(source_id);
CREATE TABLE IF NOT EXISTS source_days(source_id INTEGER NOT NULL, day TEXT NOT NULL, events INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS source_days_day ON source_days(day);
CREATE INDEX IF NOT EXISTS source_days_id ON source_days(source_id);
CREATE TABLE IF NOT EXISTS groups(
    key TEXT PRIMARY KEY,
    attrs TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Source:
    id: int
    key: str
    sha256: str
    state: str
    days: dict[str, int]
    """Partition day -> number of events there."""
    attrs: dict[str, Any]
    info: dict[str, Any]
    """Ingest facts: format, lines, events, bytes, warnings..."""
    first_ts: int | None
    last_ts: int | None


def _attr_rows(source_id: int, attrs: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    for field, value in attrs.items():
        if value is None:
            continue
        for v in value if isinstance(value, list | tuple) else (value,):
            yield field, str(v), source_id


class Catalog:
    """Thread-safe: one connection, serialized by a lock (SQLite calls are short)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (WAL); acknowledgements switch to FULL so they
        # survive a power cut too (see mark_done).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._generation = 0

    def close(self) -> None:
        self._db.close()

    @property
    def generation(self) -> int:
        """Changes whenever sources change; caches of id sets key on it."""
        row = self._one("SELECT value FROM meta WHERE key='generation'")
        return int(row[0]) if row else 0

    # -- low level -------------------------------------------------------------------------

    def _one(self, sql: str, args: Iterable[Any] = ()) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchone()

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def transaction(self) -> _Txn:
        return _Txn(self)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key=?", (key,))
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    # -- ids -------------------------------------------------------------------------------

    def reserve_ids(self, n: int) -> range:
        """``n`` fresh source ids; ids are never reused, even when unused after a crash."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()
            top = max(int(row[0]) if row else 1, self._max_id() + 1)
            db.execute("INSERT OR REPLACE INTO meta VALUES('next_id', ?)", (str(top + n),))
        return range(top, top + n)

    def _max_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM sources").fetchone()
        return row[0] or 0

    # -- sources ---------------------------------------------------------------------------

    def add_pending(
        self,
        source_id: int,
        key: str,
        sha: str,
        days: dict[str, int],
        attrs: dict[str, Any],
        info: dict[str, Any],
        first_ts: int | None,
        last_ts: int | None,
    ) -> None:
        """Journal a source before its events are written (durable on return)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sources(id, key, sha256, state, days, attrs, info, first_ts, last_ts, added_at)"
                " VALUES(?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                (
                    source_id,
                    key,
                    sha,
                    orjson.dumps(days).decode(),
                    orjson.dumps(attrs).decode(),
                    orjson.dumps(info).decode(),
                    first_ts,
                    last_ts,
                    time.time(),
                ),
            )
            db.executemany("INSERT INTO source_attrs VALUES(?, ?, ?)", _attr_rows(source_id, attrs))
            db.executemany(
                "INSERT INTO source_days VALUES(?, ?, ?)", [(source_id, d, n) for d, n in days.items()]
            )

    def mark_done(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                with self.transaction() as db:
                    db.executemany("UPDATE sources SET state='done' WHERE id=?", [(i,) for i in ids])
                    _bump(db)
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def mark_pending(self, ids: Iterable[int]) -> None:
        """Journal that these sources are being replaced: recovery deletes them."""
        with self.transaction() as db:
            db.executemany("UPDATE sources SET state='pending' WHERE id=?", [(i,) for i in ids])
            _bump(db)

    def remove(self, ids: Iterable[int]) -> None:
        ids = [(i,) for i in ids]
        if not ids:
            return
        with self.transaction() as db:
            db.executemany("DELETE FROM sources WHERE id=?", ids)
            db.executemany("DELETE FROM source_attrs WHERE source_id=?", ids)
            db.executemany("DELETE FROM source_days WHERE source_id=?", ids)
            _bump(db)

    def pending(self) -> list[Source]:
        return [self._source(r) for r in self._all(f"SELECT {_COLS} FROM sources WHERE state='pending'")]

    def by_key(self, key: str) -> Source | None:
        row = self._one(f"SELECT {_COLS} FROM sources WHERE key=? ORDER BY state='done' DESC, id DESC", (key,))
        return self._source(row) if row else None

    def get(self, source_id: int) -> Source | None:
        row = self._one(f"SELECT {_COLS} FROM sources WHERE id=?", (source_id,))
        return self._source(row) if row else None

    def many(self, ids: Iterable[int]) -> dict[int, Source]:
        ids = list(set(ids))
        out: dict[int, Source] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._all(f"SELECT {_COLS} FROM sources WHERE id IN ({marks})", chunk):
                s = self._source(r)
                out[s.id] = s
        return out

    def sources(self, where: str = "state='done'", args: Iterable[Any] = ()) -> list[Source]:
        return [self._source(r) for r in self._all(f"SELECT {_COLS} FROM sources WHERE {where}", args)]

    def sources_on_day(self, day: str) -> list[int]:
        return [r[0] for r in self._all("SELECT source_id FROM source_days WHERE day=?", (day,))]

    def blob_refs(self, sha: str) -> int:
        row = self._one("SELECT count(*) FROM sources WHERE sha256=?", (sha,))
        return row[0] if row else 0

    def forget_day(self, day: str) -> list[str]:
        """Drop a day from every source; remove sources left with no day.

        Returns the blobs no longer referenced by any source (the caller deletes them)."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT source_id FROM source_days WHERE day=?", (day,))]
            db.execute("DELETE FROM source_days WHERE day=?", (day,))
            orphans: list[str] = []
            for sid in ids:
                row = db.execute("SELECT days, sha256 FROM sources WHERE id=?", (sid,)).fetchone()
                if row is None:
                    continue
                days = orjson.loads(row[0])
                days.pop(day, None)
                if days:
                    db.execute("UPDATE sources SET days=? WHERE id=?", (orjson.dumps(days).decode(), sid))
                    continue
                db.execute("DELETE FROM sources WHERE id=?", (sid,))
                db.execute("DELETE FROM source_attrs WHERE source_id=?", (sid,))
                if not db.execute("SELECT 1 FROM sources WHERE sha256=? LIMIT 1", (row[1],)).fetchone():
                    orphans.append(row[1])
            _bump(db)
        return orphans

    # -- source fields ---------------------------------------------------------------------

    def ids_with(self, field: str, value: str) -> set[int]:
        return {r[0] for r in self._all("SELECT source_id FROM source_attrs WHERE field=? AND value=?", (field, value))}

    def values(self, field: str) -> dict[str, set[int]]:
        """Every distinct value of a source field, with the sources that have it."""
        out: dict[str, set[int]] = {}
        for v, sid in self._all("SELECT value, source_id FROM source_attrs WHERE field=?", (field,)):
            out.setdefault(v, set()).add(sid)
        return out

    def ids_having(self, field: str) -> set[int]:
        return {r[0] for r in self._all("SELECT DISTINCT source_id FROM source_attrs WHERE field=?", (field,))}

    def all_ids(self) -> set[int]:
        return {r[0] for r in self._all("SELECT id FROM sources")}

    def fields(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT field FROM source_attrs ORDER BY field")]

    # -- groups (e.g. builds) --------------------------------------------------------------

    def put_group(self, key: str, attrs: dict[str, Any], complete: bool) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO groups VALUES(?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " attrs=excluded.attrs, complete=max(groups.complete, excluded.complete), updated_at=excluded.updated_at",
                (key, orjson.dumps(attrs).decode(), int(complete), time.time()),
            )

    def group(self, key: str) -> tuple[dict[str, Any], bool, float] | None:
        row = self._one("SELECT attrs, complete, updated_at FROM groups WHERE key=?", (key,))
        return (orjson.loads(row[0]), bool(row[1]), row[2]) if row else None

    def groups(self, since: float = 0.0) -> list[tuple[str, dict[str, Any], bool, float]]:
        rows = self._all("SELECT key, attrs, complete, updated_at FROM groups WHERE updated_at>=?", (since,))
        return [(k, orjson.loads(a), bool(c), u) for k, a, c, u in rows]

    def stats(self) -> dict[str, int]:
        row = self._one("SELECT count(*), coalesce(sum(json_extract(info,'$.bytes')),0),"
                        " coalesce(sum(json_extract(info,'$.events')),0) FROM sources WHERE state='done'")
        assert row is not None
        return {"sources": row[0], "bytes": row[1], "events": row[2]}

    @staticmethod
    def _source(r: tuple) -> Source:
        return Source(r[0], r[1], r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]), orjson.loads(r[6]), r[7], r[8])


_COLS = "id, key, sha256, state, days, attrs, info, first_ts, last_ts"


def _bump(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO meta VALUES('generation', '1') ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1"
    )


class _Txn:
    """``with catalog.transaction() as db:`` — BEGIN IMMEDIATE .. COMMIT, under the lock."""

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat

    def __enter__(self) -> sqlite3.Connection:
        self.cat._lock.acquire()
        self.cat._db.execute("BEGIN IMMEDIATE")
        return self.cat._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self.cat._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.cat._lock.release()
