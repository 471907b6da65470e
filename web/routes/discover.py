"""Discover: the Kibana-like search page, its JSON twin, exports, context and completion.

Read-only (GET/HEAD). Every route answers malformed input with a 400 that says what and
where, and anything unexpected with a 500 page that shows no traceback.
"""

from __future__ import annotations

import html
import time
from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from appliance.events import parse_event_id
from index.archive import ArchiveError

from .. import discover_data, discover_remote, export, facets, logview
from ..errors import HTTPError, guarded, not_found, query_error
from ..params import clamped
from ..render import STATIC, logs_url, render
from ..security import SECURE
from ..services import services
from ..state import DEFAULT_COLUMNS, QUICK_RANGES, REFRESH_CHOICES, DiscoverState, build_url

MAX_CONTEXT = 500


def _page_ctx(st: DiscoverState) -> dict[str, Any]:
    return {
        "title": "Discover",
        "st": st,
        "quick": QUICK_RANGES,
        "refresh_choices": REFRESH_CHOICES,
        "default_columns": DEFAULT_COLUMNS,
        "open_fields": facets.OPEN_BY_DEFAULT,
        "export_csv": st.url("/discover.csv", paging=False),
        "export_ndjson": st.url("/discover.ndjson", paging=False),
        "json_url": st.url("/discover.json"),
    }


@guarded
async def discover_page(request: Request) -> Response:
    from index.query import QueryError

    st = DiscoverState.from_params(request.query_params)
    ctx = _page_ctx(st)
    try:
        res = await _run(request, st)
    except (QueryError, HTTPError) as e:
        err = e if isinstance(e, HTTPError) else query_error(e)
        if err.status != 400:
            raise
        return render("discover.html", status=400, res=None, error=err, **ctx)
    return render("discover.html", res=res, error=None, **ctx)


@guarded
async def home(request: Request) -> Response:
    """``/`` is Discover for browsers; other clients get whichever other ``/`` route exists
    (the Elasticsearch API answers cluster info there)."""
    if "text/html" not in request.headers.get("accept", ""):
        for r in request.app.router.routes:
            other = isinstance(r, Route) and r.path == "/" and r.endpoint not in (home, discover_page)
            if other and (r.methods is None or request.method in r.methods):
                return await r.endpoint(request)
    return await discover_page(request)


async def _run(request: Request, st: DiscoverState) -> discover_data.Result:
    """Discover on this data dir, or on the cluster when ``backend`` is remote."""
    return await discover_data.run(services(request).backend, st)


@guarded
async def discover_json(request: Request) -> Response:
    st = DiscoverState.from_params(request.query_params)
    res = await _run(request, st)
    return JSONResponse(res.as_json())


async def _export_setup(request: Request) -> tuple[Any, str, int, int, DiscoverState]:
    st = DiscoverState.from_params(request.query_params)
    svc = services(request)
    check = svc.backend.check if svc.remote else svc.searcher.compile
    start, end = discover_data.resolve_range(st)
    text = st.lucene()
    if st.q:
        await run_in_threadpool(check, st.q)
    await run_in_threadpool(check, text)
    return svc.backend if svc.remote else svc.searcher, text, start, end, st


def _events(request: Request, source: Any, text: str, start: int, end: int, newest_first: bool) -> Any:
    if services(request).remote:
        return discover_remote.iter_events(source, text, start, end, newest_first)
    return export.iter_events(source, text, start, end, newest_first)


def _attachment(ext: str) -> dict[str, str]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {"Content-Disposition": f'attachment; filename="discover-{stamp}.{ext}"', "Cache-Control": "no-store"}


@guarded
async def discover_csv(request: Request) -> Response:
    source, text, start, end, st = await _export_setup(request)
    events = _events(request, source, text, start, end, st.newest_first)
    return StreamingResponse(
        export.csv_rows(events, st.columns), media_type="text/csv; charset=utf-8", headers=_attachment("csv")
    )


