"""The part of the Elasticsearch REST API that log shippers, clients and scripts use.

HTTP only: bodies, parameters, methods, auth, the write gate. The DSL, aggregations,
paging and index patterns live in :mod:`web.es`; ``_bulk``'s grouping and writing in
:mod:`appliance.bulk`. Reads are public; writes need the token (see :mod:`web.es.auth`).
Every answer is Elasticsearch-shaped, errors included; what is outside the subset is a
400 naming it (catch-all routes included), never a 500 or a silently ignored clause.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from appliance import bulk
from appliance.service import Busy
from index import schema

from ..es import cursor, workers
from ..es import params as prm
from ..es import search as es_search
from ..es.auth import authorize_write
from ..es.errors import ES_HEADERS, EsError, bad_request, es_endpoint, json_response, unsupported
from ..es.indices import index_name, resolve
from ..services import services

MAX_BODY = 100 * 1024 * 1024
"""Elasticsearch's default ``http.max_content_length``."""
BULK_ACTIVE = 4
"""Bulk requests parsed or written at once: each holds its body and documents in memory."""
BULK_WAITING = 64
"""Bulk requests that may wait for a slot (their bodies stay in the socket); more get 429."""
WRITE_TIMEOUT_S = 600.0

VERSION = {"number": "7.10.2", "build_flavor": "default", "build_type": "tar", "build_hash": "appliance",
           "build_date": "2024-01-01T00:00:00.000Z", "build_snapshot": False, "lucene_version": "8.7.0",
           "minimum_wire_compatibility_version": "6.8.0", "minimum_index_compatibility_version": "6.0.0-beta1"}  # fmt: skip
"""7.10.2: the last version both elasticsearch-py 8 (with the product header) and
opensearch-py, Logstash, Fluent Bit and Vector all accept as Elasticsearch."""


# -- plumbing ---------------------------------------------------------------------------------


def _methods(request: Request, *allowed: str) -> None:
    """ES's 405 for a method an endpoint does not take (``DELETE /{index}`` included:
    retention drops days, clients do not)."""
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise EsError(405, "method_not_allowed_exception",
                      f"Incorrect HTTP method for uri [{request.url.path}] and method [{request.method}],"
                      f" allowed: [{', '.join(allowed)}]: [{request.method} {request.url.path}] is not supported by"
                      " the appliance", {"Allow": ", ".join(allowed)})  # fmt: skip


Handler = Callable[[Request], Awaitable[Response]]


def cluster_read(*methods: str) -> Callable[[Handler], Handler]:
    """A read API (``_search``, ``_count``...): with a remote backend the cluster answers
    it as it came, past the method check; otherwise the local handler does."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def read(request: Request) -> Response:
            _methods(request, *methods)
            if (fwd := await _forwarded(request)) is not None:
                return fwd
            return await handler(request)

        return read

    return wrap


async def _forwarded(request: Request) -> Response | None:
    """With a remote backend, a read goes to the cluster as it came (see
    :mod:`web.es.forward`); None when the local index answers."""
    svc = services(request)
    if not svc.remote:
        return None
    from ..es.forward import forward_read

    raw = await _raw_body(request)
    backend: Any = svc.backend
    res = await run_in_threadpool(forward_read, backend.client, request.method, request.url.path,
                                  request.query_params, raw, backend.url)  # fmt: skip
    if isinstance(res, str | bytes):  # _cat's text tables
        return Response(res, media_type="text/plain; charset=UTF-8", headers=ES_HEADERS)
    return json_response(res)


def _respond(request: Request, body: Any, status: int = 200) -> Response:
    return json_response(prm.filter_path(body, request.query_params.get("filter_path")), status)


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


async def _json_body(request: Request) -> Any:
    raw = await _raw_body(request)
    if not raw.strip():
        source = request.query_params.get("source")  # GET with the body in the URL
        raw = source.encode() if source else b""
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise EsError(400, "parse_exception", f"request body is not valid JSON: {e}") from None


def _check(request: Request, allowed: frozenset[str] | set[str]) -> Mapping[str, str]:
    prm.check(request.query_params, allowed | {"source", "source_content_type"}, request.url.path)
    return request.query_params


def _authorize(request: Request) -> None:
    authorize_write(request, services(request).config.token)


# -- cluster and index metadata ---------------------------------------------------------------


@es_endpoint
async def root(request: Request) -> Response:
    """Reached through Discover's ``/`` for any client that does not ask for HTML."""
    _methods(request, "GET")
    if request.method == "HEAD":
        return Response(status_code=200, headers=ES_HEADERS)
    return _respond(request, {"name": "appliance", "cluster_name": "ci-log-appliance", "cluster_uuid": "appliance",
                              "version": VERSION, "tagline": "You Know, for Search"})  # fmt: skip


