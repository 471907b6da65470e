"""``_search`` and ``_count``: a request body (and URL parameters) in, an ES 7 response out.

Hits are sorted by ``@timestamp`` only (newest first unless asked otherwise) and carry no
score; their text comes back from the archive, re-parsed (:func:`appliance.events.to_event`).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import tantivy

from appliance.events import to_event
from index import schema
from index.search import Fetched, Hit, Searcher

from . import cursor as cur
from .aggs import Aggregator
from .dsl import Compiler, check_keys, field_name
from .errors import bad_request, unsupported
from .highlight import Highlighter, highlighter
from .indices import Scope, index_name, resolve
from .params import HARMLESS_READ, flag, whole

BODY_KEYS = frozenset({"query", "size", "from", "sort", "_source", "track_total_hits", "highlight", "aggs",
                       "aggregations", "search_after", "timeout", "stored_fields", "docvalue_fields", "fields",
                       "version", "seq_no_primary_term", "post_filter", "track_scores", "explain"})  # fmt: skip
QUERY_PARAMS = frozenset({"q", "df", "default_operator"})
SEARCH_PARAMS = HARMLESS_READ | QUERY_PARAMS | {
    "size", "from", "sort", "scroll", "track_total_hits", "rest_total_hits_as_int", "typed_keys", "_source",
    "_source_includes", "_source_excludes", "track_scores", "version", "seq_no_primary_term", "stored_fields",
    "docvalue_fields", "explain"}  # fmt: skip
COUNT_PARAMS = HARMLESS_READ | QUERY_PARAMS
MAX_WINDOW = 10_000
"""Elasticsearch's ``index.max_result_window``: deeper pages use search_after or scroll."""


def query_of(comp: Compiler, body: Mapping[str, Any], params: Mapping[str, str]) -> tantivy.Query:
    """The body's ``query`` or the URL's ``q`` (Lucene, like ``query_string``)."""
    if "q" in params:
        if body.get("query") is not None:
            raise bad_request("request has both the [q] parameter and a body [query]")
        qs = {"query": params["q"], "default_operator": params.get("default_operator", "OR")}
        if "df" in params:
            qs["default_field"] = params["df"]
        return comp.compile({"query_string": qs})
    return comp.compile(body.get("query"))


def count(s: Searcher, index: str | None, body: Any, params: Mapping[str, str]) -> int:
    if not isinstance(body, dict):
        raise bad_request("the _count body must be an object", "parsing_exception")
    check_keys(body, {"query"}, "_count")
    scope = resolve(index, s.store.partitions.days())
    s.resolver.refresh()
    q = scope.restrict(query_of(Compiler(s.resolver), body, params))
    return 0 if scope.empty else s.count(q, start_us=scope.start_us, end_us=scope.end_us)


@dataclass
class Page:
    hits: list[Hit]
    total: int | None
    timed_out: bool
    sorts: list[list[Any]]


