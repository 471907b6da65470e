"""syslog: ``Jun  9 15:41:36 host prog[pid]: msg`` (no year: ``ctx.year``, rolling over
at New Year). The message keeps ``host prog[pid]: msg``. A Python traceback logged line
by line (same program and pid, same second) is one record.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._common import Warn, absent, assemble, compile_head, share, traceback_joins, yearless_clock
from .base import Context, Record

NAME = "syslog"
TAGS = ("syslog",)

SEC = r"(?P<sec>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)"
SOURCE = (
    # looked ahead at: the message keeps host, program and pid
    r"(?:(?=\S+ (?P<program>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: {oslo}))?"
)
"""``host prog[pid]: `` after the timestamp; ``{oslo}`` is where journal looks further."""

_HEAD = compile_head(
    SEC + absent("frac") + " " + SOURCE.format(oslo="") + absent("level", "module")
)


def detect(sample: list[str], filename: str) -> float:
    return share(sample, _HEAD)


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    return assemble(lines, ctx, _HEAD, yearless_clock(ctx), traceback_joins(), warn)
