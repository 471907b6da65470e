"""Graph data: how often each known bug hit builds, hour by hour, over the last days.

Per signature one aggregation per day of the window (matching events -> files -> the
earliest match per file), then files -> builds through the build index: a build counts
once, in the hour of its first matching event, in the series of its ``build_status``.
That also gives the fails in the window and the last 24 h, the split by queue and job,
and (from all builds of the window) each hit job's failure rate. :func:`elastic_recheck`
reshapes the result into elastic-recheck's ``graph.json`` for its old dashboard.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import quote

import tantivy

from index import schema
from index.query import QueryError

from .buildindex import BuildIndex, BuildInfo
from .runner import Runner
from .signatures import Signature

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


@dataclass(slots=True)
class Lag:
    """How far ingestion is behind: the newest event and the newest complete build."""

    now_us: int
    last_indexed_us: int | None
    behind_s: float | None
    newest_build: str | None = None
    newest_build_us: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class JobStat:
    hits: int = 0
    """Builds of this job the signature hit."""
    fails: int = 0
    """Failed builds of this job it hit."""
    builds: int = 0
    """All builds of the job in the window."""
    failures: int = 0
    """All failed builds of the job in the window."""

    @property
    def failure_rate(self) -> float:
        return self.failures / self.builds if self.builds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failure_rate": round(self.failure_rate, 4)}


@dataclass(slots=True)
class BugGraph:
    bug: str
    query: str
    url: str
    discover_url: str
    voting: bool
    """Whether only voting builds count (False for ``allow-nonvoting``)."""
    suppress_graph: bool = False
    hits: int = 0
    """Distinct builds hit in the window."""
    fails: int = 0
    fails24: int = 0
    hits24: int = 0
    """Distinct builds hit in the last 24 h."""
    series: dict[str, list[int]] = field(default_factory=dict)
    """``build_status`` -> builds hit per hour, aligned with :attr:`Graph.hours`."""
    by_queue: dict[str, list[int]] = field(default_factory=dict)
    """``build_queue`` -> builds hit per hour (what the status page draws)."""
    queues: dict[str, dict[str, int]] = field(default_factory=dict)
    """``build_queue`` -> ``{"hits", "fails"}``."""
    jobs: dict[str, JobStat] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "jobs"}
        d["jobs"] = {j: s.as_dict() for j, s in self.jobs.items()}
        return d


@dataclass(slots=True)
class Graph:
    now_us: int
    start_us: int
    end_us: int
    days: int
    hours: list[int]
    """Start of every hourly bucket (µs), oldest first; the last one holds ``now``."""
    lag: Lag
    bugs: list[BugGraph]
    """Most recent failures first (elastic-recheck's order)."""
    took_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "now_us": self.now_us, "start_us": self.start_us, "end_us": self.end_us, "days": self.days,
            "hours": self.hours, "lag": self.lag.as_dict(), "took_ms": round(self.took_ms, 1),
            "bugs": [b.as_dict() for b in self.bugs],
        }  # fmt: skip


def window(now_us: int, days: int) -> tuple[int, int]:
    """``days * 24`` whole hours ending with the hour that holds ``now``."""
    end = now_us - now_us % HOUR_US + HOUR_US
    return end - days * DAY_US, end


def discover_url(query: str, days: int, base_url: str = "") -> str:
    return f"{base_url}/discover?q={quote(query, safe='')}&from=now-{days}d&to=now"


def lag(runner: Runner, builds: BuildIndex, now_us: int) -> Lag:
    """The newest event not in the future, and the newest complete build."""
    last: int | None = None
    q = runner.in_time(tantivy.Query.all_query(), 0, now_us + 1)
    for _, s in reversed(runner.searchers(runner.days_between(0, now_us + 1))[-3:]):
        res = s.search(q, limit=1, count=False, order_by_field=schema.TS, order=tantivy.Order.Desc)
        if res.hits:
            last = int(res.hits[0][0])
            break
    newest = max(
        (
            b
            for b in builds.builds()
            if b.complete and b.time_us is not None and b.time_us <= now_us
        ),
        key=lambda b: b.time_us or 0,
        default=None,
    )
    return Lag(
        now_us,
        last,
        (now_us - last) / 1e6 if last is not None else None,
        newest.uuid if newest else None,
        newest.time_us if newest else None,
    )


