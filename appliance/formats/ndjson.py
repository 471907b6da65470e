"""Events that arrived as JSON (the ``_bulk`` API): one JSON object per line.

The archive keeps what a client sent, one event per line; parsing it back gives the
same fields, so the viewer, context lines and hits work as for any log file. Never
auto-detected: only sources written by :mod:`appliance.bulk` use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from ._common import Warn
from .base import Context, Record

NAME = "ndjson"
TAGS: tuple[str, ...] = ()


def detect(sample: list[str], filename: str) -> float:
    return 0.0


def _s(v: object) -> str | None:
    return None if v is None or v == "" else str(v)


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    for i, line in enumerate(lines):
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            d = None
        if not isinstance(d, dict):
            yield Record(i, 1, None, line)
            continue
        ts = d.get("ts")
        yield Record(
            i, 1, ts if isinstance(ts, int) else None, str(d.get("message", "")),
            _s(d.get("loglevel")), _s(d.get("module")), _s(d.get("pid")), _s(d.get("syslog_program")),
            tuple(d.get("flags") or ()),
        )  # fmt: skip
