"""Log formats: file bytes in, records out.

:func:`parse_stream` is what ingest calls: :func:`decode` the bytes into lines (noting
the lines it had to cut or repair), :func:`detect` the format from the first lines, then
parse lazily, giving the records before the file's first timestamp the default time and
the records holding repaired lines their flags (:func:`parse_file` is the same, as a
list). Binary files never get here (:func:`is_binary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import NamedTuple

from . import apache, console, journal, ndjson, oslo, plain, syslog
from .base import (
    FLAG_INVALID_UTF8,
    FLAG_NO_TIMESTAMP,
    FLAG_TRUNCATED,
    MAX_LINE_CHARS,
    Context,
    Record,
)

FORMATS: tuple[ModuleType, ...] = (oslo, console, journal, syslog, apache, ndjson, plain)
"""In order of preference when two score the same."""

SAMPLE_LINES = 200
MAX_WARNINGS = 20
"""Per file and kind; the rest are counted in one last warning."""

_BY_NAME = {f.NAME: f for f in FORMATS}
_BINARY_PROBE = 8192
_TEXT_BYTES = bytes(b for b in range(256) if b >= 32 and b != 127 or b in b"\t\n\r\f\b\x1b")


class Decoded(NamedTuple):
    lines: list[str]
    flagged: dict[int, tuple[str, ...]]
    """0-based line index -> flags of the lines that were cut or had invalid UTF-8
    (empty for almost every file, so applying it costs nothing)."""
    warnings: list[str]


def by_name(name: str) -> ModuleType:
    """The format called ``name``; ``plain`` for a name this version does not know."""
    return _BY_NAME.get(name, plain)


def detect(sample: list[str], filename: str) -> ModuleType:
    """The best-scoring format for the first lines of a file (``plain`` if none fits)."""
    best, score = plain, 0.0
    for fmt in FORMATS:
        s = fmt.detect(sample, filename)
        if s > score:
            best, score = fmt, s
    return best


def is_binary(data: bytes | bytearray) -> bool:
    """NUL bytes, or mostly control characters, in the first 8 KiB."""
    head = data[:_BINARY_PROBE]
    if not head:
        return False
    if b"\0" in head:
        return True
    return len(head.translate(None, _TEXT_BYTES)) > 0.3 * len(head)


DECODE_CHUNK = 4 << 20
"""Bytes decoded at a time: a file's whole text never exists beside its lines."""


def decode(data: bytes | bytearray | Iterable[bytes]) -> Decoded:
    """Lines of UTF-8 text: split on ``\\n``, one ``\\r`` before it dropped, invalid bytes
    replaced (U+FFFD, flag ``invalid_utf8``), lines past MAX_LINE_CHARS cut (``truncated``).
    A final ``\\n`` ends the last line rather than starting an empty one.

    ``data`` is the file's bytes, or its bytes in parts (an archive blob's frames: then
    the file need never be in memory whole). Either is decoded a few MB at a time, cut
    after a ``\\n`` (never inside a UTF-8 sequence or a ``\\r\\n``): the bytes, their
    lines and the whole text at once were 3.4x a big file."""
    flagged: dict[int, tuple[str, ...]] = {}
    warnings: list[str] = []
    lines: list[str] = []
    repaired = False
    size = 0
    piece = b""
    for piece in _line_pieces(data):
        size += len(piece)
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError:
            text = piece.decode("utf-8", "replace")
            repaired = True
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        part = text.split("\n")
        del text
        if part[-1] == "":
            part.pop()
        lines += part
    if lines and lines[-1].endswith("\r") and not piece.endswith(b"\n"):
        lines[-1] = lines[-1][:-1]
    if repaired:
        bad = [i for i, line in enumerate(lines) if "\ufffd" in line]
        for i in bad:
            flagged[i] = (FLAG_INVALID_UTF8,)
        if bad:
            more = f" ({len(bad)} lines in all)" if len(bad) > 1 else ""
            warnings.append(f"line {bad[0] + 1}: invalid UTF-8 replaced by U+FFFD{more}")
    if size > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS:
        long = [i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS]
        for i in long:
            warnings.append(f"line {i + 1}: {len(lines[i])} characters, cut to {MAX_LINE_CHARS}")
            lines[i] = lines[i][:MAX_LINE_CHARS]
            flagged[i] = (*flagged.get(i, ()), FLAG_TRUNCATED)
        warnings[:] = _capped(warnings)
    return Decoded(lines, flagged, warnings)


