"""What Discover shows, computed once for the page and its JSON twin alike.

The search, the histogram and the sidebar run side by side in the thread pool
(Tantivy releases the GIL); hits are then read back from the archive as events.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from appliance import timeparse
from appliance.events import to_event
from index.partitions import DAY_US, day_start_us
from index.search import Searcher

from . import histogram
from .errors import HTTPError
from .facets import Facet, facets
from .highlight import Terms, mark, spans, terms_from
from .render import iso, logs_url
from .state import DiscoverState, build_url

NOT_FILTERABLE = frozenset({"message", "@timestamp", "line", "nlines", "file_id", "_id"})
MAX_CELL_CHARS = 2000
SNIPPET_LEAD = 60
MIN_US, MAX_US = 0, 253_402_300_000_000_000
"""Times are clamped to 1970..9999 (a year-10^11 ``to`` is just "the end")."""


def resolve_range(state: DiscoverState, now_us: int | None = None) -> tuple[int, int]:
    """``from``/``to`` as microseconds; a 400 naming the bad one."""
    now_us = int(time.time() * 1e6) if now_us is None else now_us
    try:
        start = timeparse.parse(state.frm, now_us=now_us)
    except ValueError as e:
        raise HTTPError(400, f"from: {e}") from None
    try:
        end = timeparse.parse(state.to, now_us=now_us, round_up=True)
    except ValueError as e:
        raise HTTPError(400, f"to: {e}") from None
    if end < start:
        raise HTTPError(400, "from is after to")
    return max(MIN_US, min(start, MAX_US)), max(MIN_US, min(end, MAX_US))


def highlight_terms(q: str) -> Terms:
    if not q:
        return Terms()
    from index.query import query_terms

    try:
        return terms_from(query_terms(q))
    except Exception:  # highlighting is a nicety; the query itself was validated
        return Terms()


@dataclass
class Row:
    event: dict[str, Any]
    cells: list[Markup]
    fields: list[tuple[str, Markup, bool]]
    """(name, value shown, filterable)."""

    @property
    def id(self) -> str:
        return str(self.event["_id"])

    @property
    def log_url(self) -> str | None:
        ev = self.event
        if "build_uuid" in ev and "filename" in ev:
            return logs_url(str(ev["build_uuid"]), str(ev["filename"]), int(ev["line"]))
        return None

    @property
    def context_url(self) -> str:
        return f"/context/{self.id}?n=10&len={self.event.get('nlines', 1)}"

    @property
    def build_url(self) -> str | None:
        uuid = self.event.get("build_uuid")
        return build_url(str(uuid)) if uuid else None


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def snippet(text: str, terms: Terms) -> str:
    """The message as the table shows it: from shortly before its first match (so the
    match is visible in a clipped cell), at most :data:`MAX_CELL_CHARS` long."""
    sp = spans(text, terms)
    if sp and sp[0][0] > 2 * SNIPPET_LEAD:
        cut = text.rfind(" ", 0, sp[0][0] - SNIPPET_LEAD)
        text = "… " + text[(cut if cut > 0 else sp[0][0] - SNIPPET_LEAD) :].lstrip()
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + " …"


def make_row(ev: dict[str, Any], columns: tuple[str, ...], terms: Terms) -> Row:
    cells = []
    for c in columns:
        text = _show(ev.get(c))
        if c == "message":
            cells.append(mark(snippet(text, terms), terms))
        else:
            cells.append(escape(text))
    names = ["@timestamp", "message", *sorted(k for k in ev if k not in ("@timestamp", "message"))]
    flds = [
        (n, mark(_show(ev[n]), terms) if n == "message" else escape(_show(ev[n])), n not in NOT_FILTERABLE)
        for n in names
        if n in ev
    ]
    return Row(ev, cells, flds)


@dataclass
class Result:
    state: DiscoverState
    query: str
    start_us: int
    end_us: int
    total: int = 0
    took_ms: float = 0.0
    timed_out: bool = False
    rows: list[Row] = field(default_factory=list)
    chart: histogram.Chart | None = None
    facets: list[Facet] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.state.size))

    def as_json(self) -> dict[str, Any]:
        c = self.chart
        return {
            "query": self.query,
            "q": self.state.q,
            "from": self.state.frm,
            "to": self.state.to,
            "start": iso(self.start_us),
            "end": iso(self.end_us),
            "total": self.total,
            "took_ms": round(self.took_ms, 2),
            "timed_out": self.timed_out,
            "sort": self.state.sort,
            "page": self.state.page,
            "size": self.state.size,
            "hits": [r.event for r in self.rows],
            "histogram": {
                "interval": c.label if c else None,
                "interval_ms": c.interval_us // 1000 if c else None,
                "buckets": [{"key": iso(b.start_us), "key_us": b.start_us, "count": b.count} for b in c.bars] if c else [],
            },
            "fields": [f.as_dict() for f in self.facets],
        }


def chart_range(searcher: Searcher, start_us: int, end_us: int, now_us: int) -> tuple[int, int]:
    """The histogram's span: the asked range, clipped to where data can be."""
    days = searcher.store.partitions.days()
    if days:
        start_us = max(start_us, day_start_us(days[0]))
        end_us = min(end_us, max(now_us, day_start_us(days[-1]) + DAY_US - 1))
    return start_us, max(end_us, start_us + 1)


async def run(searcher: Searcher, state: DiscoverState, *, with_aggs: bool = True) -> Result:
    """Everything Discover shows; raises QueryError/HTTPError for bad input."""
    now_us = int(time.time() * 1e6)
    start, end = resolve_range(state, now_us)
    text = state.lucene()
    if state.q:  # errors point into what the user typed, not into the combined query
        await run_in_threadpool(searcher.compile, state.q)
    await run_in_threadpool(searcher.compile, text)
    res = Result(state, text, start, end)
    c_start, c_end = chart_range(searcher, start, end, now_us)
    interval, label = histogram.interval_for(c_start, c_end)

    def search() -> tuple[Any, list[dict[str, Any]]]:
        page = searcher.search(
            text, start_us=start, end_us=end, limit=state.size, offset=state.offset, newest_first=state.newest_first
        )
        return page, [to_event(f) for f in searcher.fetch(page.hits)]

    aggs = []
    if with_aggs:
        aggs = [
            asyncio.ensure_future(
                run_in_threadpool(searcher.histogram, text, start_us=c_start, end_us=c_end, interval_us=interval)
            ),
            asyncio.ensure_future(run_in_threadpool(facets, searcher, text, start, end)),
        ]
    t0 = time.perf_counter()
    try:
        page, events = await run_in_threadpool(search)
    except BaseException:
        for t in aggs:  # they fail the same way; nobody will read them
            t.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise
    res.total, res.timed_out = page.total, page.timed_out
    terms = highlight_terms(state.q)
    res.rows = [make_row(ev, state.columns, terms) for ev in events]
    if aggs:
        # the aggregations get what is left of the query budget; past it the page goes
        # out without them (their threads finish on their own) and says "partial"
        left = max(0.0, searcher.timeout_s - (time.perf_counter() - t0))
        done, late = await asyncio.wait(aggs, timeout=left)
        for t in late:
            t.add_done_callback(lambda t: t.cancelled() or t.exception())
        if aggs[0] in done:
            res.chart = histogram.chart(aggs[0].result(), c_start, c_end, interval, label)
        if aggs[1] in done:
            res.facets = aggs[1].result()
        res.timed_out = res.timed_out or len(done) < len(aggs)
    res.took_ms = max(page.took_ms, (time.perf_counter() - t0) * 1000)
    return res
