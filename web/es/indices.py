"""Index names and patterns -> day partitions.

The appliance has one namespace split by UTC day, as Logstash's daily indices were: an
index ``<prefix>-YYYY.MM.DD`` (any prefix: ``logstash-``, ``vector-``...) is that day, a
pattern (``logstash-*``, ``logstash-2014.11.*``, comma lists, ``-`` exclusions) the days
it matches, and a name without a day (``_all``, ``*``, ``myapp``) every day — writes to
such a name land in the partition of their ``@timestamp``. Hits always name their day as
``logstash-YYYY.MM.DD``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import tantivy

from appliance.bulk import day_of_index
from index import schema
from index.partitions import DAY_US, day_start_us

from .errors import unsupported

_LITERAL = re.compile(r"[^*?\d]*")


def index_name(day: str) -> str:
    return f"logstash-{day.replace('-', '.')}"


@dataclass
class Scope:
    """The days a request reads, as a time range plus, for a list with gaps, a filter."""

    days: list[str]
    all_days: bool = False
    runs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def start_us(self) -> int | None:
        return None if self.all_days else (self.runs[0][0] if self.runs else 0)

    @property
    def end_us(self) -> int | None:
        return None if self.all_days else (self.runs[-1][1] if self.runs else -1)

    @property
    def empty(self) -> bool:
        return not self.all_days and not self.runs

    def restrict(self, q: tantivy.Query) -> tantivy.Query:
        """``q`` limited to the named days when they are not one contiguous range."""
        if len(self.runs) < 2:
            return q
        ranges = [(tantivy.Occur.Should, tantivy.Query.range_query(schema.SCHEMA, schema.TS,
                   tantivy.FieldType.Integer, lo, hi)) for lo, hi in self.runs]  # fmt: skip
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q), (tantivy.Occur.Must, tantivy.Query.boolean_query(ranges))])


def _matches(part: str, day: str) -> bool:
    if not any(c in part for c in "*?"):
        return day_of_index(part) == day
    lit = _LITERAL.match(part)[0]  # type: ignore[index]
    dotted = day.replace("-", ".")
    return any(fnmatch.fnmatchcase(n, part) for n in (lit + dotted, lit + day, index_name(day)))


def resolve(expr: str | None, days: list[str]) -> Scope:
    """The scope of an index expression over the existing ``days`` (sorted), read left to
    right as Elasticsearch does (``logstash-*,-logstash-2014.11.24``)."""
    parts = [p.strip() for p in (expr or "").split(",") if p.strip()] or ["_all"]
    picked: set[str] = set()
    for part in parts:
        if part.startswith("-") and len(part) > 1:
            picked -= {d for d in picked if _matches(part[1:], d)}
        elif part in ("_all", "*") or not any(c in part for c in "*?") and day_of_index(part) is None:
            if part.startswith("_") and part != "_all":
                raise unsupported(f"the API or index [{part}]", "invalid_index_name_exception")
            picked |= set(days)  # a name without a day: every day
        else:
            picked |= {d for d in days if _matches(part, d)}
    if picked == set(days):
        return Scope(list(days), all_days=True)
    return Scope(sorted(picked), runs=_runs(sorted(picked)))


def _runs(days: list[str]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for d in days:
        lo = day_start_us(d)
        if runs and runs[-1][1] + 1 == lo:
            runs[-1] = (runs[-1][0], lo + DAY_US - 1)
        else:
            runs.append((lo, lo + DAY_US - 1))
    return runs
