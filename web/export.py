"""Streamed exports of every hit (CSV, NDJSON): memory stays flat however many there are.

Paging by offset would re-rank ``offset + limit`` hits per page (quadratic); instead each
batch asks for the hits up to the time of the last one seen (inclusive) and skips those
already sent at exactly that time — a ``search_after`` on the timestamp.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from appliance.events import to_event
from index.search import Hit, Searcher

BATCH = 500


def iter_hits(
    searcher: Searcher, text: str, start_us: int, end_us: int, newest_first: bool = True, batch: int | None = None
) -> Iterator[Hit]:
    batch = batch or BATCH
    lo, hi = start_us, end_us
    skip = 0
    while True:
        page = searcher.search(text, start_us=lo, end_us=hi, limit=batch + skip, newest_first=newest_first, count=False)
        hits = page.hits[skip:]
        yield from hits
        if not hits or len(page.hits) < batch + skip:
            return  # fewer than asked: the range is exhausted
        last = hits[-1].ts_us
        if last == (hi if newest_first else lo):
            skip += len(hits)  # a run of equal times longer than a batch
        else:
            skip = sum(1 for h in hits if h.ts_us == last)
            lo, hi = (lo, last) if newest_first else (last, hi)


def iter_events(searcher: Searcher, text: str, start_us: int, end_us: int, newest_first: bool = True) -> Iterator[dict[str, Any]]:
    buf: list[Hit] = []
    for h in iter_hits(searcher, text, start_us, end_us, newest_first):
        buf.append(h)
        if len(buf) >= BATCH:
            yield from (to_event(f) for f in searcher.fetch(buf))
            buf = []
    if buf:
        yield from (to_event(f) for f in searcher.fetch(buf))


def ndjson(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    chunk: list[bytes] = []
    for ev in events:
        chunk.append(orjson.dumps(ev) + b"\n")
        if len(chunk) >= 200:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def csv_rows(events: Iterator[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    header = ("@timestamp", *(c for c in columns if c != "@timestamp"), "_id")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for n, ev in enumerate(events, 1):
        w.writerow([_cell(ev.get(c)) for c in header])
        if n % 200 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
