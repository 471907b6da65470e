"""The event schema: what Tantivy indexes per log record, and what lives per source file.

Two kinds of fields, measured on tantivy 0.27 (see README, design notes):

* **Event fields** change from record to record and go into each day's Tantivy index:
  ``message`` (full text, positions kept), the time ``ts`` (integer microseconds),
  the keyword fields of :data:`EVENT_KEYWORDS`, and where the record sits in its file
  (``file_id``, ``line``, ``nlines``). The keywords share one JSON field, :data:`KW`
  (``kw.loglevel``...): Tantivy keeps a one-byte norm per document for every text
  field, present or not, and five keyword fields cost 0.024x the raw bytes in norms
  alone; one field costs a fifth of that. :func:`indexed` names the Tantivy path.
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
"""Per-record keyword fields, matched exactly (not tokenized), each with a fast column
(top values, aggregations)."""

KW = "kw"
"""The JSON field holding the event keywords: ``{"kw": {"loglevel": "ERROR", ...}}``."""

_INDEXED = {name: f"{KW}.{name}" for name in EVENT_KEYWORDS}

NUMERIC_EVENT_FIELDS: tuple[str, ...] = (TS, FILE_ID, LINE, NLINES)

EVENT_FIELDS = frozenset((MESSAGE, *EVENT_KEYWORDS, *NUMERIC_EVENT_FIELDS, *TIMESTAMP_ALIASES))

_TOKEN_RE = re.compile(r"[^\W_]+")


def is_event_field(name: str) -> bool:
    """Whether ``name`` is indexed per event; every other field is a source field."""
    return name in EVENT_FIELDS


def indexed(name: str) -> str:
    """The Tantivy field (or JSON path) an event field is indexed under."""
    return _INDEXED.get(name, name)


def keyword_regex(name: str, regex: str) -> tuple[str, str]:
    """(field, pattern) of a regex over an event keyword's values: Tantivy's regex query
    does not take a JSON path, so it runs on the JSON field's terms, which are the path,
    a NUL, the value's type (``s``: string) and the value."""
    return KW, f"{name}\\x00s(?:{regex})"


def tokenize(text: str) -> list[str]:
    """The Python twin of the ``ci`` analyzer, for query terms and highlighting."""
    return [t for t in _TOKEN_RE.findall(text.lower()) if len(t.encode()) <= MAX_TOKEN_BYTES]


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(MESSAGE, stored=False, tokenizer_name=TOKENIZER, index_option="position")
    sb.add_json_field(KW, stored=False, fast=True, tokenizer_name="raw", index_option="basic")
    # Ranges on ts and line run on the fast columns; an inverted index of (nearly unique)
    # values would cost ~0.1x raw for nothing. file_id needs one: term sets and deletes.
    sb.add_integer_field(TS, indexed=False, fast=True)
    sb.add_unsigned_field(FILE_ID, indexed=True, fast=True)
    sb.add_unsigned_field(LINE, indexed=False, fast=True)
    sb.add_unsigned_field(NLINES, fast=True)
    return sb.build()


SCHEMA = build_schema()
"""One schema object shared by every partition (queries are built against it)."""

SCHEMA_VERSION = 2
"""Bump when :func:`build_schema` changes; ``appliance reindex`` rebuilds from the archive.
v2: the event keywords moved into the JSON field :data:`KW`."""


def register_tokenizers(index: tantivy.Index) -> None:
    """Must run after every ``Index()``/``Index.open``: tantivy-py does not persist analyzers."""
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES + 1))
        .build()
    )
    index.register_tokenizer(TOKENIZER, analyzer)
