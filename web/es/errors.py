"""Errors in Elasticsearch's shape, so clients report them as they would ES's own."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


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

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers={**ES_HEADERS, **self.headers})


ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