def search(s: Searcher, index: str | None, body: Any, params: Mapping[str, str], *, scroll: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    if not isinstance(body, dict):
        raise bad_request("the search body must be an object", "parsing_exception")
    check_keys(body, BODY_KEYS, "search")
    if body.get("explain") or flag(params.get("explain", "false")):
        raise unsupported("[explain]")
    scope = resolve(index, s.store.partitions.days())
    s.resolver.refresh()
    comp = Compiler(s.resolver)
    q = scope.restrict(query_of(comp, body, params))
    hits_q = q if body.get("post_filter") is None else tantivy.Query.boolean_query(
        [(tantivy.Occur.Must, q), (tantivy.Occur.Must, comp.compile(body["post_filter"], positive=False))])  # fmt: skip
    size = whole(params.get("size", body.get("size", 10)), "size", 0, MAX_WINDOW)
    offset = whole(params.get("from", body.get("from", 0)), "from", 0, MAX_WINDOW)
    if offset + size > MAX_WINDOW:
        raise bad_request(f"Result window is too large, from + size must be less than or equal to: [{MAX_WINDOW}]"
                          " (use search_after or scroll)")  # fmt: skip
    newest = newest_first(body.get("sort") if "sort" not in params else params["sort"].split(","))
    after = cur.Cursor.parse(body["search_after"]) if body.get("search_after") is not None else None
    if after is not None and offset:
        raise bad_request("[from] parameter must be set to 0 when [search_after] is used")
    if scroll and offset:
        raise bad_request("[from] is not allowed in a scroll context")
    tth = _track_total(params.get("track_total_hits", body.get("track_total_hits", True)))
    page = _page(s, scope, hits_q, size, offset, newest, after, tth is not False)
    hl = highlighter(body.get("highlight"), comp.highlight_terms())
    shape = _HitShape.of(body, params)
    hits = [shape.hit(f, sort, hl) for f, sort in zip(s.fetch(page.hits), page.sorts, strict=True)]
    days = max(1, len(scope.days))
    out: dict[str, Any] = {"took": 0, "timed_out": page.timed_out,
                           "_shards": {"total": days, "successful": days, "skipped": 0, "failed": 0},
                           "hits": {**_total(page.total, tth, params), "max_score": None, "hits": hits}}  # fmt: skip
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs is not None:
        agg = Aggregator(s, scope.start_us, scope.end_us, flag(params.get("typed_keys", "false")))
        out["aggregations"] = agg.run(aggs, q)
    out["took"] = int((time.perf_counter() - t0) * 1000)
    return out


def _total(total: int | None, tth: bool | int, params: Mapping[str, str]) -> dict[str, Any]:
    if tth is False or total is None:
        return {}
    if flag(params.get("rest_total_hits_as_int", "false")):
        return {"total": total}
    if tth is not True and total > tth:
        return {"total": {"value": tth, "relation": "gte"}}
    return {"total": {"value": total, "relation": "eq"}}


def _track_total(v: Any) -> bool | int:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return whole(v, "track_total_hits", 0)


def _page(s: Searcher, scope: Scope, q: tantivy.Query, size: int, offset: int, newest: bool,
          after: cur.Cursor | None, count: bool) -> Page:  # fmt: skip
    start, end = scope.start_us, scope.end_us
    if scope.empty:
        return Page([], 0 if count else None, False, [])
    lo, hi, skip = after.bounds(start, end, newest) if after else (start, end, 0)
    if not size or lo is not None and hi is not None and hi < lo:
        total = s.count(q, start_us=start, end_us=end) if count else None
        return Page([], total, False, [])
    res = s.search(q, start_us=lo, end_us=hi, limit=size, offset=offset + skip, newest_first=newest, count=count)
    total = res.total if count else None
    if count and after is not None:
        total = s.count(q, start_us=start, end_us=end)  # the whole query's, as ES reports it
    before = 0
    if offset and res.hits:
        t = res.hits[0].ts_us  # events of that microsecond that precede the page
        strictly = s.count(q, start_us=t + 1, end_us=hi) if newest else s.count(q, start_us=lo, end_us=t - 1)
        before = offset - strictly
    carry = after if after is not None and after.ts_us is not None else None
    return Page(res.hits, total, res.timed_out, cur.sort_values([h.ts_us for h in res.hits], carry, before))


def newest_first(sort: Any) -> bool:
    """Only ``@timestamp`` sorts (``_score`` and ``_doc`` are accepted and read as time)."""
    if sort is None:
        return True
    newest = True
    for it in sort if isinstance(sort, list) else [sort]:
        if isinstance(it, str):
            name, _, order = it.partition(":")
            opts: dict[str, Any] = {"order": order} if order else {}
        elif isinstance(it, dict) and len(it) == 1:
            name, spec = next(iter(it.items()))
            opts = spec if isinstance(spec, dict) else {"order": spec}
        else:
            raise bad_request("[sort] takes field names or {field: order} objects", "parsing_exception")
        check_keys(opts, {"order", "unmapped_type", "format", "numeric_type", "mode"}, "sort")
        if opts.get("mode") not in (None, "min", "max"):
            raise unsupported(f"[sort] mode [{opts['mode']}]")
        if name in ("_score", "_doc"):
            continue
        if field_name(name) not in schema.TIMESTAMP_ALIASES:
            raise unsupported(f"[sort] on [{name}] (hits sort on @timestamp only)")
        order = str(opts.get("order", "asc")).lower()
        if order not in ("asc", "desc"):
            raise bad_request(f"[sort] order [{order}] is neither asc nor desc", "parsing_exception")
        newest = order == "desc"
    return newest


# -- the hits ---------------------------------------------------------------------------------


@dataclass
class _HitShape:
    """What each hit carries: ``_source`` filtering, ``fields``, ``_version``..."""

    source: Callable[[dict[str, Any]], dict[str, Any] | None]
    fields: list[tuple[str, str | None]]
    version: bool
    seq_no: bool

    @classmethod
    def of(cls, body: Mapping[str, Any], params: Mapping[str, str]) -> _HitShape:
        spec = body.get("_source", None if body.get("stored_fields") is None else False)
        if "_source" in params:
            p = params["_source"]
            spec = flag(p) if p.lower() in ("true", "false") else p.split(",")
        if "_source_includes" in params or "_source_excludes" in params:
            spec = {"includes": _csv(params.get("_source_includes")), "excludes": _csv(params.get("_source_excludes"))}
        if body.get("stored_fields") == "_none_":
            spec = False
        wanted = [*_field_specs(body.get("docvalue_fields")), *_field_specs(body.get("fields"))]
        return cls(_source_filter(spec), wanted, _truthy(body, params, "version"), _truthy(body, params, "seq_no_primary_term"))

    def hit(self, f: Fetched, sort: list[Any], hl: Highlighter | None) -> dict[str, Any]:
        ev = to_event(f)
        eid, src = _identity(ev, f)
        h: dict[str, Any] = {"_index": index_name(f.hit.day), "_type": "_doc", "_id": eid, "_score": None}
        if self.version:
            h["_version"] = 1
        if self.seq_no:
            h["_seq_no"], h["_primary_term"] = 0, 1
        kept = self.source(src)
        if kept is not None:
            h["_source"] = kept
        if self.fields:
            h["fields"] = _fields(src, self.fields, sort[0])
        h["sort"] = sort
        if hl is not None:
            frags = hl(src.get("message", ""))
            if frags:
                h["highlight"] = {"message": frags}
        return h


def _truthy(body: Mapping[str, Any], params: Mapping[str, str], key: str) -> bool:
    return flag(params[key]) if key in params else bool(body.get(key))


def _csv(v: str | None) -> list[str]:
    return [x for x in (v or "").split(",") if x]


def _identity(ev: dict[str, Any], f: Fetched) -> tuple[str, dict[str, Any]]:
    """The hit's ``_id`` and ``_source``: a ``_bulk`` event keeps the id its client gave,
    and loses the line bookkeeping it never sent."""
    src = {k: v for k, v in ev.items() if k not in ("_id", "file_id")}
    eid = ev["_id"]
    if f.source is not None and f.source.info.get("format") == "ndjson":
        src.pop("line", None)
        src.pop("nlines", None)
        if f.lines:
            try:
                stored = orjson.loads(f.lines[0])
            except orjson.JSONDecodeError:
                stored = None
            if isinstance(stored, dict) and "_id" in stored:
                eid = str(stored["_id"])
    return eid, src


def _source_filter(spec: Any) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    if spec is None or spec is True:
        return lambda src: src
    if spec is False:
        return lambda src: None
    if isinstance(spec, str | list):
        inc, exc = spec, []
    elif isinstance(spec, dict):
        check_keys(spec, {"includes", "include", "excludes", "exclude"}, "_source")
        inc = spec.get("includes", spec.get("include")) or []
        exc = spec.get("excludes", spec.get("exclude")) or []
    else:
        raise bad_request(f"[_source] must be a boolean, a list or an object, not {spec!r}", "parsing_exception")
    inc_l = [inc] if isinstance(inc, str) else list(inc)
    exc_l = [exc] if isinstance(exc, str) else list(exc)
    if not all(isinstance(p, str) for p in inc_l + exc_l):
        raise bad_request("[_source] patterns must be strings", "parsing_exception")

    def keep(k: str) -> bool:
        return (not inc_l or any(_path_match(k, p) for p in inc_l)) and not any(_path_match(k, p) for p in exc_l)

    return lambda src: {k: v for k, v in src.items() if keep(k)}


def _path_match(key: str, pattern: str) -> bool:
    """ES source patterns: ``build_*``, and ``a`` also selects ``a.b``."""
    return fnmatch.fnmatchcase(key, pattern) or key.startswith(pattern + ".")


def _field_specs(v: Any) -> list[tuple[str, str | None]]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise bad_request("[fields] and [docvalue_fields] take a list", "parsing_exception")
    out = []
    for it in v:
        if isinstance(it, str):
            out.append((it, None))
        elif isinstance(it, dict) and isinstance(it.get("field"), str):
            check_keys(it, {"field", "format", "include_unmapped"}, "fields")
            out.append((it["field"], it.get("format")))
        else:
            raise bad_request(f"[fields] entry {it!r} is neither a name nor {{field, format}}", "parsing_exception")
    return out


def _fields(src: dict[str, Any], wanted: list[tuple[str, str | None]], ms: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for pattern, fmt in wanted:
        for k, v in src.items():
            if fnmatch.fnmatchcase(k, pattern):
                if k == "@timestamp" and fmt in ("epoch_millis", "epoch_second"):
                    v = str(ms if fmt == "epoch_millis" else ms // 1000)
                out[k] = v if isinstance(v, list) else [v]
    return out
