"""Elasticsearch aggregations over the day partitions.

Event fields aggregate in Tantivy; source fields (``build_name``, ``build_uuid``...) live in
the catalog, so their ``terms`` and ``cardinality`` aggregate matching events per
``file_id`` and map the files to their values. A sub-aggregation runs again on the parent
query restricted to the bucket (one level of nesting).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import tantivy

from index import schema
from index.search import Searcher

from .errors import EsError

Occur = tantivy.Occur
Q = tantivy.Query

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_CALENDAR = {"minute": "1m", "1m": "1m", "hour": "1h", "1h": "1h", "day": "1d", "1d": "1d", "week": "7d", "1w": "7d"}
_SUPPORTED = ("date_histogram", "terms", "cardinality", "min", "max", "value_count")


def _interval_us(spec: dict[str, Any]) -> int:
    raw = spec.get("fixed_interval") or spec.get("interval")
    if raw is None and "calendar_interval" in spec:
        raw = _CALENDAR.get(str(spec["calendar_interval"]))
        if raw is None:
            raise EsError(400, "illegal_argument_exception",
                          f"calendar_interval {spec['calendar_interval']!r} is not supported (minute, hour, day, week are)")  # fmt: skip
    if raw is None:
        raise EsError(400, "illegal_argument_exception", "date_histogram needs fixed_interval or calendar_interval")
    raw = _CALENDAR.get(str(raw), str(raw))
    num = "".join(c for c in raw if c.isdigit())
    unit = raw[len(num):]
    if not num or unit not in _UNITS_MS:
        raise EsError(400, "illegal_argument_exception", f"interval {raw!r} is not supported")
    return int(num) * _UNITS_MS[unit] * 1000


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Aggregator:
    def __init__(self, searcher: Searcher, start_us: int | None, end_us: int | None) -> None:
        self.s = searcher
        self.start_us = start_us
        self.end_us = end_us

    def run(self, aggs: dict[str, Any], q: tantivy.Query, depth: int = 0) -> dict[str, Any]:
        if not isinstance(aggs, dict):
            raise EsError(400, "parsing_exception", "aggregations must be an object")
        out = {}
        for name, spec in aggs.items():
            if not isinstance(spec, dict):
                raise EsError(400, "parsing_exception", f"aggregation [{name}] must be an object")
            kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
            if len(kinds) != 1:
                raise EsError(400, "parsing_exception", f"aggregation [{name}] must have exactly one type")
            kind = kinds[0]
            if kind not in _SUPPORTED:
                raise EsError(400, "parsing_exception", f"aggregation type [{kind}] is not supported by the appliance")
            sub = spec.get("aggs") or spec.get("aggregations")
            if sub and depth >= 1:
                raise EsError(400, "parsing_exception", "aggregations nest one level deep at most in the appliance")
            out[name] = getattr(self, f"_{kind}")(spec[kind] or {}, q, sub, depth)
        return out

    def _tantivy(self, q: tantivy.Query, agg: dict[str, Any]) -> list[dict[str, Any]]:
        return self.s.aggregate(q, {"a": agg}, start_us=self.start_us, end_us=self.end_us)

    def _field(self, spec: dict[str, Any]) -> str:
        f = str(spec.get("field", ""))
        if f.endswith(".raw") or f.endswith(".keyword"):
            f = f.rsplit(".", 1)[0]
        if not f:
            raise EsError(400, "parsing_exception", "aggregation needs a field")
        return schema.TS if f in schema.TIMESTAMP_ALIASES else f

    def _restrict(self, q: tantivy.Query, r: tantivy.Query) -> tantivy.Query:
        return Q.boolean_query([(Occur.Must, q), (Occur.Must, r)])

    def _date_histogram(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        if self._field(spec) != schema.TS:
            raise EsError(400, "illegal_argument_exception", "date_histogram works on @timestamp")
        iv = _interval_us(spec)
        counts: dict[int, int] = {}
        for res in self._tantivy(q, {"histogram": {"field": schema.TS, "interval": iv}}):
            for b in res["a"]["buckets"]:
                counts[int(b["key"])] = counts.get(int(b["key"]), 0) + b["doc_count"]
        min_count = int(spec.get("min_doc_count", 0))
        keys = sorted(counts)
        if keys and min_count == 0:
            keys = list(range(keys[0], keys[-1] + 1, iv))
        bounds = spec.get("extended_bounds")
        if isinstance(bounds, dict) and min_count == 0:
            from index import datemath

            lo = [datemath.parse(str(bounds["min"])) // iv * iv] if "min" in bounds else []
            hi = [datemath.parse(str(bounds["max"])) // iv * iv] if "max" in bounds else []
            span = keys + lo + hi
            if span:
                keys = list(range(min(span), max(span) + 1, iv))
        buckets = []
        for k in keys:
            n = counts.get(k, 0)
            if n < min_count:
                continue
            b: dict[str, Any] = {"key_as_string": _iso_ms(k // 1000), "key": k // 1000, "doc_count": n}
            if sub:
                r = Q.range_query(schema.SCHEMA, schema.TS, tantivy.FieldType.Integer, k, k + iv - 1)
                b.update(self.run(sub, self._restrict(q, r), depth + 1))
            buckets.append(b)
        return {"buckets": buckets}

    def _values_per_source(self, field: str, q: tantivy.Query) -> tuple[dict[str, int], dict[str, set[int]]]:
        per = self.s.per_source(q, start_us=self.start_us, end_us=self.end_us)
        counts: dict[str, int] = {}
        files: dict[str, set[int]] = {}
        for sid, src in self.s.store.catalog.many(per).items():
            v = src.attrs.get(field)
            for one in v if isinstance(v, list) else ([] if v is None else [v]):
                counts[str(one)] = counts.get(str(one), 0) + per[sid]
                files.setdefault(str(one), set()).add(sid)
        return counts, files

    def _terms(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        field = self._field(spec)
        size = int(spec.get("size", 10))
        files: dict[str, set[int]] = {}
        if field in schema.FAST_KEYWORDS:
            counts: dict[str, int] = {}
            for res in self._tantivy(q, {"terms": {"field": field, "size": 65000}}):
                for b in res["a"]["buckets"]:
                    counts[b["key"]] = counts.get(b["key"], 0) + b["doc_count"]
        elif schema.is_event_field(field):
            raise EsError(400, "illegal_argument_exception", f"terms on {field} is not supported")
        else:
            counts, files = self._values_per_source(field, q)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
        buckets = []
        for key, n in top:
            b: dict[str, Any] = {"key": key, "doc_count": n}
            if sub:
                if field in schema.FAST_KEYWORDS:
                    r = Q.term_query(schema.SCHEMA, field, key)
                else:
                    r = Q.term_set_query(schema.SCHEMA, schema.FILE_ID, sorted(files[key]))
                b.update(self.run(sub, self._restrict(q, r), depth + 1))
            buckets.append(b)
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": sum(counts.values()) - sum(n for _, n in top),
                "buckets": buckets}  # fmt: skip

    def _cardinality(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        field = self._field(spec)
        if field in schema.FAST_KEYWORDS:
            values: set[str] = set()
            for res in self._tantivy(q, {"terms": {"field": field, "size": 65000}}):
                values |= {b["key"] for b in res["a"]["buckets"]}
            return {"value": len(values)}
        if field == schema.FILE_ID:
            return {"value": len(self.s.per_source(q, start_us=self.start_us, end_us=self.end_us))}
        counts, _ = self._values_per_source(field, q)
        return {"value": len(counts)}

    def _value_count(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        return {"value": self.s.count(q, start_us=self.start_us, end_us=self.end_us)}

    def _minmax(self, kind: str, spec: dict[str, Any], q: tantivy.Query) -> dict[str, Any]:
        field = self._field(spec)
        if field not in (schema.TS, schema.LINE, schema.NLINES):
            raise EsError(400, "illegal_argument_exception", f"{kind} works on @timestamp, line and nlines")
        vals = [r["a"]["value"] for r in self._tantivy(q, {kind: {"field": field}}) if r["a"]["value"] is not None]
        if not vals:
            return {"value": None}
        v = min(vals) if kind == "min" else max(vals)
        if field == schema.TS:
            ms = int(v) // 1000
            return {"value": float(ms), "value_as_string": _iso_ms(ms)}
        return {"value": float(v) + (1 if field == schema.LINE else 0)}

    def _min(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        return self._minmax("min", spec, q)

    def _max(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        return self._minmax("max", spec, q)
