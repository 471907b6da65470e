"""Running signature queries against the day partitions, translated once.

A hundred signatures are checked against every failed build and graphed every few
minutes: translating their Lucene text each time would cost more than searching. The
runner keeps each query compiled (source fields resolved to file ids) until the catalog
generation moves, then narrows it per call with a file-id set or a time range and
visits only the days that can hold hits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import tantivy

from index import schema
from index.partitions import PartitionError
from index.search import Hit, Searcher
from index.store import Store

from .signatures import VOTING_FILTER, Signature

Occur = tantivy.Occur
VOTING = tuple(VOTING_FILTER.split(":", 1))


@dataclass(slots=True)
class InFiles:
    """Matches of one query among some files: the count and the first hits in time."""

    count: int
    hits: list[Hit]


class Runner:
    def __init__(self, store: Store, searcher: Searcher | None = None) -> None:
        self.store = store
        self.searcher = searcher or Searcher(store)
        self._lock = threading.Lock()
        self._compiled: dict[str, tantivy.Query] = {}
        self._generation = -1
        self._voting: frozenset[int] = frozenset()
        self._voting_gen = -1

    # -- queries ---------------------------------------------------------------------------

    def compiled(self, text: str) -> tantivy.Query:
        """The translated query, cached per catalog generation (QueryError if malformed)."""
        gen = self.store.catalog.generation
        with self._lock:
            if gen != self._generation:
                self._compiled.clear()
                self._generation = gen
            q = self._compiled.get(text)
        if q is None:
            q = self.searcher.compile(text)
            with self._lock:
                if self._generation == gen:
                    self._compiled[text] = q
        return q

    def voting_files(self, file_ids: Iterable[int]) -> frozenset[int]:
        """Those of ``file_ids`` that belong to voting builds (``voting:1``)."""
        gen = self.store.catalog.generation
        with self._lock:
            if self._voting_gen != gen:
                self._voting = frozenset(self.store.catalog.ids_with(VOTING[0], VOTING[1]))
                self._voting_gen = gen
            return self._voting.intersection(file_ids)

    def scoped(self, sig: Signature, file_ids: Iterable[int]) -> tantivy.Query | None:
        """The signature's query restricted to some files (None if it cannot match there).

        Its voting filter narrows the file set instead of joining the query: the same
        result as ``(q) AND voting:1`` on those files, without a term set of every voting
        file in the index in each of a hundred queries."""
        files = frozenset(file_ids) if sig.allow_nonvoting else self.voting_files(file_ids)
        if not files:
            return None
        return self.in_file_set(self.compiled(sig.query), files)

    @staticmethod
    def in_file_set(q: tantivy.Query, file_ids: Iterable[int]) -> tantivy.Query:
        ids = sorted(set(file_ids))
        return tantivy.Query.boolean_query(
            [
                (Occur.Must, q),
                (Occur.Must, tantivy.Query.term_set_query(schema.SCHEMA, schema.FILE_ID, ids)),
            ]
        )

    @staticmethod
    def in_time(q: tantivy.Query, start_us: int, end_us: int) -> tantivy.Query:
        """Events in ``[start_us, end_us)``."""
        rng = tantivy.Query.range_query(
            schema.SCHEMA, schema.TS, tantivy.FieldType.Integer, start_us, end_us - 1
        )
        return tantivy.Query.boolean_query([(Occur.Must, q), (Occur.Must, rng)])

    # -- partitions ------------------------------------------------------------------------

    def searchers(self, days: Iterable[str]) -> list[tuple[str, tantivy.Searcher]]:
        """Open searchers of these days (damaged or missing days are skipped: they are
        reported by ``stats``/``/status``, and the other days still answer)."""
        out = []
        for day in sorted(set(days)):
            try:
                out.append((day, self.store.partitions.index(day).searcher()))
            except PartitionError:
                continue
        return out

    def days_between(self, start_us: int, end_us: int) -> list[str]:
        return self.store.partitions.days_between(start_us, end_us - 1)

    # -- execution -------------------------------------------------------------------------

    @staticmethod
    def first_hits(
        q: tantivy.Query, searchers: list[tuple[str, tantivy.Searcher]], limit: int
    ) -> InFiles:
        """Count of matches and the ``limit`` earliest hits, over the given days."""
        total = 0
        found: list[tuple[int, str, tantivy.Searcher, object]] = []
        for day, s in searchers:
            res = s.search(
                q,
                limit=max(1, limit),
                count=True,
                order_by_field=schema.TS,
                order=tantivy.Order.Asc,
            )
            total += res.count
            found.extend((ts, day, s, addr) for ts, addr in res.hits)
        found.sort(key=lambda f: f[0])
        hits = []
        for ts, day, s, addr in found[:limit]:
            fid, line, nl = (
                s.fast_field_values(f, [addr])[0]
                for f in (schema.FILE_ID, schema.LINE, schema.NLINES)
            )
            hits.append(Hit(ts, fid, line, nl, day))
        return InFiles(total, hits)

    @staticmethod
    def first_ts_per_file(
        q: tantivy.Query, searchers: list[tuple[str, tantivy.Searcher]]
    ) -> dict[int, int]:
        """For every file with a match: the time of its earliest match (one aggregation
        per day, however many files and hours)."""
        agg = {
            "f": {
                "terms": {"field": schema.FILE_ID, "size": 10_000_000},
                "aggs": {"t": {"min": {"field": schema.TS}}},
            }
        }
        out: dict[int, int] = {}
        for _, s in searchers:
            for b in s.aggregate(q, agg)["f"]["buckets"]:
                fid, ts = int(b["key"]), int(b["t"]["value"])
                if fid not in out or ts < out[fid]:
                    out[fid] = ts
        return out
