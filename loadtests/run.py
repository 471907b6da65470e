"""One command for the load test: data, server, locust, live ingest, report.

    python -m loadtests.run --lines 2000000                 # generate + ingest, then 60 s, 20 users
    python -m loadtests.run --data DIR --ingest spool       # existing data, spool drops during the run
    python -m loadtests.run --data DIR --web-workers 2      # read-only, two uvicorn processes

Everything runs on 127.0.0.1: a fresh ``appliance serve`` on a free port with a token, the
real signatures as its signature directory, locust headless and bounded (users, run time,
``--max-requests``, a hard timeout). ``--ingest spool`` drops freshly generated builds into
the server's spool directory at a steady pace while locust runs (``bulk``: ``_bulk``
batches, when the Elasticsearch API exists), to measure queries while ingest goes on.
Writes ``loadtest-report/``: ``report.md``, ``latency.svg``, ``timeline.svg``, locust CSVs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from . import report
from . import server as srvmod

REPO = Path(__file__).resolve().parents[1]
SIGNATURES = REPO.parent / "shared" / "recheck-queries"


def parse_duration(text: str) -> float:
    """Locust's ``--run-time`` syntax (``60s``, ``2m``, ``1h30m``) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms]?)", text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.replace(" ", ""):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)


# -- data ---------------------------------------------------------------------------------------


def ensure_data(args: argparse.Namespace) -> dict[str, Any]:
    """Generate and ingest a corpus unless the data directory already holds events."""
    data: Path = args.data
    info: dict[str, Any] = {}
    if (data / "catalog.sqlite").exists() and not args.lines:
        return info
    if not args.lines and not args.corpus:
        raise SystemExit(f"{data} holds no data: give --lines N (generate a corpus) or --corpus DIR")
    corpus = args.corpus or args.work / "corpus"
    if args.lines:
        from . import corpus as gen

        shutil.rmtree(corpus, ignore_errors=True)
        m = gen.generate(corpus, lines=args.lines, days=args.days, seed=args.seed)
        print(m.summary(), flush=True)
        info["corpus"] = m.summary()
    if (data / "catalog.sqlite").exists():
        print(f"re-ingesting into the existing {data} (idempotent)", flush=True)
    cmd = [sys.executable, "-m", "appliance.cli", "--data", str(data), "ingest", "--quiet", "--json", str(corpus)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600, env=_env(args), cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"ingest failed:\n{out.stderr[-3000:]}")
    s = json.loads(out.stdout[out.stdout.index("{"):])
    info["ingest"] = (f"{s.get('files')} files, {s.get('lines', 0):,} lines, {s.get('events', 0):,} events,"
                      f" {s.get('bytes', 0) / 1e6:,.0f} MB in {time.perf_counter() - t0:,.0f} s")  # fmt: skip
    print("ingested:", info["ingest"], flush=True)
    return info


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(APPLIANCE_DATA_DIR=str(args.data), APPLIANCE_TOKEN=args.token, APPLIANCE_MIN_FREE_FRACTION="0",
               APPLIANCE_LOG_LEVEL="WARNING", PYTHONPATH=str(REPO))  # fmt: skip
    if args.signatures and args.signatures.is_dir():
        env["APPLIANCE_SIGNATURES_DIR"] = str(args.signatures)
    if args.ingest == "spool":
        env["APPLIANCE_SPOOL_DIR"] = str(args.work / "spool")
    return env


# -- live ingest while locust runs ---------------------------------------------------------------


