"""``python -m appliance.bench_backend --data DIR [--logs DIR]``: the two backends, timed.

(a) The same questions (count, first page, histogram, sidebar, one build's recheck
classification) asked of the local backend (DIR's index, in this process) and of the
OpenSearch backend pointed at a real ``appliance serve`` of DIR on loopback (its
Elasticsearch-compatible API: the protocol, not OpenSearch's engine); medians of
``--runs``. (b) With ``--logs`` (the log trees DIR was ingested from): the remote writer,
first turning the trees into events only (the client's CPU per core), then sending them to
an empty ``appliance serve`` with bulk requests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import config, ingest
from .backend.local import LocalBackend
from .backend.opensearch import OpenSearchBackend
from .backend.recheck import RemoteRecheckEngine
from .backend.writer import RemoteWriter, build_events
from .bench_bulk import _serve
from .filelist import FileList
from .recheck.classify import classify_build
from .recheck.engine import RecheckEngine

QUERIES = ('message:"Timed out waiting for a reply"', "loglevel:ERROR", "build_status:FAILURE AND tags:console", "*")


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm: caches, connections
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def queries(data: Path, runs: int) -> None:
    from index.partitions import DAY_US, day_start_us
    from index.store import Store

    store = Store(data)
    local = LocalBackend(store)
    days = store.partitions.days()
    if not days:
        raise SystemExit(f"{data}: no data")
    srv, url = _serve(data, "bench")
    try:
        remote = OpenSearchBackend.from_config(config.load(env={}, backend="opensearch", opensearch_url=url))
        lo, hi = day_start_us(days[0]), day_start_us(days[-1]) + DAY_US - 1
        print(f"{local.count('*'):,} events over {len(days)} days; medians of {runs} runs, ms (local / remote)")
        for q in QUERIES:
            row = [
                ("count", lambda b, q=q: b.count(q, lo, hi)),
                ("page of 50", lambda b, q=q: b.search(q, lo, hi, size=50)),
                ("histogram", lambda b, q=q: b.histogram(q, lo, hi, 3_600_000_000)),
                ("sidebar", lambda b, q=q: b.top_values(["loglevel", "build_name", "build_status", "filename"], q)),
            ]
            cells = [f"{name} {_median_ms(lambda f=f: f(local), runs):.1f} / {_median_ms(lambda f=f: f(remote), runs):.1f}"
                     for name, f in row]  # fmt: skip
            print(f"  {q[:45]:45}  " + "; ".join(cells))
        eng = RecheckEngine(store, cache_ttl_s=0)
        reng = RemoteRecheckEngine(remote, signatures=eng.signatures, cache_ttl_s=0)
        sigs = eng.signatures.active()
        failed = [b for b in eng.builds.builds() if b.failed][:10]
        if failed:  # the local engine's classification core, without its per-build cache
            a = statistics.median(_median_ms(lambda b=b: classify_build(b, sigs, eng.runner), 3) for b in failed)
            r = statistics.median(_median_ms(lambda b=b: reng.classify(b.uuid), 3) for b in failed)
            print(f"  classify one failed build ({len(sigs)} signatures): {a:.1f} / {r:.1f}")
        g = _median_ms(lambda: reng.graph(days=10), max(1, runs // 5))
        print(f"  recheck graph, 10 days ({len(sigs)} signatures): remote {g:.0f} ms")
        remote.close()
    finally:
        srv.terminate()
        srv.wait(120)


def writer(logs: Path) -> None:
    cfg = config.load(env={})
    plan = ingest.plan([logs])
    summary = ingest.Summary()
    fl = FileList.load(cfg.file_list, cfg.index_unlisted)
    t0 = time.perf_counter()
    events = [ev for b in plan for ev in build_events(cfg, b, fl, summary)]
    build_s = time.perf_counter() - t0
    mb = summary.bytes / 1e6
    print(f"events from log trees (one core): {mb:.1f} MB raw, {len(events):,} events in {build_s:.1f} s: "
          f"{mb / build_s:.1f} MB/s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        srv, url = _serve(Path(tmp), "bench")
        try:
            w = RemoteWriter.from_config(config.load(env={}, backend="opensearch", opensearch_url=url,
                                                     opensearch_user="bench", opensearch_password="bench"))  # fmt: skip
            t0 = time.perf_counter()
            res = w.write(events)
            s = time.perf_counter() - t0
        finally:
            srv.terminate()
            srv.wait(120)
    print(f"remote writer into an empty appliance's _bulk: {res.ok:,} events ({res.failed} failed) in {s:.1f} s: "
          f"{mb / s:.1f} MB/s of raw logs")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--logs", type=Path)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    queries(args.data, args.runs)
    if args.logs:
        writer(args.logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
