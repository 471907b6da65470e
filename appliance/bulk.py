"""Events that arrive as JSON documents (the ``_bulk`` API) become sources like files.

Documents of one request are grouped by their *source fields* (everything that is not an
event field); each group is one source whose archive blob is NDJSON, one event per line
(format :mod:`appliance.formats.ndjson`), so the viewer, context and hits work as for a
log file. The source key is the blob's hash: the same request replayed is stored once.
HTTP-free: the web layer parses the request and calls :func:`apply` in the writer thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from index import datemath
from index.archive import sha256
from index.partitions import day_of, day_start_us
from index.store import Store
from index.writer import Writer

EVENT_KEYS = ("message", "loglevel", "module", "pid", "syslog_program", "flags")
TIME_KEYS = ("@timestamp", "timestamp")
_DAY_IN_NAME = re.compile(r"(\d{4})[.\-](\d{2})[.\-](\d{2})$")


@dataclass
class Action:
    op: str
    index: str
    id: str | None
    doc: Any = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


class BulkError(ValueError):
    pass


def day_of_index(name: str) -> str | None:
    """``logstash-2014.11.25`` -> ``2014-11-25``."""
    m = _DAY_IN_NAME.search(name)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def parse_ndjson(body: bytes, default_index: str | None) -> list[Action]:
    """Action/document line pairs; a malformed pair becomes an action with an error."""
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    out: list[Action] = []
    i = 0
    while i < len(lines):
        try:
            meta = orjson.loads(lines[i])
        except orjson.JSONDecodeError as e:
            raise BulkError(f"line {i + 1}: malformed action: {e}") from None
        if not isinstance(meta, dict) or len(meta) != 1:
            raise BulkError(f"line {i + 1}: an action is an object with one key (index, create, ...)")
        op, params = next(iter(meta.items()))
        params = params if isinstance(params, dict) else {}
        index = params.get("_index") or default_index or ""
        act = Action(op, index, None if params.get("_id") is None else str(params.get("_id")))
        i += 1
        if op in ("index", "create", "update"):
            if i >= len(lines):
                act.error = "the action has no document line"
            else:
                try:
                    act.doc = orjson.loads(lines[i])
                except orjson.JSONDecodeError as e:
                    act.error = f"malformed document: {e}"
                i += 1
        out.append(act)
    return out


def _event_time(doc: dict[str, Any], index: str) -> int:
    for k in TIME_KEYS:
        if k in doc:
            v = doc[k]
            if isinstance(v, int | float) and not isinstance(v, bool):
                return int(v * 1000)
            if isinstance(v, str):
                return datemath.parse(v)
            raise ValueError(f"{k} is not a date: {v!r}")
    day = day_of_index(index)
    if day:
        return day_start_us(day)
    raise ValueError("the document has no @timestamp and the index name carries no day")


def _flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list):
            out[key] = [str(x) if not isinstance(x, str) else x for x in v if not isinstance(x, dict | list)]
        elif v is not None:
            out[key] = ("1" if v else "0") if isinstance(v, bool) else str(v)
    return out


@dataclass
class Group:
    """Events of one request that share their source fields: one source, one blob."""

    attrs: dict[str, Any]
    items: list[tuple[Action, dict[str, Any], int]] = field(default_factory=list)


def prepare(actions: list[Action]) -> list[Group]:
    """Validate and group (CPU only: runs in the request's thread, not the writer's)."""
    groups: dict[bytes, Group] = {}
    skip = {*EVENT_KEYS, *TIME_KEYS, "_id"}
    for act in actions:
        if act.error:
            continue
        if act.op not in ("index", "create"):
            act.error = f"the {act.op} action is not supported by the appliance (index and create are)"
            continue
        doc = act.doc
        if not isinstance(doc, dict):
            act.error = "the document must be a JSON object"
            continue
        try:
            ts = _event_time(doc, act.index)
        except ValueError as e:
            act.error = f"bad @timestamp: {e}"
            continue
        event = {k: doc[k] for k in EVENT_KEYS if doc.get(k) not in (None, "")}
        if "message" in event and not isinstance(event["message"], str):
            event["message"] = orjson.dumps(event["message"]).decode()
        event["ts"] = ts
        if act.id:
            event["_id"] = act.id
        rest = {k: v for k, v in doc.items() if k not in skip}
        key = orjson.dumps(rest, option=orjson.OPT_SORT_KEYS) + act.index.encode()
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(_flat(rest))
            g.attrs.setdefault("filename", f"bulk/{act.index or 'events'}")
        g.items.append((act, event, ts))
    return list(groups.values())


def write(store: Store, writer: Writer, groups: list[Group]) -> None:
    """Hand prepared groups to the writer (runs in the writer thread)."""
    for g in groups:
        _write_group(store, writer, g)


def apply(store: Store, writer: Writer, actions: list[Action]) -> list[Action]:
    write(store, writer, prepare(actions))
    return actions


_DAYS: dict[int, str] = {}


def _day(ts: int) -> str:
    """day_of with a cache: strftime per event cost a sixth of a bulk request."""
    k = ts // 86_400_000_000
    d = _DAYS.get(k)
    if d is None:
        d = _DAYS[k] = day_of(ts)
    return d


def _write_group(store: Store, writer: Writer, g: Group) -> None:
    group = g.items
    lines = [orjson.dumps(ev) for _, ev, _ in group]
    blob = b"\n".join(lines) + b"\n"
    sha = sha256(blob)
    # Identity = the events and their source fields: equal events under other fields are
    # another source; the same request replayed is the same one.
    key = "bulk/" + sha256(orjson.dumps(g.attrs, option=orjson.OPT_SORT_KEYS) + blob)
    prev = store.catalog.by_key(key)
    if prev is not None and prev.state == "done":
        sid = prev.id
    else:
        sid = store.catalog.reserve_ids(1)[0]
        store.archive.put(blob, sha)
        docs: dict[str, list[str]] = {}
        dumps = orjson.dumps
        for i, (_, ev, ts) in enumerate(group):
            d = {"message": ev.get("message", ""), "ts": ts, "file_id": sid, "line": i, "nlines": 1}
            for k in ("loglevel", "module", "pid", "syslog_program"):
                if k in ev:
                    d[k] = str(ev[k])
            if ev.get("flags"):
                d["flags"] = [str(x) for x in ev["flags"]] if isinstance(ev["flags"], list) else [str(ev["flags"])]
            docs.setdefault(_day(ts), []).append(dumps(d).decode())
        tss = [ts for _, _, ts in group]
        info = {"format": "ndjson", "lines": len(group), "events": len(group), "bytes": len(blob),
                "default_ts_us": min(tss), "year": datetime.fromtimestamp(min(tss) / 1e6, UTC).year}  # fmt: skip
        writer.add_source(sid, key, sha, g.attrs, info, docs, min(tss), max(tss))
    for i, (act, _, ts) in enumerate(group):
        act.result = {"_index": f"logstash-{_day(ts).replace('-', '.')}", "_id": act.id or f"{sid}-{i + 1}"}


def results(actions: list[Action]) -> dict[str, Any]:
    """The ``_bulk`` response body."""
    items = []
    for act in actions:
        if act.error:
            items.append({act.op: {"_index": act.index, "_id": act.id, "status": 400,
                                   "error": {"type": "illegal_argument_exception" if act.op in ("index", "create")
                                             else "action_request_validation_exception", "reason": act.error}}})  # fmt: skip
        else:
            items.append({act.op: {**act.result, "_version": 1, "result": "created", "status": 201,
                                   "_shards": {"total": 1, "successful": 1, "failed": 0},
                                   "_seq_no": 0, "_primary_term": 1}})  # fmt: skip
    return {"took": 0, "errors": any(a.error for a in actions), "items": items}


__all__ = ["Action", "BulkError", "Group", "apply", "parse_ndjson", "prepare", "results", "write", "day_of_index"]
