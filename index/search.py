"""Search across day partitions: hits, counts, histograms and top values.

A query string is translated once (:mod:`index.query`), with source fields resolved to
``file_id`` sets through the catalog, then run on each day the time range touches.
Hits carry only fast-field values (time, file, line span); their text comes from the
archive (:meth:`Searcher.fetch`). A query that runs past its time budget stops between
partitions and says so (``timed_out``) instead of holding a worker.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import tantivy

from . import query as lucene
from . import schema
from .archive import ArchiveError
from .catalog import Catalog, Source
from .partitions import DAY_US, PartitionError, day_start_us
from .store import Store

Occur = tantivy.Occur


@dataclass(frozen=True, slots=True)
class Hit:
    ts_us: int
    file_id: int
    line: int
    """0-based index of the event's first line in its file."""
    nlines: int
    day: str


@dataclass(slots=True)
class Page:
    total: int
    hits: list[Hit]
    took_ms: float = 0.0
    timed_out: bool = False
    days: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Fetched:
    hit: Hit
    source: Source | None
    lines: list[bytes]
    error: str | None = None
    """Why the lines are missing (a damaged archive blob): the hit still shows."""


class CatalogResolver:
    """Resolves source-field clauses to ``file_id`` sets, cached per catalog generation."""

    def __init__(self, catalog: Catalog, cache_size: int = 512) -> None:
        self.catalog = catalog
        self._cache: OrderedDict[Any, set[int] | None] = OrderedDict()
        self._generation = -1
        self._size = cache_size
        self._lock = threading.Lock()

    def refresh(self) -> None:
        gen = self.catalog.generation
        with self._lock:
            if gen != self._generation:
                self._cache.clear()
                self._generation = gen

    def ids(self, field_name: str, match: lucene.SourceMatch) -> set[int] | None:
        key = (field_name, match)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if match.kind == "term":
            result: set[int] | None = self.catalog.ids_with(field_name, str(match.value))
        elif match.kind == "exists":
            have = self.catalog.ids_having(field_name)
            result = None if have and have == self.catalog.all_ids() else have
        else:
            result = set()
            for value, ids in self.catalog.values(field_name).items():
                if lucene.match_value(match, value):
                    result |= ids
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result


