"""oslo.log service logs (``screen-*.txt``): ``2013-09-27 18:22:10.245 2515 DEBUG nova.api.wsgi [req-..] msg``.

The pid is missing on some lines (2013's context-aware format). A line without a
timestamp continues the record above (HTTP and XML dumps, multi-line messages); the
devstack ``+ ...`` preamble before the first timestamp is one record per line. Tracebacks
are timestamped ERROR/TRACE lines merged by :func:`._common.oslo_joins`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._common import (
    FRAC,
    ISO_SEC,
    Warn,
    absent,
    assemble,
    compile_head,
    iso_clock,
    oslo_joins,
    share,
)
from .base import Context, Record

NAME = "oslofmt"
TAGS = ("oslofmt",)

LEVELS = ("DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL", "TRACE")

_HEAD = compile_head(
    ISO_SEC
    + FRAC
    + " "
    + absent("program")
    # the fields are looked ahead at, not consumed: the message keeps them (as written)
    + rf"(?:(?=(?:(?P<pid>\d+) )?(?P<level>{'|'.join(LEVELS)}) (?P<module>[^ ]+)))?"
)


def detect(sample: list[str], filename: str) -> float:
    return share(sample, _HEAD, "level")


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    return assemble(lines, ctx, _HEAD, iso_clock(ctx), oslo_joins, warn)