@es_endpoint
async def health(request: Request) -> Response:
    _methods(request, "GET")
    _check(request, {"level", "local", "master_timeout", "timeout", "wait_for_active_shards", "wait_for_events",
                     "wait_for_nodes", "wait_for_no_initializing_shards", "wait_for_no_relocating_shards",
                     "wait_for_status", "expand_wildcards"})  # fmt: skip
    n = len(services(request).store.partitions.days())
    return _respond(request, {"cluster_name": "ci-log-appliance", "status": "green", "timed_out": False,
                              "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": n,
                              "active_shards": n, "relocating_shards": 0, "initializing_shards": 0,
                              "unassigned_shards": 0, "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0,
                              "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
                              "active_shards_percent_as_number": 100.0})  # fmt: skip


def _indices(request: Request, expr: str | None) -> list[dict[str, Any]]:
    store = services(request).store
    rows = []
    for d in resolve(expr, store.partitions.days()).days:
        try:
            docs, health_ = str(store.partitions.searcher(d).num_docs), "green"
        except Exception:  # noqa: BLE001 - a damaged day is listed red, not fatal
            docs, health_ = "0", "red"
        size = store.partitions.size(d)
        rows.append({"health": health_, "status": "open", "index": index_name(d), "uuid": d, "pri": "1", "rep": "0",
                     "docs.count": docs, "docs.deleted": "0", "store.size": size, "pri.store.size": size})  # fmt: skip
    return rows


def _human(n: int) -> str:
    for unit in ("b", "kb", "mb", "gb", "tb"):
        if n < 1024 or unit == "tb":
            return f"{n}{unit}" if unit == "b" else f"{n:.1f}{unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@es_endpoint
