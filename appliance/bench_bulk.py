"""``python -m appliance.bench_bulk --corpus DIR``: ``_bulk`` against the CLI, same data.

In one run: (a) ``appliance ingest`` of the corpus into one data dir; (b) the same files
parsed into JSON events (with their build fields, as Logstash would ship them) and sent as
``_bulk`` bodies of ~5 MB from a client with concurrent connections to a real
``appliance serve`` on loopback writing another data dir. Reports MB/s (of raw log
bytes), events/s, and the ratio (target >= 0.5).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from . import formats, ingest
from .events import iso
from .formats.base import Context
from .reader import read_log


def _bodies(corpus: Path, max_bytes: int = 5 << 20):  # noqa: ANN202 - generator of (bytes, raw, events)
    buf: list[bytes] = []
    size = raw_total = n = 0
    for b in ingest.plan([corpus]):
        for path, filename in b.files:
            data, _ = read_log(path)
            if formats.is_binary(data):
                continue
            ctx = Context(filename=filename, default_ts_us=b.start_us or 0, year=2024)
            _, records, _ = formats.parse_file(data, filename, ctx)
            raw_total += len(data)
            fields = {**b.fields, "filename": filename}
            for r in records:
                doc = {"@timestamp": iso(r.ts_us or 0), "message": r.message, **fields}
                if r.loglevel:
                    doc["loglevel"] = r.loglevel
                line = b'{"index":{}}\n' + orjson.dumps(doc) + b"\n"
                buf.append(line)
                size += len(line)
                n += 1
                if size >= max_bytes:
                    yield b"".join(buf), raw_total, n
                    buf, size, raw_total, n = [], 0, 0, 0
    if buf:
        yield b"".join(buf), raw_total, n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-bulk"))
    ap.add_argument("--connections", type=int, default=2)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(args.out / "cli"), "ingest", "--quiet",
                        "--json", str(args.corpus)], capture_output=True, text=True)  # fmt: skip
    cli_s = time.perf_counter() - t0
    cli = orjson.loads(r.stdout)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "APPLIANCE_DATA_DIR": str(args.out / "bulk"), "APPLIANCE_TOKEN": "bench"}
    srv = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    bodies = list(_bodies(args.corpus))
    raw = sum(b[1] for b in bodies)
    events = sum(b[2] for b in bodies)
    client = httpx.Client(timeout=300, headers={"Authorization": "Bearer bench", "Content-Type": "application/x-ndjson"})

    def send(body: bytes) -> None:
        while True:
            resp = client.post(f"{url}/_bulk", content=body)
            if resp.status_code == 429:
                time.sleep(float(resp.headers.get("retry-after", 1)))
                continue
            resp.raise_for_status()
            assert not resp.json()["errors"], resp.text[:500]
            return

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.connections) as pool:
        list(pool.map(send, (b[0] for b in bodies)))
    bulk_s = time.perf_counter() - t0
    srv.terminate()
    srv.wait(60)
    cli_mb = cli["bytes"] / 1e6 / cli_s
    bulk_mb = raw / 1e6 / bulk_s
    print(f"CLI ingest: {cli['bytes'] / 1e6:.1f} MB raw, {cli['events']:,} events in {cli_s:.1f} s: {cli_mb:.1f} MB/s, {cli['events'] / cli_s:,.0f} events/s")
    print(f"_bulk ({args.connections} connections): {raw / 1e6:.1f} MB raw as {events:,} JSON events in {bulk_s:.1f} s: "
          f"{bulk_mb:.1f} MB/s, {events / bulk_s:,.0f} events/s")  # fmt: skip
    print(f"ratio _bulk / CLI: {bulk_mb / cli_mb:.2f} (MB/s of raw logs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
