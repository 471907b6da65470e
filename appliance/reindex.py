"""``appliance reindex``: rebuild day partitions from the archive.

Needed after a schema change (the catalog's ``schema_version`` differs) or to repair a
damaged partition. The new partitions are built aside, in ``index.new/``, by a normal
:class:`index.writer.Writer` journaling into a scratch catalog, then swapped in by
renames: until the swap, searches keep using the old partitions; a crash before it
leaves the old ones untouched (the next reindex starts over).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from index import schema
from index.catalog import Catalog
from index.partitions import Partitions
from index.store import Store
from index.writer import Writer

from . import docspool
from .config import Config
from .ingest import FileTask, Parsers, info_of, process_file, scratch_dir


@dataclass
class Result:
    files: int = 0
    events: int = 0
    days: set[str] = field(default_factory=set)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def reindex(cfg: Config, *, progress: bool | None = None, days: list[str] | None = None) -> Result:
    t0 = time.perf_counter()
    store = Store(cfg.data_dir, check_schema=False)
    lock = store.writer()  # the write lock, and recovery of an interrupted ingest
    new_root = store.root / "index.new"
    shutil.rmtree(new_root, ignore_errors=True)
    scratch = store.root / "reindex-catalog.sqlite"
    for p in store.root.glob("reindex-catalog.sqlite*"):
        p.unlink()
    docs_dir = scratch_dir(store)
    docspool.clear(docs_dir)
    sources = store.catalog.sources()
    if days:
        sources = [s for s in sources if set(s.days) & set(days)]
    tasks = [
        FileTask("", s.attrs.get("filename", ""), s.key, s.id, s.attrs, int(s.info.get("default_ts_us", 0)),
                 int(s.info.get("year", 1970)), cfg.keep_debug, None, str(store.archive.root), blob=s.sha256,
                 raw_bytes=int(s.info.get("bytes", 0)), scratch_dir=str(docs_dir))
        for s in sources
    ]  # fmt: skip
    result = Result()
    tmp_cat = Catalog(scratch)
    new_parts = Partitions(new_root)
    with Parsers.from_config(cfg) as parsers:
        writer = Writer(new_root, tmp_cat, new_parts, heap_bytes=cfg.writer_heap_mb * 1_000_000)
        bar = tqdm(total=len(tasks), unit="file", disable=None if progress is None else not progress, desc="reindex")
        try:
            for res in parsers.map(process_file, tasks):
                bar.update(1)
                if res.status != "ok":
                    result.errors.append(f"{res.task.key}: {res.reason}")
                    continue
                docs = {d: v for d, v in res.docs.items() if not days or d in days}
                attrs = {**res.task.attrs, "tags": res.tags}
                writer.add_source(res.task.source_id, res.task.key, res.sha, attrs, info_of(res), docs,
                                  res.first_ts, res.last_ts)  # fmt: skip
                docspool.discard(res.docs)
                result.files += 1
                result.events += sum(map(len, docs.values()))
                result.days |= set(docs)
            writer.close()
        finally:
            bar.close()
    new_days = {s.id: s.days for s in tmp_cat.sources()}
    tmp_cat.close()
    _swap(store, new_root, days)
    with store.catalog.transaction() as db:
        for sid, dd in new_days.items():
            if days:
                old = store.catalog.get(sid)
                dd = {**{k: v for k, v in (old.days if old else {}).items() if k not in days}, **dd}
            db.execute("UPDATE sources SET days=? WHERE id=?", (_json(dd), sid))
            db.execute("DELETE FROM source_days WHERE source_id=?", (sid,))
            db.executemany("INSERT INTO source_days VALUES(?, ?, ?)", [(sid, d, n) for d, n in dd.items()])
        db.execute("INSERT OR REPLACE INTO meta VALUES('schema_version', ?)", (str(schema.SCHEMA_VERSION),))
    lock.close()
    for p in store.root.glob("reindex-catalog.sqlite*"):
        p.unlink()
    store.close()
    result.seconds = time.perf_counter() - t0
    return result


def _swap(store: Store, new_root: os.PathLike[str], days: list[str] | None) -> None:
    live = store.partitions
    new_parts = Partitions(new_root)
    if days is None:
        old = store.root / "index.old"
        shutil.rmtree(old, ignore_errors=True)
        for d in live.days():
            live.forget(d)
        os.replace(live.root, old)
        os.replace(new_root, live.root)
        shutil.rmtree(old, ignore_errors=True)
        return
    for d in days:
        live.drop(d)
        if new_parts.path(d).exists():
            os.replace(new_parts.path(d), live.path(d))
    shutil.rmtree(new_root, ignore_errors=True)


def _json(obj: object) -> str:
    import orjson

    return orjson.dumps(obj).decode()
