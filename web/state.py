"""Discover's state, all of it in the URL, so a pasted link shows the same thing.

``q`` (Lucene), ``from``/``to`` (ISO 8601 or ``now-24h``), ``f``/``nf`` (repeated
``field:value`` filters for and against), ``columns`` (comma list), ``sort`` (``desc``
newest first, ``asc``), ``page``, ``size`` and ``refresh`` (seconds). Defaults are left
out of generated URLs to keep them short.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

DEFAULT_FROM = "now-24h"
DEFAULT_TO = "now"
DEFAULT_COLUMNS = ("message", "build_name", "filename", "loglevel")
PAGE_SIZES = (20, 50, 100, 200, 500)
REFRESH_CHOICES = (0, 10, 30, 60)
MAX_WINDOW = 10_000
"""Deepest hit a page reaches (Elasticsearch's max_result_window); exports have no limit."""
QUICK_RANGES = (("15m", "now-15m"), ("1h", "now-1h"), ("24h", "now-24h"), ("7d", "now-7d"), ("10d", "now-10d"), ("all", "0"))
"""``from=0`` is the epoch: everything (the histogram is clipped to the data)."""


def quote_value(value: str) -> str:
    """A value as a Lucene phrase: exact match on keyword fields."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int(v: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(hi, max(lo, int(v))) if v else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Filter:
    field: str
    value: str
    negate: bool = False

    @classmethod
    def parse(cls, text: str, negate: bool = False) -> Filter | None:
        name, sep, value = text.partition(":")
        return cls(name.strip(), value, negate) if sep and name.strip() else None

    @property
    def token(self) -> str:
        return f"{self.field}:{self.value}"

    @property
    def lucene(self) -> str:
        clause = f"{self.field}:{quote_value(self.value)}"
        return f"NOT {clause}" if self.negate else clause


@dataclass(frozen=True)
class DiscoverState:
    q: str = ""
    frm: str = DEFAULT_FROM
    to: str = DEFAULT_TO
    filters: tuple[Filter, ...] = ()
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    sort: str = "desc"
    page: int = 1
    size: int = 50
    refresh: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_params(cls, p: QueryParams) -> DiscoverState:
        filters = [Filter.parse(v) for v in p.getlist("f")] + [Filter.parse(v, True) for v in p.getlist("nf")]
        cols = tuple(c.strip() for c in p.get("columns", "").split(",") if c.strip())
        sort = p.get("sort", "desc")
        refresh = _int(p.get("refresh"), 0, 0, 3600)
        size = _int(p.get("size"), 50, 1, 500)
        return cls(
            q=p.get("q", "").strip(),
            frm=p.get("from", "").strip() or DEFAULT_FROM,
            to=p.get("to", "").strip() or DEFAULT_TO,
            filters=tuple(dict.fromkeys(f for f in filters if f is not None)),
            columns=cols or DEFAULT_COLUMNS,
            sort=sort if sort in ("asc", "desc") else "desc",
            page=min(_int(p.get("page"), 1, 1, 10_000), max(1, MAX_WINDOW // size)),
            size=size,
            refresh=refresh if refresh in REFRESH_CHOICES else 0,
        )

    @property
    def newest_first(self) -> bool:
        return self.sort == "desc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def lucene(self) -> str:
        """The query actually run: ``(q) AND filter AND NOT filter...``."""
        parts = [f"({self.q})"] if self.q else []
        parts += [f.lucene for f in self.filters]
        if not parts:
            return "*"
        if len(parts) == 1 and self.q:
            return self.q
        return " AND ".join(parts)

    # -- URLs --------------------------------------------------------------------------------

    def params(self, *, paging: bool = True) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.q:
            out.append(("q", self.q))
        if self.frm != DEFAULT_FROM:
            out.append(("from", self.frm))
        if self.to != DEFAULT_TO:
            out.append(("to", self.to))
        out += [("nf" if f.negate else "f", f.token) for f in self.filters]
        if self.columns != DEFAULT_COLUMNS:
            out.append(("columns", ",".join(self.columns)))
        if self.sort != "desc":
            out.append(("sort", self.sort))
        if paging and self.page != 1:
            out.append(("page", str(self.page)))
        if paging and self.size != 50:
            out.append(("size", str(self.size)))
        if self.refresh:
            out.append(("refresh", str(self.refresh)))
        return out

    def url(self, path: str = "/discover", *, paging: bool = True, **changes: Any) -> str:
        """This state with ``changes`` applied (a new filter or range resets paging)."""
        st = replace(self, **changes) if changes else self
        if changes and "page" not in changes:
            st = replace(st, page=1)
        qs = urlencode(st.params(paging=paging))
        return f"{path}?{qs}" if qs else path

    def with_filter(self, name: str, value: str, negate: bool = False) -> str:
        keep = tuple(f for f in self.filters if (f.field, f.value) != (name, value))
        return self.url(filters=(*keep, Filter(name, value, negate)))

    def without_filter(self, flt: Filter) -> str:
        return self.url(filters=tuple(f for f in self.filters if f != flt))

    def toggled_filter(self, flt: Filter) -> str:
        return self.url(filters=tuple(replace(f, negate=not f.negate) if f == flt else f for f in self.filters))

    def toggled_column(self, name: str) -> str:
        cols = tuple(c for c in self.columns if c != name) if name in self.columns else (*self.columns, name)
        return self.url(columns=cols or DEFAULT_COLUMNS)

    def range_url(self, frm: str, to: str = DEFAULT_TO) -> str:
        return self.url(frm=frm, to=to)


def build_url(build_uuid: str) -> str:
    """Every event of one build, over all time."""
    return "/discover?" + urlencode([("q", f"build_uuid:{quote_value(build_uuid)}"), ("from", "0"), ("sort", "asc")])


def query_url(q: str, frm: str = DEFAULT_FROM) -> str:
    return "/discover?" + urlencode([("q", q), ("from", frm)])
