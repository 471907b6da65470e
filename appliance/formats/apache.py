"""Apache httpd logs: access logs in common/combined format
(``127.0.0.1 - - [27/Sep/2013:18:22:10 +0000] "GET / HTTP/1.1" 200 402 "-" "curl"``, the
zone in the line honoured) and error logs (``[Tue Mar 28 12:20:42.377230 2017] [core:error]
[pid 8526:tid 1] msg``, taken as UTC + ``ctx.utc_offset_s``). An access line's time is not
at its start, so its message is the whole line.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._common import MONTHS, Clock, Warn, absent, assemble, compile_head, hms, share, to_us
from .base import Context, Record

NAME = "apachecombined"
TAGS = ("apachecombined",)

_ACCESS = compile_head(
    # all looked ahead at: nothing consumed, the message is the whole line
    r'(?=\S+ \S+ \S+ \[(?P<sec>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] ")'
    + absent("frac", "program", "pid", "level", "module")
)
_ERROR = compile_head(
    # the whole time is the clock's key (its year follows the fraction): one entry a line
    r"\[(?P<sec>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})? \d{4})\] "
    + absent("frac", "program")
    # [module:level] [pid N:tid M], looked ahead at in the order of GROUPS
    + r"(?:(?=\[[^\]]*\] \[pid (?P<pid>\d+)))?"
    + r"(?:(?=\[(?:[^:\]\s]*:)?(?P<level>[a-z]+\d?)\]))?"
    + r"(?:(?=\[(?P<module>[^:\]\s]+):))?"
)
_LEVELS = {"warn": "WARNING", "crit": "CRITICAL", "emerg": "EMERGENCY"}


def _access_clock(ctx: Context) -> Clock:
    def clock(s: str) -> int | None:
        mon = MONTHS.get(s[3:6])
        if mon is None:
            return None
        zone = (int(s[22:24]) * 3600 + int(s[24:26]) * 60) * (-1 if s[21] == "-" else 1)
        return to_us(int(s[7:11]), mon, int(s[0:2]), hms(s, 12), zone)

    return clock


def _error_clock(ctx: Context) -> Clock:
    off = ctx.utc_offset_s

    def clock(s: str) -> int | None:
        mon = MONTHS.get(s[4:7])
        if mon is None:
            return None
        us = to_us(int(s[-4:]), mon, int(s[8:10]), hms(s, 11), off)
        if us is not None and s[19] == ".":
            frac = s[20:-5]
            us += int(frac) * 10 ** (6 - len(frac))
        return us

    return clock


def detect(sample: list[str], filename: str) -> float:
    return max(share(sample, _ACCESS), share(sample, _ERROR))


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    sample = lines[:200]
    if share(sample, _ACCESS) >= share(sample, _ERROR):
        return assemble(lines, ctx, _ACCESS, _access_clock(ctx), None, warn)
    return _upper_levels(assemble(lines, ctx, _ERROR, _error_clock(ctx), None, warn))


def _upper_levels(records: Iterator[Record]) -> Iterator[Record]:
    """``error`` -> ``ERROR``, ``warn`` -> ``WARNING``: the loglevel values oslo uses."""
    for r in records:
        level = r.loglevel
        yield r._replace(loglevel=_LEVELS.get(level, level.upper())) if level else r
