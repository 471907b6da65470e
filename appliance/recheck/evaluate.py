"""What a query would match over a window, counted in builds: how many, how many failed,
and whether any passed.

A good signature matches the failures of its bug and no passing build. The diff ranks
new lines by how many builds show them; the proposal keeps the candidate queries that
hit the failed build and no passing build. One aggregation per day partition (matching
events per file), mapped to builds through the catalog — a few milliseconds a query.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from index.query import QueryError

from .buildindex import BuildIndex

SAMPLE = 20


@dataclass(slots=True)
class BuildHit:
    build_uuid: str
    job: str
    status: str
    voting: bool
    time_us: int | None
    events: int
    link: str


@dataclass(slots=True)
class Evaluation:
    query: str
    builds: int = 0
    failed: int = 0
    passing: int = 0
    other: int = 0
    """Builds neither failed nor passed (aborted, unknown result)."""
    events: int = 0
    hits_build: bool = False
    """It matches the build it was made for."""
    nonvoting_failed: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    """Builds hit per job."""
    sample: list[BuildHit] = field(default_factory=list)
    """Builds hit, passing ones first (they are the problem), newest first (at most
    :data:`SAMPLE`)."""
    hit_uuids: frozenset[str] = frozenset()
    error: str | None = None

    @property
    def clean(self) -> bool:
        """Matches the build and no passing build."""
        return self.error is None and self.hits_build and self.passing == 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("hit_uuids")
        d["clean"] = self.clean
        return d


class Evaluator:
    """Evaluates queries over one window for one build, each query once (the diff and the
    proposal ask about the same phrases)."""

    def __init__(self, engine: Any, start_us: int, end_us: int, build_uuid: str) -> None:
        self.searcher = engine.runner.searcher
        self.builds: BuildIndex = engine.builds
        self.base_url: str = engine.base_url
        self.start_us = start_us
        self.end_us = end_us
        self.build_uuid = build_uuid
        self._memo: dict[str, Evaluation] = {}
        self._lock = threading.Lock()

    def __call__(self, query: str) -> Evaluation:
        with self._lock:
            hit = self._memo.get(query)
        if hit is None:
            hit = self._evaluate(query)
            with self._lock:
                self._memo[query] = hit
        return hit

    def _evaluate(self, query: str) -> Evaluation:
        try:
            per = self.searcher.per_source(query, start_us=self.start_us, end_us=self.end_us)
        except QueryError as e:
            return Evaluation(query, error=e.message)
        except ValueError as e:  # tantivy refusing a query at search time
            return Evaluation(query, error=str(e))
        ev = Evaluation(query)
        hits: list[BuildHit] = []
        for uuid, counts in self.builds.group_by_build(per.items()).items():
            b = self.builds.get_cached(uuid)
            if b is None:
                continue
            n = sum(counts)
            ev.builds += 1
            ev.events += n
            ev.jobs[b.job] = ev.jobs.get(b.job, 0) + 1
            if b.failed:
                ev.failed += 1
                ev.nonvoting_failed += 0 if b.voting else 1
            elif b.status == "SUCCESS":
                ev.passing += 1
            else:
                ev.other += 1
            link = f"{self.base_url}/recheck/builds/{quote(uuid)}"
            hits.append(BuildHit(uuid, b.job, b.status, b.voting, b.time_us, n, link))
        ev.hits_build = any(h.build_uuid == self.build_uuid for h in hits)
        ev.hit_uuids = frozenset(h.build_uuid for h in hits)
        hits.sort(key=lambda h: (h.status != "SUCCESS", -(h.time_us or 0)))
        ev.sample = hits[:SAMPLE]
        return ev


__all__ = ["BuildHit", "Evaluation", "Evaluator"]
