"""``python -m appliance.bench_bulk --corpus DIR``: ``_bulk`` against the CLI, same data.

In one run: (a) ``appliance ingest`` of the corpus into one data dir; (b) the same files
parsed into JSON events (with their build fields, as Logstash ships them: daily
``logstash-YYYY.MM.DD`` indices) and sent as ``_bulk`` bodies of ~5 MB from this process
with concurrent connections to a real ``appliance serve`` on loopback writing another
data dir. Reports MB/s (of raw log bytes), events/s, and the ratio (target >= 0.5).
Bodies are built before the clock starts: the client's JSON encoding is not measured,
its sending is.
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
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from .bench import parsed_corpus
from .events import iso

BODY_BYTES = 5 << 20


def bodies(corpus: Path, max_bytes: int = BODY_BYTES) -> Iterator[tuple[bytes, int, int]]:
    """(NDJSON body, raw log bytes it carries, events)."""
    buf: list[bytes] = []
    size = raw_total = n = 0
    for b, filename, data, records in parsed_corpus(corpus):
        raw_total += len(data)
        fields = {**b.fields, "filename": filename}
        for r in records:
            stamp = iso(r.ts_us or 0)
            doc = {"@timestamp": stamp, "message": r.message, **fields}
            if r.loglevel:
                doc["loglevel"] = r.loglevel
            line = b'{"index":{"_index":"logstash-%s"}}\n%s\n' % (stamp[:10].replace("-", ".").encode(), orjson.dumps(doc))
            buf.append(line)
            size += len(line)
            n += 1
            if size >= max_bytes:
                yield b"".join(buf), raw_total, n
                buf, size, raw_total, n = [], 0, 0, 0
    if buf:
        yield b"".join(buf), raw_total, n


def _cli(corpus: Path, data: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "ingest", "--quiet", "--json",
                        str(corpus)], capture_output=True, text=True, check=True)  # fmt: skip
    return time.perf_counter() - t0, orjson.loads(r.stdout)


def _serve(data: Path, token: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "APPLIANCE_DATA_DIR": str(data), "APPLIANCE_TOKEN": token}
    srv = subprocess.Popen([sys.executable, "-m", "appliance.cli", "serve", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return srv, url
        except httpx.HTTPError:
            time.sleep(0.1)
    srv.kill()
    raise SystemExit("appliance serve did not start")


def _send_all(url: str, token: str, payloads: list[bytes], connections: int) -> float:
    client = httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/x-ndjson"})  # fmt: skip

    def send(body: bytes) -> None:
        while True:
            resp = client.post(f"{url}/_bulk", content=body)
            if resp.status_code == 429:  # the writer is behind: retry, as shippers do
                time.sleep(float(resp.headers.get("retry-after", 1)))
                continue
            resp.raise_for_status()
            if orjson.loads(resp.content)["errors"]:
                raise SystemExit(f"bulk items failed: {resp.text[:500]}")
            return

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        list(pool.map(send, payloads))
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-bulk"))
    ap.add_argument("--connections", type=int, default=4)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    cli_s, cli = _cli(args.corpus, args.out / "cli")
    built = list(bodies(args.corpus))
    raw, events = sum(b[1] for b in built), sum(b[2] for b in built)
    srv, url = _serve(args.out / "bulk", "bench")
    try:
        bulk_s = _send_all(url, "bench", [b[0] for b in built], args.connections)
    finally:
        srv.terminate()
        srv.wait(120)
    cli_mb, bulk_mb = cli["bytes"] / 1e6 / cli_s, raw / 1e6 / bulk_s
    print(f"CLI ingest: {cli['bytes'] / 1e6:.1f} MB raw, {cli['events']:,} events in {cli_s:.1f} s: "
          f"{cli_mb:.1f} MB/s, {cli['events'] / cli_s:,.0f} events/s")  # fmt: skip
    print(f"_bulk ({args.connections} connections, {len(built)} bodies of ~{BODY_BYTES >> 20} MB): {raw / 1e6:.1f} MB raw "
          f"as {events:,} JSON events in {bulk_s:.1f} s: {bulk_mb:.1f} MB/s, {events / bulk_s:,.0f} events/s")  # fmt: skip
    print(f"ratio _bulk / CLI: {bulk_mb / cli_mb:.2f} (MB/s of raw logs; target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
