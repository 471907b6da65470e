"""Discover's helpers for a cluster (``backend = "opensearch"``): completion and exports.

The page itself runs on any backend (:func:`web.discover_data.run`); what stays here reads
no mapping and no catalog, so it answers from the backend alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from appliance.backend.base import Backend, iter_hits
from appliance.backend.opensearch import FACETS


def field_names() -> tuple[str, ...]:
    """The fields completion offers on a cluster (its mapping is not read)."""
    return ("message", "@timestamp", *FACETS, "build_uuid", "build_short_uuid", "build_change", "build_patchset",
            "build_ref", "build_node", "tenant", "log_url", "line", "nlines")  # fmt: skip


def values(backend: Backend, field: str, prefix: str = "", limit: int = 20) -> list[str]:
    """Frequent values of a field starting with ``prefix`` (for completion)."""
    p = prefix.lower()
    vals = backend.top_values([field], "*", n=500).get(field, [])
    return [v for v, _ in vals if v.lower().startswith(p)][:limit]


def iter_events(backend: Backend, text: str, start_us: int, end_us: int, newest_first: bool = True) -> Iterator[dict[str, Any]]:
    """Every hit's event, for the streamed exports (flat memory, no result window)."""
    for h in iter_hits(backend, text, start_us, end_us, newest_first=newest_first, grain_us=backend.grain_us):
        yield h.event
