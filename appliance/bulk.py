"""Events that arrive as JSON documents (the ``_bulk`` API) become sources like files.

The documents of one request are grouped by their *source fields* (everything that is
not an event field, plus the target index); each group is one source whose archive blob
is NDJSON, one event per line (format :mod:`appliance.formats.ndjson`), so the viewer,
context and hits work as for a log file. The source key is ``bulk/<index>/<hash of the
fields and the blob>``: the same request replayed is stored once.

HTTP-free, in two steps as the CLI's ingest is: :func:`prepare` (JSON, grouping,
archiving, source ids, the Tantivy documents and the response items) is CPU work that
runs anywhere — :func:`prepare_body` runs it in a worker process, so a serving process
uses every core; :func:`write` runs in the writer thread and only hands ready-made
documents to Tantivy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from index import datemath
from index.archive import sha256
from index.partitions import day_of, day_start_us
from index.store import Store
from index.writer import Writer

KEYWORD_KEYS = ("loglevel", "module", "pid", "syslog_program")
EVENT_KEYS = ("message", *KEYWORD_KEYS, "flags")
TIME_KEYS = ("@timestamp", "timestamp")
WRITE_OPS = ("index", "create")
_DAY_IN_NAME = re.compile(r"(\d{4})[.\-](\d{2})[.\-](\d{2})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class BulkError(ValueError):
    """The request as a whole is malformed (an action line): Elasticsearch's 400."""


@dataclass(slots=True)
class Action:
    """One item of a request: what to do, and after :func:`prepare`, where it went."""

    op: str
    index: str
    id: str | None
    doc: Any = None
    error: str | None = None
    error_type: str = "mapper_parsing_exception"
    group: _Group | None = None
    pos: int = 0


@dataclass(slots=True)
class Ready:
    """One source, ready for :meth:`Writer.add_source` (picklable: crosses processes)."""

    source_id: int
    key: str
    sha: str
    attrs: dict[str, Any]
    info: dict[str, Any]
    docs: dict[str, list[str]]
    first_ts: int
    last_ts: int
    replay: bool = False
    """Already stored by an identical earlier request: nothing to write."""


@dataclass(slots=True)
class Prepared:
    ready: list[Ready]
    items: bytes
    """The response's ``items`` array, serialized (ids are known before the write)."""
    errors: bool

    def response(self, took_ms: int) -> bytes:
        return b'{"took":%d,"errors":%s,"items":%s}' % (took_ms, b"true" if self.errors else b"false", self.items)


def day_of_index(name: str) -> str | None:
    """``logstash-2014.11.25`` -> ``2014-11-25``; None when the name carries no day."""
    m = _DAY_IN_NAME.search(name)
    if not m:
        return None
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return f"{m[1]}-{m[2]}-{m[3]}"


# -- parsing -----------------------------------------------------------------------------------


def parse_ndjson(body: bytes, default_index: str | None) -> list[Action]:
    """Action/document line pairs. A malformed action line fails the request (as in ES);
    a malformed document fails its item only."""
    lines = body.split(b"\n")
    out: list[Action] = []
    loads = orjson.loads
    cached_raw: bytes | None = None
    cached: tuple[str, str, str | None, dict[str, Any]] = ("", "", None, {})
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i]
        i += 1
        if raw != cached_raw:  # shippers repeat the same action line: parse it once
            if not raw or raw.isspace():
                continue
            cached_raw, cached = raw, _action_line(raw, i, default_index)
        op, index, _id, params = cached
        act = Action(op, index, _id)
        if op != "delete":  # index, create, update (and unknown ones) carry a document
            while i < n and (not lines[i] or lines[i].isspace()):
                i += 1
            if i >= n:
                act.error = "the action has no document line"
            else:
                try:
                    act.doc = loads(lines[i])
                except orjson.JSONDecodeError as e:
                    act.error = f"failed to parse the document: {e}"
                i += 1
        check_action(act, params)
        out.append(act)
    return out


def _action_line(raw: bytes, lineno: int, default_index: str | None) -> tuple[str, str, str | None, dict[str, Any]]:
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BulkError(f"Malformed action/metadata line [{lineno}]: {e}") from None
    if type(meta) is not dict or len(meta) != 1:
        raise BulkError(f"Malformed action/metadata line [{lineno}], expected an object with one key"
                        " (index, create, update or delete)")  # fmt: skip
    ((op, params),) = meta.items()
    if type(params) is not dict:
        raise BulkError(f"Malformed action/metadata line [{lineno}], expected an object after [{op}]")
    _id = params.get("_id")
    return op, params.get("_index") or default_index or "", None if _id is None else str(_id), params


