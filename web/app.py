"""The Starlette application: UI pages, their JSON twins and the APIs, over one data dir.

Each module of :data:`ROUTE_MODULES` holds one feature's routes (a ``routes`` list); the
app is just their sum plus the middleware every response needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from appliance.config import Config
from appliance.plugins import optional_module

from .errors import exception_handlers
from .es import workers as es_workers
from .es.auth import ReadGate
from .metrics import LatencyMiddleware
from .security import SecurityHeadersMiddleware
from .services import Services

ROUTE_MODULES = (
    "web.routes.health",
    "web.routes.discover",
    "web.routes.logs",
    "web.routes.recheck",
    "web.routes.recheck_api",
    "web.routes.recheck_diff",
    "web.routes.status",
    "web.routes.backend_views",
    "web.routes.es",
)


def _routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        mod = optional_module(name)
        if mod is not None:
            out.extend(mod.routes)
    return out


def create_app(cfg: Config, services: Services | None = None) -> Starlette:
    svc = services or Services.open(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in STARTUP_HOOKS:
            _call(hook, svc)
        try:
            yield
        finally:
            svc.close()  # on SIGTERM too: sources stop, the writer commits
            es_workers.shutdown()  # before interpreter exit, whose pool teardown can race

    middleware = [Middleware(LatencyMiddleware), Middleware(SecurityHeadersMiddleware)]
    if not cfg.public_reads:
        middleware.append(Middleware(ReadGate, token=cfg.token))
    app = Starlette(
        routes=_routes(), lifespan=lifespan, middleware=middleware, exception_handlers=exception_handlers()
    )
    app.state.services = svc
    return app


STARTUP_HOOKS: tuple[str, ...] = (
    "appliance.integrity:start", "appliance.sources.spool:start", "appliance.sources.zuul:start_from_services",
    "appliance.recheck.digger:start",
)
"""``module:function(services)`` run at startup (e.g. the spool watcher, the Zuul poller)."""


def _call(spec: str, svc: Services) -> None:
    mod, _, fn = spec.partition(":")
    module = optional_module(mod)
    if module is not None:
        getattr(module, fn)(svc)