@guarded
async def discover_ndjson(request: Request) -> Response:
    source, text, start, end, st = await _export_setup(request)
    events = _events(request, source, text, start, end, st.newest_first)
    return StreamingResponse(export.ndjson(events), media_type="application/x-ndjson", headers=_attachment("ndjson"))


def _context(request: Request) -> dict[str, Any]:
    eid = request.path_params["event_id"]
    try:
        fid, line0 = parse_event_id(eid)
    except ValueError:
        raise not_found(f"event {eid}") from None
    if fid >= 2**63 or line0 >= 2**40:
        raise not_found(f"event {eid}")
    n = clamped(request, "n", 10, 0, MAX_CONTEXT)
    k = clamped(request, "len", 1, 1, 2000)
    store = services(request).store
    src = store.catalog.get(fid)
    if src is None or src.state != "done":
        raise not_found(f"event {eid}")
    first = max(0, line0 - n)
    try:
        raw = store.archive.lines(src.sha256, first, line0 - first + k + n)
    except ArchiveError:
        raise not_found(f"the log of event {eid}") from None
    if line0 >= first + len(raw):
        raise not_found(f"event {eid}")
    uuid, filename = str(src.attrs.get("build_uuid", "")), str(src.attrs.get("filename", ""))
    return {
        "event_id": eid,
        "build_uuid": uuid,
        "filename": filename,
        "line": line0 + 1,
        "nlines": k,
        "n": n,
        "first": first + 1,
        "log_url": logs_url(uuid, filename, line0 + 1),
        "build_url": build_url(uuid),
        "lines": [
            {"line": first + 1 + i, "text": b.decode("utf-8", "replace").rstrip("\r"), "hit": line0 <= first + i < line0 + k}
            for i, b in enumerate(raw)
        ],
    }


@guarded
async def context_page(request: Request) -> Response:
    return render_context(await run_in_threadpool(_context, request))


def render_context(ctx: dict[str, Any]) -> Response:
    """The context page of one event, whichever backend found its lines."""
    lines = logview.render_lines(
        [x["text"] for x in ctx["lines"]],
        ctx["first"],
        href=html.escape(ctx["log_url"].partition("#")[0]),
        marked=range(ctx["line"], ctx["line"] + ctx["nlines"]),
    )
    return render("context.html", title=f"Context of {ctx['event_id']}", c=ctx, lines=Markup(lines))


@guarded
async def context_json(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_context, request))


@guarded
async def api_fields(request: Request) -> Response:
    svc = services(request)
    names = list(discover_remote.field_names()) if svc.remote else await run_in_threadpool(facets.field_names, svc.searcher)
    return JSONResponse({"fields": names})


@guarded
async def api_values(request: Request) -> Response:
    field = request.query_params.get("field", "").strip()
    if not field:
        raise HTTPError(400, "field: required")
    prefix = request.query_params.get("prefix", "")
    limit = clamped(request, "limit", 20, 1, 200)
    svc = services(request)
    if svc.remote:
        vals = await run_in_threadpool(discover_remote.values, svc.backend, field, prefix, limit)
    else:
        vals = await run_in_threadpool(facets.values, svc.searcher, field, prefix, limit)
    return JSONResponse({"field": field, "prefix": prefix, "values": vals})


def _get(path: str, endpoint: Any) -> Route:
    return Route(path, endpoint, methods=["GET"], middleware=SECURE)


routes: list[BaseRoute] = [
    _get("/", home),
    _get("/discover", discover_page),
    _get("/discover.json", discover_json),
    _get("/discover.csv", discover_csv),
    _get("/discover.ndjson", discover_ndjson),
    _get("/context/{event_id}.json", context_json),
    _get("/context/{event_id}", context_page),
    _get("/api/fields", api_fields),
    _get("/api/values", api_values),
    Mount("/static", StaticFiles(directory=STATIC), name="static", middleware=SECURE),
]