@dataclass
class Feeder:
    """Drops builds into the spool (or posts ``_bulk`` batches) at a steady pace."""

    args: argparse.Namespace
    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    dropped: dict[str, float] = field(default_factory=dict)
    done_after: dict[str, float] = field(default_factory=dict)
    bulk_events: int = 0
    bulk_busy: int = 0
    bulk_errors: int = 0
    thread: threading.Thread | None = None

    def prepare(self) -> list[Path]:
        if self.args.ingest != "spool":
            return []
        from . import corpus as gen

        staging = self.args.work / "live"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(self.args.work / "spool", ignore_errors=True)
        (self.args.work / "spool").mkdir(parents=True)
        # a new seed each run: new builds (the same builds again would only be re-checked)
        gen.generate(staging, lines=self.args.ingest_lines, days=1, seed=self.args.seed + 1 + int(time.time()) % 100_000)
        return sorted(p for p in staging.iterdir() if p.is_dir())

    def start(self, builds: list[Path], delay: float, span: float) -> None:
        target = self._spool if self.args.ingest == "spool" else self._bulk
        self.thread = threading.Thread(target=target, args=(builds, delay, span), daemon=True, name="feeder")
        self.thread.start()

    def _spool(self, builds: list[Path], delay: float, span: float) -> None:
        spool = self.args.work / "spool"
        if self.stop.wait(delay) or not builds:
            return
        step = span / len(builds)
        next_drop = time.monotonic()
        todo = list(builds)
        while not self.stop.wait(0.2):
            if todo and time.monotonic() >= next_drop:
                b = todo.pop(0)
                os.replace(b, spool / b.name)
                self.dropped[b.name] = time.monotonic()
                next_drop += step
            self._poll_done(spool)

    def _poll_done(self, spool: Path) -> None:
        for name, t in self.dropped.items():
            if name not in self.done_after and (spool / "done" / name).exists():
                self.done_after[name] = time.monotonic() - t

    def _bulk(self, _builds: list[Path], delay: float, span: float) -> None:
        if self.stop.wait(delay):
            return
        headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {self.args.token}"}
        n = 0
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not self.stop.is_set():
                now = datetime.now(UTC)
                lines = []
                for _ in range(self.args.bulk_batch):
                    n += 1
                    lines.append(json.dumps({"index": {"_index": now.strftime("logstash-%Y.%m.%d")}}))
                    lines.append(json.dumps({
                        "@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        "message": f"INFO loadtest.feeder [req-{n}] streamed event {n} while users search",
                        "build_uuid": "f" * 32, "build_name": "loadtest-feeder", "filename": "job-output.txt",
                    }))  # fmt: skip
                r = c.post("/_bulk", content="\n".join(lines) + "\n", headers=headers)
                if r.status_code == 429:
                    self.bulk_busy += 1
                    self.stop.wait(float(r.headers.get("Retry-After", "1")))
                elif r.status_code != 200 or r.json().get("errors"):
                    self.bulk_errors += 1
                    self.stop.wait(1)
                else:
                    self.bulk_events += self.args.bulk_batch

    def summary(self, seconds: float) -> str:
        if self.args.ingest == "spool":
            lat = sorted(self.done_after.values())
            med = f"{lat[len(lat) // 2]:.1f}" if lat else "-"
            mx = f"{lat[-1]:.1f}" if lat else "-"
            return (f"spool: {len(self.dropped)} builds dropped, {len(lat)} ingested (drop to done/: median {med} s,"
                    f" max {mx} s)")  # fmt: skip
        if self.args.ingest == "bulk":
            return (f"_bulk: {self.bulk_events:,} events acknowledged ({self.bulk_events / seconds:,.0f}/s),"
                    f" {self.bulk_busy} x 429, {self.bulk_errors} errors")  # fmt: skip
        return "none"


# -- resource sampling --------------------------------------------------------------------------


@dataclass
class Sampler:
    """CPU and RSS of the server's process tree, once a second."""

    pid: int
    stop: threading.Event = field(default_factory=threading.Event)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def run(self) -> None:
        import psutil

        procs: dict[int, Any] = {}
        while not self.stop.wait(1.0):
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total_cpu, total_rss = 0.0, 0
            for p in tree:
                try:
                    if p.pid not in procs:
                        procs[p.pid] = p
                        p.cpu_percent(None)
                        continue
                    total_cpu += procs[p.pid].cpu_percent(None)
                    total_rss += p.memory_info().rss
                except psutil.Error:
                    continue
            self.cpu.append(total_cpu)
            self.rss.append(total_rss)
            self.load.append(os.getloadavg()[0])

    def summary(self) -> str:
        if not self.cpu:
            return "-"
        cpu = sorted(self.cpu)
        return (f"server process tree CPU median {cpu[len(cpu) // 2]:.0f}% / max {cpu[-1]:.0f}% (100% = one core),"
                f" RSS max {max(self.rss) / 2**20:,.0f} MiB, load avg max {max(self.load):.1f}")  # fmt: skip


# -- the run ------------------------------------------------------------------------------------