def compute(
    signatures: list[Signature],
    builds: BuildIndex,
    runner: Runner,
    *,
    days: int,
    now_us: int,
    base_url: str = "",
    map_fn: Callable[..., Any] = map,
) -> Graph:
    t0 = time.perf_counter()
    builds.refresh()
    start, end = window(now_us, days)
    hours = list(range(start, end, HOUR_US))
    searchers = runner.searchers(runner.days_between(start, end))
    in_window = builds.between(start, end)
    job_builds = Counter(b.job for b in in_window)
    job_failures = Counter(b.job for b in in_window if b.failed)
    since24 = now_us - DAY_US

    def one(sig: Signature) -> BugGraph:
        g = new_bug(sig, days, base_url)
        try:
            per_file = runner.first_ts_per_file(
                (runner.in_time(runner.for_day(sig.query, day), start, end), s)
                for day, s in searchers
            )
            if not sig.allow_nonvoting:  # the voting filter, on files rather than in the query
                voting = runner.voting_files(per_file)
                per_file = {f: t for f, t in per_file.items() if f in voting}
        except QueryError as e:
            g.error = e.message
            return g
        except ValueError as e:
            g.error = str(e)
            return g
        hit = [(b, min(times)) for uuid, times in builds.group_by_build(per_file.items()).items()
               if (b := builds.get_cached(uuid)) is not None]  # fmt: skip
        tally(g, hit, start, len(hours), since24, job_builds, job_failures)
        return g

    bugs = order(list(map_fn(one, signatures)))
    g = Graph(now_us, start, end, days, hours, lag(runner, builds, now_us), bugs)
    g.took_ms = (time.perf_counter() - t0) * 1000
    return g


def new_bug(sig: Signature, days: int, base_url: str = "") -> BugGraph:
    return BugGraph(
        sig.bug, sig.query, sig.url, discover_url(sig.effective_query, days, base_url),
        voting=not sig.allow_nonvoting, suppress_graph=sig.suppress_graph,
    )  # fmt: skip


def tally(g: BugGraph, hit: Iterable[tuple[BuildInfo, int]], start: int, n_hours: int, since24: int,
          job_builds: Counter[str], job_failures: Counter[str]) -> None:  # fmt: skip
    """Count each hit build (with its first matching event's time) once: in the hour of
    that event, in the series of its ``build_status`` and of its queue, by queue and by job."""
    for b, first in hit:
        hour = min(n_hours - 1, max(0, (first - start) // HOUR_US))
        g.series.setdefault(b.status or "UNKNOWN", [0] * n_hours)[hour] += 1
        queue = b.queue or "unknown"
        g.by_queue.setdefault(queue, [0] * n_hours)[hour] += 1
        g.hits += 1
        if first >= since24:
            g.hits24 += 1
        qs = g.queues.setdefault(queue, {"hits": 0, "fails": 0})
        js = g.jobs.get(b.job)
        if js is None:
            js = g.jobs[b.job] = JobStat(builds=job_builds[b.job], failures=job_failures[b.job])
        qs["hits"] += 1
        js.hits += 1
        if b.failed:
            g.fails += 1
            qs["fails"] += 1
            js.fails += 1
            if first >= since24:
                g.fails24 += 1


def order(bugs: list[BugGraph]) -> list[BugGraph]:
    """elastic-recheck's order: most failures in the last 24 h, then in the window."""
    return sorted(bugs, key=lambda b: (-(b.fails24 * 100000 + b.fails), b.bug))


def elastic_recheck(g: Graph) -> dict[str, Any]:
    """elastic-recheck's ``graph.json``: times in ms, one ``data`` series per status,
    graph-suppressed bugs left out, ``behind`` in ms."""
    now_ms = g.now_us // 1000
    last_ms = g.lag.last_indexed_us // 1000 if g.lag.last_indexed_us is not None else 0
    hours_ms = [h // 1000 for h in g.hours]
    buglist = []
    for b in g.bugs:
        if b.suppress_graph:
            continue
        buglist.append({
            "number": b.bug,
            "query": b.query,
            "logstash_url": b.discover_url,
            "bug_data": {"name": f"Bug {b.bug}", "affects": "", "reviews": []},
            "fails": b.fails,
            "fails24": b.fails24,
            "voting": b.voting,
            "data": [
                {"label": status, "data": [[t, n] for t, n in zip(hours_ms, row, strict=True)]}
                for status, row in sorted(b.series.items())
            ],
        })  # fmt: skip
    return {
        "now": now_ms,
        "last_indexed": last_ms,
        "behind": now_ms - last_ms,
        "status": "green",
        "buglist": buglist,
    }