def check_action(act: Action, params: dict[str, Any]) -> None:
    """Refuse, per item, what the appliance does not do (delete, update, pipelines)."""
    if act.error is not None:
        return
    if act.op not in WRITE_OPS:
        known = act.op in ("update", "delete")
        act.error = (f"the [{act.op}] action is not supported by the appliance (index and create are)" if known
                     else f"unknown action [{act.op}], expected one of [create, delete, index, update]")  # fmt: skip
        act.error_type = "illegal_argument_exception"
    elif "pipeline" in params:
        act.error, act.error_type = "ingest pipelines are not supported by the appliance", "illegal_argument_exception"
    elif not act.index:
        act.error, act.error_type = "index is missing", "action_request_validation_exception"


# -- preparing -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    index: str
    attrs: dict[str, Any]
    lines: list[bytes] = field(default_factory=list)
    """The events as archived: flat NDJSON, what the ``ndjson`` format parses back."""
    heads: list[bytes] = field(default_factory=list)
    """The events as Tantivy documents, keywords under ``kw``, without the closing brace."""
    ts: list[int] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    source_id: int = 0


_STORES: dict[str, Store] = {}


def prepare_body(data_dir: str, body: bytes, default_index: str | None) -> Prepared:
    """:func:`parse_ndjson` then :func:`prepare`: the entry point of a worker process."""
    store = _STORES.get(data_dir)
    if store is None:
        store = _STORES[data_dir] = Store(Path(data_dir), check_schema=False)
    return prepare(store, parse_ndjson(body, default_index))


def prepare(store: Store, actions: list[Action]) -> Prepared:
    """Group, archive, number and serialize: everything but the Tantivy write."""
    groups = _group(actions)
    fresh: list[tuple[_Group, Ready]] = []
    ready: list[Ready] = []
    for g in groups:
        blob = b"\n".join(g.lines) + b"\n"
        sha = sha256(blob)
        # Identity = the events and their fields: equal events under other fields are
        # another source; the same request replayed is the same one.
        key = f"bulk/{g.index}/" + sha256(orjson.dumps(g.attrs, option=orjson.OPT_SORT_KEYS) + sha.encode())
        first, last = min(g.ts), max(g.ts)
        info = {"format": "ndjson", "lines": len(g.lines), "events": len(g.lines), "bytes": len(blob),
                "default_ts_us": first, "year": int(_day(first)[:4])}  # fmt: skip
        r = Ready(0, key, sha, g.attrs, info, {}, first, last)
        prev = store.catalog.by_key(key)
        if prev is not None and prev.state == "done":
            g.source_id = r.source_id = prev.id
            r.replay = True
        else:
            store.archive.put(blob, sha)
            fresh.append((g, r))
        ready.append(r)
    for sid, (g, r) in zip(store.catalog.reserve_ids(len(fresh)) if fresh else (), fresh, strict=True):
        g.source_id = r.source_id = sid
        r.docs = _documents(g)
    items, errors = _items(actions)
    return Prepared(ready, items, errors)


def _group(actions: list[Action]) -> list[_Group]:
    """Validate each document and sort it into its source (the per-event hot loop)."""
    groups: dict[bytes, _Group] = {}
    dumps = orjson.dumps
    prev_rest: dict[str, Any] | None = None
    prev_index, prev_group = "", None
    for act in actions:
        if act.error is not None:
            continue
        doc = act.doc
        if type(doc) is not dict:
            act.error = "the document must be a JSON object"
            continue
        rest = doc  # parsed for this request only: taken apart in place
        pop = rest.pop
        raw_ts = pop("@timestamp", None)
        alt = pop("timestamp", None)
        if "_id" in rest:
            act.error = "Field [_id] is a metadata field and cannot be added inside a document"
            continue
        # line/nlines are the appliance's own bookkeeping (a _bulk event's place in its
        # source); as fields they would make every event its own source (a hit or a
        # cluster-bound event from another appliance carries them)
        pop("line", None)
        pop("nlines", None)
        try:
            ts = _event_time(raw_ts if raw_ts is not None else alt, act.index)
        except ValueError as e:
            act.error = f"failed to parse field [@timestamp]: {e}"
            continue
        ev: dict[str, Any] = {"ts": ts}
        msg = pop("message", None)
        if msg is not None:
            ev["message"] = msg if type(msg) is str else dumps(msg).decode()
        kw: dict[str, Any] = {}
        for k in KEYWORD_KEYS:
            v = pop(k, None)
            if v is not None and v != "":
                kw[k] = v if type(v) is str else _keyword(v)
        flags = pop("flags", None)
        if flags:
            kw["flags"] = [_keyword(x) for x in flags] if isinstance(flags, list) else [_keyword(flags)]
        if rest == prev_rest and act.index == prev_index:
            g = prev_group  # shippers send a file's events together: skip the key
        else:
            key = dumps(rest) + act.index.encode()
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group(act.index, _flat(rest))
                g.attrs.setdefault("filename", f"bulk/{act.index}")
            prev_rest, prev_index, prev_group = rest, act.index, g
        assert g is not None
        act.group, act.pos = g, len(g.lines)
        head = dumps(ev)[:-1]
        if kw:
            kwb = dumps(kw)
            line = b"%s,%s" % (head, kwb[1:])
            head = b'%s,"kw":%s' % (head, kwb)
        else:
            line = head + b"}"
        if act.id is not None:  # archived (a hit returns it), not indexed
            line = b'%s,"_id":%s}' % (line[:-1], dumps(act.id))
        g.lines.append(line)
        g.heads.append(head)
        g.ts.append(ts)
        g.days.append(_day(ts))
    return list(groups.values())


