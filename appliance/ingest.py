"""Ingestion: log trees in, acknowledged events out.

The pipeline uses both cores: parser processes read, decompress, archive and parse a
file each and hand back ready-made JSON documents per day partition; the main process
only feeds them to the single writer (one ``add_json`` call per event) while Tantivy's
own threads index. A bounded window of files in flight keeps memory flat however big
the input. Every file is journaled before it is written and acknowledged only after
the commit (see :mod:`index.writer`), so an interrupted ingest is simply run again.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from index import memory
from index.archive import Archive, ArchiveError, sha256
from index.partitions import DAY_US, day_of
from index.store import Store
from index.writer import Writer

from . import builds, docspool, formats, procs
from .config import Config
from .docspool import CHUNK, SPOOL_FROM, Spool, SpooledDocs
from .filelist import FileList, strip_compression
from .formats.base import Context
from .reader import raw_size, read_log

Docs = list[str] | SpooledDocs
"""A day's documents of one file: in memory, or spooled to disk for a big file."""


def scratch_dir(store: Store) -> Path:
    return store.root / "tmp"


@dataclass(frozen=True, slots=True)
class FileTask:
    path: str
    filename: str
    key: str
    source_id: int
    attrs: dict[str, Any]
    default_ts_us: int
    year: int
    keep_debug: bool
    expected_sha: str | None
    archive_root: str
    blob: str | None = None
    """Read the content from this archive blob instead of ``path`` (reindex)."""
    raw_bytes: int = 0
    """The content's size, decompressed (an estimate): what the file costs in flight."""
    scratch_dir: str = ""
    """Where a big file's documents are spooled (:mod:`appliance.docspool`); none if empty."""


@dataclass(slots=True)
class FileResult:
    task: FileTask
    status: str
    """ok | unchanged | skipped | error"""
    reason: str = ""
    sha: str = ""
    size: int = 0
    lines: int = 0
    events: int = 0
    dropped_debug: int = 0
    format: str = ""
    tags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None
    docs: dict[str, Docs] = field(default_factory=dict)


@dataclass
class Build:
    root: Path
    fields: dict[str, str]
    start_us: int | None
    files: list[tuple[Path, str]]


@dataclass
class Summary:
    files: int = 0
    unchanged: int = 0
    lines: int = 0
    events: int = 0
    bytes: int = 0
    dropped_debug: int = 0
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    builds: int = 0
    recovered: int = 0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "unchanged": self.unchanged, "lines": self.lines,
            "events": self.events, "bytes": self.bytes, "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 2), "lines_per_s": round(self.lines / self.seconds) if self.seconds else 0,
            "dropped_debug": self.dropped_debug, "builds": self.builds,
            "skipped": self.skipped, "errors": self.errors, "warnings": self.warnings,
            "recovered_sources": self.recovered,
        }  # fmt: skip


# -- planning -------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath, f)
            if p.is_file() and not p.is_symlink():
                yield p


def plan(
    inputs: Iterable[Path],
    flags: dict[str, str] | None = None,
    record: dict[str, Any] | None = None,
    tenant: str = "",
) -> list[Build]:
    """Turn command-line paths into builds.

    A directory with ``build.json`` is one build; a directory whose subdirectories have
    one is a spool of builds; any other directory is one build rooted there; a file is a
    one-file build rooted at its directory."""
    flags = flags or {}
    out: list[Build] = []
    for p in map(Path, inputs):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or directory")
        if p.is_file():
            fields, start = builds.fields_for_tree(p.parent, record, flags, tenant)
            out.append(Build(p.parent, fields, start, [(p, strip_compression(p.name))]))
            continue
        roots = [p] if (p / "build.json").is_file() else sorted(
            d for d in p.iterdir() if d.is_dir() and (d / "build.json").is_file()
        ) or [p]
        for root in roots:
            rec = record
            if (root / "build.json").is_file():
                rec = {**builds.load_record(root / "build.json"), **(record or {})}
            fields, start = builds.fields_for_tree(root, rec, flags, tenant)
            files = [
                (f, strip_compression(f.relative_to(root).as_posix()))
                for f in _walk(root)
                if f != root / "build.json"  # the build's record, not one of its logs
            ]
            out.append(Build(root, fields, start, files))
    # Oldest first: consecutive builds then share day partitions (fewer writer switches).
    out.sort(key=lambda b: b.start_us or 0)
    return out


# -- the parser process ---------------------------------------------------------------------

_archives: dict[str, Archive] = {}
_trim_next = False
"""The previous file was big: give its freed memory back before the next one."""


