"""Top new error templates: which error lines showed up in the last 24 hours across all
builds, how many builds and failures they hit, and their trend over the last days.

A line template seen today in several failures and never before is a new bug in the
making, before anyone wrote a signature. Only cached templates are read
(:class:`.tplstore.TemplateStore`: ``serve`` fills the cache in the background), so the
page answers in a fraction of a second and says how many builds it could look at.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from index.archive import ArchiveError

from . import templates as T
from .classify import log_link
from .diff import DAY_US, done_sources, tag_of, unit_query
from .tplstore import TemplateStore, parse

SERIES = ("FAILURE", "SUCCESS", "OTHER")
HOUR_US = 3600 * 1_000_000


@dataclass(slots=True)
class TemplateTrend:
    id: str
    template: str
    message: str
    """One occurrence, from the newest build that has it."""
    severity: int
    builds_today: int
    failed_today: int
    events_today: int
    builds: int
    """Over the whole window."""
    failed: int
    new: bool
    """Not seen before the last 24 hours (within the window)."""
    first_seen_us: int
    series: dict[str, list[int]]
    """Builds per day (oldest first) by result: ``FAILURE``, ``SUCCESS``, ``OTHER``."""
    hourly: dict[str, list[int]]
    """The same for each hour of the last 24 (a new template's trend is within today)."""
    build_uuid: str
    filename: str
    line: int
    link: str
    diff_link: str
    query: str | None
    """A phrase query for it (elastic-recheck's shape), to open in Discover."""


@dataclass(slots=True)
class Trends:
    days: int
    now_us: int
    day_starts: list[int]
    hour_starts: list[int]
    builds: int
    """Builds in the window."""
    analysed: int
    """Of those, builds whose templates are all known."""
    today_builds: int
    total_today: int
    """Distinct error templates in the last 24 hours."""
    total_new: int
    templates: list[TemplateTrend] = field(default_factory=list)
    took_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["took_ms"] = round(self.took_ms, 1)
        return d


@dataclass(slots=True)
class _Agg:
    days: int
    series: dict[str, list[int]] = field(default_factory=dict)
    hourly: dict[str, list[int]] = field(default_factory=dict)
    builds_today: int = 0
    failed_today: int = 0
    events_today: int = 0
    builds: int = 0
    failed: int = 0
    first_seen_us: int = 1 << 62
    example: tuple[int, Any, Any, int, str] | None = None
    """(build time, source, file templates, index, build uuid) of the newest occurrence."""
    severity: int = 0


def _classify(status: str, failed: bool) -> str:
    return "FAILURE" if failed else "SUCCESS" if status == "SUCCESS" else "OTHER"


def compute(engine: Any, tstore: TemplateStore, *, days: int = 7, now_us: int | None = None, limit: int = 50,
            only_new: bool = True, min_severity: int = 3, compute_missing: bool = False) -> Trends:  # fmt: skip
    """Error templates (severity >= ``min_severity``) of the last 24 h, new ones only
    unless ``only_new`` is false, most builds first."""
    t0 = time.perf_counter()
    end = int(time.time() * 1e6) if now_us is None else now_us
    start = end - days * DAY_US
    day0 = end - DAY_US
    tr = Trends(
        days,
        end,
        [start + i * DAY_US for i in range(days)],
        [day0 + h * HOUR_US for h in range(24)],
        0,
        0,
        0,
        0,
        0,
    )
    aggs: dict[int, _Agg] = {}
    for b in engine.builds.between(start, end):
        bucket = min(days - 1, max(0, (int(b.time_us or start) - start) // DAY_US))
        today = bucket == days - 1
        srcs = done_sources(engine, b.file_ids)
        got = tstore.of_sources(srcs, compute=compute_missing)
        tr.builds += 1
        tr.analysed += len(got) == len(srcs)
        tr.today_builds += today
        seen: dict[int, tuple[int, Any, Any, int]] = {}
        for src, ft in got:
            sev = ft.severity
            for i in range(len(ft)):
                if sev[i] >= min_severity:
                    tid = ft.ids[i]
                    prev = seen.get(tid)
                    seen[tid] = (
                        (ft.counts[i], src, ft, i)
                        if prev is None
                        else (prev[0] + ft.counts[i], *prev[1:])
                    )
        cls = _classify(b.status, b.failed)
        for tid, (count, src, ft, i) in seen.items():
            a = aggs.get(tid)
            if a is None:
                a = aggs[tid] = _Agg(
                    days,
                    {k: [0] * days for k in SERIES},
                    {k: [0] * 24 for k in SERIES},
                    severity=ft.severity[i],
                )
            a.series[cls][bucket] += 1
            a.builds += 1
            a.failed += b.failed
            a.first_seen_us = min(a.first_seen_us, int(b.time_us or end))
            if today:
                a.hourly[cls][min(23, max(0, (int(b.time_us or end) - day0) // HOUR_US))] += 1
                a.builds_today += 1
                a.failed_today += b.failed
                a.events_today += count
            if a.example is None or (b.time_us or 0) > a.example[0]:
                a.example = (b.time_us or 0, src, ft, i, b.uuid)
    todays = {tid: a for tid, a in aggs.items() if a.builds_today}
    new = {tid: a for tid, a in todays.items() if a.builds == a.builds_today}
    tr.total_today, tr.total_new = len(todays), len(new)
    chosen = sorted((new if only_new else todays).items(),
                    key=lambda kv: (-kv[1].builds_today, -kv[1].failed_today, -kv[1].events_today, kv[0]))  # fmt: skip
    for tid, a in chosen[:limit]:
        t = _describe(engine, tid, a, new=tid in new)
        if t is not None:
            tr.templates.append(t)
    tr.took_ms = (time.perf_counter() - t0) * 1000
    return tr


def _describe(engine: Any, tid: int, a: _Agg, *, new: bool) -> TemplateTrend | None:
    assert a.example is not None
    _, src, ft, i, uuid = a.example
    line, n = int(ft.lines[i]), int(ft.nlines[i])
    try:
        raw = engine.store.archive.lines(src.sha256, line, min(n, 200))
    except ArchiveError:
        return None
    records = parse(b"\n".join(raw), src)
    message = records[0].message if records else b"\n".join(raw).decode("utf-8", "replace")
    filename = str(src.attrs.get("filename", ""))
    phrase = next(iter(T.phrases(message)), None)
    base = engine.base_url
    return TemplateTrend(
        id=f"{tid:016x}", template=T.normalize(message), message=message, severity=a.severity,
        builds_today=a.builds_today, failed_today=a.failed_today, events_today=a.events_today,
        builds=a.builds, failed=a.failed, new=new, first_seen_us=a.first_seen_us, series=a.series, hourly=a.hourly,
        build_uuid=uuid, filename=filename, line=line + 1, link=log_link(uuid, filename, line + 1, n, base),
        diff_link=f"{base}/recheck/builds/{quote(uuid)}/diff?" + urlencode({"days": a.days}),
        query=unit_query(phrase, tag_of(src)) if phrase else None,
    )  # fmt: skip
