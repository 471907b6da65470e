"""The writer: the only code that changes partitions, with a journal that makes it atomic.

Discipline (each rule answers a measured tantivy-py 0.27 pitfall or a crash case):

* One process writes a data directory (an exclusive ``flock`` on ``write.lock``), and one
  thread uses each Tantivy ``IndexWriter`` (tantivy-py's writer is not shareable).
* A source (one file) is journaled ``pending`` in the catalog, with the days it will
  touch, *before* its events reach Tantivy. It turns ``done`` only after every touched
  partition committed and the committed document counts were checked (a wrongly typed
  value makes a tantivy-py commit fail and later commits save nothing while reporting
  success — the count check catches that). ``done`` is the acknowledgement.
* On open, :meth:`Writer.recover` deletes every ``pending`` source's events from its days
  and forgets it, so ``kill -9`` at any moment followed by the same ingest leaves exactly
  what one clean ingest leaves.
* Deletes use ``delete_documents_by_query``: ``delete_documents_by_term`` on a u64 field
  silently deletes nothing in tantivy-py 0.27.
* Ingest runs oldest day first with at most ``max_open`` day writers; the one evicted
  for a new day is committed and closed on a background thread (tantivy-py releases the
  GIL there), so documents keep flowing meanwhile — it was ~15% of ingest time. Every
  public method that publishes or reuses a day waits for those retirements first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tantivy

from . import memory, schema
from .catalog import Catalog
from .partitions import Partitions


class WriterError(Exception):
    """The index refused a write; nothing of the batch was acknowledged."""


class LockedError(WriterError):
    """Another process is writing this data directory."""


class Writer:
    def __init__(
        self,
        root: Path,
        catalog: Catalog,
        partitions: Partitions,
        *,
        heap_bytes: int = 128_000_000,
        threads: int = 0,
        max_open: int = 2,
    ) -> None:
        self.catalog = catalog
        self.partitions = partitions
        self.heap_bytes = heap_bytes
        self.threads = threads
        self.max_open = max_open
        self._lockfile = _take_lock(Path(root) / "write.lock")
        self._writers: dict[str, tantivy.IndexWriter] = {}
        self._retiring: dict[str, Future[None]] = {}
        self._retirer = ThreadPoolExecutor(1, thread_name_prefix="writer-retire")
        self._dirty: set[str] = set()
        self._pending: dict[int, dict[str, int]] = {}
        """Sources added since the last commit -> expected events per day."""
        self._replaced: list[int] = []
        self.pending_events = 0
        self.recovered = self.recover()
        """Ids of the sources a previous, interrupted writer left unacknowledged."""

    # -- the public protocol ----------------------------------------------------------------

    def add_source(
        self,
        source_id: int,
        key: str,
        sha: str,
        attrs: dict[str, Any],
        info: dict[str, Any],
        docs_by_day: Mapping[str, Collection[str]],
        first_ts: int | None = None,
        last_ts: int | None = None,
    ) -> None:
        """Journal one source, then hand its events (JSON documents) to the day writers.

        An earlier source with the same key is replaced in the same commit."""
        old = self.catalog.by_key(key)
        if old is not None:
            self.catalog.mark_pending([old.id])
            self._delete_ids(old.days, [old.id])
            self._replaced.append(old.id)
            self._pending.pop(old.id, None)  # replaced within this batch: it keeps no events
        days = {d: len(docs) for d, docs in docs_by_day.items()}
        self.catalog.add_pending(source_id, key, sha, days, attrs, info, first_ts, last_ts)
        self._pending[source_id] = days
        for day, docs in docs_by_day.items():
            w = self._writer(day)
            add = w.add_json
            try:
                for d in docs:
                    add(d)
            except ValueError as e:
                raise WriterError(f"{key}: a document was refused: {e}") from None
            self._dirty.add(day)
            self.pending_events += len(docs)

    def commit(self) -> list[int]:
        """Commit every touched day, check the counts, then acknowledge. Returns the ids."""
        self._join_retiring()
        for day in sorted(self._dirty):
            self._commit_day(day)
        self._dirty.clear()
        self._verify()
        done = list(self._pending)
        self.catalog.remove(self._replaced)
        self.catalog.mark_done(done)
        self._pending.clear()
        self._replaced.clear()
        self.pending_events = 0
        return done

    def delete_sources(self, ids: Iterable[int]) -> None:
        """Remove sources and their events (journaled like an ingest)."""
        srcs = self.catalog.many(ids)
        if not srcs:
            return
        self.catalog.mark_pending(srcs)
        by_day: dict[str, list[int]] = {}
        for s in srcs.values():
            for d in s.days:
                by_day.setdefault(d, []).append(s.id)
        for day, day_ids in by_day.items():
            self._delete_ids({day: 0}, day_ids)
        self._join_retiring()
        for day in sorted(self._dirty):
            self._commit_day(day)
        self._dirty.clear()
        self.catalog.remove(srcs)

    def release_day(self, day: str) -> None:
        """Commit and close the day's IndexWriter (before retention drops the day)."""
        self._join_retiring()
        if day in self._dirty:
            self._commit_day(day)
            self._dirty.discard(day)
        self._close_day(day)

    def recover(self) -> list[int]:
        """Undo every source that was journaled but never acknowledged."""
        pending = self.catalog.pending()
        if not pending:
            return []
        self.delete_sources(s.id for s in pending)
        return [s.id for s in pending]

    def close(self) -> None:
        """Commit what is pending, wait for merges, release the lock."""
        if self._pending or self._dirty:
            self.commit()
        self._join_retiring()
        for day in list(self._writers):
            self._close_day(day)
        self._retirer.shutdown()
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def abandon(self) -> None:
        """Drop uncommitted work (it stays journaled pending; recovery removes it)."""
        with contextlib.suppress(WriterError):
            self._join_retiring()
        self._retirer.shutdown()
        for w in self._writers.values():
            with contextlib.suppress(ValueError, RuntimeError):
                w.rollback()
        self._writers.clear()
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    # -- internals -----------------------------------------------------------------------------

    def _writer(self, day: str) -> tantivy.IndexWriter:
        w = self._writers.get(day)
        if w is not None:
            return w
        if day in self._retiring:  # being closed in the background: one writer per index
            self._join_retiring()
        if len(self._writers) >= self.max_open:
            self._retire(next(d for d in self._writers if d != day))
        idx = self.partitions.index(day, create=True)
        try:
            w = idx.writer(heap_size=self.heap_bytes, num_threads=self.threads)
        except ValueError as e:
            raise WriterError(f"partition {day}: cannot open a writer: {e}") from None
        self._writers[day] = w
        return w

    def _commit_day(self, day: str) -> None:
        try:
            self._writers[day].commit()
        except ValueError as e:
            self._writers.pop(day, None)
            raise WriterError(f"partition {day}: commit failed: {e}") from None

    def _retire(self, day: str) -> None:
        """Commit (if touched) and close a day's writer on the background thread."""
        w = self._writers.pop(day)
        dirty = day in self._dirty
        self._dirty.discard(day)

        def run() -> None:
            try:
                if dirty:
                    w.commit()
            except ValueError as e:
                raise WriterError(f"partition {day}: commit failed: {e}") from None
            finally:
                with contextlib.suppress(ValueError, RuntimeError):
                    w.wait_merging_threads()
                memory.give_back()  # the closed writer's arenas

        self._retiring[day] = self._retirer.submit(run)

    def _join_retiring(self) -> None:
        """Wait for background retirements; the first failure fails the batch."""
        retiring, self._retiring = self._retiring, {}
        error: BaseException | None = None
        for fut in retiring.values():
            e = fut.exception()
            error = error or e
        if error is not None:
            raise error if isinstance(error, WriterError) else WriterError(str(error))

    def _close_day(self, day: str) -> None:
        w = self._writers.pop(day, None)
        if w is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                w.wait_merging_threads()

    def _delete_ids(self, days: dict[str, int], ids: list[int]) -> None:
        q = tantivy.Query.term_set_query(schema.SCHEMA, schema.FILE_ID, sorted(ids))
        for day in days:
            if day not in self.partitions.days() and day not in self._writers:
                continue
            self._writer(day).delete_documents_by_query(q)
            self._dirty.add(day)

    def _verify(self) -> None:
        """Every pending source must have exactly its events in each of its days."""
        by_day: dict[str, dict[int, int]] = {}
        for sid, days in self._pending.items():
            for d, n in days.items():
                by_day.setdefault(d, {})[sid] = n
        for day, expect in by_day.items():
            searcher = self.partitions.searcher(day)
            q = tantivy.Query.term_set_query(schema.SCHEMA, schema.FILE_ID, sorted(expect))
            got = searcher.aggregate(q, {"f": {"terms": {"field": schema.FILE_ID, "size": len(expect) + 1}}})
            counts = {int(b["key"]): b["doc_count"] for b in got["f"]["buckets"]}
            for sid, n in expect.items():
                if counts.get(sid, 0) != n:
                    raise WriterError(
                        f"partition {day}: source {sid} has {counts.get(sid, 0)} events after commit,"
                        f" expected {n}; the batch is not acknowledged"
                    )


def _take_lock(path: Path):  # noqa: ANN202 - a file object
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held for the writer's lifetime
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise LockedError(
            f"{path.parent} is being written by {holder}; stop it or send events to its API"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}")
    f.flush()
    return f
