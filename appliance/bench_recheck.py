"""Benchmark of the recheck engine on an ingested data directory (not a test).

    python -m appliance.bench_recheck --data DIR [--signatures /work/shared/recheck-queries]

Classifies random failed builds against every signature (the shipped ones plus those of
``--signatures``) and reports median/p95 ms, then times ``graph()`` and
``uncategorized()`` over the window (default 10 days, ending at the newest event).
Targets (issue 4): classify <= 300 ms, graph <= 5 s on >= 10 M lines over 10 days.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from index.search import Searcher
from index.store import Store

from .recheck.engine import RecheckEngine
from .recheck.signatures import DEFAULT_DIR, SignatureSet


def combined_signatures(dirs: list[Path], into: Path) -> SignatureSet:
    """One set from several directories (later ones win on equal bug numbers)."""
    for d in dirs:
        for p in sorted(d.glob("*.yaml")):
            shutil.copyfile(p, into / p.name)
    return SignatureSet(into)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def run(data: Path, sig_dirs: list[Path], *, builds: int, days: int, seed: int) -> dict[str, Any]:
    store = Store(data)
    tmp = Path(tempfile.mkdtemp(prefix="bench-recheck-"))
    try:
        sigs = combined_signatures([DEFAULT_DIR, *sig_dirs], tmp)
        engine = RecheckEngine(
            store, signatures=sigs, searcher=Searcher(store, timeout_s=600), cache_ttl_s=0
        )
        stats = store.catalog.stats()
        failed = sorted(
            (b for b in engine.builds.builds() if b.failed and b.file_ids), key=lambda b: b.uuid
        )
        pick = random.Random(seed).sample(failed, min(builds, len(failed)))
        lag = engine.lag()
        now = lag.last_indexed_us or int(time.time() * 1e6)
        out: dict[str, Any] = {
            "events": stats["events"], "files": stats["sources"], "builds": len(engine.builds.builds()),
            "failed_builds": len(failed), "signatures": len(sigs), "bad_signatures": len(sigs.errors),
            "days": days, "window_end": now,
        }  # fmt: skip
        if pick:
            t0 = time.perf_counter()
            engine.classify(pick[0].uuid)
            out["classify_cold_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            times, matched = [], 0
            for b in pick:
                t0 = time.perf_counter()
                c = engine.classify(b.uuid)
                times.append((time.perf_counter() - t0) * 1000)
                matched += bool(c.matches)
            out.update(classify_n=len(times), classify_median_ms=round(statistics.median(times), 1),
                       classify_p95_ms=round(percentile(times, 95), 1), classify_matched=matched)  # fmt: skip
        for name, fn in (("graph", engine.graph), ("uncategorized", engine.uncategorized)):
            runs = []
            for _ in range(2):
                t0 = time.perf_counter()
                res = fn(days=days, now=now)
                runs.append(time.perf_counter() - t0)
            out[f"{name}_s"] = round(min(runs), 3)
            out[f"{name}_first_s"] = round(runs[0], 3)
            if name == "graph":
                out["graph_bugs_with_hits"] = sum(1 for b in res.bugs if b.hits)
            else:
                out["uncategorized_builds"] = res.count
        engine.stop()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m appliance.bench_recheck", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--data", type=Path, required=True, help="an ingested data directory")
    p.add_argument(
        "--signatures", type=Path, action="append", default=[], help="more signature directories"
    )
    p.add_argument("--builds", type=int, default=50, help="failed builds to classify")
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not (args.data / "catalog.sqlite").exists():
        print(
            f"{args.data}: not a data directory (run `appliance ingest --data {args.data} ...` first)",
            file=sys.stderr,
        )
        return 1
    r = run(args.data, args.signatures, builds=args.builds, days=args.days, seed=args.seed)
    if args.json:
        print(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"data: {r['events']:,} events in {r['files']:,} files of {r['builds']:,} builds"
          f" ({r['failed_builds']:,} failed); {r['signatures']} signatures ({r['bad_signatures']} bad)")  # fmt: skip
    if "classify_n" in r:
        print(f"classify: {r['classify_n']} builds, median {r['classify_median_ms']} ms, p95 {r['classify_p95_ms']} ms"
              f" (first, compiling every query: {r['classify_cold_ms']} ms; {r['classify_matched']} matched)"
              "  [target <= 300 ms]")  # fmt: skip
    print(f"graph: {r['graph_s']} s for {r['signatures']} signatures over {r['days']} days"
          f" (first run {r['graph_first_s']} s; {r['graph_bugs_with_hits']} with hits)  [target <= 5 s]")  # fmt: skip
    print(f"uncategorized: {r['uncategorized_s']} s ({r['uncategorized_builds']} builds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
