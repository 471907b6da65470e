"""Hits back into events: the Logstash-shaped documents users and APIs see.

The index stores no text; an event is rebuilt from its lines in the archive, parsed
again with its file's format (so ``message``, ``loglevel``, ``module``, ``pid`` are
exactly what was indexed), plus the file's source fields from the catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from index.search import Fetched

from . import formats
from .formats.base import Context

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ts_us: int) -> str:
    """ISO 8601 with microseconds, as Elasticsearch prints ``@timestamp``."""
    return (_EPOCH + timedelta(microseconds=ts_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_id(file_id: int, line: int) -> str:
    return f"{file_id}-{line + 1}"


def parse_event_id(eid: str) -> tuple[int, int]:
    """``"<file_id>-<line>"`` -> (file_id, 0-based line); ValueError if malformed."""
    fid, _, line = eid.partition("-")
    f, n = int(fid), int(line) - 1
    if f < 0 or n < 0:
        raise ValueError(eid)
    return f, n


def to_event(f: Fetched) -> dict[str, Any]:
    h, src = f.hit, f.source
    ev: dict[str, Any] = {"@timestamp": iso(h.ts_us)}
    message = "\n".join(b.decode("utf-8", "replace") for b in f.lines)
    if src is not None:
        fmt = formats.by_name(src.info.get("format", "plain"))
        ctx = Context(filename=src.attrs.get("filename", ""), default_ts_us=h.ts_us, year=int(iso(h.ts_us)[:4]))
        _, records, _ = formats.parse_file(b"\n".join(f.lines), ctx.filename, ctx, fmt=fmt)
        if records:
            r = records[0]
            message = "\n".join(x.message for x in records)
            for name, value in (
                ("loglevel", r.loglevel), ("module", r.module), ("pid", r.pid), ("syslog_program", r.program)
            ):
                if value:
                    ev[name] = value
        ev.update(src.attrs)
    ev["message"] = message if f.error is None else f"[{f.error}]"
    ev["line"] = h.line + 1
    ev["nlines"] = h.nlines
    ev["file_id"] = h.file_id
    ev["_id"] = event_id(h.file_id, h.line)
    return ev
