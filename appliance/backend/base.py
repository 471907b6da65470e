"""What the UI, the APIs and the recheck engine ask of an index, as one small interface.

Two implementations: :class:`appliance.backend.local.LocalBackend` (this data dir's Tantivy
index and archive) and :class:`appliance.backend.opensearch.OpenSearchBackend` (an existing
OpenSearch/Elasticsearch cluster over HTTP). Queries are Lucene text everywhere, so the
semantics are those of the query language whichever side answers; times are microseconds
since the epoch (UTC), ``end_us`` inclusive, ``None`` for open ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

EVENT_ONLY = frozenset({"@timestamp", "message", "loglevel", "module", "pid", "syslog_program", "flags", "line",
                        "nlines", "file_id", "_id", "filename", "tags"})  # fmt: skip
"""Fields that vary within a build: what is left of an event is its build's fields."""

MAX_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z: the last time an ISO 8601 ``@timestamp`` can say."""

BUILD_FIELDS = ("build_status", "build_name", "build_queue", "voting", "project", "build_change",
                "build_patchset", "build_branch", "log_url")  # fmt: skip
"""The build fields the recheck engine reads (per build, the value of its events)."""


class BackendError(Exception):
    """The index could not answer: ``status`` is what an HTTP API should say (400 for a
    query the cluster refused, 404 for what is not there, 502/504 for a cluster that is
    down, refuses our credentials or times out)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    ts_us: int
    event: dict[str, Any]
    """The Logstash-shaped event (``@timestamp``, ``message``, build fields, ``_id``...)."""


@dataclass(slots=True)
class SearchPage:
    total: int
    hits: list[Hit]
    took_ms: float = 0.0
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One query of a batch (:meth:`Backend.search_many`): a remote cluster gets the whole
    batch in one round trip (``_msearch``)."""

    query: str
    start_us: int | None = None
    end_us: int | None = None
    newest_first: bool = True
    size: int = 10
    offset: int = 0


@dataclass(frozen=True, slots=True)
class BuildHits:
    """One build's matches: how many events, the first one's time, its build fields."""

    count: int
    first_us: int
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRef:
    """Where an event sits: its build's file, its 1-based first line (None when the index
    does not know lines, e.g. a Logstash-fed cluster), its time."""

    build_uuid: str
    filename: str
    line: int | None
    ts_us: int
    nlines: int = 1


@dataclass(frozen=True, slots=True)
class ContextLine:
    line: int | None
    text: str
    hit: bool


BuildsResult = dict[str, BuildHits] | BackendError
PageResult = SearchPage | BackendError


SIDEBAR_KEYWORDS = ("loglevel", "module", "syslog_program", "flags")
"""The event keywords a field sidebar counts. Not ``pid``: its top values over every
match cost a quarter of the sidebar's time (6.8 of 26 ms over 1.7 M events) for little
use; completion and aggregations still have it."""


class Backend(Protocol):
    name: str
    grain_us: int
    """The index's time resolution (µs): 1 locally, 1000 on a cluster (``date`` is ms)."""
    timeout_s: float
    """How long one search may take; a page's aggregations get what is left of it."""

    def check(self, query: str) -> None:
        """Raise :class:`index.query.QueryError` (with a column) for malformed Lucene."""

    def search(self, query: str, start_us: int | None = None, end_us: int | None = None, *,
               filters: Sequence[tuple[str, str]] = (), newest_first: bool = True, size: int = 50,
               offset: int = 0) -> SearchPage:  # fmt: skip
        """Matching events sorted by time; ``filters`` are exact ``field:value`` clauses."""

    def search_many(self, requests: Sequence[SearchRequest]) -> list[PageResult]:
        """Several searches at once; a failing one is its :class:`BackendError`."""

    def count(self, query: str, start_us: int | None = None, end_us: int | None = None) -> int: ...

    def histogram(self, query: str, start_us: int, end_us: int, interval_us: int) -> list[tuple[int, int]]:
        """Event counts per bucket of ``interval_us`` (aligned on the epoch), every bucket
        from the one holding ``start_us`` to the one holding ``end_us``."""

    def top_values(self, fields: Sequence[str], query: str, start_us: int | None = None,
                   end_us: int | None = None, n: int = 5) -> dict[str, list[tuple[str, int]]]:  # fmt: skip
        """The ``n`` most frequent values of each field among the matching events (fields
        with no value are left out)."""

    def facet_fields(self) -> Sequence[str]:
        """The fields worth counting for a field sidebar, event keywords first."""

    def span(self, start_us: int, end_us: int, now_us: int) -> tuple[int, int]:
        """The part of ``[start_us, end_us]`` that can hold events (a histogram's axis):
        a long range ("all") starts at the oldest day, none goes past today."""

    def builds_matching(self, queries: Sequence[str], start_us: int | None = None, end_us: int | None = None,
                        fields: Sequence[str] = ("build_status",)) -> list[BuildsResult]:  # fmt: skip
        """Per query: ``{build_uuid: BuildHits}`` of the builds with a matching event (what
        recheck's graph and uncategorized list are made of)."""

    def context(self, ref: EventRef, before: int, after: int) -> list[ContextLine]:
        """The lines around an event of a build's file."""

    def raw_log(self, build_uuid: str, filename: str) -> Iterator[bytes]:
        """A build's file, as published (archive or ``log_url``) or rebuilt from its events."""

    def close(self) -> None: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_us(text: str) -> int:
    """An ISO 8601 ``@timestamp`` (``Z``, an offset, or naive meaning UTC) -> µs."""
    s = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def quote(value: str) -> str:
    """A value as a Lucene phrase."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def with_filters(query: str, filters: Sequence[tuple[str, str]]) -> str:
    """``(query) AND field:"value"...`` (the parsed query stays one clause)."""
    if not filters:
        return query or "*"
    parts = [f"({query})"] if query and query.strip() != "*" else []
    parts += [f"{f}:{quote(v)}" for f, v in filters]
    return " AND ".join(parts)


def iter_hits(backend: Backend, query: str, start_us: int, end_us: int, *, newest_first: bool = True,
              batch: int = 500, grain_us: int = 1) -> Iterator[Hit]:  # fmt: skip
    """Every matching hit, in time order, with flat memory: each batch asks for the hits
    up to the time of the last one seen (inclusive) and skips those already sent at that
    time — a ``search_after`` on the timestamp that any backend can answer. ``grain_us``
    is the index's time resolution (a cluster's ``date`` field keeps milliseconds)."""
    lo, hi, skip = start_us, end_us, 0
    while True:
        page = backend.search(query, lo, hi, newest_first=newest_first, size=batch + skip)
        hits = page.hits[skip:]
        yield from hits
        if not hits or len(page.hits) < batch + skip:
            return
        last = hits[-1].ts_us // grain_us * grain_us
        edge = hi if newest_first else lo
        if last == edge // grain_us * grain_us:
            skip += len(hits)  # a run of equal times longer than a batch
        else:
            skip = sum(1 for h in hits if h.ts_us // grain_us * grain_us == last)
            lo, hi = (lo, last + grain_us - 1) if newest_first else (last, hi)
