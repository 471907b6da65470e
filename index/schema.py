"""The event schema: what Tantivy indexes per log record, and what lives per source file.

Two kinds of fields, measured on tantivy 0.27 (see README, design notes):

* **Event fields** change from record to record and go into each day's Tantivy index:
  ``message`` (full text, positions kept), the time ``ts`` (integer microseconds),
  the keyword fields of :data:`EVENT_KEYWORDS`, and where the record sits in its file
  (``file_id``, ``line``, ``nlines``).
* **Source fields** are the same for every record of a file (``build_*``, ``filename``,
  ``tags``, ``project``...). Repeating ~20 of them per record cost 2.5x ingest throughput
  and +35% index size, so they live once per file in the catalog (SQLite) and a query on
  them becomes a set of ``file_id`` values (see :mod:`index.query`).

Nothing is stored in Tantivy's docstore: a hit's text is read back from the zstd archive.
"""

from __future__ import annotations

import re

import tantivy

TOKENIZER = "ci"
"""Lowercase runs of letters and digits; tokens longer than :data:`MAX_TOKEN_BYTES` dropped."""

MAX_TOKEN_BYTES = 255

MESSAGE = "message"
TS = "ts"
"""Event time, integer microseconds since the Unix epoch (UTC)."""
TIMESTAMP_ALIASES = ("@timestamp", "timestamp", TS)
FILE_ID = "file_id"
LINE = "line"
NLINES = "nlines"

EVENT_KEYWORDS: tuple[str, ...] = ("loglevel", "module", "pid", "syslog_program", "flags")
"""Per-record keyword fields, matched exactly (not tokenized)."""

FAST_KEYWORDS = frozenset({"loglevel", "module", "syslog_program", "flags"})
"""Event keywords with a fast column, for top-values and aggregations."""

NUMERIC_EVENT_FIELDS: tuple[str, ...] = (TS, FILE_ID, LINE, NLINES)

EVENT_FIELDS = frozenset((MESSAGE, *EVENT_KEYWORDS, *NUMERIC_EVENT_FIELDS, *TIMESTAMP_ALIASES))

_TOKEN_RE = re.compile(r"[^\W_]+")


def is_event_field(name: str) -> bool:
    """Whether ``name`` is indexed per event; every other field is a source field."""
    return name in EVENT_FIELDS


def tokenize(text: str) -> list[str]:
    """The Python twin of the ``ci`` analyzer, for query terms and highlighting."""
    return [t for t in _TOKEN_RE.findall(text.lower()) if len(t.encode()) <= MAX_TOKEN_BYTES]


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(MESSAGE, stored=False, tokenizer_name=TOKENIZER, index_option="position")
    for name in EVENT_KEYWORDS:
        sb.add_text_field(
            name, stored=False, fast=name in FAST_KEYWORDS, tokenizer_name="raw", index_option="basic"
        )
    # Ranges on ts and line run on the fast columns; an inverted index of (nearly unique)
    # values would cost ~0.1x raw for nothing. file_id needs one: term sets and deletes.
    sb.add_integer_field(TS, indexed=False, fast=True)
    sb.add_unsigned_field(FILE_ID, indexed=True, fast=True)
    sb.add_unsigned_field(LINE, indexed=False, fast=True)
    sb.add_unsigned_field(NLINES, fast=True)
    return sb.build()


SCHEMA = build_schema()
"""One schema object shared by every partition (queries are built against it)."""

SCHEMA_VERSION = 1
"""Bump when :func:`build_schema` changes; ``appliance reindex`` rebuilds from the archive."""


def register_tokenizers(index: tantivy.Index) -> None:
    """Must run after every ``Index()``/``Index.open``: tantivy-py does not persist analyzers."""
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES + 1))
        .build()
    )
    index.register_tokenizer(TOKENIZER, analyzer)
