"""The part of the Elasticsearch REST API that log shippers, clients and scripts use.

Reads are public; writes need the configured token (Bearer, or basic auth with the token
as password) — with no token configured, writes are accepted from loopback only. Every
error is Elasticsearch-shaped; nothing outside the subset is silently ignored.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from appliance import bulk
from appliance.events import to_event
from appliance.service import Busy
from index import schema
from index.partitions import day_start_us
from index.search import Searcher

from ..es.aggs import Aggregator
from ..es.dsl import Compiler
from ..es.errors import ES_HEADERS, EsError
from ..highlight import highlight_text
from ..services import services

MAX_BODY = 100 * 1024 * 1024
VERSION = {"number": "7.10.2", "build_flavor": "default", "build_type": "tar", "lucene_version": "8.7.0",
           "minimum_wire_compatibility_version": "6.8.0", "minimum_index_compatibility_version": "6.0.0-beta1",
           "build_hash": "appliance", "build_date": "2024-01-01T00:00:00Z", "build_snapshot": False}  # fmt: skip
SEARCH_KEYS = {"query", "size", "from", "sort", "_source", "track_total_hits", "highlight", "aggs", "aggregations",
               "search_after", "timeout", "stored_fields", "docvalue_fields", "version", "seq_no_primary_term"}  # fmt: skip

Handler = Callable[[Request], Awaitable[Response]]


def es(handler: Handler) -> Handler:
    """ES-shaped errors for everything a handler raises; never a traceback."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except EsError as e:
            return e.response()
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as e:
            # A body of the wrong shape (``"_source": 0``, ``"sort": 5``...) that no check
            # above caught: the client's mistake, said as such, never a 500.
            return EsError(400, "illegal_argument_exception",
                           f"malformed request: {type(e).__name__}: {str(e)[:200]}").response()  # fmt: skip
        except Busy as e:
            return EsError(429, "es_rejected_execution_exception", str(e),
                           {"Retry-After": str(e.retry_after)}).response()  # fmt: skip
        except Exception as e:  # noqa: BLE001
            return EsError(500, "exception", f"internal error: {type(e).__name__}").response()

    wrapped.__name__ = handler.__name__
    return wrapped


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=ES_HEADERS)


async def _json_body(request: Request) -> Any:
    raw = await _raw_body(request)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise EsError(400, "parse_exception", f"request body is not valid JSON: {e}") from None


