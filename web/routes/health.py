"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ..services import services


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> JSONResponse:
    s = services(request)
    broken = dict(s.store.partitions.broken)
    days = s.store.partitions.days()
    checked = s.extras.get("integrity")
    return JSONResponse({"ready": True, "days": len(days), "broken_partitions": broken,
                         "checksums_verified": checked is not None})  # fmt: skip


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
