"""``python -m appliance.bench_fields --corpus DIR``: what each indexed field costs.

Ingest is bound by CPU (README, "What bounds ingest"), and most of it is Tantivy
indexing our events. This indexes the same ready-made events (parsed once, before any
clock starts) under the real schema and under variants that drop one group of fields,
and reports the CPU seconds of each (all threads of this process: the ``add_json`` loop
and Tantivy's indexing and merging threads) and the index size. The difference to the
real schema is what that group of fields costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import tantivy

from index import schema

from . import ingest
from .bench import parsed_corpus

INTEGERS = (schema.TS, schema.FILE_ID, schema.LINE, schema.NLINES)


def _schema(*, keywords: str = "json", integers: bool = True,
            file_id_indexed: bool = True) -> tantivy.Schema:  # fmt: skip
    """The real schema (:func:`index.schema.build_schema`) with parts switched off.

    ``keywords``: ``json`` (the real one: one JSON field), ``fields`` (schema v1: a text
    field each), ``unfast`` (``fields`` without fast columns) or ``none``."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(
        schema.MESSAGE, stored=False, tokenizer_name=schema.TOKENIZER, index_option="position"
    )
    if keywords == "json":
        sb.add_json_field(schema.KW, stored=False, fast=True, tokenizer_name="raw", index_option="basic")
    for name in schema.EVENT_KEYWORDS if keywords in ("fields", "unfast") else ():
        fast = keywords == "fields"
        sb.add_text_field(name, stored=False, fast=fast, tokenizer_name="raw", index_option="basic")
    if integers:
        sb.add_integer_field(schema.TS, indexed=False, fast=True)
        sb.add_unsigned_field(schema.FILE_ID, indexed=file_id_indexed, fast=True)
        sb.add_unsigned_field(schema.LINE, indexed=False, fast=True)
        sb.add_unsigned_field(schema.NLINES, fast=True)
    return sb.build()


FLAT = "flatten keywords"
"""Not a field: the events' keywords moved out of ``kw`` to the top level (schema v1)."""

VARIANTS: dict[str, tuple[Callable[[], tantivy.Schema], tuple[str, ...]]] = {
    "real schema": (_schema, ()),
    "message only": (lambda: _schema(keywords="none", integers=False), (schema.KW, *INTEGERS)),
    "no keyword fields": (lambda: _schema(keywords="none"), (schema.KW,)),
    "keywords as 5 fields (v1)": (lambda: _schema(keywords="fields"), (FLAT,)),
    "5 fields without fast columns": (lambda: _schema(keywords="unfast"), (FLAT,)),
    "no integer fields": (lambda: _schema(integers=False), INTEGERS),
    "file_id not indexed": (lambda: _schema(file_id_indexed=False), ()),
}
"""Name -> (schema, fields to drop from the events)."""


def events(corpus: Path, limit: int) -> list[str]:
    """The corpus's events as the parser processes hand them to the writer."""
    out: list[str] = []
    for _, _, _, records in parsed_corpus(corpus):
        for day_docs in ingest._documents(records, 1, True)[0].values():
            out.extend(day_docs)
        if len(out) >= limit:
            return out[:limit]
    return out


def without(docs: list[str], fields: tuple[str, ...]) -> list[str]:
    if not fields:
        return docs
    out = []
    for s in docs:
        d = orjson.loads(s)
        for f in fields:
            if f == FLAT:
                d.update(d.pop(schema.KW, {}))
            d.pop(f, None)
        out.append(orjson.dumps(d).decode())
    return out


def index_cpu(sch: tantivy.Schema, docs: list[str], heap_bytes: int) -> tuple[float, int]:
    """CPU seconds to index and commit ``docs`` (all threads), and the index's bytes."""
    path = Path(tempfile.mkdtemp(prefix="bench-fields-"))
    try:
        idx = tantivy.Index(sch, path=str(path))
        schema.register_tokenizers(idx)
        w = idx.writer(heap_size=heap_bytes)
        c0 = time.process_time()
        add = w.add_json
        for d in docs:
            add(d)
        w.commit()
        w.wait_merging_threads()
        cpu = time.process_time() - c0
        return cpu, sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m appliance.bench_fields", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--corpus",
        type=Path,
        required=True,
        help="log trees (e.g. from python -m loadtests.corpus)",
    )
    ap.add_argument("--events", type=int, default=800_000, help="at most this many events")
    ap.add_argument(
        "--heap-mb", type=int, default=64, help="writer heap (the config's writer_heap_mb)"
    )
    args = ap.parse_args(argv)
    docs = events(args.corpus, args.events)
    print(
        f"{len(docs):,} events from {args.corpus}; {os.cpu_count()} cores; CPU seconds of all threads"
    )
    base = None
    print(f"{'schema':32} {'CPU s':>7} {'vs real':>8} {'index MB':>9}")
    for name, (make, drop) in VARIANTS.items():
        cpu, size = index_cpu(make(), without(docs, drop), args.heap_mb * 1_000_000)
        base = cpu if base is None else base
        print(f"{name:32} {cpu:7.2f} {cpu - base:+8.2f} {size / 1e6:9.1f}")


if __name__ == "__main__":
    main()
