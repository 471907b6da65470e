"""What a log format module provides, and the record it yields.

A format is recognized per file (never line by line) from a sample of its first lines; then
its ``parse`` turns the file's lines into records (Logstash's events). Adding a format is
adding one module to this package and one line to :data:`appliance.formats.FORMATS`.

A format module defines:

``NAME: str``
    the format's name, e.g. ``"oslofmt"``.
``TAGS: tuple[str, ...]``
    format tags added to every event of the file (``console``, ``oslofmt``, ``syslog``...).
``detect(sample: list[str], filename: str) -> float``
    confidence 0..1 that the sample (the first ~200 lines, already decoded) is this format.
``parse(lines: list[str], ctx: Context, warn: Callable[[str], None] | None = None) -> Iterator[Record]``
    records in file order, covering every line exactly once (no line silently dropped);
    ``warn`` gets one line per problem worth telling the operator (``"line 12: ..."``).

``parse`` is the ingest hot loop (hundreds of thousands of lines per second per core):
one compiled regex match per line, tuples rather than objects, no per-line function calls
that can be avoided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

MAX_LINE_CHARS = 1 << 20
"""A longer line is cut here (flag ``truncated``); the archive keeps it whole."""

MAX_EVENT_LINES = 2000
"""A multi-line record longer than this is split; the next part inherits the time
(flag ``split``)."""

# Flags an event can carry (the multi-valued ``flags`` keyword field).
FLAG_NO_TIMESTAMP = "no_timestamp"
"""The record precedes the file's first timestamp (or the file has none): it took the
build's start time (or the file's mtime)."""
FLAG_BAD_TIMESTAMP = "bad_timestamp"
"""A timestamp was there but did not parse; the record inherited the previous time."""
FLAG_TRUNCATED = "truncated"
FLAG_INVALID_UTF8 = "invalid_utf8"
FLAG_SPLIT = "split"


class Record(NamedTuple):
    """One event: a timestamped line plus its continuation lines."""

    line: int
    """0-based index of the record's first line in the file."""
    nlines: int
    ts_us: int | None
    """Microseconds since the epoch, UTC; None only when the caller must fill it in."""
    message: str
    """The record's text minus the leading timestamp (and a console's ``| ``); lines
    joined with ``\\n``."""
    loglevel: str | None = None
    module: str | None = None
    pid: str | None = None
    program: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """What a parser needs to know beyond the lines."""

    filename: str = ""
    default_ts_us: int = 0
    """For records before the first timestamp: the build's start (or the file's mtime)."""
    year: int = 1970
    """For formats whose timestamps carry no year (syslog, journal): the build's year."""
    utc_offset_s: int = 0
    """Timestamps in the logs are taken as UTC plus this offset (CI nodes log in UTC)."""
