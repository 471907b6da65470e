"""The field sidebar: its Facet, and for this data dir the field names and values completion offers.

The counting itself is the backend's (:meth:`appliance.backend.local.LocalBackend.top_values`:
event keywords by Tantivy's terms aggregation, source fields from one per-file
aggregation shared by all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from index import schema
from index.search import Searcher

OPEN_BY_DEFAULT = frozenset({"loglevel", "build_name", "build_status", "filename"})


@dataclass(frozen=True)
class Facet:
    field: str
    values: list[tuple[str, int]]

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "values": [{"value": v, "count": c} for v, c in self.values]}


def field_names(searcher: Searcher) -> list[str]:
    """Every field a query can name: event fields first, then the catalog's source fields."""
    names = ["message", "@timestamp", *schema.EVENT_KEYWORDS, "line", "nlines"]
    return names + [f for f in searcher.store.catalog.fields() if f not in names]


def values(searcher: Searcher, field: str, prefix: str = "", limit: int = 20) -> list[str]:
    """Known values of a keyword field starting with ``prefix`` (for completion)."""
    if schema.is_event_field(field):
        if field not in schema.EVENT_KEYWORDS:
            return []
        vals = [v for v, _ in searcher.top_values("*", [field], size=500).get(field, [])]
    else:
        vals = sorted(searcher.store.catalog.values(field))
    p = prefix.lower()
    return [v for v in vals if v.lower().startswith(p)][:limit]
