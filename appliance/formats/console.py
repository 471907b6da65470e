"""Console logs: devstack's ``2014-03-17 16:11:24.173 | msg``, Zuul's job-output
``2023-05-02 14:01:10.123456 | host | msg`` (the host stays in the message) and Jenkins'
``console.html``, whose HTML is reduced to the text a reader sees, line by line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

from ._common import FRAC, ISO_SEC, Warn, absent, assemble, compile_head, iso_clock, share
from .base import Context, Record

NAME = "console"
TAGS = ("console",)

_HEAD = compile_head(ISO_SEC + FRAC + r" \|(?: |$)" + absent("program", "pid", "level", "module"))
_TAG = re.compile(r"<[^>]*>")


def detect(sample: list[str], filename: str) -> float:
    return share(sample, _HEAD)


def is_html(lines: list[str], filename: str) -> bool:
    """By name (``console.html``), or an opening ``<pre>``/``<html>``/``<!DOCTYPE``."""
    if ".htm" in filename.lower():
        return True
    first = next((line for line in lines[:5] if line.strip()), "").lstrip().lower()
    return first.startswith(("<pre", "<html", "<!doctype"))


def visible(line: str) -> str:
    """The text a browser shows for one line of HTML: tags dropped, entities resolved."""
    if "<" in line:
        line = _TAG.sub("", line)
    if "&" in line:
        line = unescape(line)
    return line


def parse(lines: list[str], ctx: Context, warn: Warn | None = None) -> Iterator[Record]:
    if is_html(lines, ctx.filename):
        lines = [visible(x) if "<" in x or "&" in x else x for x in lines]
    return assemble(lines, ctx, _HEAD, iso_clock(ctx), None, warn)
