"""``appliance bench``: ingest and query figures against a raw-tantivy baseline, same run.

Machines here are shared and noisy, so every figure comes with a baseline measured in
the same run on the same corpus: a lean tantivy-py loop that indexes each line as one
document (what the appliance must come close to while also parsing, archiving and
journaling). Both run as separate processes; peak RSS and CPU seconds by role (main thread,
Tantivy's indexing threads, parser processes) are sampled over the whole process
tree (the appliance's parser processes included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from . import formats, ingest
from .config import Config
from .formats.base import Context
from .proctree import run_measured
from .reader import read_log

BASELINE = r"""
import os, sys, time, tantivy
sys.path.insert(0, sys.argv[3])
from appliance.reader import read_log
root, out = sys.argv[1], sys.argv[2]
sb = tantivy.SchemaBuilder(); sb.add_text_field("message", stored=False); idx = tantivy.Index(sb.build(), path=out)
w = idx.writer()
lines = nbytes = 0
t0 = time.perf_counter()
for d, _, fs in os.walk(root):
    for f in fs:
        if f in ("build.json", "manifest.jsonl"):
            continue
        data, _ = read_log(os.path.join(d, f))
        nbytes += len(data)
        for line in data.decode("utf-8", "replace").splitlines():
            doc = tantivy.Document(); doc.add_text("message", line); w.add_document(doc)
            lines += 1
