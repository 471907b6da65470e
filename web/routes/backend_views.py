"""Views that work on any backend: an event's context by where it sits, and (with a
cluster) a build's log from its ``log_url`` or rebuilt from its events.

``/context?build=&file=&line=&ts=&n=&len=`` (and ``/context.json``) is what Discover's
rows link to when the hits come from a cluster, whose event ids mean nothing locally.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from appliance.backend.base import BackendError, EventRef, iso_us

from .. import logview
from ..errors import HTTPError, guarded
from ..params import clamped
from ..render import logs_url, render_text
from ..security import SECURE
from ..services import services
from ..state import build_url
from .discover import render_context

MAX_CONTEXT = 500


def _ref(request: Request) -> tuple[EventRef, int]:
    p = request.query_params
    build, filename = p.get("build", ""), p.get("file", "")
    if not build or not filename:
        raise HTTPError(400, "build and file: required (with line and/or ts)")
    try:
        ts = iso_us(p["ts"]) if p.get("ts") else 0
    except ValueError:
        raise HTTPError(400, "ts: not an ISO 8601 time") from None
    line = clamped(request, "line", None, 1, 2**40)
    if line is None and not ts:
        raise HTTPError(400, "line or ts: required")
    nlines = clamped(request, "len", 1, 1, 2000) or 1
    n = clamped(request, "n", 10, 0, MAX_CONTEXT) or 0
    return EventRef(build, filename, line, ts, nlines), n


def _context(request: Request) -> dict[str, Any]:
    ref, n = _ref(request)
    lines = services(request).backend.context(ref, n, n)
    if not lines:
        raise HTTPError(404, f"not found: an event of {ref.build_uuid}/{ref.filename}")
    first = next((x.line for x in lines if x.line is not None), 1)
    line = ref.line or next((x.line or first for x in lines if x.hit), first)
    params = {k: v for k, v in request.query_params.items() if k in ("build", "file", "line", "ts")}
    return {
        "event_id": f"{ref.build_uuid}/{ref.filename}:{line}",
        "query": urlencode(params),
        "build_uuid": ref.build_uuid,
        "filename": ref.filename,
        "line": line,
        "nlines": ref.nlines,
        "n": n,
        "first": first,
        "log_url": logs_url(ref.build_uuid, ref.filename, line),
        "build_url": build_url(ref.build_uuid),
        "lines": [{"line": x.line, "text": x.text, "hit": x.hit} for x in lines],
    }


@guarded
async def context_page(request: Request) -> Response:
    return render_context(await run_in_threadpool(_context, request))


@guarded
async def context_json(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_context, request))


# -- logs from a cluster (web.routes.logs hands over when backend != local) -----------------------


async def _opened(request: Request) -> tuple[str, str, Iterator[bytes]]:
    build, path = request.path_params["build"], request.path_params["path"]
    chunks = await run_in_threadpool(services(request).backend.raw_log, build, path)
    return build, path, chunks


def _guarded_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A stream that fails half-way (the log server or the cluster went away) ends with a
    line saying so instead of a cut connection."""
    try:
        yield from chunks
    except BackendError as e:
        yield f"\n[the appliance could not read the rest: {e.message}]\n".encode()


async def remote_log(request: Request, raw: bool) -> Response:
    build, path, chunks = await _opened(request)
    if raw:
        name = posixpath.basename(path) or "log.txt"
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        headers = {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"}
        return StreamingResponse(_guarded_stream(chunks), media_type="text/plain; charset=utf-8", headers=headers)
    head = render_text("logs_head.html", title=path, uuid=build, filename=path, attrs=[], lines=None, size=None,
                       build_url=build_url(build), raw_url=f"/raw/{quote(build, safe='')}/{quote(path)}")  # fmt: skip

    def body() -> Iterator[str]:
        yield head
        yield from logview.stream_lines(_guarded_stream(chunks))
        yield render_text("logs_foot.html")

    return StreamingResponse(body(), media_type="text/html; charset=utf-8")


def _get(path: str, endpoint: Any) -> Route:
    return Route(path, endpoint, methods=["GET"], middleware=SECURE)


routes: list[BaseRoute] = [
    _get("/context.json", context_json),
    _get("/context", context_page),
]
