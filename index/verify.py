"""Checksums of a data directory: Tantivy writes them, nothing reads them.

Every Tantivy file ends with a footer (JSON with the CRC32 of the file's body, its length
as u32, magic 1337). Tantivy does not check it on open, so a flipped byte that does not
make it panic goes unnoticed and answers wrong. :func:`verify_days` reads the files of
every committed segment and checks them; :func:`verify_archive` decompresses every blob
and compares its SHA-256 with its name. A bad day is marked in ``partitions.broken``
(reported by ``/readyz``, ``/status`` and ``appliance stats``); ``appliance reindex
--day`` rebuilds it from the archive.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from .archive import ArchiveError
from .store import Store

FOOTER_MAGIC = 1337
_CHUNK = 8 << 20


def check_file(path: Path) -> str | None:
    """None if the file's footer CRC matches its body, else what is wrong."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            if size < 8:
                return f"{path.name}: truncated ({size} bytes)"
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                length, magic = struct.unpack("<II", m[size - 8 :])
                if magic != FOOTER_MAGIC or length + 8 > size:
                    return f"{path.name}: no Tantivy footer (truncated or overwritten)"
                try:
                    want = json.loads(m[size - 8 - length : size - 8])["crc"]
                except (ValueError, KeyError, TypeError):
                    return f"{path.name}: unreadable footer"
                body = size - 8 - length
                crc = 0
                for off in range(0, body, _CHUNK):
                    crc = zlib.crc32(m[off : min(body, off + _CHUNK)], crc)
    except OSError as e:
        return f"{path.name}: {e.strerror or e}"
    return None if crc == want else f"{path.name}: checksum mismatch (stored {want}, computed {crc})"


def segment_files(day_dir: Path) -> list[Path]:
    """The files of the committed segments (``meta.json``), deletes included; files of a
    commit in progress or awaiting garbage collection are not the index's yet."""
    meta = json.loads((day_dir / "meta.json").read_bytes())
    out: list[Path] = []
    for seg in meta.get("segments", []):
        sid = str(seg["segment_id"]).replace("-", "")
        out.extend(p for p in day_dir.glob(f"{sid}.*") if not p.name.endswith(".del"))
        deletes = seg.get("deletes")
        if deletes:
            out.append(day_dir / f"{sid}.{deletes['opstamp']}.del")
    return out


def check_day(day_dir: Path) -> list[str]:
    try:
        files = segment_files(day_dir)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"meta.json: {e}"]
    return [p for p in map(check_file, files) if p]


def verify_days(store: Store, days: Iterable[str] | None = None, *, mark: bool = True) -> dict[str, list[str]]:
    """Problems per bad day (empty dict: all good). ``mark``: report them as broken."""
    bad: dict[str, list[str]] = {}
    for day in days if days is not None else store.partitions.days():
        problems = check_day(store.partitions.path(day))
        if problems:
            bad[day] = problems
            if mark:
                store.partitions.mark_broken(day, f"checksum: {problems[0]}" + (
                    f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
                ))  # fmt: skip
    return bad


def verify_archive(store: Store, progress: Callable[[int], None] | None = None) -> dict[str, str]:
    """Blobs whose content does not hash to their name (or cannot be read), by sha."""
    bad: dict[str, str] = {}
    for src in store.catalog.sources():
        sha = src.sha256
        if sha in bad:
            continue
        digest, size = hashlib.sha256(), 0
        try:
            for frame in store.archive.stream(sha):  # a frame at a time: big logs stay out of memory
                digest.update(frame)
                size += len(frame)
        except (OSError, ArchiveError) as e:
            bad[sha] = f"{src.key}: cannot read: {e}"
            continue
        if digest.hexdigest() != sha:
            bad[sha] = f"{src.key}: content does not match its hash"
        if progress is not None:
            progress(size)
    return bad