def _line_pieces(data: bytes | bytearray | Iterable[bytes]) -> Iterator[bytes]:
    """``data`` in pieces of about DECODE_CHUNK bytes, each ending just after a ``\\n``
    (but the last)."""
    if isinstance(data, bytes | bytearray):
        pos, size = 0, len(data)
        while pos < size:
            cut = data.find(b"\n", pos + DECODE_CHUNK)
            end = size if cut < 0 else cut + 1
            yield data[pos:end]
            pos = end
        return
    held: list[bytes] = []
    size = 0
    for chunk in data:
        held.append(chunk)
        size += len(chunk)
        cut = chunk.rfind(b"\n") if size >= DECODE_CHUNK else -1
        if cut < 0:
            continue
        held[-1] = chunk[: cut + 1]
        yield b"".join(held)
        rest = chunk[cut + 1 :]
        held, size = [rest], len(rest)
    if size:
        yield b"".join(held)


class Parsed(NamedTuple):
    """A file being parsed: its records come as ``records`` is iterated."""

    fmt: ModuleType
    records: Iterator[Record]
    warnings: list[str]
    """One-line warnings; complete once ``records`` is exhausted."""
    lines: int


def parse_stream(
    data: bytes | bytearray | Iterable[bytes], filename: str, ctx: Context, fmt: ModuleType | None = None
) -> Parsed:
    """Decode (``data`` whole or in parts), detect (unless ``fmt`` is given), then parse
    lazily: the records before the file's first timestamp get the default time, the
    records holding repaired lines their flags. Only the lines are held (``data`` may go
    once this returns), so a big file's records and documents can be made and handed on
    a chunk at a time."""
    lines, flagged, warnings = decode(data)
    if fmt is None:
        fmt = detect(lines[:SAMPLE_LINES], filename)

    def records(fmt: ModuleType) -> Iterator[Record]:
        bad_ts: list[str] = []
        out = _with_default_time(fmt.parse(lines, ctx, bad_ts.append), ctx.default_ts_us)
        yield from _with_line_flags(out, flagged) if flagged else out
        warnings.extend(_capped(bad_ts))

    return Parsed(fmt, records(fmt), warnings, len(lines))


def parse_file(
    data: bytes, filename: str, ctx: Context, fmt: ModuleType | None = None
) -> tuple[ModuleType, list[Record], list[str]]:
    """:func:`parse_stream`, all at once: (format, records tiling the lines, warnings)."""
    parsed = parse_stream(data, filename, ctx, fmt)
    records = list(parsed.records)
    return parsed.fmt, records, parsed.warnings


def _with_default_time(records: Iterator[Record], default_ts_us: int) -> Iterator[Record]:
    for r in records:
        yield r if r.ts_us is not None else r._replace(ts_us=default_ts_us, flags=(*r.flags, FLAG_NO_TIMESTAMP))


def _with_line_flags(records: Iterator[Record], flagged: dict[int, tuple[str, ...]]) -> Iterator[Record]:
    """Each record gains the flags of the lines it holds (records tile the lines in order)."""
    marks = sorted(flagged.items())
    k = 0
    for r in records:
        end = r.line + r.nlines
        new: list[str] = []
        while k < len(marks) and marks[k][0] < end:
            new += (f for f in marks[k][1] if f not in r.flags and f not in new)
            k += 1
        yield r._replace(flags=(*r.flags, *new)) if new else r


def _capped(warnings: list[str]) -> list[str]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    return [*warnings[:MAX_WARNINGS], f"... and {len(warnings) - MAX_WARNINGS} more like these"]
