"""URL parameters: checked like Elasticsearch checks them (an unknown one is a 400, never
ignored), and ``filter_path``, which shapes every response."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from .errors import bad_request

COMMON = frozenset({"pretty", "human", "error_trace", "filter_path", "format"})
"""Accepted everywhere; only ``filter_path`` changes what is answered (and ``format`` on _cat)."""

HARMLESS_READ = frozenset({"ignore_unavailable", "allow_no_indices", "expand_wildcards", "ignore_throttled",
                           "preference", "routing", "request_cache", "timeout", "allow_partial_search_results",
                           "ccs_minimize_roundtrips", "batched_reduce_size", "pre_filter_shard_size",
                           "max_concurrent_shard_requests", "max_concurrent_searches", "search_type",
                           "analyze_wildcard", "lenient"})  # fmt: skip
"""Parameters about shards, caches and tolerance: with one node and no failures they change
nothing in the answer."""

HARMLESS_WRITE = frozenset({"refresh", "timeout", "wait_for_active_shards", "routing", "require_alias",
                            "_source", "_source_includes", "_source_excludes", "master_timeout"})  # fmt: skip
"""Writes are durable and visible when acknowledged, so ``refresh`` is always satisfied."""


def check(params: Mapping[str, str], allowed: frozenset[str] | set[str], path: str) -> None:
    unknown = sorted(set(params) - COMMON - allowed)
    if unknown:
        raise bad_request(f"request [{path}] contains unrecognized parameter: [{unknown[0]}]"
                          " (or one not supported by the appliance)")  # fmt: skip
    if params.get("search_type", "query_then_fetch") not in ("query_then_fetch", "dfs_query_then_fetch"):
        raise bad_request(f"search_type [{params['search_type']}] is not supported by the appliance")


def whole(v: Any, name: str, lo: int = 0, hi: int = 2**31 - 1) -> int:
    """A whole number in [lo, hi]; booleans and fractions are refused as ES refuses them."""
    if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
        raise bad_request(f"[{name}] must be a whole number, not {v!r}")
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise bad_request(f"[{name}] must be a whole number, not {v!r}") from None
    if not lo <= n <= hi:
        raise bad_request(f"[{name}] must be between {lo} and {hi}, not {n}")
    return n


def flag(v: Any) -> bool:
    """URL booleans: ``true``/``false`` (and an empty value, meaning true)."""
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("", "true", "1", "yes", "on"):
        return True
    if s in ("false", "0", "no", "off"):
        return False
    raise bad_request(f"[{v}] is not a boolean (true or false)")


_DURATION = re.compile(r"([+-]?\d+)(ms|s|m|h|d)")
UNIT_US = {"ms": 1000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


def duration_us(raw: Any, what: str) -> int:
    """ES time units (``30s``, ``1m``, ``-6h``); months and years are calendar, not durations."""
    m = _DURATION.fullmatch(str(raw).strip())
    if not m:
        raise bad_request(f"{what} [{raw}] is not a duration (a number and one of ms, s, m, h, d)")
    return int(m[1]) * UNIT_US[m[2]]


# -- filter_path --------------------------------------------------------------------------


def filter_path(body: Any, spec: str | None) -> Any:
    """Keep only what ``spec`` names (``hits.hits._id,items.*.status``, ``**`` for any
    depth, a leading ``-`` excludes). Arrays are transparent, as in Elasticsearch."""
    if not spec:
        return body
    paths = [p.strip() for p in spec.split(",") if p.strip()]
    inc = [p.split(".") for p in paths if not p.startswith("-")]
    exc = [p[1:].split(".") for p in paths if p.startswith("-")]
    out = _include(body, inc) if inc else body
    for p in exc:
        out = _exclude(out, p)
    return {} if out is _NOTHING else out


_NOTHING = object()


def _include(node: Any, paths: list[list[str]]) -> Any:
    if any(not p for p in paths):
        return node
    if isinstance(node, list):
        kept = [x for x in (_include(v, paths) for v in node) if x is not _NOTHING]
        return kept if kept else _NOTHING
    if not isinstance(node, dict):
        return _NOTHING
    out = {}
    for k, v in node.items():
        nxt = [q for p in paths for q in _advance(p, k)]
        if nxt:
            r = _include(v, nxt)
            if r is not _NOTHING:
                out[k] = r
    return out if out else _NOTHING


def _advance(path: list[str], key: str) -> list[list[str]]:
    """What remains of ``path`` to match below ``key`` (``**`` matches zero or more keys)."""
    if path[0] == "**":
        return [[]] if len(path) == 1 else [path, *_advance(path[1:], key)]
    return [path[1:]] if fnmatch.fnmatchcase(key, path[0]) else []


def _exclude(node: Any, path: list[str]) -> Any:
    if isinstance(node, list):
        return [_exclude(v, path) for v in node]
    if not isinstance(node, dict) or not path:
        return node
    out = {}
    for k, v in node.items():
        if fnmatch.fnmatchcase(k, path[0]):
            if len(path) == 1:
                continue
            out[k] = _exclude(v, path[1:])
        else:
            out[k] = v
    return out
