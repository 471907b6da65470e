"""The templates of every stored log file, computed once and kept beside the index.

Why a cache: comparing a failed build with the passing builds of its job needs the
template set of each of them, and the index keeps no text. Computing one build's
templates reads its files from the archive, parses them and masks them (~0.4 s for a
20 MB build); a diff against a dozen passing builds would take seconds every time. Files
are content-addressed (a blob's templates never change), so each blob's templates are
computed once and written to ``<data>/templates/v<N>/<sha[:2]>/<sha>.tpl``, where the
next diff reads them in a millisecond. :class:`Warmer` fills the cache in the
background while ``serve`` runs, newest files first, so diffs and the template trends
rarely wait. A data directory that cannot be written keeps the cache in memory only.

A ``.tpl`` file: ``b"TPL"``, a version byte, the count ``n``, then five little-endian
columns sorted by template id: id (u64), events (u32), first record's line (u32, 0-based)
and line count (u32), severity (u8).
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import sys
import threading
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from index.archive import ArchiveError
from index.catalog import Source
from index.store import Store

from .. import formats
from ..background import Background
from ..formats.base import Context, Record
from . import templates as T

log = logging.getLogger("appliance.recheck")

VERSION = 2
"""Bump when :mod:`.templates` masks differently: old caches are then ignored."""
_HEAD = struct.Struct("<3sBI")
_MAGIC = b"TPL"
_LITTLE = sys.byteorder == "little"
CHUNK = 2048
"""Records masked per regex call (a few ms: web requests of the same process are not held up)."""


def _col(code: str, data: bytes | memoryview) -> array:
    a = array(code)
    a.frombytes(data)
    if not _LITTLE:
        a.byteswap()
    return a


@dataclass(frozen=True, slots=True)
class FileTemplates:
    """One file's distinct templates, sorted by id, with how often each occurs and where
    it first does."""

    sha: str
    ids: array
    counts: array
    lines: array
    nlines: array
    severity: array

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, tid: int) -> int | None:
        i = bisect_left(self.ids, tid)
        return i if i < len(self.ids) and self.ids[i] == tid else None

    def __contains__(self, tid: object) -> bool:
        return isinstance(tid, int) and self.index(tid) is not None

    def to_bytes(self) -> bytes:
        cols = [self.ids, self.counts, self.lines, self.nlines, self.severity]
        if not _LITTLE:
            cols = [array(c.typecode, c) for c in cols]
            for c in cols:
                c.byteswap()
        return _HEAD.pack(_MAGIC, VERSION, len(self.ids)) + b"".join(c.tobytes() for c in cols)

    @classmethod
    def from_bytes(cls, sha: str, data: bytes) -> FileTemplates:
        magic, version, n = _HEAD.unpack_from(data)
        if magic != _MAGIC or version != VERSION or len(data) != _HEAD.size + n * 21:
            raise ValueError("not a template file of this version")
        mv, o = memoryview(data), _HEAD.size
        cols = []
        for code, width in (("Q", 8), ("I", 4), ("I", 4), ("I", 4), ("B", 1)):
            cols.append(_col(code, mv[o : o + n * width]))
            o += n * width
        return cls(sha, *cols)


def context(src: Source) -> Context:
    """How the file was parsed at ingest (the year only matters for year-less formats)."""
    ts = src.first_ts or 0
    year = datetime.fromtimestamp(ts / 1e6, UTC).year if ts > 0 else 1970
    return Context(filename=str(src.attrs.get("filename", "")), default_ts_us=ts, year=year)


def parse(data: bytes | Iterable[bytes], src: Source) -> list[Record]:
    """The file's records exactly as ingest made them (same format, so tracebacks and
    other multi-line records are one record each)."""
    ctx = context(src)
    fmt = formats.by_name(str(src.info.get("format", "plain")))
    return formats.parse_file(data, ctx.filename, ctx, fmt=fmt)[1]


def extract(sha: str, records: list[Record]) -> FileTemplates:
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    messages = [r.message for r in records]
    keys: list[str] = []
    for a in range(0, len(messages), CHUNK):  # the GIL is held during a regex: let others run
        keys.extend(T.keys(messages[a : a + CHUNK]))
    for i, k in enumerate(keys):
        if k in counts:
            counts[k] += 1
        else:
            counts[k] = 1
            first[k] = i
    rows = []
    for k, i in first.items():
        r = records[i]
        rows.append(
            (
                T.template_id(k),
                min(counts[k], 2**32 - 1),
                r.line,
                r.nlines,
                T.severity(r.loglevel, r.message),
            )
        )
    rows.sort()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return FileTemplates(sha, array("Q", cols[0]), array("I", cols[1]), array("I", cols[2]),
                         array("I", cols[3]), array("B", cols[4]))  # fmt: skip


class TemplateStore:
    """Templates per stored file: memory (LRU), then disk, then computed (and saved)."""

    def __init__(self, store: Store, root: Path | None = None, *, memory: int = 1024) -> None:
        self.store = store
        self.default = root is None
        self.root = Path(root) if root is not None else store.root / "templates" / f"v{VERSION}"
        self.memory = memory
        self._mem: OrderedDict[str, FileTemplates] = OrderedDict()
        self._lock = threading.Lock()
        self._writable: bool | None = None
        self.computed = 0
        """Files computed by this process (the rest came from the cache)."""

    def path(self, sha: str) -> Path:
        self.store.archive.path(sha)  # validates the id (no path tricks)
        return self.root / sha[:2] / f"{sha}.tpl"

    def cached(self, sha: str) -> FileTemplates | None:
        """From memory or disk only (never computed)."""
        with self._lock:
            ft = self._mem.get(sha)
            if ft is not None:
                self._mem.move_to_end(sha)
                return ft
        try:
            ft = FileTemplates.from_bytes(sha, self.path(sha).read_bytes())
        except (OSError, ValueError, struct.error):
            return None
        self._remember(ft)
        return ft

    def has(self, sha: str) -> bool:
        with self._lock:
            if sha in self._mem:
                return True
        return self.path(sha).is_file()

    def get(self, src: Source) -> FileTemplates:
        """A file's templates, computed now if nobody did before. Raises ArchiveError
        when its blob is missing or damaged."""
        ft = self.cached(src.sha256)
        if ft is None:
            ft, _ = self.compute(src)
        return ft

    def compute(self, src: Source) -> tuple[FileTemplates, list[Record]]:
        """Parse the file from the archive and save its templates; also returns its records."""
        records = parse(self.store.archive.stream(src.sha256), src)
        ft = extract(src.sha256, records)
        self._save(ft)
        self._remember(ft)
        with self._lock:
            self.computed += 1
        return ft, records

    def _remember(self, ft: FileTemplates) -> None:
        with self._lock:
            self._mem[ft.sha] = ft
            self._mem.move_to_end(ft.sha)
            while len(self._mem) > self.memory:
                self._mem.popitem(last=False)

    def _save(self, ft: FileTemplates) -> None:
        if self._writable is False:
            return
        path = self.path(ft.sha)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(ft.to_bytes())
            os.replace(tmp, path)
            self._writable = True
        except OSError as e:
            tmp.unlink(missing_ok=True)
            if self._writable is None:
                log.warning(
                    "template cache %s is not writable (%s): kept in memory only", self.root, e
                )
            self._writable = False

    def of_sources(
        self, sources: Iterable[Source], *, compute: bool = True
    ) -> list[tuple[Source, FileTemplates]]:
        """Templates of these files (skipping damaged blobs; with ``compute=False`` only
        those already known)."""
        out = []
        for src in sources:
            try:
                ft = self.get(src) if compute else self.cached(src.sha256)
            except ArchiveError as e:
                log.warning("templates of %s: %s", src.attrs.get("filename"), e)
                continue
            if ft is not None:
                out.append((src, ft))
        return out

    def prune(self) -> int:
        """Delete cached files whose blob left the archive (retention), and the caches of
        older versions; returns how many files went."""
        n = 0
        if self.default:
            for old in self.root.parent.glob("v*"):
                if old != self.root and old.is_dir():
                    n += sum(1 for _ in old.glob("??/*.tpl"))
                    shutil.rmtree(old, ignore_errors=True)
        if not self.root.is_dir():
            return n
        for p in self.root.glob("??/*.tpl"):
            if not self.store.archive.exists(p.stem):
                p.unlink(missing_ok=True)
                with self._lock:
                    self._mem.pop(p.stem, None)
                n += 1
        return n


class Warmer:
    """Computes missing templates in the background, newest files first, using at most
    ``duty`` of one core (it sleeps as long as it worked, scaled)."""

    def __init__(
        self, tstore: TemplateStore, *, days: int = 10, duty: float = 0.5, idle_s: float = 30.0
    ) -> None:
        self.tstore = tstore
        self.days = days
        self.duty = min(1.0, max(0.05, duty))
        self.idle_s = idle_s
        self._bg = Background(self._run, "template-warmer")
        self._stop = self._bg.stopping
        self.done = 0

    def start(self) -> None:
        self._bg.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._bg.stop(timeout)

    def missing(self) -> list[Source]:
        """Files of the last ``days`` with no cached templates, newest first."""
        since = int((time.time() - self.days * 86400) * 1e6)
        srcs = self.tstore.store.catalog.sources(
            "state='done' AND coalesce(last_ts, 0) >= ?", (since,)
        )
        srcs.sort(key=lambda s: s.last_ts or 0, reverse=True)
        seen: set[str] = set()
        out = []
        for s in srcs:
            if s.sha256 not in seen and not self.tstore.has(s.sha256):
                out.append(s)
            seen.add(s.sha256)
        return out

    def run_once(self, limit: int | None = None) -> int:
        """Compute what is missing (all of it, or ``limit`` files); returns how many."""
        n = 0
        for src in self.missing()[:limit]:
            if self._stop.is_set():
                break
            t0 = time.monotonic()
            try:
                self.tstore.compute(src)
                n += 1
            except ArchiveError as e:
                log.warning("template warmer: %s", e)
            except Exception:  # noqa: BLE001 - one bad file must not stop the warmer
                log.exception("template warmer: %s", src.attrs.get("filename"))
            if self.duty < 1.0:
                self._stop.wait((time.monotonic() - t0) * (1 - self.duty) / self.duty)
        self.done += n
        return n

    def _run(self) -> None:
        generation = -1
        while not self._stop.is_set():
            gen = self.tstore.store.catalog.generation
            if gen != generation:
                generation = gen
                try:
                    self.run_once()
                    self.tstore.prune()
                except Exception:  # noqa: BLE001
                    log.exception("template warmer")
            self._stop.wait(self.idle_s)
