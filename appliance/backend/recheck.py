"""The recheck engine's questions asked of any :class:`~appliance.backend.base.Backend`
(used with ``backend = "opensearch"``; the local engine keeps its catalog fast paths).

Same methods and result types as :class:`appliance.recheck.engine.RecheckEngine`, so the
recheck pages, the JSON API, the Zuul poller and the CLI work unchanged. What a cluster
is asked, per question:

* classify a build: per signature ``(<effective query>) AND build_uuid:"<uuid>"``, the
  earliest few events and the count, all signatures in one ``_msearch``;
* graph and uncategorized: per signature a ``terms`` aggregation on ``build_uuid`` (with
  the first match's time and the build's status, job and queue) over the window, plus one
  over all events for the window's builds; again one ``_msearch``.

Differences from the local engine: a build's time is its first event's (the local engine
has the Zuul record's start), and a build counts as complete once any of it is searchable
(a cluster has no ingest journal).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..recheck.buildindex import BuildInfo
from ..recheck.classify import (
    Classification,
    Match,
    _event,
    empty,
    failed_test_query,
    wait_complete,
)
from ..recheck.engine import now_us
from ..recheck.graph import DAY_US, HOUR_US, Graph, Lag, new_bug, order, tally, window
from ..recheck.signatures import Signature, SignatureSet
from ..recheck.uncategorized import Uncategorized, summarize
from .base import (
    EVENT_ONLY,
    Backend,
    BackendError,
    BuildHits,
    BuildsResult,
    Hit,
    SearchRequest,
    quote,
)

R = TypeVar("R")
GRAPH_FIELDS = ("build_status", "build_name", "build_queue")
TABLE_FIELDS = ("build_status", "build_name", "build_queue", "voting", "project", "build_change", "build_patchset",
                "log_url")  # fmt: skip
MAX_WAIT_S = 3600.0
_HEX = re.compile(r"[0-9a-f]{7,31}")


def build_info(h: Hit) -> BuildInfo:
    """A build as one of its events describes it."""
    attrs = {k: v for k, v in h.event.items() if k not in EVENT_ONLY}
    return BuildInfo(str(h.event.get("build_uuid", "")), attrs, frozenset(), h.ts_us, True)


def _info(uuid: str, bh: BuildHits) -> BuildInfo:
    return BuildInfo(uuid, dict(bh.attrs), frozenset(), bh.first_us, True)


class RemoteRecheckEngine:
    def __init__(self, backend: Backend, *, signatures: SignatureSet | None = None, base_url: str = "",
                 cache_ttl_s: float = 30.0) -> None:  # fmt: skip
        self.backend = backend
        self.signatures = signatures if signatures is not None else SignatureSet()
        self.base_url = base_url.rstrip("/")
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Any, backend: Backend) -> RemoteRecheckEngine:
        extra = getattr(cfg, "extra", {}) or {}
        return cls(backend, signatures=SignatureSet.for_config(cfg), base_url=str(extra.get("public_url", "")))

    def start(self) -> None:
        self.signatures.start()

    def stop(self) -> None:
        self.signatures.stop()

    # -- builds ----------------------------------------------------------------------------

    def build(self, ref: str) -> BuildInfo | None:
        """A build by uuid, or by a unique prefix of it (the short uuid)."""
        ref = ref.strip().lower()
        page = self.backend.search(f"build_uuid:{quote(ref)}", newest_first=False, size=1)
        if not page.hits and _HEX.fullmatch(ref):
            found = self.backend.builds_matching([f"build_uuid:{ref}*"], fields=())[0]
            if isinstance(found, dict) and len(found) == 1:
                page = self.backend.search(f"build_uuid:{quote(next(iter(found)))}", newest_first=False, size=1)
        return build_info(page.hits[0]) if page.hits else None

    def find_build(self, change: str | int, patchset: str | int | None = None,
                   job: str | None = None) -> BuildInfo | None:  # fmt: skip
        """The newest build of a change (and patchset, and job)."""
        want = {"build_change": change, "build_patchset": patchset, "build_name": job}
        q = " AND ".join(f"{k}:{quote(str(v))}" for k, v in want.items() if v not in (None, ""))
        page = self.backend.search(q, newest_first=True, size=1)
        return self.build(str(page.hits[0].event.get("build_uuid", ""))) if page.hits else None

    # -- the questions ---------------------------------------------------------------------

    def classify(self, build: str, wait_s: float = 0.0, *, max_events: int = 5) -> Classification:
        t0 = time.perf_counter()
        info, waited = wait_complete(lambda: self.build(build), min(max(0.0, wait_s), MAX_WAIT_S))
        if info is None:
            c = empty(build)
            c.waited_s = waited
            return c
        sigs = self.signatures.active()
        mine = f" AND build_uuid:{quote(info.uuid)}"
        pages = self.backend.search_many(
            [SearchRequest(f"({s.effective_query}){mine}", newest_first=False, size=max_events) for s in sigs])
        tested = [i for i, (s, p) in enumerate(zip(sigs, pages, strict=True))
                  if s.test_ids and not isinstance(p, BackendError) and p.total]  # fmt: skip
        failing = self.backend.search_many(
            [SearchRequest(f"({failed_test_query(sigs[i].test_ids)}){mine}", size=0) for i in tested])
        failed_test = dict(zip(tested, failing, strict=True))
        matches: list[Match] = []
        errors: list[str] = []
        for i, (sig, page) in enumerate(zip(sigs, pages, strict=True)):
            ft = failed_test.get(i)
            bad = page if isinstance(page, BackendError) else ft if isinstance(ft, BackendError) else None
            if bad is not None:
                errors.append(f"{sig.bug}: {bad.message}")
                continue
            assert not isinstance(page, BackendError) and not isinstance(ft, BackendError)
            if not page.total or (ft is not None and not ft.total):
                continue
            events = [_event({"line": 1, "nlines": 1, "file_id": 0, **h.event}, h.ts_us, info, self.base_url)
                      for h in page.hits]  # fmt: skip
            matches.append(Match(sig.bug, sig.query, sig.url, page.total, events, sig.suppress_notification))
        took = (time.perf_counter() - t0 - waited) * 1000
        return Classification(info.uuid, dict(info.attrs), True, info.complete, info.failed, matches, errors, waited,
                              took)  # fmt: skip

    def _table(self, start: int, end: int) -> dict[str, BuildInfo]:
        """Every build with events in ``[start, end)``, with its fields."""
        res = self.backend.builds_matching(["*"], start, end - 1, fields=TABLE_FIELDS)[0]
        if isinstance(res, BackendError):
            raise res
        return {u: _info(u, bh) for u, bh in res.items()}

    def _hits(self, sigs: Sequence[Signature], start: int, end: int,
              fields: Sequence[str]) -> list[BuildsResult]:  # fmt: skip
        """Per signature the builds it hit (with the test_ids rule), or its error."""
        out = self.backend.builds_matching([s.effective_query for s in sigs], start, end - 1, fields)
        tested = [i for i, (s, r) in enumerate(zip(sigs, out, strict=True)) if s.test_ids and isinstance(r, dict) and r]
        failing = self.backend.builds_matching([failed_test_query(sigs[i].test_ids) for i in tested], start, end - 1, ())
        for i, f in zip(tested, failing, strict=True):
            r = out[i]
            out[i] = f if isinstance(f, BackendError) else {u: bh for u, bh in r.items() if u in f}  # type: ignore[union-attr]
        return out

    def graph(self, days: int = 10, now: Any = None) -> Graph:
        return self._cached(("graph", days), now, lambda t: self._graph(days, t))

    def _graph(self, days: int, t: int) -> Graph:
        t0 = time.perf_counter()
        start, end = window(t, days)
        hours = list(range(start, end, HOUR_US))
        table = self._table(start, end)
        job_builds = Counter(b.job for b in table.values())
        job_failures = Counter(b.job for b in table.values() if b.failed)
        sigs = self.signatures.active()
        bugs = []
        for sig, r in zip(sigs, self._hits(sigs, start, end, GRAPH_FIELDS), strict=True):
            g = new_bug(sig, days, self.base_url)
            if isinstance(r, BackendError):
                g.error = r.message
            else:
                hit = [(table.get(u) or _info(u, bh), bh.first_us) for u, bh in r.items()]
                tally(g, hit, start, len(hours), t - DAY_US, job_builds, job_failures)
            bugs.append(g)
        g_ = Graph(t, start, end, days, hours, self.lag(t), order(bugs))
        g_.took_ms = (time.perf_counter() - t0) * 1000
        return g_

    def graph_json(self, days: int = 10, now: Any = None) -> dict[str, Any]:
        from ..recheck.graph import elastic_recheck

        return elastic_recheck(self.graph(days, now))

    def uncategorized(self, days: int = 10, now: Any = None, *, voting_only: bool = True) -> Uncategorized:
        return self._cached(("uncategorized", days, voting_only), now, lambda t: self._uncategorized(days, t, voting_only))

    def _uncategorized(self, days: int, t: int, voting_only: bool) -> Uncategorized:
        t0 = time.perf_counter()
        start, end = window(t, days)
        failed = [b for b in self._table(start, end).values() if b.failed and (b.voting or not voting_only)]
        ids = {b.uuid for b in failed}
        hit: set[str] = set()
        errors: list[str] = []
        if failed:  # a build's events may run past either end of the window by its duration
            sigs = self.signatures.active()
            for sig, r in zip(sigs, self._hits(sigs, start - DAY_US, end + DAY_US, ()), strict=True):
                if isinstance(r, BackendError):
                    errors.append(f"{sig.bug}: {r.message}")
                else:
                    hit |= ids.intersection(r)
        out = summarize(failed, hit, errors, start=start, end=end, days=days, base_url=self.base_url)
        out.took_ms = (time.perf_counter() - t0) * 1000
        return out

    def lag(self, now: Any = None) -> Lag:
        """Now minus the newest event not in the future; that event's build."""
        t = now_us(now)
        page = self.backend.search("*", None, t, newest_first=True, size=1)
        if not page.hits:
            return Lag(t, None, None)
        h = page.hits[0]
        return Lag(t, h.ts_us, (t - h.ts_us) / 1e6, str(h.event.get("build_uuid") or "") or None, h.ts_us)

    # -- caching ---------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], now: Any, compute: Callable[[int], R]) -> R:
        """Results for "now" are reused for ``cache_ttl_s`` (a cluster is shared; pages
        and bots ask the same again and again); explicit times are never cached."""
        if now is not None or self.cache_ttl_s <= 0:
            return compute(now_us(now))
        full = (*key, self.signatures.version)
        with self._lock:
            hit = self._cache.get(full)
        if hit is not None and time.monotonic() - hit[0] < self.cache_ttl_s:
            return hit[1]  # type: ignore[no-any-return]
        value = compute(now_us())
        with self._lock:
            self._cache[full] = (time.monotonic(), value)
        return value


__all__ = ["RemoteRecheckEngine", "build_info"]
