"""Uncategorized failures: failed builds of the window that no signature explains.

These are the failures nobody has written a signature for yet — the list a CI team
works through. Each signature runs once over the files of all the window's failed
voting builds (one aggregation per day), the builds it hits are categorized, the rest are
listed by job, newest first, with links to their logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from index.query import QueryError

from ..events import iso
from .buildindex import BuildIndex, BuildInfo
from .classify import failed_test_query
from .graph import DAY_US, window
from .runner import Runner
from .signatures import Signature


@dataclass(slots=True)
class FailedBuild:
    build_uuid: str
    job: str
    status: str
    queue: str
    project: str
    change: str | None
    patchset: str | None
    time_us: int
    timestamp: str
    log_url: str | None
    """Where the CI published the build's logs."""
    link: str
    """The appliance's page for the build (``/recheck/builds/{uuid}``)."""


@dataclass(slots=True)
class JobFailures:
    job: str
    failed: int
    """Failed builds of the job in the window."""
    builds: list[FailedBuild] = field(default_factory=list)
    """The uncategorized ones, newest first."""

    @property
    def classified_rate(self) -> float:
        return 1 - len(self.builds) / self.failed if self.failed else 1.0


@dataclass(slots=True)
class Uncategorized:
    start_us: int
    end_us: int
    days: int
    failed: int
    """Failed voting builds in the window."""
    categorized: int
    jobs: list[JobFailures]
    """Jobs with uncategorized failures, most of them first."""
    errors: list[str] = field(default_factory=list)
    took_ms: float = 0.0

    @property
    def count(self) -> int:
        return sum(len(j.builds) for j in self.jobs)

    @property
    def classified_rate(self) -> float:
        return self.categorized / self.failed if self.failed else 1.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["count"] = self.count
        d["classified_rate"] = round(self.classified_rate, 4)
        for j, jd in zip(self.jobs, d["jobs"], strict=True):
            jd["classified_rate"] = round(j.classified_rate, 4)
        d["took_ms"] = round(self.took_ms, 1)
        return d


def _failed_build(b: BuildInfo, base_url: str) -> FailedBuild:
    a = b.attrs
    t = b.time_us or 0
    return FailedBuild(
        b.uuid, b.job, b.status, b.queue, str(a.get("project") or ""),
        a.get("build_change"), a.get("build_patchset"), t, iso(t), a.get("log_url"),
        f"{base_url}/recheck/builds/{b.uuid}",
    )  # fmt: skip


def compute(
    signatures: list[Signature],
    builds: BuildIndex,
    runner: Runner,
    *,
    days: int,
    now_us: int,
    base_url: str = "",
    voting_only: bool = True,
    map_fn: Callable[..., Any] = map,
) -> Uncategorized:
    t0 = time.perf_counter()
    builds.refresh()
    start, end = window(now_us, days)
    failed = [b for b in builds.between(start, end) if b.failed and (b.voting or not voting_only)]
    file_ids = {fid for b in failed for fid in b.file_ids}
    # A build's events may run past either end of the window by its duration.
    searchers = runner.searchers(runner.days_between(start - DAY_US, end + DAY_US))
    # per day, only the failed builds' files of that day: small file sets, small queries
    per_day = [(s, f) for day, s in searchers if (f := runner.day_files(day) & file_ids)]

    def one(sig: Signature) -> set[str] | str:
        try:
            runs = [
                (q, s) for s, files in per_day if (q := runner.for_files(sig, files)) is not None
            ]
            hit = set(builds.group_by_build(runner.first_ts_per_file(runs).items()))
            if sig.test_ids and hit:  # as classify: the named test must have failed too
                tq = failed_test_query(sig.test_ids)
                runs = [(runner.in_file_set(runner.translate(tq, f), f), s) for s, f in per_day]
                hit &= set(builds.group_by_build(runner.first_ts_per_file(runs).items()))
            return hit
        except QueryError as e:
            return f"{sig.bug}: {e.message}"
        except ValueError as e:
            return f"{sig.bug}: {e}"

    hit: set[str] = set()
    errors: list[str] = []
    if file_ids:
        for r in map_fn(one, signatures):
            if isinstance(r, str):
                errors.append(r)
            else:
                hit |= r
    out = summarize(failed, hit, errors, start=start, end=end, days=days, base_url=base_url)
    out.took_ms = (time.perf_counter() - t0) * 1000
    return out


def summarize(failed: list[BuildInfo], hit: set[str], errors: list[str], *, start: int, end: int, days: int,
              base_url: str = "") -> Uncategorized:  # fmt: skip
    """The failed builds no signature hit (``hit``: uuids), by job, newest first."""
    by_job: dict[str, JobFailures] = {}
    for b in failed:
        jf = by_job.setdefault(b.job, JobFailures(b.job, 0))
        jf.failed += 1
        if b.uuid not in hit:
            jf.builds.append(_failed_build(b, base_url))
    jobs = [j for j in by_job.values() if j.builds]
    for j in jobs:
        j.builds.sort(key=lambda x: x.time_us, reverse=True)
    jobs.sort(key=lambda j: (-len(j.builds), -j.builds[0].time_us, j.job))
    categorized = sum(1 for b in failed if b.uuid in hit)
    return Uncategorized(start, end, days, len(failed), categorized, jobs, errors)
