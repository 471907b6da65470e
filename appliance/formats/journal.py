"""systemd journal exports (``journalctl -o short-precise``), as devstack writes its
``devstack@*.service.log.txt`` and, since 2017, ``screen-*.txt``:
``Mar 28 12:20:42.377230 host cinder-api[8526]: WARNING cinder.api.x [req-...] msg``.

syslog with microseconds; when the text is oslo.log's (``LEVEL module``), level and
module are fields too. No format tags: the same shape holds service logs and the system
log, so the file list's tags (``screen``/``oslofmt`` or ``syslog``) say which.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import oslo, syslog
from ._common import (
    FRAC_DIGITS,
    Warn,
    assemble,
    compile_head,
    share,
    traceback_joins,
    yearless_clock,
)
from .base import Context, Record

NAME = "journal"
TAGS: tuple[str, ...] = ()

_OSLO = rf"(?:(?P<level>{'|'.join(oslo.LEVELS)}) (?P<module>[^ ]+))?"
_HEAD = compile_head(syslog.SEC + r"\." + FRAC_DIGITS + " " + syslog.SOURCE.format(oslo=_OSLO))


def detect(sample: list[str], filename: str) -> float:
    return share(sample, _HEAD)


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    return assemble(lines, ctx, _HEAD, yearless_clock(ctx), traceback_joins(), warn)
