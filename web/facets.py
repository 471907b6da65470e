"""The field sidebar: every field with its top values over the hits.

Source fields (build_*, filename, tags...) are counted from one per-file aggregation
shared by all of them (one pass over the hits instead of one per field); event keywords
with a fast column use Tantivy's terms aggregation.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from index import schema
from index.search import Searcher

EVENT_FACETS = ("loglevel", "module", "pid", "syslog_program", "flags")
OPEN_BY_DEFAULT = frozenset({"loglevel", "build_name", "build_status", "filename"})


@dataclass(frozen=True)
class Facet:
    field: str
    values: list[tuple[str, int]]

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "values": [{"value": v, "count": c} for v, c in self.values]}


def facets(
    searcher: Searcher, text: str, start_us: int | None, end_us: int | None, size: int = 5
) -> list[Facet]:
    out = []
    for name in EVENT_FACETS:
        if name in schema.EVENT_KEYWORDS:
            vals = searcher.top_values(text, name, start_us=start_us, end_us=end_us, size=size)
            if vals:
                out.append(Facet(name, vals))
    per = searcher.per_source(text, start_us=start_us, end_us=end_us)
    counts: dict[str, dict[str, int]] = {}
    for sid, src in searcher.store.catalog.many(per).items():
        n = per[sid]
        for name, v in src.attrs.items():
            c = counts.setdefault(name, {})
            for one in v if isinstance(v, list) else ([v] if v is not None else []):
                c[str(one)] = c.get(str(one), 0) + n
    for name in sorted(counts):
        top = heapq.nlargest(size, counts[name].items(), key=lambda kv: (kv[1], kv[0]))
        out.append(Facet(name, top))
    return out


def field_names(searcher: Searcher) -> list[str]:
    """Every field a query can name: event fields first, then the catalog's source fields."""
    names = ["message", "@timestamp", *schema.EVENT_KEYWORDS, "line", "nlines"]
    return names + [f for f in searcher.store.catalog.fields() if f not in names]


def values(searcher: Searcher, field: str, prefix: str = "", limit: int = 20) -> list[str]:
    """Known values of a keyword field starting with ``prefix`` (for completion)."""
    if schema.is_event_field(field):
        if field not in schema.EVENT_KEYWORDS:
            return []
        vals = [v for v, _ in searcher.top_values("*", field, size=500)]
    else:
        vals = sorted(searcher.store.catalog.values(field))
    p = prefix.lower()
    return [v for v in vals if v.lower().startswith(p)][:limit]
