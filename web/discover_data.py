"""What Discover shows, computed once for the page and its JSON twin alike, from any
:class:`~appliance.backend.base.Backend`: this data dir's or a cluster's."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from appliance import timeparse
from appliance.backend.base import Backend

from . import histogram
from .errors import HTTPError
from .facets import Facet
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


def context_url(ev: dict[str, Any], n: int = 10) -> str:
    """``/context?build=&file=&line=&ts=``: where an event sits, on any backend (a
    cluster's events have no local event id)."""
    params = {"build": ev.get("build_uuid", ""), "file": ev.get("filename", ""), "ts": ev.get("@timestamp", ""),
              "n": n, "len": ev.get("nlines", 1)}  # fmt: skip
    if ev.get("line") is not None:
        params["line"] = ev["line"]
    return "/context?" + urlencode(params)


class RemoteRow(Row):
    @property
    def context_url(self) -> str:
        return context_url(self.event)


async def run(backend: Backend, state: DiscoverState, *, with_aggs: bool = True) -> Result:
    """Everything Discover shows, from any backend; raises QueryError/HTTPError (bad
    input) or BackendError (an unreachable cluster). The search, the histogram and the
    sidebar run side by side in the thread pool (Tantivy releases the GIL; a cluster
    answers each in one request); the aggregations get what is left of the backend's
    time budget after the search, and past it the page goes out without them, "partial"."""
    now_us = int(time.time() * 1e6)
    start, end = resolve_range(state, now_us)
    text = state.lucene()
    if state.q:  # errors point into what the user typed, not into the combined query
        await run_in_threadpool(backend.check, state.q)
    await run_in_threadpool(backend.check, text)
    res = Result(state, text, start, end)
    c_start, c_end = await run_in_threadpool(backend.span, start, end, now_us)
    interval, label = histogram.interval_for(c_start, c_end)

    def top() -> list[Facet]:
        fields = backend.facet_fields()
        vals = backend.top_values(fields, text, start, end, 5)
        return [Facet(f, vals[f]) for f in fields if vals.get(f)]

    aggs = []
    if with_aggs:
        aggs = [
            asyncio.ensure_future(run_in_threadpool(backend.histogram, text, c_start, c_end, interval)),
            asyncio.ensure_future(run_in_threadpool(top)),
        ]
    t0 = time.perf_counter()
    try:
        page = await run_in_threadpool(
            lambda: backend.search(text, start, end, newest_first=state.newest_first, size=state.size, offset=state.offset)
        )
    except BaseException:
        for t in aggs:  # they fail the same way; nobody will read them
            t.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise
    res.total, res.timed_out = page.total, page.timed_out
    terms = highlight_terms(state.q)
    row = Row if backend.name == "local" else RemoteRow
    for h in page.hits:
        r = make_row(h.event, state.columns, terms)
        res.rows.append(row(r.event, r.cells, r.fields))
    if aggs:
        left = max(0.0, backend.timeout_s - (time.perf_counter() - t0))
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
