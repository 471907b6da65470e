"""Discover on any :class:`~appliance.backend.base.Backend` (``backend = "opensearch"``).

The same :class:`~web.discover_data.Result` as the local path, from the backend's search,
histogram and top values (run side by side: each is one request to the cluster). The
local path (:func:`web.discover_data.run`) stays as it is: it reads the catalog and the
archive directly. Context links of a cluster's hits carry where the event sits (build,
file, line, time) instead of a local event id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool

from appliance.backend.base import Backend, iter_hits
from index.partitions import DAY_US, day_of, day_start_us

from . import histogram
from .discover_data import Result, Row, highlight_terms, make_row, resolve_range
from .facets import EVENT_FACETS, Facet
from .state import DiscoverState

LONG_RANGE_US = 30 * DAY_US
FACETS = (*EVENT_FACETS, "build_name", "build_status", "build_queue", "build_branch", "project", "filename", "tags",
          "node_provider", "voting")  # fmt: skip
"""The sidebar's fields on a cluster (one ``terms`` aggregation each, in one request)."""


class RemoteRow(Row):
    @property
    def context_url(self) -> str:
        return context_url(self.event)


def context_url(ev: dict[str, Any], n: int = 10) -> str:
    """``/context?build=&file=&line=&ts=``: where an event sits, for any backend."""
    params = {"build": ev.get("build_uuid", ""), "file": ev.get("filename", ""), "ts": ev.get("@timestamp", ""),
              "n": n, "len": ev.get("nlines", 1)}  # fmt: skip
    if ev.get("line") is not None:
        params["line"] = ev["line"]
    return "/context?" + urlencode(params)


def chart_range(backend: Backend, start_us: int, end_us: int, now_us: int) -> tuple[int, int]:
    """The histogram's span, as the local page clips it: up to the end of today, and for a
    long range ("all") from the day of the oldest event (one cheap request)."""
    end = min(end_us, day_start_us(day_of(now_us)) + DAY_US - 1)
    if end - start_us > LONG_RANGE_US:
        oldest = backend.search("*", start_us, end, newest_first=False, size=1).hits
        if oldest:
            start_us = max(start_us, day_start_us(day_of(oldest[0].ts_us)))
    return start_us, max(end, start_us + 1)


async def run(backend: Backend, state: DiscoverState, *, with_aggs: bool = True) -> Result:
    """Everything Discover shows; raises QueryError/HTTPError/BackendError for bad input
    or an unreachable cluster."""
    now_us = int(time.time() * 1e6)
    start, end = resolve_range(state, now_us)
    text = state.lucene()
    if state.q:  # errors point into what the user typed, not into the combined query
        await run_in_threadpool(backend.check, state.q)
    await run_in_threadpool(backend.check, text)
    res = Result(state, text, start, end)
    c_start, c_end = await run_in_threadpool(chart_range, backend, start, end, now_us)
    interval, label = histogram.interval_for(c_start, c_end)
    t0 = time.perf_counter()
    jobs = [run_in_threadpool(lambda: backend.search(text, start, end, newest_first=state.newest_first,
                                                     size=state.size, offset=state.offset))]  # fmt: skip
    if with_aggs:
        jobs.append(run_in_threadpool(backend.histogram, text, c_start, c_end, interval))
        jobs.append(run_in_threadpool(backend.top_values, FACETS, text, start, end, 5))
    done = await asyncio.gather(*jobs)
    page = done[0]
    res.total, res.timed_out = page.total, page.timed_out
    terms = highlight_terms(state.q)
    res.rows = []
    for h in page.hits:
        r = make_row(h.event, state.columns, terms)
        res.rows.append(RemoteRow(r.event, r.cells, r.fields))
    if with_aggs:
        res.chart = histogram.chart(done[1], c_start, c_end, interval, label)
        top: dict[str, list[tuple[str, int]]] = done[2]
        res.facets = [Facet(f, top[f]) for f in FACETS if f in top]
    res.took_ms = max(page.took_ms, (time.perf_counter() - t0) * 1000)
    return res


def field_names() -> tuple[str, ...]:
    """The fields completion offers on a cluster (its mapping is not read)."""
    return ("message", "@timestamp", *FACETS, "build_uuid", "build_short_uuid", "build_change", "build_patchset",
            "build_ref", "build_node", "tenant", "log_url", "line", "nlines")  # fmt: skip


def values(backend: Backend, field: str, prefix: str = "", limit: int = 20) -> list[str]:
    """Frequent values of a field starting with ``prefix`` (for completion)."""
    p = prefix.lower()
    vals = backend.top_values([field], "*", n=500).get(field, [])
    return [v for v, _ in vals if v.lower().startswith(p)][:limit]


def iter_events(backend: Backend, text: str, start_us: int, end_us: int, newest_first: bool = True) -> Iterator[dict[str, Any]]:
    """Every hit's event, for the streamed exports (flat memory, no result window)."""
    for h in iter_hits(backend, text, start_us, end_us, newest_first=newest_first, grain_us=backend.grain_us):
        yield h.event