@cluster_read("GET")
async def cat_indices(request: Request) -> Response:
    p = _check(request, {"v", "h", "s", "bytes", "health", "pri", "expand_wildcards", "local", "master_timeout",
                         "include_unloaded_segments", "help"})  # fmt: skip
    rows = await run_in_threadpool(_indices, request, request.path_params.get("index"))
    cols = [c for c in (p.get("h") or "").split(",") if c] or list(rows[0] if rows else _CAT_COLS)
    bad = [c for c in cols if c not in _CAT_COLS]
    if bad:
        raise unsupported(f"_cat/indices column [{bad[0]}]")
    for r in rows:
        for k in ("store.size", "pri.store.size"):
            r[k] = str(r[k]) if "bytes" in p else _human(r[k])
    for key in reversed([s for s in (p.get("s") or "").split(",") if s]):
        name, _, order = key.partition(":")
        if name not in _CAT_COLS:
            raise unsupported(f"_cat/indices sort on [{name}]")
        rows.sort(key=lambda r, n=name: int(r[n]) if str(r[n]).isdigit() else str(r[n]), reverse=order == "desc")
    rows = [{c: r[c] for c in cols} for r in rows]
    if p.get("format") == "json":
        return _respond(request, rows)
    if p.get("format") not in (None, "text", "txt"):
        raise unsupported(f"_cat format [{p['format']}]")
    table = ([cols] if "v" in p else []) + [[str(r[c]) for c in cols] for r in rows]
    widths = [max((len(line[i]) for line in table), default=0) for i in range(len(cols))]
    text = "".join(" ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in table)
    return PlainTextResponse(text, headers=ES_HEADERS)


_CAT_COLS = ("health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size")


def _mapping(request: Request) -> dict[str, Any]:
    props: dict[str, Any] = {"@timestamp": {"type": "date"}, "message": {"type": "text"}}
    props |= {k: {"type": "keyword"} for k in schema.EVENT_KEYWORDS}
    props |= {k: {"type": "long"} for k in (schema.LINE, schema.NLINES)}
    props |= {k: {"type": "keyword"} for k in services(request).store.catalog.fields() if k not in props}
    return {"properties": props}


@es_endpoint
async def index_meta(request: Request) -> Response:
    """``GET``/``HEAD``/``PUT /{index}``: days exist; creating an index is a no-op."""
    _methods(request, "GET", "PUT")
    index = request.path_params["index"]
    if request.method == "PUT":
        _check(request, prm.HARMLESS_WRITE | {"include_type_name"})
        _authorize(request)
        await _raw_body(request)
        return _respond(request, {"acknowledged": True, "shards_acknowledged": True, "index": index})
    _check(request, prm.HARMLESS_READ | {"include_type_name", "flat_settings", "include_defaults", "local"})
    store = services(request).store
    named = any(c in index for c in "*?") or index in ("_all", "*") or bulk.day_of_index(index) is not None
    days = resolve(index, store.partitions.days()).days if named else []
    if not days:
        if request.method == "HEAD":
            return Response(status_code=404, headers=ES_HEADERS)
        raise EsError(404, "index_not_found_exception", f"no such index [{index}]")
    if request.method == "HEAD":
        return Response(status_code=200, headers=ES_HEADERS)
    mapping = await run_in_threadpool(_mapping, request)
    settings = {"index": {"number_of_shards": "1", "number_of_replicas": "0"}}
    return _respond(request, {index_name(d): {"aliases": {}, "mappings": mapping, "settings": settings} for d in days})


@es_endpoint
async def mapping(request: Request) -> Response:
    _methods(request, "GET")
    _check(request, prm.HARMLESS_READ | {"include_type_name", "local", "master_timeout"})
    store = services(request).store
    days = resolve(request.path_params.get("index"), store.partitions.days()).days
    m = await run_in_threadpool(_mapping, request)
    return _respond(request, {index_name(d): {"mappings": m} for d in days})


@es_endpoint
async def template(request: Request) -> Response:
    """Templates are accepted and forgotten: the appliance's mapping is fixed."""
    _methods(request, "GET", "PUT", "POST")
    if request.method in ("PUT", "POST"):
        _check(request, {"create", "master_timeout", "order", "cause", "include_type_name"})
        _authorize(request)
        await _raw_body(request)
        return _respond(request, {"acknowledged": True})
    if request.method == "HEAD":
        return Response(status_code=404, headers=ES_HEADERS)
    raise EsError(404, "resource_not_found_exception", f"index template matching [{request.path_params['name']}] not found")


# -- writes ---------------------------------------------------------------------------------


class _Gate:
    """Bounds the bulk requests in memory; beyond the waiting room, 429 at once."""

    def __init__(self) -> None:
        self.sem = asyncio.Semaphore(BULK_ACTIVE)
        self.waiting = 0


@asynccontextmanager
async def _gate(request: Request) -> AsyncIterator[None]:
    state = request.app.state
    gate = getattr(state, "es_bulk_gate", None)
    if gate is None:
        gate = state.es_bulk_gate = _Gate()
    if gate.waiting >= BULK_WAITING:
        raise Busy(retry_after=1)
    gate.waiting += 1
    try:
        await gate.sem.acquire()
    finally:
        gate.waiting -= 1
    try:
        yield
    finally:
        gate.sem.release()


@dataclass
class BulkSource:
    """``_bulk``/``_doc`` writes seen as a live source in ``/status`` and ``/metrics``."""

    events: int = 0
    bytes: int = 0
    ingested: int = 0
    """Requests whose events were committed."""
    replayed: int = 0
    """Requests already stored (a client's retry): answered, nothing written."""

    def status(self) -> dict[str, Any]:
        return {"source": "bulk", "events": self.events, "bytes": self.bytes, "ingested": self.ingested,
                "replayed": self.replayed}  # fmt: skip


def _bulk_source(svc: Any) -> BulkSource:
    src = svc.extras.get("bulk")
    if src is None:
        src = svc.extras["bulk"] = BulkSource()
    return src  # type: ignore[no-any-return]


async def _commit(request: Request, prepared: bulk.Prepared) -> None:
    """Resolves only after the commit: an acknowledged write is durable (and visible)."""
    svc = services(request)
    fresh = [r for r in prepared.ready if not r.replay]
    counter = _bulk_source(svc)
    if not fresh:
        counter.replayed += 1 if prepared.ready else 0
        return
    fut = svc.ingest.submit(lambda w: bulk.write(svc.store, w, prepared.ready))
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), WRITE_TIMEOUT_S)
    except TimeoutError:
        raise EsError(503, "process_cluster_event_timeout_exception",
                      "the write is queued but not yet durable; retrying the same request is safe") from None  # fmt: skip
    counter.ingested += 1
    counter.events += sum(r.info["events"] for r in fresh)
    counter.bytes += sum(r.info["bytes"] for r in fresh)


