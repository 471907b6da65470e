"""Running signature queries against the day partitions, cheaply.

A hundred signatures are checked against every failed build and graphed every few
minutes. What costs is not the text search but the source-field clauses
(``tags:console``, ``voting:1``): translated against the whole catalog each becomes a
term set of tens of thousands of file ids, walked in every query. So queries are
translated *within* the files that can matter — a build's files, a day's files — where
those sets shrink to a handful, and the voting filter narrows the file set instead of
joining the query (the same result as ``(q) AND voting:1``). Translating is cheap
(about 0.2 ms); per-day translations are cached per catalog generation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import tantivy

from index import query as lucene
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


class Within:
    """A source resolver that answers for some files only."""

    def __init__(self, base: lucene.SourceResolver, files: frozenset[int]) -> None:
        self.base = base
        self.files = files

    def ids(self, field: str, match: lucene.SourceMatch) -> set[int] | None:
        found = self.base.ids(field, match)
        return None if found is None else self.files.intersection(found)


class Runner:
    def __init__(self, store: Store, searcher: Searcher | None = None) -> None:
        self.store = store
        self.searcher = searcher or Searcher(store)
        self._lock = threading.Lock()
        self._generation = -1
        self._voting: frozenset[int] | None = None
        self._days: dict[str, frozenset[int]] = {}
        self._per_day: dict[tuple[str, str], tantivy.Query] = {}

    # -- what the catalog says, per generation -----------------------------------------------

    def _fresh(self) -> None:
        gen = self.store.catalog.generation
        if gen != self._generation:
            self._voting = None
            self._days = {}
            self._per_day = {}
            self._generation = gen

    def voting_files(self, file_ids: Iterable[int]) -> frozenset[int]:
        """Those of ``file_ids`` that belong to voting builds (``voting:1``)."""
        with self._lock:
            self._fresh()
            if self._voting is None:
                self._voting = frozenset(self.store.catalog.ids_with(VOTING[0], VOTING[1]))
            return self._voting.intersection(file_ids)

    def day_files(self, day: str) -> frozenset[int]:
        with self._lock:
            self._fresh()
            files = self._days.get(day)
        if files is None:
            files = frozenset(self.store.catalog.sources_on_day(day))
            with self._lock:
                self._days[day] = files
        return files

    # -- queries ---------------------------------------------------------------------------

    def translate(self, text: str, files: frozenset[int]) -> tantivy.Query:
        """``text`` with its source-field clauses resolved among ``files`` only (exact for
        documents of those files; QueryError if malformed)."""
        self.searcher.resolver.refresh()
        return lucene.translate(text, Within(self.searcher.resolver, files))

    def for_files(self, sig: Signature, file_ids: Iterable[int]) -> tantivy.Query | None:
        """The signature's query on some files (None if it cannot match any of them)."""
        files = frozenset(file_ids) if sig.allow_nonvoting else self.voting_files(file_ids)
        if not files:
            return None
        return self.in_file_set(self.translate(sig.query, files), files)

    def for_day(self, text: str, day: str) -> tantivy.Query:
        """A query for one day's partition (its documents are all of that day's files, so
        no file restriction is added), cached per catalog generation."""
        files = self.day_files(day)
        key = (text, day)
        with self._lock:
            q = self._per_day.get(key)
        if q is None:
            q = self.translate(text, files)
            with self._lock:
                self._per_day[key] = q
        return q

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
    def first_ts_per_file(runs: Iterable[tuple[tantivy.Query, tantivy.Searcher]]) -> dict[int, int]:
        """For every file with a match: the time of its earliest match (one aggregation
        per query and day, however many files and hours)."""
        agg = {
            "f": {
                "terms": {"field": schema.FILE_ID, "size": 10_000_000},
                "aggs": {"t": {"min": {"field": schema.TS}}},
            }
        }
        out: dict[int, int] = {}
        for q, s in runs:
            for b in s.aggregate(q, agg)["f"]["buckets"]:
                fid, ts = int(b["key"]), int(b["t"]["value"])
                if fid not in out or ts < out[fid]:
                    out[fid] = ts
        return out
