"""Errors and responses in Elasticsearch's shape, so clients report them as they would ES's own."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
"""elasticsearch-py 8 refuses a server whose responses lack this header."""

log = logging.getLogger("appliance.es")


class EsError(Exception):
    def __init__(self, status: int, type_: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        cause = {"type": self.type, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


def bad_request(reason: str, type_: str = "illegal_argument_exception") -> EsError:
    return EsError(400, type_, reason)


def unsupported(what: str, type_: str = "illegal_argument_exception") -> EsError:
    """The one wording for everything outside the subset, so clients can grep for it."""
    return EsError(400, type_, f"{what} is not supported by the appliance")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    return Response(raw, status_code=status, media_type="application/json", headers={**ES_HEADERS, **(headers or {})})


Handler = Callable[[Request], Awaitable[Response]]


def es_endpoint(handler: Handler) -> Handler:
    """ES-shaped errors for everything a handler raises; never a traceback in a response."""
    from appliance.service import Busy

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except EsError as e:
            return e.response()
        except Busy as e:
            return EsError(429, "es_rejected_execution_exception", str(e), {"Retry-After": str(e.retry_after)}).response()
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError, RecursionError) as e:
            # A body of a shape no check caught (``"_source": 0``...): the client's mistake,
            # said as such. Logged, since each one is a check to add.
            log.warning("unchecked malformed ES request on %s: %s: %s", request.url.path, type(e).__name__, e)
            return bad_request(f"malformed request: {type(e).__name__}: {str(e)[:200]}").response()
        except Exception:
            log.exception("unexpected error on %s", request.url.path)
            return EsError(500, "exception", "internal error: the server log has the details").response()

    return wrapped