def start_server(args: argparse.Namespace) -> srvmod.Server:
    env = _env(args)
    log = args.out / "server.log"
    log.unlink(missing_ok=True)
    if args.web_workers > 1:
        port = srvmod.free_port()
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "loadtests.app_factory:create", "--host", srvmod.LOOPBACK,
               "--port", str(port), "--workers", str(args.web_workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip
        return srvmod.start(None, cmd=cmd, env=env, port=port, log=log, cwd=REPO, inherit_env=False)
    return srvmod.start(None, env=env, log=log, cwd=REPO, inherit_env=False)


def run_locust(args: argparse.Namespace, url: str, csv_prefix: Path) -> int:
    env = {**os.environ, "LT_TOKEN": args.token, "LT_MAX_REQUESTS": str(args.max_requests),
           "LT_WAIT_MIN": str(args.wait[0]), "LT_WAIT_MAX": str(args.wait[1]), "PYTHONPATH": str(REPO)}  # fmt: skip
    if args.signatures:
        env["LT_QUERIES_DIR"] = str(args.signatures)
    if args.web_workers > 1:
        env["LT_BULK"] = "0"  # read-only: the bots search and classify, they do not write
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless",
           "--host", url, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
           "--run-time", args.run_time, "--stop-timeout", str(args.stop_timeout), "--csv", str(csv_prefix),
           "--csv-full-history", "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    hard = parse_duration(args.run_time) + args.stop_timeout + 120
    with open(args.out / "locust.log", "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        try:
            return p.wait(hard)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(30)
            raise SystemExit(f"locust did not stop within {hard:.0f} s; killed") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("loadtest-work"), help="scratch directory (corpus, data, spool)")
    ap.add_argument("--data", type=Path, help="data directory (default WORK/data)")
    ap.add_argument("--lines", type=int, help="generate a corpus of about N lines and ingest it first")
    ap.add_argument("--corpus", type=Path, help="ingest this existing corpus directory first")
    ap.add_argument("--days", type=float, default=10, help="days the generated corpus spans (default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--spawn-rate", type=float, default=5)
    ap.add_argument("--run-time", default="60s")
    ap.add_argument("--stop-timeout", type=int, default=10, help="seconds locust lets tasks finish")
    ap.add_argument("--max-requests", type=int, default=200_000, help="locust quits after this many requests")
    ap.add_argument("--wait", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                    help="think time between a user's requests, seconds (default 1 3)")  # fmt: skip
    ap.add_argument("--ingest", choices=["none", "spool", "bulk"], default="none", help="live ingest during the run")
    ap.add_argument("--ingest-lines", type=int, default=200_000, help="size of the live spool corpus")
    ap.add_argument("--bulk-batch", type=int, default=500, help="events per _bulk request of the bulk feeder")
    ap.add_argument("--web-workers", type=int, default=1, help=">1: uvicorn --workers N (read-only)")
    ap.add_argument("--signatures", type=Path, default=SIGNATURES if SIGNATURES.is_dir() else None)
    ap.add_argument("--token", default=secrets.token_hex(16))
    ap.add_argument("--out", type=Path, default=Path("loadtest-report"))
    args = ap.parse_args(argv)
    if args.users < 1 or args.users > 200:
        ap.error("--users: 1 to 200")
    seconds = parse_duration(args.run_time)
    if seconds > 3600:
        ap.error("--run-time: at most 1h")
    if args.web_workers > 1 and args.ingest != "none":
        ap.error("--web-workers > 1 is read-only (one process holds the write lock): use --ingest none")
    args.work, args.out = args.work.resolve(), args.out.resolve()
    args.data = (args.data or args.work / "data").resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    meta: dict[str, Any] = {"title": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    meta.update(ensure_data(args))
    feeder_builds: list[Path] = []
    feeder = Feeder(args, "")
    if args.ingest == "spool":
        feeder_builds = feeder.prepare()
    srv = start_server(args)
    feeder.url = srv.url
    stats = httpx.get(srv.url + "/status", timeout=60).json()
    meta.update({
        "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "data": f"{stats.get('events', 0):,} events in {len(stats.get('days', []))} days, {stats.get('builds', 0):,} builds,"
                f" raw {stats.get('raw_bytes', 0) / 1e6:,.0f} MB",
        "server": f"appliance serve, {args.web_workers} web process(es), signatures {args.signatures or 'shipped demo'}",
        "load": f"{args.users} users (3 developers : 1 bot), spawn {args.spawn_rate}/s, {args.run_time},"
                f" think time {args.wait[0]:g}-{args.wait[1]:g} s, cap {args.max_requests:,} requests",
    })  # fmt: skip
    sampler = Sampler(srv.proc.pid)
    threading.Thread(target=sampler.run, daemon=True, name="sampler").start()
    ramp = args.users / max(args.spawn_rate, 0.1)
    if args.ingest != "none":
        feeder.start(feeder_builds, delay=min(ramp, seconds / 4), span=seconds * 0.8)
    csv_prefix = args.out / "locust"
    t0 = time.monotonic()
    try:
        code = run_locust(args, srv.url, csv_prefix)
    finally:
        feeder.stop.set()
        sampler.stop.set()
        elapsed = time.monotonic() - t0
        if args.ingest == "spool":
            spool = args.work / "spool"

            def drained() -> bool:
                feeder._poll_done(spool)
                return not any(p.is_dir() and p.name not in ("done", "failed") for p in spool.iterdir())

            with contextlib.suppress(TimeoutError):  # let the last drops finish (queries no longer measured)
                srvmod.wait_for(drained, 120, 0.2)
        status = httpx.get(srv.url + "/status", timeout=60).json()
        exit_code = srv.stop(120)
    log = srv.output()
    meta["live ingest"] = feeder.summary(elapsed)
    meta["resources"] = sampler.summary()
    meta["after the run"] = (f"{status.get('events', 0):,} events; server exit status on SIGTERM {exit_code};"
                             f" {log.count('Traceback')} tracebacks in the server log")  # fmt: skip
    meta["caveat"] = ("locust runs on the same machine as the server and takes CPU from it; "
                      "figures vary from run to run (shared VM)")  # fmt: skip
    rows, md = report.write(args.out, csv_prefix, meta)
    print(md.read_text())
    print(f"report: {md}", flush=True)
    failed = sum(r.failures for r in rows if r.is_request)
    return 0 if code == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