@es_endpoint
async def bulk_api(request: Request) -> Response:
    _methods(request, "POST", "PUT")
    p = _check(request, prm.HARMLESS_WRITE | {"pipeline", "type"})
    if "pipeline" in p:
        raise unsupported("[pipeline] (ingest pipelines)")
    _authorize(request)
    svc = services(request)
    if svc.remote:  # backend = "opensearch": the request goes to the cluster as it came
        from ..es.forward import forward_bulk

        raw = await _raw_body(request)
        backend: Any = svc.backend
        res = await run_in_threadpool(forward_bulk, backend.client, raw, request.path_params.get("index"), backend.url)
        return _respond(request, res)
    t0 = time.perf_counter()
    async with _gate(request):
        raw = await _raw_body(request)
        prepared = await workers.prepare_body(services(request).store.root, raw, request.path_params.get("index"))
        del raw
        await _commit(request, prepared)
    body = prepared.response(int((time.perf_counter() - t0) * 1000))
    if "filter_path" in p:
        return _respond(request, orjson.loads(body))
    return json_response(body)


@es_endpoint
async def doc_api(request: Request) -> Response:
    """``/{index}/_doc[/{id}]`` and ``/{index}/_create/{id}``: a ``_bulk`` of one."""
    _methods(request, "POST", "PUT")
    p = _check(request, prm.HARMLESS_WRITE | {"op_type", "pipeline", "version", "version_type", "if_seq_no",
                                              "if_primary_term"})  # fmt: skip
    if "pipeline" in p or "version" in p or "if_seq_no" in p:
        raise unsupported("[pipeline], [version] and [if_seq_no] on writes")
    _authorize(request)
    doc_id = request.path_params.get("id")
    if request.method == "PUT" and doc_id is None:
        raise bad_request("PUT needs a document id (POST creates one)")
    op = "create" if "/_create/" in request.url.path or p.get("op_type") == "create" else "index"
    act = bulk.Action(op, request.path_params["index"], doc_id, await _json_body(request))
    bulk.check_action(act, {})
    svc = services(request)
    if svc.remote:  # a _bulk of one, to the cluster
        from ..es.forward import forward_bulk

        if act.error is not None:
            raise EsError(400, act.error_type, act.error)

        line = orjson.dumps({op: {"_index": act.index, **({"_id": doc_id} if doc_id else {})}}) + b"\n"
        backend: Any = svc.backend
        res = await run_in_threadpool(forward_bulk, backend.client, line + orjson.dumps(act.doc), None, backend.url)
        item = res["items"][0][op]
    else:
        async with _gate(request):
            prepared = await run_in_threadpool(bulk.prepare, svc.store, [act])
            await _commit(request, prepared)
        item = orjson.loads(prepared.items)[0][op]
    if "error" in item:
        raise EsError(int(item.get("status") or 400), item["error"]["type"], item["error"]["reason"])
    item.pop("status", None)
    return _respond(request, {"_type": "_doc", **item}, status=201)