class Searcher:
    def __init__(self, store: Store, *, timeout_s: float = 10.0) -> None:
        self.store = store
        self.resolver = CatalogResolver(store.catalog)
        self.timeout_s = timeout_s

    # -- building the query ------------------------------------------------------------------

    def compile(
        self,
        text: str | tantivy.Query,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        file_ids: Iterable[int] | None = None,
        now_us: int | None = None,
    ) -> tantivy.Query:
        """Raises :class:`index.query.QueryError` for a malformed query. ``text`` may also be
        an already built Tantivy query (the Elasticsearch DSL builds its own)."""
        self.resolver.refresh()
        q = lucene.translate(text, self.resolver, now_us=now_us) if isinstance(text, str) else text
        must = [(Occur.Must, q)]
        if start_us is not None or end_us is not None:
            must.append((Occur.Must, _time_range(start_us, end_us)))
        if file_ids is not None:
            must.append(
                (Occur.Must, tantivy.Query.term_set_query(schema.SCHEMA, schema.FILE_ID, sorted(set(file_ids))))
            )
        return must[0][1] if len(must) == 1 else tantivy.Query.boolean_query(must)

    def _days(self, start_us: int | None, end_us: int | None) -> list[str]:
        return self.store.partitions.days_between(start_us, end_us)

    def _searchers(self, days: list[str]) -> Iterable[tuple[str, tantivy.Searcher]]:
        for day in days:
            try:
                yield day, self.store.partitions.searcher(day)
            except PartitionError:
                continue  # reported by stats/status; the other days still serve

    # -- queries ---------------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = True,
        file_ids: Iterable[int] | None = None,
        count: bool = True,
    ) -> Page:
        t0 = time.perf_counter()
        q = self.compile(text, start_us=start_us, end_us=end_us, file_ids=file_ids)
        days = self._days(start_us, end_us)
        if newest_first:
            days = days[::-1]
        want = max(1, offset + limit)
        order = tantivy.Order.Desc if newest_first else tantivy.Order.Asc
        total = 0
        candidates: list[tuple[int, int, int, str, tantivy.Searcher, Any]] = []
        timed_out = False
        for day, s in self._searchers(days):
            if time.perf_counter() - t0 > self.timeout_s:
                timed_out = True
                break
            enough = len(candidates) >= want
            if enough and not count:
                break
            res = self._guard(day, s.search, q, limit=want, count=count, order_by_field=schema.TS, order=order)
            if res is None:
                continue
            total += res.count if count else 0
            if enough:
                continue  # days are visited in order: this one cannot beat what we have
            for ts, addr in res.hits:
                candidates.append((ts, 0, 0, day, s, addr))
        candidates.sort(key=lambda c: c[0], reverse=newest_first)
        page = candidates[offset : offset + limit]
        hits = self._hits(page)
        if not count:
            total = len(candidates)
        return Page(total, hits, (time.perf_counter() - t0) * 1000, timed_out, days)

    def _hits(self, page: list[tuple[int, int, int, str, tantivy.Searcher, Any]]) -> list[Hit]:
        by_searcher: dict[int, list[int]] = {}
        for i, c in enumerate(page):
            by_searcher.setdefault(id(c[4]), []).append(i)
        out: list[Hit | None] = [None] * len(page)
        for idxs in by_searcher.values():
            s = page[idxs[0]][4]
            addrs = [page[i][5] for i in idxs]
            fids = s.fast_field_values(schema.FILE_ID, addrs)
            lines = s.fast_field_values(schema.LINE, addrs)
            nls = s.fast_field_values(schema.NLINES, addrs)
            for j, i in enumerate(idxs):
                out[i] = Hit(page[i][0], fids[j], lines[j], nls[j], page[i][3])
        return [h for h in out if h is not None]

    def count(
        self,
        text: str,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        file_ids: Iterable[int] | None = None,
    ) -> int:
        q = self.compile(text, start_us=start_us, end_us=end_us, file_ids=file_ids)
        total = 0
        for day, s in self._searchers(self._days(start_us, end_us)):
            res = self._guard(day, s.search, q, limit=1, count=True)
            total += res.count if res is not None else 0
        return total

    def aggregate(
        self,
        text: str,
        aggs: dict[str, Any],
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        file_ids: Iterable[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Tantivy (Elasticsearch-shaped) aggregations, one result per day partition."""
        q = self.compile(text, start_us=start_us, end_us=end_us, file_ids=file_ids)
        out = []
        for day, s in self._searchers(self._days(start_us, end_us)):
            res = self._guard(day, s.aggregate, q, aggs)
            if res is not None:
                out.append(res)
        return out

    def _guard(self, day: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """Run one partition's part; a damaged segment (tantivy-py raises a pyo3
        PanicException, a BaseException) marks the day broken and the others still answer."""
        try:
            return fn(*args, **kw)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001
            self.store.partitions.broken[day] = f"{type(e).__name__}: {e}"
            return None

    def histogram(
        self,
        text: str,
        *,
        start_us: int,
        end_us: int,
        interval_us: int,
        file_ids: Iterable[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Event counts per bucket of ``interval_us``, every bucket from start to end."""
        first = start_us - start_us % interval_us
        agg = {"h": {"histogram": {"field": schema.TS, "interval": interval_us, "offset": 0}}}
        counts: dict[int, int] = {}
        for res in self.aggregate(text, agg, start_us=start_us, end_us=end_us, file_ids=file_ids):
            for b in res["h"]["buckets"]:
                k = int(b["key"])
                counts[k] = counts.get(k, 0) + b["doc_count"]
        return [(k, counts.get(k, 0)) for k in range(first, end_us + 1, interval_us)]

    def per_source(
        self,
        text: str,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        file_ids: Iterable[int] | None = None,
    ) -> dict[int, int]:
        """Matching events per source file (the building block of source-field facets)."""
        agg = {"f": {"terms": {"field": schema.FILE_ID, "size": 1_000_000}}}
        out: dict[int, int] = {}
        for res in self.aggregate(text, agg, start_us=start_us, end_us=end_us, file_ids=file_ids):
            for b in res["f"]["buckets"]:
                k = int(b["key"])
                out[k] = out.get(k, 0) + b["doc_count"]
        return out

    def top_values(
        self,
        text: str,
        fields: Sequence[str],
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        size: int = 5,
    ) -> dict[str, list[tuple[str, int]]]:
        """The ``size`` most frequent values of each field among the matching events
        (fields without any are left out; message, times and positions have none).

        One pass over the matches serves all the event keywords (one Tantivy aggregation
        holding a terms aggregation each: a pass per field cost the sidebar a third more),
        and one per-file aggregation serves all the source fields."""
        counts: dict[str, dict[str, int]] = {}
        keywords = [f for f in fields if f in schema.EVENT_KEYWORDS]
        if keywords:
            agg = {f: {"terms": {"field": schema.indexed(f), "size": max(size * 4, 50)}} for f in keywords}
            for res in self.aggregate(text, agg, start_us=start_us, end_us=end_us):
                for f in keywords:
                    c = counts.setdefault(f, {})
                    for b in res[f]["buckets"]:
                        c[b["key"]] = c.get(b["key"], 0) + b["doc_count"]
        sourced = [f for f in fields if not schema.is_event_field(f)]
        if sourced:
            per = self.per_source(text, start_us=start_us, end_us=end_us)
            for sid, src in self.store.catalog.many(per).items():
                n = per[sid]
                for f in sourced:
                    v = src.attrs.get(f)
                    c = counts.setdefault(f, {})
                    for one in v if isinstance(v, list) else ([v] if v is not None else []):
                        c[str(one)] = c.get(str(one), 0) + n
        return {
            f: heapq.nlargest(size, c.items(), key=lambda kv: (kv[1], kv[0])) for f, c in counts.items() if c
        }

    # -- reading hits back -----------------------------------------------------------------

    def fetch(self, hits: list[Hit], max_lines: int = 200) -> list[Fetched]:
        """The sources and raw lines of hits (from the archive)."""
        sources = self.store.catalog.many(h.file_id for h in hits)
        out = []
        for h in hits:
            src = sources.get(h.file_id)
            lines: list[bytes] = []
            error = None
            if src is not None:
                try:
                    lines = self.store.archive.lines(src.sha256, h.line, min(h.nlines, max_lines))
                except ArchiveError as e:
                    error = f"log text unavailable: {e} (appliance verify --archive)"
            out.append(Fetched(h, src, lines, error))
        return out


def _time_range(start_us: int | None, end_us: int | None) -> tantivy.Query:
    return tantivy.Query.range_query(
        schema.SCHEMA,
        schema.TS,
        tantivy.FieldType.Integer,
        start_us if start_us is not None else -(2**63),
        end_us if end_us is not None else 2**63 - 1,
    )


__all__ = ["Hit", "Page", "Fetched", "Searcher", "CatalogResolver", "DAY_US", "day_start_us"]
