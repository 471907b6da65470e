"""Errors users see: a clear 4xx with the message, or a 500 page without a traceback.

Routes are wrapped with :func:`guarded`; a page's JSON twin (``*.json``, ``/api/...``)
gets the same error as JSON. Tracebacks go to the server log only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .render import render

log = logging.getLogger("appliance.web")


class HTTPError(Exception):
    """Raised by a route to answer ``status`` with ``message`` (and no traceback)."""

    def __init__(self, status: int, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.column = column


def not_found(what: str) -> HTTPError:
    return HTTPError(404, f"not found: {what}")


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.endswith(".json") or path.startswith("/api/")


def error_response(request: Request, status: int, message: str, column: int | None = None) -> Response:
    if wants_json(request):
        body: dict[str, object] = {"error": message, "status": status}
        if column is not None:
            body["column"] = column
        return JSONResponse(body, status_code=status)
    return render("error.html", status=status, status_code=status, message=message, title=f"Error {status}")


def query_error(e: Exception) -> HTTPError:
    """A :class:`index.query.QueryError` (or a bad time) as a 400."""
    return HTTPError(400, getattr(e, "message", None) or str(e), getattr(e, "column", None))


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        from appliance.backend.base import BackendError
        from index.query import QueryError

        try:
            return await endpoint(request)
        except HTTPError as e:
            return error_response(request, e.status, e.message, e.column)
        except QueryError as e:
            err = query_error(e)
            return error_response(request, 400, err.message, err.column)
        except BackendError as e:  # a remote cluster down, slow or refusing: say which, no traceback
            if e.status >= 500:
                log.warning("backend error on %s: %s", request.url.path, e.message)
            return error_response(request, e.status, e.message)
        except Exception:
            log.exception("unexpected error on %s", request.url.path)
            return error_response(request, 500, "internal error: the server log has the details")

    return wrapper


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None)
    return error_response(request, status, str(detail) if detail else "not found" if status == 404 else "error")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(request, 500, "internal error: the server log has the details")


def exception_handlers() -> dict[object, Callable[[Request, Exception], Awaitable[Response]]]:
    """For ``Starlette(exception_handlers=...)``: the same 404/405/500 pages (or JSON) for
    what no route's guard sees — unknown paths, wrong methods, middleware errors."""
    from starlette.exceptions import HTTPException

    return {HTTPException: _http_exception, 500: _server_error}
