"""The recheck pages: known bugs and how often they hit, failures no signature explains,
and one build's classification — elastic-recheck's status pages on the recheck engine.

Every page has a JSON twin (``.json``) with the engine's own ``as_dict()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from appliance.recheck.engine import RecheckEngine, engine_for

from .. import spark
from ..errors import HTTPError, guarded, not_found
from ..params import days as days_param
from ..render import logs_url, render
from ..security import SECURE
from ..services import services
from ..state import build_url

R = TypeVar("R")


def engine(request: Request) -> RecheckEngine:
    """The process's one engine (``services.extras["recheck"]``, shared with the API)."""
    return engine_for(services(request))


CONSOLE_NAMES = ("job-output.txt", "console.html", "console.log")


def build_files(request: Request, uuid: str) -> list[tuple[str, str]]:
    """(filename, viewer URL) of every file of a build, its console log first."""
    svc = services(request)
    if svc.remote:  # the cluster knows the files by their events
        from appliance.backend.base import quote

        top = svc.backend.top_values(["filename"], f"build_uuid:{quote(uuid)}", n=10_000)
        names = sorted(v for v, _ in top.get("filename", []))
        names.sort(key=lambda n: (not n.endswith(CONSOLE_NAMES), n))
        return [(n, logs_url(uuid, n)) for n in names]
    cat = svc.store.catalog
    names = sorted(
        str(src.attrs.get("filename", ""))
        for src in cat.many(cat.ids_with("build_uuid", uuid)).values()
        if src.state == "done"
    )
    names.sort(key=lambda n: (not n.endswith(CONSOLE_NAMES), n))
    return [(n, logs_url(uuid, n)) for n in names]


async def bounded(request: Request, fn: Callable[[], R], extra_s: float = 0.0) -> R:
    """``fn()`` on a worker thread, waited for at most ``query_timeout_s``. Past it the
    page says so (a 503 naming the limit) instead of holding the request; the computation goes
    on and its result lands in the engine's caches, so asking again soon finds it."""
    limit = services(request).config.query_timeout_s + extra_s  # extra: a wait the caller asked for
    fut = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.wait_for(asyncio.shield(fut), timeout=limit)
    except TimeoutError:
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "exception was never retrieved"
        raise HTTPError(503, f"timed out: the recheck engine took over {limit:g} s; it keeps computing "
                             "and caches the answer, try again in a few seconds") from None  # fmt: skip


def _behind(seconds: float | None) -> str:
    if seconds is None:
        return "nothing indexed yet"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


# -- status ------------------------------------------------------------------------------


@guarded
async def status_json(request: Request) -> Response:
    eng, days = engine(request), days_param(request)
    g = await bounded(request, lambda: eng.graph(days))
    d = g.as_dict()
    d["errors"] = [e.as_dict() for e in eng.signatures.errors]
    return JSONResponse(d)


@guarded
async def status_page(request: Request) -> Response:
    eng, days = engine(request), days_param(request)
    g = await bounded(request, lambda: eng.graph(days))
    rows: list[dict[str, Any]] = []
    for b in g.bugs:
        if b.suppress_graph:
            continue
        jobs = sorted(b.jobs.items(), key=lambda kv: (-kv[1].fails, -kv[1].hits, kv[0]))[:4]
        rows.append({"b": b, "rects": spark.stacked(b.by_queue, g.hours), "jobs": jobs, "queues": sorted(b.queues.items())})
    return render(
        "recheck.html", title="Recheck", g=g, rows=rows, days=days,
        errors=list(eng.signatures.errors), behind=_behind(g.lag.behind_s),
        hidden=sum(1 for b in g.bugs if b.suppress_graph), bin_h=max(1, -(-len(g.hours) // spark.BINS)),
    )  # fmt: skip


# -- uncategorized ---------------------------------------------------------------------------


def _voting_only(request: Request) -> bool:
    return request.query_params.get("nonvoting", "") in ("", "0")


@guarded
async def uncategorized_json(request: Request) -> Response:
    eng, days = engine(request), days_param(request)
    voting_only = _voting_only(request)
    u = await bounded(request, lambda: eng.uncategorized(days, voting_only=voting_only))
    return JSONResponse(u.as_dict())


@guarded
async def uncategorized_page(request: Request) -> Response:
    eng, days = engine(request), days_param(request)
    voting_only = _voting_only(request)
    u = await bounded(request, lambda: eng.uncategorized(days, voting_only=voting_only))

    def first_logs() -> dict[str, tuple[str, str]]:
        out = {}
        for j in u.jobs:
            for b in j.builds:
                files = build_files(request, b.build_uuid)
                if files:
                    out[b.build_uuid] = files[0]
        return out

    logs = await run_in_threadpool(first_logs)
    return render(
        "uncategorized.html", title="Uncategorized failures", u=u, days=days, voting_only=voting_only,
        build_url=build_url, logs=logs,
    )  # fmt: skip


# -- one build -------------------------------------------------------------------------------


async def _classify(request: Request) -> Any:
    eng = engine(request)
    ref = request.path_params["uuid"]
    c = await bounded(request, lambda: eng.classify(ref, max_events=10))
    if not c.found:
        raise not_found(f"build {ref}")
    return c


@guarded
async def build_json(request: Request) -> Response:
    return JSONResponse((await _classify(request)).as_dict())


@guarded
async def build_page(request: Request) -> Response:
    c = await _classify(request)
    files = await run_in_threadpool(build_files, request, c.build_uuid)
    return render(
        "recheck_build.html", title=f"Build {c.build_uuid[:7]}", c=c,
        fields=sorted(c.build.items()), build_url=build_url(c.build_uuid), files=files,
    )  # fmt: skip


def _get(path: str, endpoint: Any) -> Route:
    return Route(path, endpoint, methods=["GET"], middleware=SECURE)


routes: list[BaseRoute] = [
    _get("/recheck", status_page),
    _get("/recheck.json", status_json),
    _get("/recheck/uncategorized", uncategorized_page),
    _get("/recheck/uncategorized.json", uncategorized_json),
    _get("/recheck/builds/{uuid}.json", build_json),
    _get("/recheck/builds/{uuid}", build_page),
]
