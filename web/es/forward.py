"""``_bulk`` passthrough: with ``backend = "opensearch"`` a shipper's bulk request goes to
the cluster as it came, and the cluster's answer comes back as it went — its 429 included,
so Logstash, Fluent Bit or Vector back off exactly as they would against the cluster."""

from __future__ import annotations

from typing import Any

from .errors import EsError


def forward_bulk(client: Any, body: bytes, index: str | None, url: str = "") -> Any:
    """The cluster's ``_bulk`` response; its HTTP errors as :class:`EsError` (same status),
    an unreachable cluster as a 503 (clients retry those)."""
    from opensearchpy import exceptions as ox

    text = body.decode("utf-8", "replace")
    if not text.endswith("\n"):
        text += "\n"
    try:
        return client.bulk(body=text, index=index) if index else client.bulk(body=text)
    except ox.ConnectionError as e:
        raise EsError(503, "unavailable_exception", f"the search cluster at {url} is unreachable: {str(e)[:300]}") from None
    except ox.TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else 502
        info = e.info if isinstance(e.info, dict) else {}
        err = info.get("error") if isinstance(info.get("error"), dict) else {}
        headers = {"Retry-After": "1"} if status == 429 else None
        raise EsError(status, str(err.get("type") or "cluster_exception"),
                      str(err.get("reason") or e.error or f"the cluster answered {status}"), headers) from None  # fmt: skip