def _documents(g: _Group) -> dict[str, list[str]]:
    """The group's Tantivy documents per day: its archive lines plus where they sit."""
    docs: dict[str, list[str]] = {}
    tail = b',"file_id":%d,"nlines":1,"line":' % g.source_id
    for i, (head, day) in enumerate(zip(g.heads, g.days, strict=True)):
        bucket = docs.get(day)
        if bucket is None:
            bucket = docs[day] = []
        bucket.append(b"%s%s%d}" % (head, tail, i))  # type: ignore[arg-type]
    return {d: [x.decode() for x in v] for d, v in docs.items()}  # type: ignore[attr-defined]


def _items(actions: list[Action]) -> tuple[bytes, bool]:
    """The response's items, serialized directly: a dict per item cost as much as
    indexing the item."""
    parts = []
    errors = False
    ok_tail = (b',"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},'
               b'"_seq_no":0,"_primary_term":1,"status":201}}')  # fmt: skip
    for a in actions:
        g = a.group
        if a.error is not None or g is None:
            errors = True
            item = {"_index": a.index, "_id": a.id, "status": 400,
                    "error": {"type": a.error_type, "reason": a.error or "not indexed"}}  # fmt: skip
            parts.append(orjson.dumps({a.op: item}))
            continue
        eid = orjson.dumps(a.id) if a.id is not None else b'"%d-%d"' % (g.source_id, a.pos + 1)
        parts.append(b'{"%s":{"_index":"%s","_id":%s%s' % (a.op.encode(), _index_name(g.days[a.pos]), eid, ok_tail))
    return b"[" + b",".join(parts) + b"]", errors


def _keyword(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return v if isinstance(v, str) else orjson.dumps(v).decode() if isinstance(v, dict | list) else str(v)


def _event_time(v: Any, index: str) -> int:
    """Microseconds; ISO strings take the C fast path, the rest goes through ES date rules."""
    if type(v) is str:
        if v[4:5] == "-":  # ISO; digits alone are epoch milliseconds, as ES reads them
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                return datemath.parse(v)
            return ((dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)) - _EPOCH) // _US
        return datemath.parse(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return int(v * 1000)
    if v is None:
        day = day_of_index(index)
        if day:
            return day_start_us(day)
        raise ValueError("the document has no @timestamp and the index name carries no day")
    raise ValueError(f"not a date: {v!r}")


def _flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Source fields as the catalog keeps them: dotted names, strings and numbers, lists
    of scalars; booleans as ``1``/``0`` (``voting:1``, as Logstash had it)."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list):
            out[key] = [_keyword(x) for x in v if x is not None]
        elif isinstance(v, bool):
            out[key] = "1" if v else "0"
        elif isinstance(v, int | float | str):
            out[key] = v
    return out


_DAYS: dict[int, str] = {}


def _day(ts: int) -> str:
    """day_of with a cache: strftime per event cost a sixth of a bulk request."""
    k = ts // 86_400_000_000
    d = _DAYS.get(k)
    if d is None:
        d = _DAYS[k] = day_of(ts)
    return d


_NAMES: dict[str, bytes] = {}


def _index_name(day: str) -> bytes:
    name = _NAMES.get(day)
    if name is None:
        name = _NAMES[day] = ("logstash-" + day.replace("-", ".")).encode()
    return name


# -- writing (writer thread) -----------------------------------------------------------------


def write(store: Store, writer: Writer, ready: list[Ready]) -> None:
    """Hand prepared sources to the writer: one ``add_source`` each."""
    for r in ready:
        if r.replay:
            continue
        prev = store.catalog.by_key(r.key)
        if prev is not None and prev.state == "done":
            continue  # an identical request committed first
        writer.add_source(r.source_id, r.key, r.sha, r.attrs, r.info, r.docs, r.first_ts, r.last_ts)


__all__ = ["Action", "BulkError", "Prepared", "Ready", "check_action", "day_of_index", "parse_ndjson", "prepare",
           "prepare_body", "write"]  # fmt: skip
