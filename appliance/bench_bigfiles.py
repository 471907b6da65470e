"""``python -m appliance.bench_bigfiles --corpus DIR``: peak memory of ingesting big logs.

A CI job's biggest log (a DEBUG nova-compute log of a long tempest run) can be hundreds
of MB, and the appliance runs on a small VM: what one big file costs in memory matters
more than throughput. This joins the corpus's real oslo.log service logs into big files
(oldest build first, so time still runs forward), in three builds — several big files
side by side, one as big as all of them, and that one gzipped (as CI logs are
stored) — ingests each with the CLI in its own process, and reports the peak RSS of
the whole process tree (parser processes included) against the size of the biggest
file (decompressed).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
import sys
from pathlib import Path

from . import ingest
from .proctree import run_measured
from .reader import read_log


def _oslo_logs(corpus: Path) -> list[Path]:
    return [p for b in ingest.plan([corpus]) for p, name in b.files if Path(name).name.startswith("screen-")]


def _join(sources: list[Path], out: Path, size: int, count: int) -> list[Path]:
    """``count`` files of about ``size`` bytes each: ``sources`` end to end (again from the
    first when they run out)."""
    done: list[Path] = []
    for src in itertools.cycle(sources):
        if not done or done[-1].stat().st_size >= size:
            if len(done) == count:
                return done
            done.append(out / f"screen-big-{len(done)}.txt")
        data, _ = read_log(src)
        with open(done[-1], "ab") as f:
            f.write(data if data.endswith(b"\n") else data + b"\n")
    return done


def _build(root: Path, files: dict[str, Path]) -> Path:
    logs = root / "logs"
    logs.mkdir(parents=True)
    for name, src in files.items():
        src.rename(logs / name)
    record = {"uuid": root.name.ljust(32, "0"), "job_name": "bench-bigfiles", "result": "SUCCESS",
              "start_time": "2014-01-01T00:00:00"}  # fmt: skip
    (root / "build.json").write_text(json.dumps(record))
    return root


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m appliance.bench_bigfiles", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="log trees (e.g. from python -m loadtests.corpus)")
    ap.add_argument("--out", type=Path, default=Path("bench-bigfiles"), help="scratch directory (emptied)")
    ap.add_argument("--file-mb", type=int, default=100, help="size of each of the side-by-side files")
    ap.add_argument("--files", type=int, default=4, help="how many side-by-side files")
    args = ap.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    work = args.out / "work"
    work.mkdir(parents=True)
    size = args.file_mb * 1_000_000
    sources = _oslo_logs(args.corpus)
    if not sources:
        raise SystemExit(f"{args.corpus}: no oslo.log service logs (screen-*.txt)")
    parts = _join(sources, work, size, args.files)
    side = _build(args.out / "side-by-side", {f"screen-n-cpu-{i}.txt": p for i, p in enumerate(parts)})
    whole = args.out / "work" / "whole.txt"
    with open(whole, "wb") as f:
        for p in sorted((side / "logs").iterdir()):
            f.write(p.read_bytes())
    one = _build(args.out / "one-file", {"screen-n-cpu.txt": whole})
    gz = args.out / "work" / "whole.txt.gz"
    with open(one / "logs" / "screen-n-cpu.txt", "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 4 << 20)
    one_gz = _build(args.out / "one-file-gz", {"screen-n-cpu.txt.gz": gz})
    raw = {case: sorted(p.stat().st_size for p in (case / "logs").iterdir()) for case in (side, one)}
    raw[one_gz] = raw[one]  # sizes once decompressed
    print(f"{'case':<16}{'biggest file MB':>16}{'peak RSS MiB':>14}{'x biggest':>11}{'MB/s':>7}")
    for case, sizes in raw.items():
        data = args.out / f"data-{case.name}"
        cmd = [sys.executable, "-m", "appliance.cli", "--data", str(data), "ingest", "--quiet", "--json", str(case)]
        m = run_measured(cmd)
        if m.proc.returncode:
            raise SystemExit(f"ingest failed: {m.proc.stderr[-2000:]}")
        seconds, peak = m.seconds, m.peak_rss
        print(f"{case.name:<16}{sizes[-1] / 1e6:>16.0f}{peak / 2**20:>14.0f}{peak / sizes[-1]:>11.2f}"
              f"{sum(sizes) / 1e6 / seconds:>7.1f}")  # fmt: skip

if __name__ == "__main__":
    main()
