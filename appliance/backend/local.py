"""The embedded backend: this data dir's Tantivy day partitions, catalog and archive.

Thin delegation to :class:`index.search.Searcher` (which the web UI also uses directly, so
a local appliance keeps its own fast paths); hits become events with
:func:`appliance.events.to_event`, raw logs and context come from the archive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from index import schema
from index.archive import ArchiveError
from index.catalog import Source
from index.partitions import DAY_US, day_start_us
from index.query import QueryError
from index.search import Searcher
from index.store import Store

from ..events import to_event
from .base import (
    SIDEBAR_KEYWORDS,
    BackendError,
    BuildHits,
    BuildsResult,
    ContextLine,
    EventRef,
    Hit,
    PageResult,
    SearchPage,
    SearchRequest,
    with_filters,
)


class LocalBackend:
    name = "local"
    grain_us = 1

    def __init__(self, store: Store, searcher: Searcher | None = None) -> None:
        self.store = store
        self.searcher = searcher or Searcher(store)

    @property
    def timeout_s(self) -> float:
        return self.searcher.timeout_s

    def check(self, query: str) -> None:
        self.searcher.compile(query)

    def facet_fields(self) -> list[str]:
        """The sidebar's event keywords, then every source field the catalog knows, by name."""
        names = self.store.catalog.fields()
        return [*SIDEBAR_KEYWORDS, *sorted(f for f in names if not schema.is_event_field(f))]

    def span(self, start_us: int, end_us: int, now_us: int) -> tuple[int, int]:
        days = self.store.partitions.days()
        if days:
            start_us = max(start_us, day_start_us(days[0]))
            end_us = min(end_us, max(now_us, day_start_us(days[-1]) + DAY_US - 1))
        return start_us, max(end_us, start_us + 1)

    def search(self, query: str, start_us: int | None = None, end_us: int | None = None, *,
               filters: Sequence[tuple[str, str]] = (), newest_first: bool = True, size: int = 50,
               offset: int = 0) -> SearchPage:  # fmt: skip
        s = self.searcher
        page = s.search(with_filters(query, filters), start_us=start_us, end_us=end_us, limit=size, offset=offset,
                        newest_first=newest_first)  # fmt: skip
        hits = []
        for f in s.fetch(page.hits):
            ev = to_event(f)
            hits.append(Hit(str(ev["_id"]), f.hit.ts_us, ev))
        return SearchPage(page.total, hits, page.took_ms, page.timed_out)

    def search_many(self, requests: Sequence[SearchRequest]) -> list[PageResult]:
        out: list[PageResult] = []
        for r in requests:
            try:
                out.append(self.search(r.query, r.start_us, r.end_us, newest_first=r.newest_first, size=r.size,
                                       offset=r.offset))  # fmt: skip
            except (QueryError, ValueError) as e:
                out.append(BackendError(400, getattr(e, "message", None) or str(e)))
        return out

    def count(self, query: str, start_us: int | None = None, end_us: int | None = None) -> int:
        return self.searcher.count(query, start_us=start_us, end_us=end_us)

    def histogram(self, query: str, start_us: int, end_us: int, interval_us: int) -> list[tuple[int, int]]:
        return self.searcher.histogram(query, start_us=start_us, end_us=end_us, interval_us=interval_us)

    def top_values(self, fields: Sequence[str], query: str, start_us: int | None = None,
                   end_us: int | None = None, n: int = 5) -> dict[str, list[tuple[str, int]]]:  # fmt: skip
        return self.searcher.top_values(query, fields, start_us=start_us, end_us=end_us, size=n)

    def builds_matching(self, queries: Sequence[str], start_us: int | None = None, end_us: int | None = None,
                        fields: Sequence[str] = ("build_status",)) -> list[BuildsResult]:  # fmt: skip
        agg = {"f": {"terms": {"field": schema.FILE_ID, "size": 10_000_000}, "aggs": {"t": {"min": {"field": schema.TS}}}}}
        out: list[BuildsResult] = []
        for q in queries:
            try:
                per: dict[int, tuple[int, int]] = {}
                for res in self.searcher.aggregate(q, agg, start_us=start_us, end_us=end_us):
                    for b in res["f"]["buckets"]:
                        fid, n, t = int(b["key"]), int(b["doc_count"]), int(b["t"]["value"])
                        old = per.get(fid)
                        per[fid] = (n, t) if old is None else (old[0] + n, min(old[1], t))
            except (QueryError, ValueError) as e:
                out.append(BackendError(400, getattr(e, "message", None) or str(e)))
                continue
            builds: dict[str, BuildHits] = {}
            for fid, src in self.store.catalog.many(per).items():
                uuid = src.attrs.get("build_uuid")
                if not uuid:
                    continue
                n, t = per[fid]
                old = builds.get(str(uuid))
                attrs = {k: src.attrs[k] for k in fields if k in src.attrs}
                builds[str(uuid)] = BuildHits(n, t, attrs) if old is None else BuildHits(
                    old.count + n, min(old.first_us, t), old.attrs or attrs)  # fmt: skip
            out.append(builds)
        return out

    # -- files -----------------------------------------------------------------------------

    def _source(self, build_uuid: str, filename: str) -> Source:
        """An ingested file (events that came through ``_bulk`` are no file: 404)."""
        src = self.store.catalog.by_key(f"{build_uuid}/{filename}")
        if src is None or src.state != "done":
            raise BackendError(404, f"not found: {build_uuid}/{filename}")
        return src

    def context(self, ref: EventRef, before: int, after: int) -> list[ContextLine]:
        src = self._source(ref.build_uuid, ref.filename)
        line0 = (ref.line or 1) - 1
        first = max(0, line0 - before)
        try:
            raw = self.store.archive.lines(src.sha256, first, line0 - first + ref.nlines + after)
        except ArchiveError:
            raise BackendError(404, f"the log of {ref.build_uuid}/{ref.filename} is not in the archive") from None
        return [
            ContextLine(first + 1 + i, b.decode("utf-8", "replace").rstrip("\r"), line0 <= first + i < line0 + ref.nlines)
            for i, b in enumerate(raw)
        ]

    def raw_log(self, build_uuid: str, filename: str) -> Iterator[bytes]:
        src = self._source(build_uuid, filename)
        try:
            self.store.archive.info(src.sha256)
        except ArchiveError:
            raise BackendError(404, f"the log of {build_uuid}/{filename} is not in the archive") from None
        return self.store.archive.stream(src.sha256)

    def close(self) -> None:
        """The store belongs to whoever opened it."""