# -- search ---------------------------------------------------------------------------------


@es_endpoint
@cluster_read("GET", "POST")
async def search_api(request: Request) -> Response:
    p = _check(request, es_search.SEARCH_PARAMS)
    body = await _json_body(request)
    index = request.path_params.get("index")
    searcher = services(request).searcher
    keep = cursor.keep_alive_s(p["scroll"]) if "scroll" in p else None
    result = await run_in_threadpool(es_search.search, searcher, index, body, p, scroll=keep is not None)
    if keep is not None:
        state = {"i": index, "b": {k: v for k, v in body.items() if k not in _NOT_CARRIED},
                 "p": {k: v for k, v in p.items() if k in _CARRIED_PARAMS}}  # fmt: skip
        result = {"_scroll_id": _next_scroll(state, result, keep), **result}
    return _respond(request, result)


_NOT_CARRIED = {"aggs", "aggregations", "from", "search_after"}
_CARRIED_PARAMS = {"q", "df", "default_operator", "size", "sort", "_source", "_source_includes", "_source_excludes",
                   "track_total_hits", "version", "seq_no_primary_term", "stored_fields", "docvalue_fields"}  # fmt: skip


def _next_scroll(state: dict[str, Any], result: dict[str, Any], keep: float) -> str:
    hits = result["hits"]["hits"]
    return cursor.encode({**state, "a": hits[-1]["sort"] if hits else None}, keep)


@es_endpoint
@cluster_read("GET", "POST", "DELETE")
async def scroll_api(request: Request) -> Response:
    p = _check(request, {"scroll", "scroll_id", "rest_total_hits_as_int"})
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise bad_request("the scroll body must be an object", "parsing_exception")
    ids = body.get("scroll_id", request.path_params.get("scroll_id", p.get("scroll_id")))
    if request.method == "DELETE":
        listed = [ids] if isinstance(ids, str) else ids if isinstance(ids, list) else []
        live = 0
        for sid in listed:
            try:
                cursor.decode(sid)
                live += 1
            except EsError:
                pass
        return _respond(request, {"succeeded": True, "num_freed": live})
    check_body = {k: v for k, v in body.items() if k not in ("scroll_id", "scroll", "rest_total_hits_as_int")}
    if check_body:
        raise unsupported(f"[{next(iter(check_body))}] in a scroll request", "parsing_exception")
    state = cursor.decode(ids)
    raw_keep = body.get("scroll", p.get("scroll"))
    keep = cursor.keep_alive_s(raw_keep) if raw_keep is not None else max(1.0, state["x"] - time.time())
    params = dict(state["p"])
    as_int = body.get("rest_total_hits_as_int", p.get("rest_total_hits_as_int"))
    if as_int is not None:
        params["rest_total_hits_as_int"] = str(as_int).lower()
    sbody = dict(state["b"])
    if state["a"] is None:
        params["size"] = "0"  # the previous page was the last
    else:
        sbody["search_after"] = state["a"]
    result = await run_in_threadpool(es_search.search, services(request).searcher, state["i"], sbody, params, scroll=True)
    return _respond(request, {"_scroll_id": _next_scroll(state, result, keep), **result})


