"""Liveness and readiness.

``/healthz`` answers while the process serves at all (the container's HEALTHCHECK).
``/readyz`` answers 200 only when the appliance can do its work: the catalog and the
index directory answer, the writer thread (once started) is alive, and every live source
(spool, Zuul poller) is running; otherwise 503 with the reasons. Damaged day partitions
do not make it unready (the other days are served); they are listed.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ..services import Services, services


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def readiness(s: Services) -> dict[str, Any]:
    problems: list[str] = []
    days: list[str] = []
    try:
        days = s.store.partitions.days()
        _ = s.store.catalog.generation  # a read round trip to the catalog (SQLite)
    except Exception as e:  # noqa: BLE001 - reported, not raised: this is the check
        problems.append(f"index: {type(e).__name__}: {e}")
    ingest = s.extras.get("ingest")
    if ingest is not None and getattr(ingest, "died", False):
        problems.append("ingest: the writer thread has stopped")
    for name, obj in list(s.extras.items()):
        status = getattr(obj, "status", None)
        if name == "ingest" or not callable(status):
            continue
        st = status()
        if isinstance(st, dict) and st.get("running") is False:
            problems.append(f"{name}: not running" + (f" ({st['last_error']})" if st.get("last_error") else ""))
    return {"ready": not problems, "problems": problems, "days": len(days),
            "broken_partitions": dict(s.store.partitions.broken),
            "checksums_verified": s.extras.get("integrity") is not None}  # fmt: skip


async def readyz(request: Request) -> JSONResponse:
    info = await run_in_threadpool(readiness, services(request))
    return JSONResponse(info, status_code=200 if info["ready"] else 503)


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
