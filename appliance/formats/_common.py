"""What the timestamped formats share: the record assembler, the clocks, the join rules.

Every timestamped format is one compiled pattern that matches a record's first line (its
*head*) and has exactly the groups :data:`GROUPS`, in that order (missing ones via
:func:`absent`, fields out of text order via lookaheads), so one ``m.groups()`` unpacks
any of them; the text after the match is the record's message. :func:`assemble` runs the
hot loop once for all of them: lines that do not match continue the open record, a clock
turns the ``sec`` group into microseconds (cached per distinct second: timestamps repeat),
and an optional ``joins`` rule merges heads into the open record (tracebacks). Multi-line
records are built only when they close, so a one-line record is one tuple built once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date

from .base import FLAG_BAD_TIMESTAMP, FLAG_SPLIT, MAX_EVENT_LINES, Context, Record

GROUPS = ("sec", "frac", "program", "pid", "level", "module")
"""The groups of every head pattern, in this order. ``sec``: the timestamp to the second
(the clock's cache key); ``frac``: its fraction digits (at most 6) or None."""

Clock = Callable[[str], "int | None"]
"""``sec`` text -> microseconds since the epoch UTC, or None when it is no valid time."""
Joins = Callable[[re.Match[str], re.Match[str], "int | None", "int | None"], bool]
"""(previous head, this head, their times) -> does this head continue the open record?"""
Warn = Callable[[str], None]

ISO_SEC = r"(?P<sec>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
FRAC_DIGITS = r"(?P<frac>\d{1,6})\d*"
FRAC = rf"(?:[.,]{FRAC_DIGITS})?"
"""An optional fraction of a second; digits past the microsecond are ignored."""
MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}  # fmt: skip

TRACEBACK_LEVELS = frozenset(("ERROR", "TRACE"))
"""oslo.log writes a traceback's lines with TRACE (up to 2015) or ERROR (since)."""
_LOGS_TRACEBACK = frozenset(("ERROR", "TRACE", "CRITICAL"))
"""Levels whose line can be followed by its traceback (``LOG.exception``, ``exc_info``)."""

_TB_HEADER = "Traceback (most recent call last):"
_SCALE = (0, 100_000, 10_000, 1_000, 100, 10, 1)
_MISS = object()
_CLOCK_CACHE = 1 << 16
"""Timestamps (to the second) whose value a parse remembers: a log of one line a second
over days would otherwise grow the cache by ~200 bytes a line."""
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS: dict[tuple[int, int, int], int | None] = {}
_HALF_YEAR_US = 183 * 86_400_000_000


def absent(*names: str) -> str:
    """Named groups that never match, so a pattern lacking a field still has all GROUPS."""
    return "".join(f"(?:(?P<{n}>(?!)))?" for n in names)


