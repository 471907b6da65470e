"""Passthrough to the cluster when ``backend = "opensearch"``.

Writes: a shipper's ``_bulk`` goes to the cluster as it came, and the cluster's answer
comes back as it went — its 429 included, so Logstash, Fluent Bit or Vector back off
exactly as they would against the cluster. Reads (``_search``, ``_count``, ``_msearch``,
scroll, ``_cat/indices``): the request goes as it came too, so search clients see the
cluster's data (the appliance's own data dir holds none) with the cluster's semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import EsError


def _call(fn: Callable[[], Any], url: str) -> Any:
    """The cluster's answer; its HTTP errors as :class:`EsError` (same status), an
    unreachable cluster as a 503 (clients retry those)."""
    from opensearchpy import exceptions as ox

    try:
        return fn()
    except ox.ConnectionError as e:
        raise EsError(503, "unavailable_exception", f"the search cluster at {url} is unreachable: {str(e)[:300]}") from None
    except ox.TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else 502
        info = e.info if isinstance(e.info, dict) else {}
        err = info.get("error") if isinstance(info.get("error"), dict) else {}
        headers = {"Retry-After": "1"} if status == 429 else None
        raise EsError(status, str(err.get("type") or "cluster_exception"),
                      str(err.get("reason") or e.error or f"the cluster answered {status}"), headers) from None  # fmt: skip


def forward_bulk(client: Any, body: bytes, index: str | None, url: str = "") -> Any:
    text = body.decode("utf-8", "replace")
    if not text.endswith("\n"):
        text += "\n"
    return _call(lambda: client.bulk(body=text, index=index) if index else client.bulk(body=text), url)


def forward_read(client: Any, method: str, path: str, params: Mapping[str, str], body: bytes, url: str = "") -> Any:
    """A read request, same method, path, parameters and body (NDJSON for ``_msearch``)."""
    payload: Any = body.decode("utf-8", "replace") if body else None
    headers = None
    if payload is not None and path.endswith("_msearch"):
        headers = {"content-type": "application/x-ndjson"}
        payload += "" if payload.endswith("\n") else "\n"
    return _call(lambda: client.transport.perform_request(method, path, headers=headers, params=dict(params),
                                                          body=payload), url)  # fmt: skip