w.commit(); w.wait_merging_threads()
print(lines, nbytes, time.perf_counter() - t0)
"""


def parsed_corpus(corpus: Path) -> Iterator[tuple[ingest.Build, str, bytes, list[Any]]]:
    """Every text file of a corpus's builds with its records, parsed as ingest does
    (benchmarks prepare their input with this before any clock starts)."""
    for b in ingest.plan([corpus]):
        for path, filename in b.files:
            data, _ = read_log(path)
            if formats.is_binary(data):
                continue
            ctx = Context(filename=filename, default_ts_us=b.start_us or 0, year=2024)
            yield b, filename, data, formats.parse_file(data, filename, ctx)[1]


def _corpus(args: argparse.Namespace) -> Path:
    if args.corpus:
        return args.corpus
    target = args.out / f"corpus-{args.lines}"
    if (target / "manifest.jsonl").exists():
        return target
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))  # loadtests/ sits beside the packages in a checkout
    try:
        from loadtests import corpus
    except ImportError:
        raise SystemExit("bench: pass --corpus DIR, or run from the repository (loadtests.corpus generates one)") from None
    print(f"generating a corpus of {args.lines:,} lines in {target} ...", file=sys.stderr)
    source = repo.parent / "shared" / "corpus" / "os-loganalyze"
    corpus.generate(target, lines=args.lines, builds=None, days=10, source=source)
    return target


def bench_ingest(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    corpus_dir = _corpus(args)
    base_dir = args.out / "baseline-index"
    data_dir = args.out / "data"
    for d in (base_dir, data_dir):
        shutil.rmtree(d, ignore_errors=True)
    base_dir.mkdir(parents=True)
    repo = str(Path(__file__).resolve().parents[1])
    bm = run_measured([sys.executable, "-c", BASELINE, str(corpus_dir), str(base_dir), repo])
    base, base_s, base_rss = bm.proc, bm.seconds, bm.peak_rss
    if base.returncode:
        raise SystemExit(f"baseline failed: {base.stderr[-2000:]}")
    lines, raw_bytes, base_loop_s = base.stdout.split()
    lines, raw_bytes = int(lines), int(raw_bytes)
    cmd = [sys.executable, "-m", "appliance.cli", "--data", str(data_dir), "ingest", "--quiet", "--json", str(corpus_dir)]
    am = run_measured(cmd, env={**os.environ, "APPLIANCE_DATA_DIR": str(data_dir)})
    app, app_s, app_rss = am.proc, am.seconds, am.peak_rss
    if app.returncode not in (0, 1):
        raise SystemExit(f"ingest failed: {app.stderr[-2000:]}")
    summary = orjson.loads(app.stdout)
    from index.store import Store

    usage = Store(data_dir).disk_usage()
    base_size = sum(f.stat().st_size for f in base_dir.rglob("*") if f.is_file())
    result = {
        "corpus": str(corpus_dir),
        "raw_bytes": raw_bytes,
        "lines": lines,
        "baseline": {"seconds": round(base_s, 2), "mb_per_s": round(raw_bytes / 1e6 / base_s, 1),
                     "lines_per_s": round(lines / base_s), "peak_rss_mb": round(base_rss / 2**20),
                     "index_ratio": round(base_size / raw_bytes, 3)},
        "appliance": {"seconds": round(app_s, 2), "mb_per_s": round(raw_bytes / 1e6 / app_s, 1),
                      "lines_per_s": round(lines / app_s), "events": summary["events"],
                      "peak_rss_mb": round(app_rss / 2**20),
                      "index_ratio": round(usage["index"] / raw_bytes, 3),
                      "archive_ratio": round(usage["archive"] / raw_bytes, 4),
                      "disk_ratio": round((usage["index"] + usage["archive"] + usage["catalog"]) / raw_bytes, 3),
                      "warnings": len(summary["warnings"]), "errors": len(summary["errors"])},
        "ratio": round(base_s / app_s, 3),
        "cpu_seconds": {"baseline": bm.cpu, "appliance": am.cpu},
        "cores_busy": {"baseline": round(bm.cores_busy, 2), "appliance": round(am.cores_busy, 2)},
        "cores": os.cpu_count(),
    }  # fmt: skip
    result["query"] = bench_query_on(data_dir)
    return result


RARE_QUERIES = (
    'message:"cannot switch to a different thread"',
    'message:"invoked oom-killer" AND tags:"syslog.txt"',
    'message:"Timed out waiting for a reply to message ID"',
)


def bench_query_on(data_dir: Path, runs: int = 30) -> dict[str, Any]:
    from index.search import Searcher
    from index.store import Store

    s = Searcher(Store(data_dir))
    out: dict[str, Any] = {}
    for q in RARE_QUERIES:
        s.search(q, limit=10)  # warm: opens the partitions
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            page = s.search(q, limit=10)
            times.append((time.perf_counter() - t0) * 1000)
        out[q] = {"hits": page.total, "median_ms": round(statistics.median(times), 2),
                  "p95_ms": round(sorted(times)[int(0.95 * (runs - 1))], 2)}  # fmt: skip
    return out


def main(args: argparse.Namespace, cfg: Config) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "ingest":
        result = bench_ingest(args, cfg)
    else:
        result = {"query": bench_query_on(cfg.data_dir)}
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _render(result)
    return 0


def _render(r: dict[str, Any]) -> None:
    if "appliance" in r:
        b, a = r["baseline"], r["appliance"]
        print(f"corpus: {r['corpus']}: {r['lines']:,} lines, {r['raw_bytes'] / 1e6:,.1f} MB raw; {r['cores']} cores")
        print(f"{'':<22}{'MB/s':>8}{'lines/s':>12}{'peak RSS MB':>13}{'disk/raw':>10}")
        print(f"{'raw tantivy loop':<22}{b['mb_per_s']:>8}{b['lines_per_s']:>12,}{b['peak_rss_mb']:>13}{b['index_ratio']:>10}")
        print(f"{'appliance ingest':<22}{a['mb_per_s']:>8}{a['lines_per_s']:>12,}{a['peak_rss_mb']:>13}{a['disk_ratio']:>10}")
        print(f"ratio appliance/baseline: {r['ratio']}  (index {a['index_ratio']}x + archive {a['archive_ratio']}x raw)")
        for who, cpu in r["cpu_seconds"].items():
            parts = ", ".join(f"{role} {sec}" for role, sec in cpu.items())
            print(f"CPU seconds, {who}: {sum(cpu.values()):.1f} ({parts}); {r['cores_busy'][who]} cores busy")
    for q, v in r.get("query", {}).items():
        print(f"query {q}: {v['hits']} hits, median {v['median_ms']} ms, p95 {v['p95_ms']} ms")