@es_endpoint
@cluster_read("GET", "POST")
async def count_api(request: Request) -> Response:
    p = _check(request, es_search.COUNT_PARAMS | {"min_score", "terminate_after"})
    if "min_score" in p or "terminate_after" in p:
        raise unsupported("[min_score] and [terminate_after]")
    body = await _json_body(request)
    n = await run_in_threadpool(es_search.count, services(request).searcher, request.path_params.get("index"), body, p)
    return _respond(request, {"count": n, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})


_MSEARCH_HEADER = {"index", "search_type", "preference", "routing", "request_cache", "allow_no_indices",
                   "expand_wildcards", "ignore_unavailable", "ccs_minimize_roundtrips", "allow_partial_search_results"}  # fmt: skip


def _msearch(request: Request, raw: bytes, p: Mapping[str, str]) -> list[dict[str, Any]]:
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if len(lines) % 2:
        raise bad_request("_msearch takes header and body lines in pairs")
    searcher = services(request).searcher
    params = {k: v for k, v in p.items() if k in ("rest_total_hits_as_int", "typed_keys")}
    out = []
    for i in range(0, len(lines), 2):
        try:
            header, body = orjson.loads(lines[i]), orjson.loads(lines[i + 1])
            if not isinstance(header, dict) or not isinstance(body, dict):
                raise bad_request("each _msearch line must be a JSON object", "parse_exception")
            extra = set(header) - _MSEARCH_HEADER
            if extra:
                raise unsupported(f"_msearch header [{sorted(extra)[0]}]")
            index = header.get("index", request.path_params.get("index"))
            index = ",".join(index) if isinstance(index, list) else index
            out.append({**es_search.search(searcher, index, body, params), "status": 200})
        except EsError as e:
            out.append(e.body())
        except orjson.JSONDecodeError as e:
            out.append(EsError(400, "parse_exception", str(e)).body())
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            out.append(bad_request(f"malformed request: {type(e).__name__}: {str(e)[:200]}").body())
    return out


@es_endpoint
@cluster_read("GET", "POST")
async def msearch_api(request: Request) -> Response:
    p = _check(request, prm.HARMLESS_READ | {"rest_total_hits_as_int", "typed_keys"})
    t0 = time.perf_counter()
    responses = await run_in_threadpool(_msearch, request, await _raw_body(request), p)
    return _respond(request, {"took": int((time.perf_counter() - t0) * 1000), "responses": responses})


@es_endpoint
async def not_supported(request: Request) -> Response:
    raise unsupported(f"the API [{request.method} {request.url.path}]")


ANY = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]

routes = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/_cluster/health", health, methods=ANY),
    Route("/_cluster/health/{index}", health, methods=ANY),
    Route("/_cat/indices", cat_indices, methods=ANY),
    Route("/_cat/indices/{index}", cat_indices, methods=ANY),
    Route("/_mapping", mapping, methods=ANY),
    Route("/_bulk", bulk_api, methods=ANY),
    Route("/_search", search_api, methods=ANY),
    Route("/_search/scroll", scroll_api, methods=ANY),
    Route("/_search/scroll/{scroll_id}", scroll_api, methods=ANY),
    Route("/_count", count_api, methods=ANY),
    Route("/_msearch", msearch_api, methods=ANY),
    Route("/_template/{name}", template, methods=ANY),
    Route("/_index_template/{name}", template, methods=ANY),
    Route("/{index}/_bulk", bulk_api, methods=ANY),
    Route("/{index}/_search", search_api, methods=ANY),
    Route("/{index}/_count", count_api, methods=ANY),
    Route("/{index}/_msearch", msearch_api, methods=ANY),
    Route("/{index}/_mapping", mapping, methods=ANY),
    Route("/{index}/_doc", doc_api, methods=ANY),
    Route("/{index}/_doc/{id}", doc_api, methods=ANY),
    Route("/{index}/_create/{id}", doc_api, methods=ANY),
    Route("/{index}/_{rest:path}", not_supported, methods=ANY),
    Route("/{index}", index_meta, methods=ANY),
    Route("/_{rest:path}", not_supported, methods=ANY),
]
