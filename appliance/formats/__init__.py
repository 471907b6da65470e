"""Log formats: file bytes in, records out.

:func:`parse_file` is what ingest calls: :func:`decode` the bytes into lines (noting the
lines it had to cut or repair), :func:`detect` the format from the first lines, parse,
then give the records before the file's first timestamp the default time and the
records holding repaired lines their flags. Binary files never get here
(:func:`is_binary`).
"""

from __future__ import annotations

from bisect import bisect_right
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


def is_binary(data: bytes) -> bool:
    """NUL bytes, or mostly control characters, in the first 8 KiB."""
    head = data[:_BINARY_PROBE]
    if not head:
        return False
    if b"\0" in head:
        return True
    return len(head.translate(None, _TEXT_BYTES)) > 0.3 * len(head)


def decode(data: bytes) -> Decoded:
    """Lines of UTF-8 text: split on ``\\n``, one ``\\r`` before it dropped, invalid bytes
    replaced (U+FFFD, flag ``invalid_utf8``), lines past MAX_LINE_CHARS cut (``truncated``).
    A final ``\\n`` ends the last line rather than starting an empty one."""
    flagged: dict[int, tuple[str, ...]] = {}
    warnings: list[str] = []
    try:
        text = data.decode("utf-8")
        repaired = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        repaired = True
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif lines[-1].endswith("\r"):
        lines[-1] = lines[-1][:-1]
    if repaired:
        bad = [i for i, line in enumerate(lines) if "\ufffd" in line]
        for i in bad:
            flagged[i] = (FLAG_INVALID_UTF8,)
        if bad:
            more = f" ({len(bad)} lines in all)" if len(bad) > 1 else ""
            warnings.append(f"line {bad[0] + 1}: invalid UTF-8 replaced by U+FFFD{more}")
    if len(text) > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS:
        long = [i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS]
        for i in long:
            warnings.append(f"line {i + 1}: {len(lines[i])} characters, cut to {MAX_LINE_CHARS}")
            lines[i] = lines[i][:MAX_LINE_CHARS]
            flagged[i] = (*flagged.get(i, ()), FLAG_TRUNCATED)
        warnings[:] = _capped(warnings)
    return Decoded(lines, flagged, warnings)


def parse_file(
    data: bytes, filename: str, ctx: Context, fmt: ModuleType | None = None
) -> tuple[ModuleType, list[Record], list[str]]:
    """Decode, detect (unless ``fmt`` is given), parse; then fill in the default time and
    the per-line flags. Returns (format, records tiling the lines, one-line warnings)."""
    lines, flagged, warnings = decode(data)
    if fmt is None:
        fmt = detect(lines[:SAMPLE_LINES], filename)
    bad_ts: list[str] = []
    records = list(fmt.parse(lines, ctx, bad_ts.append))
    warnings.extend(_capped(bad_ts))
    _fill_default_time(records, ctx.default_ts_us)
    if flagged:
        _add_line_flags(records, flagged)
    return fmt, records, warnings


def _fill_default_time(records: list[Record], default_ts_us: int) -> None:
    for k, r in enumerate(records):
        if r.ts_us is None:
            records[k] = r._replace(ts_us=default_ts_us, flags=(*r.flags, FLAG_NO_TIMESTAMP))


def _add_line_flags(records: list[Record], flagged: dict[int, tuple[str, ...]]) -> None:
    starts = [r.line for r in records]
    for i, flags in sorted(flagged.items()):
        k = bisect_right(starts, i) - 1
        r = records[k]
        new = tuple(f for f in flags if f not in r.flags)
        if new:
            records[k] = r._replace(flags=(*r.flags, *new))


def _capped(warnings: list[str]) -> list[str]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    return [*warnings[:MAX_WARNINGS], f"... and {len(warnings) - MAX_WARNINGS} more like these"]
