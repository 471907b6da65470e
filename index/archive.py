"""The raw-log archive: every ingested file kept once, zstd-compressed and seekable.

Tantivy stores no text (its docstore would cost ~0.5x raw, lz4 in small blocks); the
archive does (~0.05x raw, measured on the corpus: zstd level 3, 1 MiB frames; level 6 saved
0.004x for 4x the CPU, which ingest needs more). It is
what the log viewer shows, where a hit's text and context lines come from, and what
``reindex`` rebuilds partitions from.

Layout: ``<root>/<sha[:2]>/<sha256>.zst``, content-addressed (identical files stored
once). A blob is a sequence of independent zstd frames, each holding whole lines of at
most :data:`FRAME_BYTES`, followed by a zstd *skippable* frame with the seek table, so
that ``zstd -d`` still restores the original file byte for byte, while a reader decodes
only the frame that holds line N. Blobs are written to a temporary name, fsynced and
renamed: a reader never sees half a blob.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import zstandard

FRAME_BYTES = 1 << 20
LEVEL = 3
_SKIPPABLE_MAGIC = 0x184D2A5E
_FOOTER = struct.Struct("<I4s")
_FOOTER_TAG = b"CIA1"
_PARTIAL = ".tmp"
"""Suffix of a blob being written (``.<name>.<pid>.tmp``), renamed into place when whole."""


class ArchiveError(Exception):
    """A blob is missing or damaged."""


@dataclass(frozen=True, slots=True)
class Frame:
    raw_offset: int
    comp_offset: int
    comp_size: int
    first_line: int
    """0-based index of the frame's first line."""
    nlines: int


