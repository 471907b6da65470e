"""Reading a log file's bytes: plain, gzip or zstd, salvaging what a damaged file holds.

A corrupt or truncated compressed file is not an error that loses the file: everything
that decompresses is kept and indexed, and the damage is reported with the byte offset.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


def raw_size(path: Path) -> int:
    """The file's size once decompressed, without decompressing it: gzip's trailer (the
    size modulo 4 GiB), zstd's frame header, or 16x (logs' usual ratio) when it does not say."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
            size = os.fstat(f.fileno()).st_size
            if head[:2] == GZIP_MAGIC and size >= 18:
                f.seek(-4, os.SEEK_END)
                return max(size, int.from_bytes(f.read(4), "little"))
    except OSError:
        return 0
    if head[:4] == ZSTD_MAGIC:
        try:
            n = zstandard.frame_content_size(head)
        except zstandard.ZstdError:
            n = -1
        return n if n >= 0 else 16 * size
    return size


def read_log(path: Path) -> tuple[bytes, str | None]:
    """(content, warning) — the warning says what was damaged and what was kept."""
    data = Path(path).read_bytes()
    if data[:2] == GZIP_MAGIC:
        return _gunzip(data)
    if data[:4] == ZSTD_MAGIC:
        return _unzstd(data)
    return data, None


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    done: list[bytes] = []  # output of complete gzip members
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        start = pos
        member: list[bytes] = []
        try:
            while pos < len(data) and not d.eof:
                member.append(d.decompress(data[pos : pos + _CHUNK]))
                pos += _CHUNK
            member.append(d.flush())
        except zlib.error as e:
            kept, where = _salvage(data[start:])
            out = b"".join(done) + kept
            return out, f"corrupt gzip near compressed byte {start + where}: {e}; kept the {len(out)} bytes before it"
        done.extend(member)
        if not d.eof:
            out = b"".join(done)
            return out, f"truncated gzip: the stream ends early; kept {len(out)} bytes"
        pos = len(data) - len(d.unused_data)
        rest = d.unused_data
        if not rest.strip(b"\x00"):
            break
        if rest[:2] != GZIP_MAGIC:
            out = b"".join(done)
            return out, f"{len(rest)} bytes of trailing garbage after the gzip stream ignored; kept {len(out)} bytes"
    return b"".join(done), None


def _salvage(member: bytes, step: int = 64) -> tuple[bytes, int]:
    """Decompress a damaged member in small steps: everything before the damage."""
    d = zlib.decompressobj(wbits=31)
    out: list[bytes] = []
    pos = 0
    try:
        while pos < len(member):
            out.append(d.decompress(member[pos : pos + step]))
            pos += step
    except zlib.error:
        pass
    return b"".join(out), pos


def _unzstd(data: bytes) -> tuple[bytes, str | None]:
    out: list[bytes] = []
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    try:
        while True:
            chunk = reader.read(_CHUNK)
            if not chunk:
                break
            out.append(chunk)
    except zstandard.ZstdError as e:
        got = sum(map(len, out))
        return b"".join(out), f"corrupt zstd: {e}; kept the {got} bytes before it"
    return b"".join(out), None
