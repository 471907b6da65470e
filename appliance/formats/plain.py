"""The fallback: any text, one record per line, no time (the caller gives each the
build's start and FLAG_NO_TIMESTAMP)."""

from __future__ import annotations

from collections.abc import Iterator

from ._common import Warn
from .base import Context, Record

NAME = "plain"
TAGS: tuple[str, ...] = ()


def detect(sample: list[str], filename: str) -> float:
    return 0.01  # loses to any format that recognizes a single line


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    new = tuple.__new__
    for i, line in enumerate(lines):
        yield new(Record, (i, 1, None, line, None, None, None, None, ()))