@dataclass(frozen=True, slots=True)
class BlobInfo:
    sha256: str
    size: int
    """Raw (uncompressed) bytes."""
    stored_size: int
    lines: int
    frames: tuple[Frame, ...]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split_frames(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) chunks of at most FRAME_BYTES ending on a line boundary when possible."""
    start, n = 0, len(data)
    while start < n:
        end = min(start + FRAME_BYTES, n)
        if end < n:
            nl = data.rfind(b"\n", start, end)
            if nl >= start:
                end = nl + 1
        yield start, end
        start = end


class Archive:
    def __init__(self, root: Path, cache_frames: int = 64) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tables: OrderedDict[str, BlobInfo] = OrderedDict()
        self._frames: OrderedDict[tuple[str, int], list[bytes]] = OrderedDict()
        self._cache_frames = cache_frames
        self._lock = threading.Lock()

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise ArchiveError(f"not a blob id: {sha!r}")
        return self.root / sha[:2] / f"{sha}.zst"

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()

    # -- writing ---------------------------------------------------------------------------

    def put(self, data: bytes, sha: str | None = None) -> BlobInfo:
        """Store ``data`` (idempotent: an existing blob is not rewritten)."""
        sha = sha or sha256(data)
        path = self.path(sha)
        if path.exists():
            return self.info(sha)
        comp = zstandard.ZstdCompressor(level=LEVEL)
        frames: list[Frame] = []
        parts: list[bytes] = []
        offset = line = 0
        for start, end in _split_frames(data):
            chunk = data[start:end]
            c = comp.compress(chunk)
            n = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            frames.append(Frame(start, offset, len(c), line, n))
            parts.append(c)
            offset += len(c)
            line += n
        table = orjson.dumps(
            {"v": 1, "size": len(data), "lines": line, "frames": [list(_astuple(f)) for f in frames]}
        )
        payload = table + _FOOTER.pack(len(table), _FOOTER_TAG)
        parts.append(struct.pack("<II", _SKIPPABLE_MAGIC, len(payload)) + payload)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}{_PARTIAL}")
        try:
            with open(tmp, "wb") as f:
                for p in parts:
                    f.write(p)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:  # a full disk: give back what was written
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        info = BlobInfo(sha, len(data), offset + len(parts[-1]), line, tuple(frames))
        self._remember(info)
        return info

    def clear_partial(self) -> int:
        """Remove blobs a killed process left half-written (those of a live process are
        being written: a ``_bulk`` worker's); returns how many."""
        n = 0
        for tmp in self.root.glob(f"??/.*{_PARTIAL}"):
            pid = tmp.name.removesuffix(_PARTIAL).rpartition(".")[2]
            if pid.isdigit() and _alive(int(pid)):
                continue
            tmp.unlink(missing_ok=True)
            n += 1
        return n

    def delete(self, sha: str) -> None:
        self.path(sha).unlink(missing_ok=True)
        with self._lock:
            self._tables.pop(sha, None)

    # -- reading ---------------------------------------------------------------------------

    def info(self, sha: str) -> BlobInfo:
        with self._lock:
            if sha in self._tables:
                return self._tables[sha]
        path = self.path(sha)
        try:
            with open(path, "rb") as f:
                f.seek(-_FOOTER.size, os.SEEK_END)
                tlen, tag = _FOOTER.unpack(f.read(_FOOTER.size))
                if tag != _FOOTER_TAG:
                    raise ArchiveError(f"{path.name}: no seek table")
                f.seek(-_FOOTER.size - tlen, os.SEEK_END)
                table = orjson.loads(f.read(tlen))
                stored = f.seek(0, os.SEEK_END)
        except FileNotFoundError:
            raise ArchiveError(f"blob {sha} is not in the archive") from None
        except (OSError, orjson.JSONDecodeError, struct.error) as e:
            raise ArchiveError(f"blob {sha} is damaged: {e}") from None
        frames = tuple(Frame(*f) for f in table["frames"])
        info = BlobInfo(sha, table["size"], stored, table["lines"], frames)
        self._remember(info)
        return info

    def _remember(self, info: BlobInfo) -> None:
        with self._lock:
            self._tables[info.sha256] = info
            while len(self._tables) > 4096:
                self._tables.popitem(last=False)

    def _frame_lines(self, info: BlobInfo, i: int) -> list[bytes]:
        key = (info.sha256, i)
        with self._lock:
            hit = self._frames.get(key)
            if hit is not None:
                self._frames.move_to_end(key)
                return hit
        fr = info.frames[i]
        with open(self.path(info.sha256), "rb") as f:
            f.seek(fr.comp_offset)
            comp = f.read(fr.comp_size)
        try:
            raw = zstandard.ZstdDecompressor().decompress(comp)
        except zstandard.ZstdError as e:
            raise ArchiveError(f"blob {info.sha256} frame {i} is damaged: {e}") from None
        lines = raw.split(b"\n")
        if raw.endswith(b"\n"):
            lines.pop()
        with self._lock:
            self._frames[key] = lines
            while len(self._frames) > self._cache_frames:
                self._frames.popitem(last=False)
        return lines

    def lines(self, sha: str, start: int, count: int) -> list[bytes]:
        """Lines ``start`` .. ``start+count-1`` (0-based) as raw bytes without newlines."""
        info = self.info(sha)
        start = max(0, start)
        end = min(info.lines, start + max(0, count))
        out: list[bytes] = []
        i = _frame_index(info.frames, start)
        while start < end and i < len(info.frames):
            fr = info.frames[i]
            lines = self._frame_lines(info, i)
            lo = start - fr.first_line
            hi = min(end - fr.first_line, fr.nlines)
            out.extend(lines[lo:hi])
            start = fr.first_line + hi
            i += 1
        return out

    def stream(self, sha: str) -> Iterator[bytes]:
        """The original file, frame by frame (for downloads and the full-log view)."""
        info = self.info(sha)
        dec = zstandard.ZstdDecompressor()
        with open(self.path(sha), "rb") as f:
            for i, fr in enumerate(info.frames):
                f.seek(fr.comp_offset)
                try:
                    yield dec.decompress(f.read(fr.comp_size))
                except zstandard.ZstdError as e:
                    raise ArchiveError(f"blob {sha} frame {i} is damaged: {e}") from None

    def read(self, sha: str) -> bytearray:
        """The original file, whole (grown in place: joining its frames held it twice)."""
        out = bytearray()
        for frame in self.stream(sha):
            out += frame
        return out

    def blobs(self) -> Iterator[str]:
        for p in self.root.glob("??/*.zst"):
            yield p.stem


def _astuple(f: Frame) -> tuple[int, int, int, int, int]:
    return (f.raw_offset, f.comp_offset, f.comp_size, f.first_line, f.nlines)


def _frame_index(frames: tuple[Frame, ...], line: int) -> int:
    lo, hi = 0, len(frames)
    while lo < hi:
        mid = (lo + hi) // 2
        if frames[mid].first_line + frames[mid].nlines <= line:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
