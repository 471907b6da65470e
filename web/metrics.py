"""Request latency for Prometheus: one histogram, labelled by route family."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

REQUEST_LATENCY = Histogram(
    "appliance_request_seconds",
    "Latency of HTTP requests by route family",
    ["family"],
    registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)

_FAMILIES = ("/discover", "/logs", "/recheck", "/api/recheck", "/context", "/_search", "/_bulk", "/_count", "/_msearch")


def family(path: str) -> str:
    for f in _FAMILIES:
        if path.startswith(f) or f in path:
            return f.strip("/")
    return "other"


class LatencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_LATENCY.labels(family(scope.get("path", ""))).observe(time.perf_counter() - t0)