def compile_head(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """The ``match`` of a head pattern, checked to have exactly GROUPS, in order."""
    rx = re.compile(pattern, re.ASCII)
    if rx.groups != len(GROUPS) or [rx.groupindex.get(n) for n in GROUPS] != [1, 2, 3, 4, 5, 6]:
        raise ValueError(f"a head pattern has exactly the groups {GROUPS}, in order: {pattern}")
    return rx.match


# -- clocks ---------------------------------------------------------------------------------


def days(y: int, m: int, d: int) -> int | None:
    """Days since 1970-01-01, None for a date that does not exist (cached: dates repeat)."""
    key = (y, m, d)
    if key in _DAYS:
        return _DAYS[key]
    try:
        n: int | None = date(y, m, d).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        n = None
    if len(_DAYS) < 100_000:
        _DAYS[key] = n
    return n


def hms(s: str, at: int) -> int | None:
    """Seconds of the day from ``HH:MM:SS`` at ``s[at:]`` (digits already checked)."""
    h, m, sec = int(s[at : at + 2]), int(s[at + 3 : at + 5]), int(s[at + 6 : at + 8])
    if h > 23 or m > 59 or sec > 60:
        return None
    return h * 3600 + m * 60 + sec


def to_us(y: int, mon: int, d: int, day_s: int | None, offset_s: int) -> int | None:
    """A wall-clock time ``offset_s`` ahead of UTC -> microseconds since the epoch UTC."""
    n = days(y, mon, d)
    if n is None or day_s is None:
        return None
    return (n * 86_400 + day_s - offset_s) * 1_000_000


def iso_clock(ctx: Context) -> Clock:
    """``YYYY-MM-DD HH:MM:SS`` taken as UTC + ``ctx.utc_offset_s``."""
    off = ctx.utc_offset_s

    def clock(s: str) -> int | None:
        return to_us(int(s[0:4]), int(s[5:7]), int(s[8:10]), hms(s, 11), off)

    return clock


def yearless_clock(ctx: Context) -> Clock:
    """``Mon DD HH:MM:SS`` (syslog, journal) in ``ctx.year``, rolling over Dec -> Jan.

    Called once per distinct second in file order, so it can follow the year: a time half
    a year before the previous one is next year's; half a year after, last year's (a line
    out of order across the rollover). The first time is placed in the year before when
    it would be half a year after the build's start (a log that began on Dec 31), when
    that start is in ``ctx.year``.
    """
    year = ctx.year
    off = ctx.utc_offset_s
    start = to_us(year, 1, 1, 0, 0)
    anchor: int | None = ctx.default_ts_us
    if start is None or not start <= anchor < start + 2 * _HALF_YEAR_US:
        anchor = None
    last: int | None = None

    def clock(s: str) -> int | None:
        nonlocal year, last
        mon = MONTHS.get(s[0:3])
        if mon is None:
            return None
        d, t = int(s[4:6]), hms(s, 7)
        us = to_us(year, mon, d, t, off)
        if us is None:
            return None
        if last is None:
            if anchor is not None and us > anchor + _HALF_YEAR_US:
                year -= 1
                us = to_us(year, mon, d, t, off)
        elif us < last - _HALF_YEAR_US:
            year += 1
            us = to_us(year, mon, d, t, off)
        elif us > last + _HALF_YEAR_US:
            return to_us(year - 1, mon, d, t, off)
        if us is not None:
            last = us
        return us

    return clock


# -- join rules -----------------------------------------------------------------------------


def oslo_joins(
    prev: re.Match[str], cur: re.Match[str], prev_ts: int | None, ts: int | None
) -> bool:
    """Logstash's multiline rule: ERROR/TRACE lines of the same pid and the same timestamp
    text as the line before (the traceback of whatever that line logged) are one event."""
    level = cur[5]
    if level not in TRACEBACK_LEVELS:
        return False
    return (
        cur[1] == prev[1]  # sec
        and cur[2] == prev[2]  # frac
        and cur[4] == prev[4]  # pid
        and (level == "TRACE" or prev[5] in _LOGS_TRACEBACK)
    )


def traceback_joins(window_us: int = 1_000_000) -> Joins:
    """For syslog/journal heads of the same ``program[pid]`` less than ``window_us`` apart:
    a Python traceback written line by line (``Traceback (most recent call last):``, its
    indented frame lines, the exception line), or oslo's ERROR/TRACE lines. Each line has
    its own microseconds, so time is a window, not equality. Stateful (is the open record
    inside a traceback?): make one per parse."""
    inside = False  # the previous head was a frame line of a traceback begun earlier

    def joins(prev: re.Match[str], cur: re.Match[str], prev_ts: int | None, ts: int | None) -> bool:
        nonlocal inside
        was_inside, inside = inside, False
        if (
            ts is None
            or prev_ts is None
            or ts - prev_ts >= window_us
            or cur[3] != prev[3]  # program
            or cur[4] != prev[4]  # pid
        ):
            return False
        before = _body(prev)
        if before.startswith(_TB_HEADER) or (was_inside and before[:1].isspace()):
            inside = _body(cur)[:1].isspace()
            return True
        return cur[5] in TRACEBACK_LEVELS and prev[5] in _LOGS_TRACEBACK

    return joins


def _body(m: re.Match[str]) -> str:
    """The start of a syslog head's text after ``program[pid]: ``."""
    end = m.end(4)
    end = end + 3 if end >= 0 else m.end(3) + 2
    if end < 2:
        return ""
    return m.string[end : end + len(_TB_HEADER)]


# -- the assembler --------------------------------------------------------------------------


def assemble(
    lines: list[str],
    ctx: Context,
    match: Callable[[str], re.Match[str] | None],
    clock: Clock,
    joins: Joins | None = None,
    warn: Warn | None = None,
) -> Iterator[Record]:
    """Records of a timestamped format; see the module docstring. Lines before the first
    head are one record each with ``ts_us`` None (the caller fills in the default)."""
    new = tuple.__new__
    R = Record
    scale = _SCALE
    cache: dict[str, int | None] = {}
    get = cache.get
    miss = _MISS
    bad = (FLAG_BAD_TIMESTAMP,)
    rec: Record | None = None  # the open record, as its first line alone
    start = 0
    prev_m: re.Match[str] | None = None
    prev_ts: int | None = None
    for i, line in enumerate(lines):
        m = match(line)
        if m is None:
            if rec is None:
                yield new(R, (i, 1, None, line, None, None, None, None, ()))
            continue
        sec, frac, program, pid, level, module = m.groups()
        base = get(sec, miss)
        if base is miss:
            if len(cache) >= _CLOCK_CACHE:
                cache.clear()
            base = cache[sec] = clock(sec)
        if base is None:
            ts, flags = prev_ts, bad
            if warn is not None:
                warn(
                    _bad_ts_warning(
                        i, line[m.start("sec") : m.end("frac") if frac else m.end("sec")], prev_ts
                    )
                )
        else:
            ts = base + int(frac) * scale[len(frac)] if frac else base
            flags = ()
        if rec is not None:
            if joins is not None and joins(prev_m, m, prev_ts, ts):
                prev_m, prev_ts = m, ts
                continue
            if i - start == 1:
                yield rec
            else:
                yield from close(rec, lines, i)
        rec = new(R, (i, 1, ts, line[m.end() :], level, module, pid, program, flags))
        start, prev_m, prev_ts = i, m, ts
    if rec is not None:
        yield from close(rec, lines, len(lines))


def close(rec: Record, lines: list[str], end: int) -> tuple[Record, ...] | list[Record]:
    """The open record grown to ``lines[rec.line:end]``; split past MAX_EVENT_LINES (every
    part flagged, later parts inherit the time and fields and keep their text whole)."""
    start = rec.line
    n = end - start
    if n == 1:
        return (rec,)
    if n <= MAX_EVENT_LINES:
        return (
            rec._replace(nlines=n, message=rec.message + "\n" + "\n".join(lines[start + 1 : end])),
        )
    flags = (*rec.flags, FLAG_SPLIT)
    parts = []
    for s in range(start, end, MAX_EVENT_LINES):
        e = min(s + MAX_EVENT_LINES, end)
        if s == start:  # at least one continuation line: n > MAX_EVENT_LINES >= 2
            msg = rec.message + "\n" + "\n".join(lines[s + 1 : e])
        else:
            msg = "\n".join(lines[s:e])
        parts.append(rec._replace(line=s, nlines=e - s, message=msg, flags=flags))
    return parts


def _bad_ts_warning(i: int, text: str, prev_ts: int | None) -> str:
    then = "inherited previous time" if prev_ts is not None else "no earlier time, took the default"
    return f"line {i + 1}: timestamp {text!r} does not parse; {then}"


# -- detection ------------------------------------------------------------------------------


def share(
    sample: list[str], match: Callable[[str], re.Match[str] | None], group: str | None = None
) -> float:
    """Fraction of the sample's non-blank lines that are heads (with ``group`` set)."""
    total = hits = 0
    for line in sample:
        if not line.strip():
            continue
        total += 1
        m = match(line)
        if m is not None and (group is None or m[group] is not None):
            hits += 1
    return hits / total if total else 0.0