def process_file(task: FileTask) -> FileResult:
    """Read, archive and parse one file (runs in a parser process)."""
    global _trim_next
    if _trim_next:
        memory.give_back()
    _trim_next = task.raw_bytes >= SPOOL_FROM
    res = FileResult(task, "ok")
    archive = _archives.get(task.archive_root) or _archives.setdefault(task.archive_root, Archive(Path(task.archive_root)))
    try:
        if task.blob:
            data, warning = archive.read(task.blob), None
        else:
            data, warning = read_log(Path(task.path))
    except (OSError, ArchiveError) as e:
        res.status, res.reason = "error", f"cannot read: {getattr(e, 'strerror', None) or e}"
        return res
    if warning:
        res.warnings.append(f"{task.filename}: {warning}")
    res.size = len(data)
    res.sha = task.blob or sha256(data)
    if task.expected_sha == res.sha:
        res.status = "unchanged"
        return res
    if formats.is_binary(data):
        res.status, res.reason = "skipped", "binary file"
        return res
    if not task.blob:
        archive.put(data, res.sha)
    ctx = Context(filename=task.filename, default_ts_us=task.default_ts_us, year=task.year)
    big = res.size >= SPOOL_FROM
    spool = Spool(task.scratch_dir, task.source_id) if task.scratch_dir and big else None
    try:
        if big:
            # Decode a big file from its archived frames instead: its bytes and its lines
            # are then never in memory together (a parser peaked at 2.4x a 400 MB log, now 1.7x).
            del data
            parsed = formats.parse_stream(archive.stream(res.sha), task.filename, ctx)
        else:
            parsed = formats.parse_stream(data, task.filename, ctx)
            del data
        res.docs, res.first_ts, res.last_ts, res.events, res.dropped_debug = _documents(
            parsed.records, task.source_id, task.keep_debug, spool
        )
    except (OSError, ArchiveError) as e:  # a big file's frames read back, its spool written
        if spool is not None:
            spool.discard()
        res.status, res.reason = "error", f"cannot parse: {getattr(e, 'strerror', None) or e}"
        return res
    res.format = parsed.fmt.NAME
    res.warnings.extend(f"{task.filename}: {w}" for w in parsed.warnings)
    res.tags = list(dict.fromkeys([*task.attrs.get("tags", ()), *parsed.fmt.TAGS]))
    res.lines = parsed.lines
    return res


def info_of(res: FileResult) -> dict[str, Any]:
    """Ingest facts kept per source (reindex needs the parse context again)."""
    t = res.task
    return {"format": res.format, "lines": res.lines, "events": res.events, "bytes": res.size,
            "warnings": len(res.warnings), "dropped_debug": res.dropped_debug,
            "default_ts_us": t.default_ts_us, "year": t.year}  # fmt: skip


def _documents(
    records: Iterable[Any], fid: int, keep_debug: bool, spool: Spool | None = None
) -> tuple[dict[str, Docs], int | None, int | None, int, int]:
    """Day -> the records as Tantivy's JSON documents (written to ``spool`` chunk by chunk
    if given, so that neither a big file's records nor its documents are ever all in
    memory), the first and last time, the number of documents and of DEBUG records
    dropped."""
    docs: dict[str, list[str]] = {}
    day_names: dict[int, str] = {}
    dumps = orjson.dumps
    first = last = None
    dropped = 0
    it = iter(records)
    chunks = (it,) if spool is None else iter(lambda: list(islice(it, CHUNK)), [])
    for chunk in chunks:
        for r in chunk:
            if not keep_debug and r.loglevel == "DEBUG":
                dropped += 1
                continue
            ts = r.ts_us
            d: dict[str, Any] = {"message": r.message, "ts": ts, "file_id": fid, "line": r.line, "nlines": r.nlines}
            kw: dict[str, Any] = {}
            if r.loglevel:
                kw["loglevel"] = r.loglevel
            if r.module:
                kw["module"] = r.module
            if r.pid:
                kw["pid"] = r.pid
            if r.program:
                kw["syslog_program"] = r.program
            if r.flags:
                kw["flags"] = r.flags
            if kw:
                d["kw"] = kw
            dayno = ts // DAY_US
            day = day_names.get(dayno)
            if day is None:
                day = day_names[dayno] = day_of(ts)
                docs[day] = []
            docs[day].append(dumps(d).decode())
            if first is None or ts < first:
                first = ts
            if last is None or ts > last:
                last = ts
        if spool is not None:
            spool.flush(docs)
    out: dict[str, Docs] = spool.result() if spool is not None else docs  # type: ignore[assignment]
    return out, first, last, sum(map(len, out.values())), dropped


# -- the main process -----------------------------------------------------------------------


def _tasks(store: Store, cfg: Config, plan_: list[Build], filelist: FileList, summary: Summary) -> list[FileTask]:
    tasks = []
    wanted: list[tuple[Build, Path, str, tuple[str, ...]]] = []
    for b in plan_:
        for path, filename in b.files:
            ok, tags = filelist.match(filename)
            if not ok:
                summary.skipped.append((str(path), "not in the file list"))
                continue
            wanted.append((b, path, filename, tags))
    ids = iter(store.catalog.reserve_ids(len(wanted)))
    scratch = str(scratch_dir(store))
    for b, path, filename, tags in wanted:
        key = f"{b.fields['build_uuid']}/{filename}"
        prev = store.catalog.by_key(key)
        try:
            mtime_us = int(path.stat().st_mtime * 1_000_000)
        except OSError:
            mtime_us = int(time.time() * 1_000_000)
        default_ts = b.start_us or mtime_us
        year = datetime.fromtimestamp(default_ts / 1e6, UTC).year
        attrs = {**b.fields, "filename": filename, "tags": list(tags)}
        tasks.append(
            FileTask(
                str(path), filename, key, next(ids), attrs, default_ts, year, cfg.keep_debug,
                prev.sha256 if prev is not None and prev.state == "done" else None,
                str(store.archive.root), raw_bytes=raw_size(path), scratch_dir=scratch,
            )
        )  # fmt: skip
    return tasks


