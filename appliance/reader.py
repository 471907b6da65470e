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


def read_log(path: Path) -> tuple[bytes | bytearray, str | None]:
    """(content, warning) — the warning says what was damaged and what was kept.

    Compressed content comes back as a ``bytearray`` grown in place as it decompresses:
    collecting the parts and joining them held a big log twice (a 400 MB log, 800 MB)."""
    data = Path(path).read_bytes()
    if data[:2] == GZIP_MAGIC:
        return _gunzip(data)
    if data[:4] == ZSTD_MAGIC:
        return _unzstd(data)
    return data, None


def _gunzip(data: bytes) -> tuple[bytearray, str | None]:
    out = bytearray()
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        start, kept = pos, len(out)  # the complete members' output so far
        try:
            while pos < len(data) and not d.eof:
                end = min(pos + _CHUNK, len(data))
                out += d.decompress(data[pos:end])
                pos = end
            out += d.flush()
        except zlib.error as e:
            del out[kept:]
            salvaged, where = _salvage(data[start:])
            out += salvaged
            return out, f"corrupt gzip near compressed byte {start + where}: {e}; kept the {len(out)} bytes before it"
        if not d.eof:
            return out, f"truncated gzip: the stream ends early; kept {len(out)} bytes"
        pos -= len(d.unused_data)  # the member ended inside the last chunk fed to it
        rest = len(data) - pos
        if data.count(b"\x00", pos) == rest:  # nothing more, or padding (tar, dd)
            break
        if data[pos : pos + 2] != GZIP_MAGIC:
            return out, f"{rest} bytes of trailing garbage after the gzip stream ignored; kept {len(out)} bytes"
    return out, None


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


def _unzstd(data: bytes) -> tuple[bytearray, str | None]:
    out = bytearray()
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    try:
        while True:
            chunk = reader.read(_CHUNK)
            if not chunk:
                break
            out += chunk
    except zstandard.ZstdError as e:
        return out, f"corrupt zstd: {e}; kept the {len(out)} bytes before it"
    return out, None
