"""The recheck engine: elastic-recheck's questions, asked of the appliance's index.

One :class:`RecheckEngine` per process (the web app keeps it in
``services.extras["recheck"]``; the CLI makes one per command). Its API is what the
recheck pages, the JSON API, the Zuul poller and the CLI share:

* :meth:`RecheckEngine.classify` — which known bugs a build hit, with the lines;
* :meth:`RecheckEngine.graph` / :meth:`RecheckEngine.graph_json` — hits per hour per
  signature over the last days (the status page), and elastic-recheck's ``graph.json``;
* :meth:`RecheckEngine.uncategorized` — failed builds no signature explains;
* :meth:`RecheckEngine.lag` — how far ingestion is behind;
* :attr:`RecheckEngine.signatures` — the live :class:`SignatureSet` (bad files in
  ``.errors``).

All methods are thread-safe and return plain dataclasses with ``as_dict()``. Signatures
run in parallel on a small thread pool (Tantivy releases the GIL while it searches).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from index.search import Searcher
from index.store import Store

from . import graph as graph_mod
from . import uncategorized as uncat_mod
from .buildindex import FAILED_STATUSES, BuildIndex, BuildInfo
from .classify import Classification, Match, MatchedEvent, classify_build, empty, wait_complete
from .graph import BugGraph, Graph, JobStat, Lag
from .runner import Runner
from .signatures import BadSignature, Signature, SignatureSet
from .uncategorized import FailedBuild, JobFailures, Uncategorized

T = TypeVar("T")
R = TypeVar("R")

MAX_WAIT_S = 3600.0
CLASSIFY_CACHE = 2048
"""Classifications kept (a few KB each): a build page or a bot asks again and again."""
DEFAULT_DAYS = 10

Now = datetime | int | float | None
"""A moment: an aware datetime, microseconds since the epoch, or None for now."""


def now_us(now: Now = None) -> int:
    if now is None:
        return int(time.time() * 1_000_000)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("naive datetime: give a timezone (UTC)")
        return int(now.timestamp() * 1_000_000)
    return int(now)


class RecheckEngine:
    def __init__(
        self,
        store: Store,
        *,
        signatures: SignatureSet | None = None,
        searcher: Searcher | None = None,
        base_url: str = "",
        workers: int | None = None,
        cache_ttl_s: float = 30.0,
    ) -> None:
        """``base_url`` prefixes the links in results (empty: site-relative links).
        ``cache_ttl_s``: how long graph and uncategorized results for "now" are reused."""
        self.store = store
        self.signatures = signatures if signatures is not None else SignatureSet()
        self.runner = Runner(store, searcher)
        self.builds = BuildIndex(store.catalog)
        self.base_url = base_url.rstrip("/")
        self.cache_ttl_s = cache_ttl_s
        self._pool = ThreadPoolExecutor(
            max_workers=workers or min(8, os.cpu_count() or 2), thread_name_prefix="recheck"
        )
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._classified: OrderedDict[tuple[Any, ...], Classification] = OrderedDict()

    @classmethod
    def from_config(
        cls, cfg: Any, store: Store | None = None, searcher: Searcher | None = None
    ) -> RecheckEngine:
        """The engine for a config: its data dir, its ``signatures_dir`` (else the
        signatures shipped with the demo), its query timeout, ``public_url`` for links."""
        store = store or Store(cfg.data_dir)
        searcher = searcher or Searcher(store, timeout_s=getattr(cfg, "query_timeout_s", 10.0))
        extra = getattr(cfg, "extra", {}) or {}
        return cls(
            store,
            signatures=SignatureSet.for_config(cfg),
            searcher=searcher,
            base_url=str(extra.get("public_url", "")),
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Pick up signature changes live (a watcher thread)."""
        self.signatures.start()

    def stop(self) -> None:
        self.signatures.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return list(self._pool.map(fn, items))

    # -- builds ----------------------------------------------------------------------------

    def build(self, ref: str) -> BuildInfo | None:
        """A build by uuid or short uuid (None if unknown)."""
        return self.builds.resolve(ref)

    def find_build(
        self, change: str | int, patchset: str | int | None = None, job: str | None = None
    ) -> BuildInfo | None:
        """The newest build of a change (and patchset, and job)."""
        found = self.builds.find(change=change, patchset=patchset, job=job)
        return found[0] if found else None

    # -- the questions ---------------------------------------------------------------------

    def classify(self, build: str, wait_s: float = 0.0, *, max_events: int = 5) -> Classification:
        """Which signatures match a build (uuid or short uuid), with up to
        ``max_events`` matching events each.

        With ``wait_s``, first wait up to that long for the build's logs to be fully
        indexed (ingest marks a build complete when its last file is acknowledged).
        Unless a signature says ``allow-nonvoting``, a non-voting build never matches."""
        t0 = time.perf_counter()
        info, waited = wait_complete(
            lambda: self.builds.resolve(build), min(max(0.0, wait_s), MAX_WAIT_S)
        )
        if info is None:
            c = empty(build)
            c.waited_s = waited
            return c
        key = self._classify_key(info, max_events)
        with self._cache_lock:
            hit = self._classified.get(key)
            if hit is not None:
                self._classified.move_to_end(key)
        if hit is not None:
            took = (time.perf_counter() - t0 - waited) * 1000
            return dataclasses.replace(hit, waited_s=waited, took_ms=took)
        matches, errors = classify_build(
            info,
            self.signatures.active(),
            self.runner,
            max_events=max_events,
            base_url=self.base_url,
            map_fn=self._map,
        )
        took = (time.perf_counter() - t0 - waited) * 1000
        c = Classification(
            info.uuid, dict(info.attrs), True, info.complete, info.failed, matches, errors, waited, took
        )
        if not errors:  # a timed-out signature is worth another try
            with self._cache_lock:
                self._classified[key] = c
                while len(self._classified) > CLASSIFY_CACHE:
                    self._classified.popitem(last=False)
        return c

    def _classify_key(self, info: BuildInfo, max_events: int) -> tuple[Any, ...]:
        """What a build's classification depends on: its fields (the poller may set its
        result later), its files (a new file of a running build changes it), the signatures, and the days present (retention drops some).
        Ingest elsewhere in the index does not, so a build page stays cached under load."""
        return (info.uuid, repr(sorted(info.attrs.items())), info.file_ids, info.complete, max_events,
                self.signatures.version, tuple(self.store.partitions.days()))  # fmt: skip

    def graph(self, days: int = DEFAULT_DAYS, now: Now = None) -> Graph:
        """Per active signature: distinct builds hit per hour and per ``build_status``,
        fails in the window and in the last 24 h, by queue and by job with each job's
        failure rate; most recent failures first."""
        return self._cached(("graph", days), now, lambda t: graph_mod.compute(
            self.signatures.active(), self.builds, self.runner,
            days=days, now_us=t, base_url=self.base_url, map_fn=self._map,
        ))  # fmt: skip

    def graph_json(self, days: int = DEFAULT_DAYS, now: Now = None) -> dict[str, Any]:
        """elastic-recheck's ``graph.json`` (``now``, ``last_indexed``, ``behind``, ``buglist``)."""
        return graph_mod.elastic_recheck(self.graph(days, now))

    def uncategorized(
        self, days: int = DEFAULT_DAYS, now: Now = None, *, voting_only: bool = True
    ) -> Uncategorized:
        """Failed builds of the window that no signature matched, by job, newest first."""
        return self._cached(("uncategorized", days, voting_only), now, lambda t: uncat_mod.compute(
            self.signatures.active(), self.builds, self.runner,
            days=days, now_us=t, base_url=self.base_url, voting_only=voting_only, map_fn=self._map,
        ))  # fmt: skip

    def lag(self, now: Now = None) -> Lag:
        """Now minus the newest indexed event, and the newest complete build."""
        return graph_mod.lag(self.runner, self.builds, now_us(now))

    # -- caching ---------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], now: Now, compute: Callable[[int], R]) -> R:
        """Results for "now" are reused for ``cache_ttl_s`` (pages and bots ask for the
        same graph over and over, while ingest moves the index every few seconds); a
        signature change invalidates them, explicit times are never cached. Concurrent
        askers of the same result wait for one computation."""
        if now is not None or self.cache_ttl_s <= 0:
            return compute(now_us(now))
        full = (*key, self.signatures.version)
        with self._cache_lock:
            lock = self._locks.setdefault(full, threading.Lock())
        with lock:
            t = time.monotonic()
            hit = self._cache.get(full)
            if hit is not None and t - hit[0] < self.cache_ttl_s:
                return hit[1]  # type: ignore[no-any-return]
            value = compute(now_us())
            with self._cache_lock:
                self._cache = {k: v for k, v in self._cache.items() if t - v[0] < self.cache_ttl_s}
                self._cache[full] = (time.monotonic(), value)
            return value


_services_lock = threading.Lock()


def engine_for(services: Any) -> RecheckEngine:
    """The serving process's one engine, made on first use and kept in
    ``services.extras["recheck"]`` (``Services.close()`` stops it with the rest)."""
    engine = services.extras.get("recheck")
    if engine is None:
        with _services_lock:
            engine = services.extras.get("recheck")
            if engine is None:
                engine = RecheckEngine.from_config(
                    services.config, store=services.store, searcher=services.searcher
                )
                engine.start()
                services.extras["recheck"] = engine
    return engine  # type: ignore[no-any-return]


__all__ = [
    "RecheckEngine", "Classification", "Match", "MatchedEvent", "Graph", "BugGraph", "JobStat", "Lag",
    "Uncategorized", "JobFailures", "FailedBuild", "BuildInfo", "Signature", "SignatureSet", "BadSignature",
    "FAILED_STATUSES", "now_us", "engine_for",
]  # fmt: skip