class Parsers:
    """A pool of parser processes with at most ``window`` files in flight (being parsed,
    or parsed and waiting for the writer), and at most ``budget_bytes`` of their content
    (decompressed): a parser process holds a file's lines while it parses it, ~1.7x its
    size (a big file's bytes, records and documents are never all in memory: see
    :func:`process_file`), so a few big logs side by side would still add up. A file
    bigger than the budget goes alone.

    Started before the writer (from a fork server), so no child inherits Tantivy's
    threads or locks."""

    def __init__(self, workers: int, window: int, budget_bytes: int) -> None:
        self.window = window
        self.budget = budget_bytes
        self.pool = procs.forkserver().Pool(max(1, workers), initializer=procs.die_with_parent)

    @classmethod
    def from_config(cls, cfg: Config) -> Parsers:
        return cls(cfg.worker_count, window=max(4, 2 * cfg.worker_count), budget_bytes=cfg.inflight_mb << 20)

    def map(self, fn: Callable[[FileTask], FileResult], tasks: list[FileTask]) -> Iterator[FileResult]:
        todo = deque(tasks)
        inflight: deque[tuple[Any, int]] = deque()
        held = 0

        def fill() -> None:
            nonlocal held
            while todo and (
                not inflight or (len(inflight) < self.window and held + todo[0].raw_bytes <= self.budget)
            ):
                t = todo.popleft()
                inflight.append((self.pool.apply_async(fn, (t,)), t.raw_bytes))
                held += t.raw_bytes

        fill()
        while inflight:
            fut, cost = inflight.popleft()
            yield fut.get()
            held -= cost
            fill()

    def __enter__(self) -> Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()
        self.pool.join()


def ingest(
    store: Store,
    cfg: Config,
    builds_: list[Build],
    *,
    progress: bool | None = None,
    on_commit: Callable[[Summary], None] | None = None,
    writer: Writer | None = None,
) -> Summary:
    """Ingest planned builds; returns what went in, what was skipped and why.

    With ``writer`` (the ingest service's), the caller owns it: it is committed but
    neither opened nor closed here."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    summary = Summary(builds=len(builds_))
    filelist = FileList.load(cfg.file_list, cfg.index_unlisted)
    parsers = Parsers.from_config(cfg)
    own_writer = writer is None
    try:
        if writer is None:
            writer = store.writer(heap_bytes=cfg.writer_heap_mb * 1_000_000)
    except BaseException:
        parsers.__exit__()
        raise
    summary.recovered = len(writer.recovered)
    docspool.clear(scratch_dir(store))
    tasks = _tasks(store, cfg, builds_, filelist, summary)
    remaining = {}
    for t in tasks:
        uuid = t.attrs["build_uuid"]
        remaining[uuid] = remaining.get(uuid, 0) + 1
    build_fields = {b.fields["build_uuid"]: (b.fields, b.start_us) for b in builds_}
    finished: list[str] = [u for u in build_fields if u not in remaining]
    since_commit = 0
    total_bytes = sum(_size(t.path) for t in tasks)
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, disable=None if progress is None else not progress, desc="ingest")

    def acknowledge() -> None:
        writer.commit()
        for uuid in finished:
            fields, start = build_fields[uuid]
            store.catalog.put_group(uuid, {**fields, "start_us": start}, complete=True)
        finished.clear()
        if on_commit:
            on_commit(summary)

    try:
        for res in parsers.map(process_file, tasks):
            t = res.task
            bar.update(_size(t.path))
            summary.warnings.extend(res.warnings)
            if res.status == "ok":
                attrs = {**t.attrs, "tags": res.tags}
                info = info_of(res)
                writer.add_source(t.source_id, t.key, res.sha, attrs, info, res.docs, res.first_ts, res.last_ts)
                docspool.discard(res.docs)
                summary.files += 1
                summary.lines += res.lines
                summary.events += res.events
                summary.bytes += res.size
                summary.dropped_debug += res.dropped_debug
                since_commit += res.size
            elif res.status == "unchanged":
                summary.unchanged += 1
            elif res.status == "skipped":
                summary.skipped.append((t.path, res.reason))
            else:
                summary.errors.append((t.path, res.reason))
            uuid = t.attrs["build_uuid"]
            remaining[uuid] -= 1
            if remaining[uuid] == 0:
                finished.append(uuid)
            if since_commit >= cfg.commit_every_mb * 1_000_000:
                acknowledge()
                since_commit = 0
        acknowledge()
        if own_writer:
            writer.close()
    except BaseException:
        if own_writer:
            writer.abandon()
        raise
    finally:
        bar.close()
        parsers.__exit__()
    summary.seconds = time.perf_counter() - t0
    return summary


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
