"""Log lines as HTML for the viewer and the context page: escaped, anchored, level-coloured.

Levels come from a regex on each line (the files are shown as written, not as parsed);
a line with no timestamp continues the record above it and takes its level, so hiding
DEBUG hides a whole DEBUG record. Tracebacks (``Traceback (most recent call last)`` and
the lines that share its prefix, or its indented continuation) get the class ``tb`` so
CSS draws them as one block. The classifier keeps its state across streamed chunks.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator

_TS = re.compile(r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d)")
_TS_FULL = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*"
)
_LEVEL = re.compile(r"\b(DEBUG|INFO|AUDIT|WARNING|WARN|ERROR|TRACE|CRITICAL|FATAL)\b")
LEVEL_CLASS = {
    "DEBUG": "d", "INFO": "i", "AUDIT": "i", "WARNING": "w", "WARN": "w",
    "ERROR": "e", "TRACE": "t", "CRITICAL": "c", "FATAL": "c",
}  # fmt: skip
LEVEL_SCAN = 160
"""A level keyword counts only near the start of a line (in the record's prefix)."""


class Classifier:
    """CSS classes of successive lines of one file."""

    def __init__(self) -> None:
        self.level = "n"
        self.tb_prefix: str | None = None
        """The open traceback's logging prefix ("" for a bare one), None outside one."""
        self.tb_body = ""
        """The prefix without its timestamp (journal and console lines each have their own)."""
        self.tb_indent = 0
        """Whitespace between the prefix and "Traceback": frames are indented deeper."""
        self.tb_open = False
        """The traceback still waits for its exception line."""

    def classify(self, text: str) -> str:
        has_ts = _TS.match(text) is not None
        if has_ts:  # a new record: its level holds for its continuation lines
            m = _LEVEL.search(text, 0, LEVEL_SCAN)
            cls = self.level = LEVEL_CLASS[m.group(1)] if m else "n"
        elif self.level != "n":
            cls = self.level
        else:  # no record around (a plain file): the line's own level, if it names one
            m = _LEVEL.search(text, 0, LEVEL_SCAN)
            cls = LEVEL_CLASS[m.group(1)] if m else "n"
        in_tb = self.tb_prefix is not None and self._continues(text)
        if not in_tb:
            self.tb_prefix = None
        pos = text.find("Traceback (most recent call last)")
        if pos >= 0:
            self.tb_prefix = text[:pos].rstrip()
            self.tb_indent = pos - len(self.tb_prefix)
            self.tb_body = _TS_FULL.sub("", self.tb_prefix, count=1)
            self.tb_open = True
            return f"{cls} tb tb0"
        return f"{cls} tb" if in_tb else cls

    def _continues(self, text: str) -> bool:
        """Whether ``text`` is still part of the open traceback: it repeats the prefix of
        the ``Traceback`` line (oslo.log logs every line with it), or, after its own
        timestamp, the same source (journal, console) followed by an indented frame or
        the exception line."""
        if self.tb_prefix and text.startswith(self.tb_prefix):
            return True
        body = _TS_FULL.sub("", text, count=1)
        if not body.startswith(self.tb_body):
            return False
        body = body[len(self.tb_body) :]
        if not body.strip():
            return False
        if len(body) - len(body.lstrip(" \t")) > self.tb_indent:  # a frame, deeper than "Traceback"
            return True
        if self.tb_open:
            self.tb_open = False
            return True
        return False


def line_html(n: int, text: str, cls: str, href: str = "") -> str:
    """One line; ``href`` (already URL-safe) prefixes the anchor link (another page's log)."""
    return f'<div class="{cls}" id="L{n}"><a href="{href}#L{n}">{n}</a>{html.escape(text, False)}</div>\n'


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


def render_lines(
    lines: Iterable[bytes | str],
    first: int = 1,
    classifier: Classifier | None = None,
    *,
    href: str = "",
    marked: range = range(0),
) -> str:
    """HTML for consecutive lines numbered from ``first`` (1-based); ``marked`` line
    numbers get the class ``hit``."""
    c = classifier or Classifier()
    out = []
    for i, raw in enumerate(lines):
        text = decode(raw) if isinstance(raw, bytes) else raw
        cls = c.classify(text)
        n = first + i
        out.append(line_html(n, text, f"{cls} hit" if n in marked else cls, href))
    return "".join(out)


CHUNK_LINES = 1000
"""Lines per ``<section class="chunk">``: the browser lays out only the chunks on screen
(CSS ``content-visibility: auto``), so a 50 MB log is usable before it is all laid out."""


def stream_lines(chunks: Iterable[bytes], chunk_lines: int = CHUNK_LINES) -> Iterator[str]:
    """HTML of a whole file from its raw chunks (which may cut lines anywhere); the
    output does not depend on where the chunks were cut."""
    c = Classifier()
    n = 1
    pending: list[bytes] = []
    for line in lines_of(chunks):
        pending.append(line)
        if len(pending) == chunk_lines:
            yield f'<section class="chunk">{render_lines(pending, n, c)}</section>\n'
            n += len(pending)
            pending = []
    if pending:
        yield f'<section class="chunk">{render_lines(pending, n, c)}</section>\n'


LEVEL_NAME = {"d": "DEBUG", "i": "INFO", "w": "WARNING", "e": "ERROR", "t": "TRACE", "c": "CRITICAL"}


def lines_of(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The raw lines of a file from chunks that may cut lines anywhere."""
    carry = b""
    for chunk in chunks:
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry


def json_lines(chunks: Iterable[bytes], start: int, count: int) -> tuple[list[dict[str, object]], bool]:
    """Lines ``start``..``start+count-1`` (1-based) as the page shows them: text, level
    (carried over a record's continuation lines, as coloured), inside a traceback or not.
    Classifying needs every line before ``start``; returns (lines, whether more follow)."""
    c = Classifier()
    out: list[dict[str, object]] = []
    for n, raw in enumerate(lines_of(chunks), 1):
        if n >= start + count:
            return out, True
        text = decode(raw)
        cls = c.classify(text)
        if n >= start:
            level, *rest = cls.split()
            out.append({"n": n, "text": text, "level": LEVEL_NAME.get(level), "traceback": "tb" in rest})
    return out, False
