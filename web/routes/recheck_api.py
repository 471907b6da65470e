"""The recheck JSON API for bots and scripts (elastic-recheck's consumers).

``GET /api/recheck/builds/{uuid}`` classifies a build (``?wait=`` seconds, at most 60,
for a build whose logs are still arriving); ``graph.json`` is elastic-recheck's shape
for its old dashboard, ``graph`` the full data; ``uncategorized`` and ``signatures``
list what their names say. ``?days=`` (1-60) and ``?now=`` (the window's end) apply to
the graphs and the uncategorized list. Errors are JSON 4xx; engine calls run off the event loop.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from appliance.recheck.engine import RecheckEngine, engine_for

from ..errors import HTTPError, guarded, not_found
from ..params import days as days_param
from ..params import is_build_ref, number
from ..services import services
from .recheck import bounded

MAX_WAIT_S = 60.0
MAX_EVENTS = 50


def get_engine(request_or_services: Request | Any) -> RecheckEngine:
    """The process's recheck engine (``services.extras["recheck"]``, made on first use)."""
    s = (
        services(request_or_services)
        if isinstance(request_or_services, Request)
        else request_or_services
    )
    return engine_for(s)


def _now(request: Request) -> int | None:
    """``?now=`` (ISO 8601, epoch ms, ``now-1d``): the window's end, for a past view."""
    raw = request.query_params.get("now")
    if not raw:
        return None
    from appliance import timeparse

    try:
        return timeparse.parse(raw)
    except ValueError as e:
        raise HTTPError(400, f"now: {e}") from None


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


@guarded
async def build(request: Request) -> Response:
    ref = request.path_params["uuid"]
    if not is_build_ref(ref):
        raise HTTPError(400, "build: a build uuid (hex) or its 7-character short uuid")
    wait = number(request, "wait", 0, 0, MAX_WAIT_S, cast=float)
    events = int(number(request, "events", 5, 0, MAX_EVENTS, cast=float))
    eng = get_engine(request)
    c = await bounded(request, lambda: eng.classify(ref, wait_s=wait, max_events=events), extra_s=wait)
    if not c.found:
        raise not_found(f"build {ref}")
    return _json(c.as_dict())


@guarded
async def graph_json(request: Request) -> Response:
    eng, days, now = get_engine(request), days_param(request), _now(request)
    return _json(await bounded(request, lambda: eng.graph_json(days, now)))


@guarded
async def graph(request: Request) -> Response:
    eng, days, now = get_engine(request), days_param(request), _now(request)
    g = await bounded(request, lambda: eng.graph(days, now))
    return _json(g.as_dict())


@guarded
async def uncategorized(request: Request) -> Response:
    eng, days, now = get_engine(request), days_param(request), _now(request)
    voting_only = request.query_params.get("nonvoting", "") in ("", "0", "false")
    u = await bounded(request, lambda: eng.uncategorized(days, now, voting_only=voting_only))
    return _json(u.as_dict())


@guarded
async def signatures(request: Request) -> Response:
    sigs = get_engine(request).signatures
    return _json({
        "directory": str(sigs.directory),
        "count": len(sigs),
        "signatures": [s.as_dict() for s in sigs],
        "errors": [e.as_dict() for e in sigs.errors],
        "warnings": list(sigs.warnings),
    })  # fmt: skip


@guarded
async def lag(request: Request) -> Response:
    eng = get_engine(request)
    return _json((await run_in_threadpool(eng.lag)).as_dict())


def _get(path: str, endpoint: Any) -> Route:
    return Route(path, endpoint, methods=["GET"])


routes: list[BaseRoute] = [
    _get("/api/recheck/builds/{uuid}", build),
    _get("/api/recheck/graph.json", graph_json),
    _get("/api/recheck/graph", graph),
    _get("/api/recheck/uncategorized", uncategorized),
    _get("/api/recheck/signatures", signatures),
    _get("/api/recheck/lag", lag),
]
