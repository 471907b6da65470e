"""Benchmark "what is new in this failure" and the proposed signatures on a replayed corpus.

The load-test corpus (``python -m loadtests.corpus``) writes ``manifest.jsonl``: every
build's status and the failures injected into it. For failed builds with injections
this runs the diff and the proposal, and counts a case as good when the proposed query
matches every build carrying (one of) its injected failures and no passing build. Times
are taken three ways: everything's templates cached (what ``serve``'s warmer keeps);
the failed build itself not cached yet (a build that just finished); and, with
``--cold``, a first run on an empty template cache.

``python -m appliance.bench_diff --corpus DIR --data DIR [--cases 10] [--cache DIR]``;
the data directory is only read (templates go to ``--cache``, default a temporary one).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from index.schema import tokenize
from index.store import Store

from .recheck.digger import Digger
from .recheck.engine import RecheckEngine
from .recheck.tplstore import TemplateStore

DAY_S = 86400


@dataclass
class Case:
    build: str
    job: str
    bugs: list[int]
    query: str | None = None
    builds: int = 0
    failed: int = 0
    passing: int = 0
    good: bool = False
    """The query matches every build with (one of) its injections and no passing build."""
    on_target: bool = False
    """...and its phrases are text of that injection (not other new lines of the build)."""
    matched_bug: int | None = None
    new_units: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def injected_text(bug: int) -> str:
    """The tokens of an injection's lines (placeholders cut), to check a query against."""
    from loadtests.corpus import INJECTIONS

    lines = [x.format_map(_Blank()) for inj in INJECTIONS if inj.bug == bug for x in inj.lines]
    return " | ".join(" ".join(tokenize(part)) for x in lines for part in x.split("\x00"))


class _Blank(dict[str, str]):
    """Placeholders of an injection's lines become a break no phrase spans."""

    def __missing__(self, key: str) -> str:
        return "\x00"


def on_target(query: str, bug: int) -> bool:
    text = " " + injected_text(bug) + " "
    phrases = re.findall(r'message:"((?:[^"\\]|\\.)*)"', query)
    return bool(phrases) and all(" " + " ".join(tokenize(p)) + " " in text for p in phrases)


def load_manifest(corpus: Path) -> list[dict[str, Any]]:
    return [
        json.loads(x) for x in (corpus / "manifest.jsonl").read_text().splitlines() if x.strip()
    ]


def pick_cases(builds: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Failed builds with injections, covering as many distinct bugs as possible."""
    failed = sorted(
        (b for b in builds if b["status"] != "SUCCESS" and b.get("bugs")), key=lambda b: b["uuid"]
    )
    out: list[dict[str, Any]] = []
    covered: set[int] = set()
    for b in failed:
        if len(out) < n and not set(b["bugs"]) <= covered:
            out.append(b)
            covered.update(b["bugs"])
    for b in failed:
        if len(out) < n and b not in out:
            out.append(b)
    return out


def _ts(text: str) -> float:
    return datetime.fromisoformat(
        text + ("" if text.endswith("Z") or "+" in text else "+00:00")
    ).timestamp()


def run(corpus: Path, data: Path, *, cases: int = 10, cache: Path | None = None, cold: bool = False,
        days: int | None = None) -> dict[str, Any]:  # fmt: skip
    builds = load_manifest(corpus)
    with_bug: dict[int, set[str]] = {}
    for b in builds:
        for bug in b.get("bugs", []):
            with_bug.setdefault(bug, set()).add(b["uuid"])
    end = max(_ts(b["end"]) for b in builds) + 3600
    days = days or int((end - min(_ts(b["start"]) for b in builds)) // DAY_S) + 1
    now_us = int(end * 1e6)
    chosen = pick_cases(builds, cases)
    tmp = None
    if cache is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-diff-"))
        cache = tmp / "templates"
    store = Store(data)
    engine = RecheckEngine(store)
    out: list[Case] = []
    try:

        def fresh() -> Digger:  # memory empty, the disk cache as it is
            return Digger(engine, TemplateStore(store, cache))

        def timed(key: str, c: Case) -> None:
            t0 = time.perf_counter()
            d, p = fresh().propose(c.build, days=days, now=now_us)
            c.seconds[key] = time.perf_counter() - t0
            ev = p.evaluation
            c.query, c.new_units = p.query, len(d.units)
            if ev is not None:
                c.builds, c.failed, c.passing = ev.builds, ev.failed, ev.passing
                hits = [bug for bug in c.bugs if with_bug[bug] <= ev.hit_uuids]
                c.good = ev.passing == 0 and ev.error is None and bool(hits)
                c.matched_bug = hits[0] if hits else None
                c.on_target = c.good and any(on_target(p.query or "", bug) for bug in hits)

        cases_ = [Case(b["uuid"], b["job"], list(b["bugs"])) for b in chosen]
        if cold:
            shutil.rmtree(cache, ignore_errors=True)
            for c in cases_:
                timed("cold", c)
        for c in cases_:  # fill the cache (untimed), so the runs below measure what they say
            fresh().diff(c.build, days=days, now=now_us)
        for c in cases_:
            timed("cached", c)
        for c in cases_:
            eng_build = engine.builds.resolve(c.build)
            assert eng_build is not None
            ts = TemplateStore(store, cache)
            for src in store.catalog.many(eng_build.file_ids).values():
                ts.path(src.sha256).unlink(missing_ok=True)
            timed("new_build", c)
        out = cases_
    finally:
        engine.stop()
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report: dict[str, Any] = {"corpus": str(corpus), "data": str(data), "days": days, "cases": [asdict(c) for c in out],
                              "good": sum(c.good for c in out),
                              "on_target": sum(c.on_target for c in out), "total": len(out)}  # fmt: skip
    for key in ("cold", "cached", "new_build"):
        xs = [c.seconds[key] for c in out if key in c.seconds]
        if xs:
            report[key] = {"median_s": round(statistics.median(xs), 3), "max_s": round(max(xs), 3)}
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m appliance.bench_diff", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--corpus", type=Path, required=True, help="the corpus directory (with manifest.jsonl)"
    )
    ap.add_argument(
        "--data", type=Path, required=True, help="its ingested data directory (only read)"
    )
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--days", type=int, help="window (default: the corpus' span)")
    ap.add_argument(
        "--cache", type=Path, help="template cache directory (default: a temporary one)"
    )
    ap.add_argument("--cold", action="store_true", help="also time a first run on an empty cache")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.corpus, a.data, cases=a.cases, cache=a.cache, cold=a.cold, days=a.days)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['total']} failed builds with injected failures, window {r['days']} days\n")
    for c in r["cases"]:
        times = " ".join(f"{k} {v:.2f}s" for k, v in c["seconds"].items())
        verdict = f"GOOD (bug {c['matched_bug']})" if c["good"] else "MISS"
        verdict += "" if c["on_target"] or not c["good"] else ", but not from the injected lines"
        print(f"{c['build'][:8]} {c['job'][:28]:<28} bugs {c['bugs']}: {verdict}; matches {c['builds']} builds, "
              f"{c['failed']} failed, {c['passing']} passing; {times}")  # fmt: skip
        print(f"         {c['query']}")
    print(
        f"\nquality: {r['good']}/{r['total']} proposals match every build with the injection and no passing build"
        f" ({r['on_target']} of them made of the injected lines)"
    )
    for key, what in (("cold", "empty template cache"), ("cached", "all templates cached"),
                      ("new_build", "failed build not cached yet")):  # fmt: skip
        if key in r:
            print(
                f"diff + proposal, {what}: median {r[key]['median_s']:.3f} s, max {r[key]['max_s']:.3f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