async def _raw_body(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise EsError(413, "content_too_long_exception", f"request body over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise EsError(413, "content_too_long_exception", f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _authorize_write(request: Request) -> None:
    token = services(request).config.token
    if not token:
        host = request.client.host if request.client else ""
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise EsError(403, "security_exception", "writes are accepted from loopback only (no token is configured)")
    auth = request.headers.get("authorization", "")
    given = ""
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    elif auth.lower().startswith("basic "):
        try:
            given = base64.b64decode(auth[6:].strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            given = ""
    elif auth.lower().startswith("apikey "):
        given = auth[7:].strip()
    if not given or not secrets.compare_digest(given.encode(), token.encode()):
        raise EsError(401, "security_exception", "missing or wrong token for a write",
                      {"WWW-Authenticate": 'Bearer realm="appliance"'})  # fmt: skip


# -- index names -> time ranges -------------------------------------------------------------


def _range_of(index: str | None, s: Searcher) -> tuple[int | None, int | None, list[str]]:
    """The days an index expression names (``logstash-2014.11.25``, ``logstash-*``, lists)."""
    days = s.store.partitions.days()
    if not index or index in ("_all", "*"):
        return None, None, days
    picked: set[str] = set()
    for part in index.split(","):
        part = part.strip()
        if part in ("_all", "*"):
            picked |= set(days)
            continue
        names = {d: f"logstash-{d.replace('-', '.')}" for d in days}
        picked |= {d for d, n in names.items() if fnmatch.fnmatchcase(n, part)}
        day = bulk.day_of_index(part)
        if day and "*" not in part:
            picked.add(day)
    if not picked:
        return 0, -1, []
    lo, hi = min(picked), max(picked)
    return day_start_us(lo), day_start_us(hi) + 86_400_000_000 - 1, sorted(picked)


# -- cluster and index metadata ---------------------------------------------------------------


@es
async def root(request: Request) -> Response:
    if request.method == "HEAD":
        return Response(status_code=200, headers=ES_HEADERS)
    return ok({"name": "appliance", "cluster_name": "ci-log-appliance", "cluster_uuid": "appliance",
               "version": VERSION, "tagline": "You Know, for Search"})  # fmt: skip


@es
async def health(request: Request) -> Response:
    n = len(services(request).store.partitions.days())
    return ok({"cluster_name": "ci-log-appliance", "status": "green", "timed_out": False, "number_of_nodes": 1,
               "number_of_data_nodes": 1, "active_primary_shards": n, "active_shards": n, "relocating_shards": 0,
               "initializing_shards": 0, "unassigned_shards": 0, "active_shards_percent_as_number": 100.0})  # fmt: skip


def _indices(request: Request) -> list[dict[str, Any]]:
    store = services(request).store
    rows = []
    for d in store.partitions.days():
        try:
            docs = store.partitions.searcher(d).num_docs
            health_ = "green"
        except Exception:  # noqa: BLE001 - a broken day is listed red, not fatal
            docs, health_ = 0, "red"
        rows.append({"health": health_, "status": "open", "index": f"logstash-{d.replace('-', '.')}",
                     "uuid": d, "pri": "1", "rep": "0", "docs.count": str(docs), "docs.deleted": "0",
                     "store.size": str(store.partitions.size(d)), "pri.store.size": str(store.partitions.size(d))})  # fmt: skip
    return rows


@es
async def cat_indices(request: Request) -> Response:
    rows = await run_in_threadpool(_indices, request)
    if request.query_params.get("format") == "json":
        return ok(rows)
    cols = ["health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size"]
    lines = [" ".join(cols)] if "v" in request.query_params else []
    lines += [" ".join(r[c] for c in cols) for r in rows]
    return PlainTextResponse("\n".join(lines) + "\n", headers=ES_HEADERS)


@es
async def index_meta(request: Request) -> Response:
    index = request.path_params["index"]
    if request.method == "PUT":
        _authorize_write(request)
        await _raw_body(request)
        return ok({"acknowledged": True, "shards_acknowledged": True, "index": index})
    s = services(request).searcher
    _, _, named = _range_of(index, s)
    days = [d for d in named if d in set(s.store.partitions.days())]
    if not days:
        if request.method == "HEAD":
            return Response(status_code=404, headers=ES_HEADERS)
        raise EsError(404, "index_not_found_exception", f"no such index [{index}]")
    if request.method == "HEAD":
        return Response(status_code=200, headers=ES_HEADERS)
    return ok({f"logstash-{d.replace('-', '.')}": {"aliases": {}, "mappings": {}, "settings": {}} for d in days})


@es
async def template(request: Request) -> Response:
    if request.method in ("PUT", "POST"):
        _authorize_write(request)
        await _raw_body(request)
        return ok({"acknowledged": True})
    return ok({})


# -- writes ---------------------------------------------------------------------------------


async def _write(request: Request, actions: list[bulk.Action]) -> list[bulk.Action]:
    svc = services(request)
    groups = await run_in_threadpool(bulk.prepare, actions)  # parsing stays off the writer thread
    fut = svc.ingest.submit(lambda w: bulk.write(svc.store, w, groups))
    await run_in_threadpool(fut.result, 120)
    return actions


@es
async def bulk_api(request: Request) -> Response:
    _authorize_write(request)
    raw = await _raw_body(request)
    try:
        actions = await run_in_threadpool(bulk.parse_ndjson, raw, request.path_params.get("index"))
    except bulk.BulkError as e:
        raise EsError(400, "illegal_argument_exception", str(e)) from None
    t0 = time.perf_counter()
    done = await _write(request, actions) if actions else []
    body = bulk.results(done)
    body["took"] = int((time.perf_counter() - t0) * 1000)
    return ok(body)


@es
async def doc_api(request: Request) -> Response:
    _authorize_write(request)
    doc = await _json_body(request)
    act = bulk.Action("index", request.path_params["index"], request.path_params.get("id") or uuid.uuid4().hex, doc)
    (done,) = await _write(request, [act])
    if done.error:
        raise EsError(400, "mapper_parsing_exception", done.error)
    return ok({**done.result, "_version": 1, "result": "created", "_shards": {"total": 1, "successful": 1, "failed": 0},
               "_seq_no": 0, "_primary_term": 1}, status=201)  # fmt: skip


# -- search ---------------------------------------------------------------------------------

_SCROLLS: dict[str, tuple[float, dict[str, Any], str | None]] = {}


def _sort_order(sort: Any) -> bool:
    """True for newest first. Only @timestamp (and _score/_doc, read as time) sort."""
    if sort is None:
        return True
    items = sort if isinstance(sort, list) else [sort]
    newest = True
    for it in items:
        if isinstance(it, str):
            name, _, order = it.partition(":")
        elif isinstance(it, dict) and len(it) == 1:
            name, spec = next(iter(it.items()))
            order = spec.get("order", "asc") if isinstance(spec, dict) else str(spec)
        else:
            raise EsError(400, "parsing_exception", "malformed sort")
        if name in ("_score", "_doc"):
            continue
        if name not in schema.TIMESTAMP_ALIASES:
            raise EsError(400, "illegal_argument_exception", f"sort on [{name}] is not supported (only @timestamp)")
        newest = (order or "asc").lower() == "desc"
    return newest


def _filter_source(src: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    if spec is None or spec is True:
        return src
    if spec is False:
        return None
    if not isinstance(spec, list | str | dict):
        raise EsError(400, "illegal_argument_exception", f"_source must be a boolean, a list or an object, not {spec!r}")
    inc, exc = (spec, []) if isinstance(spec, list | str) else (spec.get("includes") or spec.get("include") or [],
                                                                spec.get("excludes") or spec.get("exclude") or [])  # fmt: skip
    inc = [inc] if isinstance(inc, str) else inc
    exc = [exc] if isinstance(exc, str) else exc
    return {k: v for k, v in src.items()
            if (not inc or any(fnmatch.fnmatchcase(k, p) for p in inc)) and not any(fnmatch.fnmatchcase(k, p) for p in exc)}  # fmt: skip


def _source_of(ev: dict[str, Any], fetched: Any) -> tuple[str, dict[str, Any]]:
    src = {k: v for k, v in ev.items() if k not in ("_id", "file_id")}
    eid = ev["_id"]
    if fetched.source is not None and fetched.source.info.get("format") == "ndjson" and fetched.lines:
        try:
            stored = orjson.loads(fetched.lines[0])
            eid = stored.get("_id", eid)
        except orjson.JSONDecodeError:
            pass
    return eid, src


def _int(v: Any, name: str) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        return int(v)
    except (TypeError, ValueError):
        raise EsError(400, "illegal_argument_exception", f"[{name}] must be a whole number, not {v!r}") from None


def _search(request: Request, index: str | None, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    if not isinstance(body, dict):
        raise EsError(400, "parsing_exception", "the search body must be an object")
    unknown = set(body) - SEARCH_KEYS
    if unknown:
        raise EsError(400, "parsing_exception", f"unknown or unsupported search keys {sorted(unknown)}")
    svc = services(request)
    s = svc.searcher
    start, end, _days = _range_of(index, s)
    s.resolver.refresh()
    comp = Compiler(s.resolver)
    q = comp.compile(body.get("query"))
    if "q" in params:
        q = comp.lucene(params["q"], params.get("default_operator", "OR").upper())
    size = _int(params.get("size", body.get("size", 10)), "size")
    offset = _int(params.get("from", body.get("from", 0)), "from")
    if size < 0 or offset < 0 or size + offset > 10_000:
        raise EsError(400, "illegal_argument_exception", "from + size must be between 0 and 10000")
    newest = _sort_order(body.get("sort") or (params["sort"].split(",") if "sort" in params else None))
    after = body.get("search_after")
    if after is not None:
        if not isinstance(after, list) or not after or not isinstance(after[0], int | float):
            raise EsError(400, "illegal_argument_exception", "search_after takes the sort values of the last hit")
        cursor = int(after[0]) * 1000
        if newest:
            end = min(end, cursor - 1) if end is not None else cursor - 1
        else:
            start = max(start, cursor + 1000) if start is not None else cursor + 1000
    if end is not None and start is not None and end < start:
        page_hits, total = [], 0
    else:
        page = s.search(q, start_us=start, end_us=end, limit=max(size, 1), offset=offset, newest_first=newest)
        page_hits, total = (page.hits if size else []), page.total
    fetched = s.fetch(page_hits)
    terms = comp.highlight_terms() if body.get("highlight") else []
    hits = []
    for f in fetched:
        ev = to_event(f)
        eid, src = _source_of(ev, f)
        ms = f.hit.ts_us // 1000
        h: dict[str, Any] = {"_index": f"logstash-{f.hit.day.replace('-', '.')}", "_type": "_doc", "_id": eid,
                             "_score": None, "_source": _filter_source(src, body.get("_source")), "sort": [ms]}  # fmt: skip
        if h["_source"] is None:
            del h["_source"]
        if terms:
            h["highlight"] = {"message": [highlight_text(src.get("message", ""), terms, "<em>", "</em>")]}
        hits.append(h)
    tth = body.get("track_total_hits", True)
    total_obj = {"value": total, "relation": "eq"}
    if isinstance(tth, int) and not isinstance(tth, bool) and total > tth:
        total_obj = {"value": tth, "relation": "gte"}
    out: dict[str, Any] = {"took": 0, "timed_out": False,
                           "_shards": {"total": len(_days), "successful": len(_days), "skipped": 0, "failed": 0},
                           "hits": {"total": total_obj if tth is not False else None, "max_score": None, "hits": hits}}  # fmt: skip
    if tth is False:
        del out["hits"]["total"]
    aggs = body.get("aggs") or body.get("aggregations")
    if aggs:
        out["aggregations"] = Aggregator(s, start, end).run(aggs, q)
    out["took"] = int((time.perf_counter() - t0) * 1000)
    return out


@es
async def search_api(request: Request) -> Response:
    body = await _json_body(request)
    index = request.path_params.get("index")
    params = dict(request.query_params)
    result = await run_in_threadpool(_search, request, index, body, params)
    if "scroll" in params:
        sid = uuid.uuid4().hex
        _SCROLLS[sid] = (time.time() + 300, body, index)
        _remember_last(sid, result)
        result["_scroll_id"] = sid
    return ok(result)


def _remember_last(sid: str, result: dict[str, Any]) -> None:
    exp, body, index = _SCROLLS[sid]
    hits = result["hits"]["hits"]
    if hits:
        body = {**body, "search_after": hits[-1]["sort"], "from": 0}
    _SCROLLS[sid] = (exp, body, index)
    for k, (e, _, _) in list(_SCROLLS.items()):
        if e < time.time():
            _SCROLLS.pop(k, None)


@es
async def scroll_api(request: Request) -> Response:
    if request.method == "DELETE":
        body = await _json_body(request)
        ids = body.get("scroll_id") if isinstance(body, dict) else None
        ids = [ids] if isinstance(ids, str) else (ids or list(_SCROLLS))
        n = sum(1 for i in ids if _SCROLLS.pop(i, None) is not None)
        return ok({"succeeded": True, "num_freed": n})
    body = await _json_body(request)
    sid = (body or {}).get("scroll_id") or request.query_params.get("scroll_id")
    if not sid or sid not in _SCROLLS:
        raise EsError(404, "search_context_missing_exception", f"No search context found for id [{sid}]")
    _, sbody, index = _SCROLLS[sid]
    sbody = {k: v for k, v in sbody.items() if k not in ("aggs", "aggregations")}
    result = await run_in_threadpool(_search, request, index, sbody, {})
    _remember_last(sid, result)
    result["_scroll_id"] = sid
    return ok(result)


@es
async def count_api(request: Request) -> Response:
    body = await _json_body(request)
    if not isinstance(body, dict) or set(body) - {"query"}:
        raise EsError(400, "parsing_exception", "_count takes only a query")
    index = request.path_params.get("index")

    def run() -> int:
        s = services(request).searcher
        start, end, _ = _range_of(index, s)
        s.resolver.refresh()
        comp = Compiler(s.resolver)
        q = comp.compile(body.get("query"))
        if "q" in request.query_params:
            q = comp.lucene(request.query_params["q"])
        return 0 if (start is not None and end is not None and end < start) else s.count(q, start_us=start, end_us=end)

    n = await run_in_threadpool(run)
    return ok({"count": n, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})


@es
async def msearch_api(request: Request) -> Response:
    raw = await _raw_body(request)
    lines = [ln for ln in raw.split(b"\n") if ln.strip()]
    if len(lines) % 2:
        raise EsError(400, "illegal_argument_exception", "_msearch takes header and body lines in pairs")
    responses = []
    for i in range(0, len(lines), 2):
        try:
            header, body = orjson.loads(lines[i]), orjson.loads(lines[i + 1])
            if not isinstance(header, dict) or not isinstance(body, dict):
                raise EsError(400, "parse_exception", "each _msearch line must be a JSON object")
            index = header.get("index", request.path_params.get("index"))
            index = ",".join(index) if isinstance(index, list) else index
            r = await run_in_threadpool(_search, request, index, body, {})
            responses.append({**r, "status": 200})
        except EsError as e:
            responses.append({**e.body()})
        except orjson.JSONDecodeError as e:
            responses.append(EsError(400, "parse_exception", str(e)).body())
    return ok({"took": 0, "responses": responses})




routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/_cluster/health", health),
    Route("/_cluster/health/{index}", health),
    Route("/_cat/indices", cat_indices),
    Route("/_cat/indices/{index}", cat_indices),
    Route("/_bulk", bulk_api, methods=["POST", "PUT"]),
    Route("/_search", search_api, methods=["GET", "POST"]),
    Route("/_search/scroll", scroll_api, methods=["GET", "POST", "DELETE"]),
    Route("/_count", count_api, methods=["GET", "POST"]),
    Route("/_msearch", msearch_api, methods=["GET", "POST"]),
    Route("/_template/{name}", template, methods=["GET", "PUT", "POST", "HEAD"]),
    Route("/_index_template/{name}", template, methods=["GET", "PUT", "POST", "HEAD"]),
    Route("/{index}/_bulk", bulk_api, methods=["POST", "PUT"]),
    Route("/{index}/_search", search_api, methods=["GET", "POST"]),
    Route("/{index}/_count", count_api, methods=["GET", "POST"]),
    Route("/{index}/_msearch", msearch_api, methods=["GET", "POST"]),
    Route("/{index}/_doc", doc_api, methods=["POST"]),
    Route("/{index}/_doc/{id}", doc_api, methods=["POST", "PUT"]),
    Route("/{index}", index_meta, methods=["GET", "HEAD", "PUT"]),
]
