"""Source fields in queries: what a clause asks of a per-file value, and who answers.

A source field (``build_status``, ``tags``, ``filename``...) is stored once per file in the
catalog, not per event, so the translator (:mod:`index.query`) hands each such clause to a
:class:`SourceResolver` as a :class:`SourceMatch` and gets back the set of matching
``file_id`` values. :func:`match_value` is the one definition of "matches" for a value,
used by the catalog's resolver and by :class:`DictResolver`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from .query_syntax import wildcard_regex


@dataclass(frozen=True, slots=True)
class SourceMatch:
    """What a clause asks of a source field, for the resolver (hashable: a cache key)."""

    kind: str
    """``term`` | ``wildcard`` (Lucene pattern, escapes kept) | ``regex`` | ``range`` | ``exists``"""
    value: str | None = None
    low: str | None = None
    high: str | None = None
    include_low: bool = True
    include_high: bool = True


class SourceResolver(Protocol):
    def ids(self, field: str, match: SourceMatch) -> set[int] | None:
        """File ids whose ``field`` matches; None means every source."""


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _num(s: str | None) -> float | None:
    return float(s) if s is not None and _NUMBER.fullmatch(s.strip()) else None


@lru_cache(maxsize=1024)
def compiled_pattern(kind: str, pattern: str) -> re.Pattern[str]:
    """The Python regex of a source pattern (cached: the catalog tries it on every value)."""
    return re.compile(wildcard_regex(pattern, re.escape) if kind == "wildcard" else pattern, re.S)


def match_value(match: SourceMatch, value: str) -> bool:
    """Whether one source value satisfies ``match`` (shared by the catalog and DictResolver).

    Terms are exact and case-sensitive; patterns must match the whole value; a range is
    numeric when the value and the given bounds are all numbers, else a string range."""
    k = match.kind
    if k == "term":
        return value == match.value
    if k == "exists":
        return True
    if k in ("wildcard", "regex"):
        return compiled_pattern(k, match.value or "").fullmatch(value) is not None
    if k != "range":
        raise ValueError(f"unknown match kind {k!r}")
    v, lo, hi = _num(value), _num(match.low), _num(match.high)
    numeric = (
        v is not None
        and (match.low is None or lo is not None)
        and (match.high is None or hi is not None)
    )
    a: Any = v if numeric else value
    low: Any = lo if numeric else match.low
    high: Any = hi if numeric else match.high
    if low is not None and (a < low or (a == low and not match.include_low)):
        return False
    return not (high is not None and (a > high or (a == high and not match.include_high)))


class DictResolver:
    """An in-memory resolver over ``{file_id: {field: value | [values]}}`` (tests, tools)."""

    def __init__(self, sources: dict[int, dict[str, Any]]) -> None:
        self.sources = sources

    def ids(self, field: str, match: SourceMatch) -> set[int] | None:
        out = set()
        for sid, attrs in self.sources.items():
            v = attrs.get(field)
            vals = v if isinstance(v, list | tuple) else ([] if v is None else [v])
            if any(match_value(match, str(x)) for x in vals):
                out.add(sid)
        return out
