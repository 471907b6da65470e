"""The log viewer and raw downloads, straight from the archive.

A path is only ever a catalog key (``<build_uuid>/<filename>``), never joined to a
filesystem path, so ``..`` and friends can only miss (404). A file whose events came
through ``_bulk`` has no one blob: its link goes to those events in Discover. The page streams: its head
goes out at once, then the file frame by frame, so a 50 MB log starts showing at once.
Its JSON twin (``?format=json&start=N&lines=M``) gives windows of lines with their levels.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from index.archive import ArchiveError
from index.catalog import Source

from .. import logview
from ..errors import HTTPError, guarded, not_found
from ..params import number
from ..render import render_text
from ..security import SECURE
from ..services import services
from ..state import build_url, quote_value

SHOWN_FIELDS = ("build_name", "build_status", "build_queue", "project", "build_change", "build_patchset", "build_node")


class _Shipped(Exception):
    """The "file" came as events (``_bulk``), spread over many sources: no one blob."""


def _source(request: Request) -> Source:
    uuid = request.path_params["build"]
    path = request.path_params["path"]
    cat = services(request).store.catalog
    src = cat.by_key(f"{uuid}/{path}")
    if src is None or src.state != "done":
        if cat.ids_with("build_uuid", uuid) & cat.ids_with("filename", path):
            raise _Shipped
        raise not_found(f"{uuid}/{path}")
    return src


def _shipped(request: Request) -> Response:
    """Events a shipper sent for this build and file, in order, in Discover."""
    q = f"build_uuid:{quote_value(request.path_params['build'])} AND filename:{quote_value(request.path_params['path'])}"
    return RedirectResponse("/discover?" + urlencode([("q", q), ("from", "0"), ("sort", "asc")]), status_code=302)


def _raw(request: Request, src: Source) -> Response:
    archive = services(request).store.archive
    try:
        info = archive.info(src.sha256)
    except ArchiveError:
        raise not_found("the archived file") from None
    name = posixpath.basename(str(src.attrs.get("filename", "log.txt"))) or "log.txt"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Content-Length": str(info.size),
    }
    return StreamingResponse(archive.stream(src.sha256), media_type="text/plain; charset=utf-8", headers=headers)


def _page(request: Request, src: Source) -> Iterator[str]:
    archive = services(request).store.archive
    uuid, filename = str(src.attrs.get("build_uuid", "")), str(src.attrs.get("filename", ""))
    head = render_text(
        "logs_head.html",
        title=filename,
        uuid=uuid,
        filename=filename,
        attrs=[(k, src.attrs[k]) for k in SHOWN_FIELDS if k in src.attrs],
        lines=src.info.get("lines"),
        size=src.info.get("bytes"),
        build_url=build_url(uuid),
        raw_url=f"/raw/{quote(uuid, safe='')}/{quote(filename)}",
    )

    def body() -> Iterator[str]:
        yield head
        try:
            yield from logview.stream_lines(archive.stream(src.sha256))
        except ArchiveError:
            yield '<p class="err">The archived file is damaged; the server log has the details.</p>'
        yield render_text("logs_foot.html")

    return body()


JSON_MAX_LINES = 5000


def _json(request: Request, src: Source) -> Response:
    """The page's JSON twin (``?format=json``): a window of lines with their level and
    traceback marks, and where the next window starts."""
    start = int(number(request, "start", 1, 1, 2**62))
    count = int(number(request, "lines", 1000, 1, JSON_MAX_LINES))
    uuid, filename = str(src.attrs.get("build_uuid", "")), str(src.attrs.get("filename", ""))
    try:
        lines, more = logview.json_lines(services(request).store.archive.stream(src.sha256), start, count)
    except ArchiveError:
        raise HTTPError(410, "the archived file is damaged; the server log has the details") from None
    here = f"/logs/{quote(uuid, safe='')}/{quote(filename)}"
    return JSONResponse({
        "build_uuid": uuid, "filename": filename, "fields": {k: src.attrs[k] for k in SHOWN_FIELDS if k in src.attrs},
        "total_lines": src.info.get("lines"), "bytes": src.info.get("bytes"), "start": start, "lines": lines,
        "next": f"{here}?format=json&start={start + count}&lines={count}" if more else None,
        "page_url": here, "raw_url": f"/raw/{quote(uuid, safe='')}/{quote(filename)}",
    })  # fmt: skip


@guarded
async def log_view(request: Request) -> Response:
    if services(request).remote:
        from .backend_views import remote_log

        return await remote_log(request, raw=request.query_params.get("raw") not in (None, "", "0"))
    try:
        src = await run_in_threadpool(_source, request)
    except _Shipped:
        return _shipped(request)
    if request.query_params.get("raw") not in (None, "", "0"):
        return _raw(request, src)
    if request.query_params.get("format") == "json":
        return await run_in_threadpool(_json, request, src)
    return StreamingResponse(_page(request, src), media_type="text/html; charset=utf-8")


@guarded
async def raw(request: Request) -> Response:
    if services(request).remote:
        from .backend_views import remote_log

        return await remote_log(request, raw=True)
    try:
        src = await run_in_threadpool(_source, request)
    except _Shipped:
        return _shipped(request)
    return _raw(request, src)


routes: list[BaseRoute] = [
    Route("/logs/{build}/{path:path}", log_view, methods=["GET"], middleware=SECURE),
    Route("/raw/{build}/{path:path}", raw, methods=["GET"], middleware=SECURE),
]
