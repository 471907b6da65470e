"""Digging for new failures, as one service per process: diffs, proposals, saving
signatures, template trends — over the recheck engine and one template cache.

The web app keeps it in ``services.extras["recheck_diff"]`` (:func:`digger_for`, which
also starts the background template warmer); the CLI makes one per command. Diffs are
reused for a while (a page, its JSON twin and a "check this query" click ask for the
same build), keyed on what they depend on.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import diff as diff_mod
from . import propose as propose_mod
from . import trends as trends_mod
from .engine import Now, RecheckEngine, engine_for, now_us
from .settings import setting
from .tplstore import TemplateStore, Warmer

CACHE = 64
CACHE_TTL_S = 120.0
TRENDS_TTL_S = 60.0


@dataclass(slots=True)
class Saved:
    bug: str
    file: str
    yaml: str
    signatures: int
    """Signatures loaded after the reload."""
    loaded: bool
    """The new signature is among them (not rejected as bad)."""
    matches_build: bool | None
    """It matches the build it was proposed for (None: no build given)."""

    def as_dict(self) -> dict[str, Any]:
        return {"bug": self.bug, "file": self.file, "yaml": self.yaml, "signatures": self.signatures,
                "loaded": self.loaded, "matches_build": self.matches_build}  # fmt: skip


class Digger:
    def __init__(
        self, engine: RecheckEngine, tstore: TemplateStore | None = None, *, warm_days: int = 0
    ) -> None:
        """``warm_days`` > 0: a background thread keeps the templates of that many days cached."""
        self.engine = engine
        self.tstore = tstore or TemplateStore(engine.store)
        self.warmer = Warmer(self.tstore, days=warm_days) if warm_days > 0 else None
        self._diffs: OrderedDict[tuple[Any, ...], tuple[float, diff_mod.Diff]] = OrderedDict()
        self._trends: dict[tuple[Any, ...], tuple[float, trends_mod.Trends]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.warmer is not None:
            self.warmer.start()

    def stop(self) -> None:
        if self.warmer is not None:
            self.warmer.stop()

    # -- the questions ---------------------------------------------------------------------

    def diff(self, ref: str, *, days: int = 10, now: Now = None) -> diff_mod.Diff:
        key = (
            ref.strip().lower(),
            days,
            None if now is None else now_us(now),
            self.engine.store.catalog.generation,
        )
        t = time.monotonic()
        with self._lock:
            hit = self._diffs.get(key)
            if hit is not None and t - hit[0] < CACHE_TTL_S:
                self._diffs.move_to_end(key)
                return hit[1]
        d = diff_mod.compute(self.engine, self.tstore, ref, days=days, now_us=now_us(now))
        if d.found:
            with self._lock:
                self._diffs[key] = (t, d)
                while len(self._diffs) > CACHE:
                    self._diffs.popitem(last=False)
        return d

    def propose(self, ref: str, *, days: int = 10, now: Now = None,
                query: str | None = None) -> tuple[diff_mod.Diff, propose_mod.Proposal]:  # fmt: skip
        """The diff and the proposed signature (or, with ``query``, that query's evaluation)."""
        d = self.diff(ref, days=days, now=now)
        return d, propose_mod.propose(d, query=query)

    def trends(self, *, days: int = 7, now: Now = None, limit: int = 50, only_new: bool = True,
               compute_missing: bool = False) -> trends_mod.Trends:  # fmt: skip
        """Reused for :data:`CACHE_TTL_S` when asked about "now" (it reads every build of the window)."""
        key = (days, limit, only_new)
        t = time.monotonic()
        if now is None and not compute_missing:
            with self._lock:
                hit = self._trends.get(key)
            if hit is not None and t - hit[0] < TRENDS_TTL_S:
                return hit[1]
        tr = trends_mod.compute(self.engine, self.tstore, days=days, now_us=now_us(now), limit=limit,
                                only_new=only_new, compute_missing=compute_missing)  # fmt: skip
        if now is None:
            with self._lock:
                self._trends = {k: v for k, v in self._trends.items() if t - v[0] < TRENDS_TTL_S}
                self._trends[key] = (t, tr)
        return tr

    def save(self, bug: object, query: str, *, allow_nonvoting: bool = False, build: str | None = None,
             days: int = 10, overwrite: bool = False) -> Saved:  # fmt: skip
        """Write ``<bug>.yaml`` into the signature directory and reload the set. Raises
        :class:`.propose.SaveError`."""
        bug = propose_mod.check_bug(bug)
        query = (query or "").strip()
        if not query or len(query) > propose_mod.MAX_QUERY:
            raise propose_mod.SaveError(400, f"query: 1 to {propose_mod.MAX_QUERY} characters")
        d = ev = None
        if build:
            d, p = self.propose(build, days=days, query=query)
            if not d.found:
                raise propose_mod.SaveError(404, f"not found: build {build}")
            ev = p.evaluation
        text = propose_mod.signature_yaml(query, allow_nonvoting=allow_nonvoting, d=d, ev=ev)
        sigs = self.engine.signatures
        path = propose_mod.save(Path(sigs.directory), bug, text, overwrite=overwrite)
        sigs.reload(force=True)
        loaded = sigs.get(bug) is not None
        matches = None
        if d is not None and loaded:
            matches = bug in self.engine.classify(d.build_uuid, max_events=1).bugs
        return Saved(bug, path.name, text, len(sigs), loaded, matches)


_lock = threading.Lock()


def digger_for(services: Any) -> Digger:
    """The serving process's one digger (``services.extras["recheck_diff"]``), made on first
    use; its template warmer runs unless ``templates_warm`` is false."""
    dig = services.extras.get("recheck_diff")
    if dig is None:
        with _lock:
            dig = services.extras.get("recheck_diff")
            if dig is None:
                cfg = services.config
                warm = setting(cfg, "templates_warm", True)
                days = setting(cfg, "templates_warm_days", 10)
                dig = Digger(engine_for(services), warm_days=days if warm else 0)
                dig.start()
                services.extras["recheck_diff"] = dig
    return dig  # type: ignore[no-any-return]


def start(services: Any) -> None:
    """Startup hook: the warmer starts with ``serve``, not at the first diff."""
    if not getattr(services, "remote", False):
        digger_for(services)
