"""Elasticsearch aggregations over the day partitions.

Event fields aggregate in Tantivy, one result per day, merged here. Source fields
(``build_name``, ``build_uuid``, ``tags``...) live in the catalog, so their ``terms``,
``cardinality`` and ``value_count`` count matching events per ``file_id`` and map the
files to their values. A sub-aggregation runs again on the parent query restricted to
the bucket (one level of nesting). Calendar weeks, months, quarters and years are folded
from daily buckets (UTC; weeks start on Monday, as in ES).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import tantivy

from index import datemath, schema
from index.partitions import DAY_US
from index.search import Searcher

from .dsl import check_keys, check_utc, field_name
from .errors import EsError, bad_request, unsupported
from .params import UNIT_US, duration_us

Occur = tantivy.Occur
Q = tantivy.Query

MAX_BUCKETS = 65_536
"""Elasticsearch's ``search.max_buckets``: more is a too_many_buckets_exception."""

_CALENDAR = {"minute": "m", "1m": "m", "hour": "h", "1h": "h", "day": "d", "1d": "d", "week": "w", "1w": "w",
             "month": "M", "1M": "M", "quarter": "q", "1q": "q", "year": "y", "1y": "y"}  # fmt: skip
_FIXED_OF = {"m": UNIT_US["m"], "h": UNIT_US["h"], "d": DAY_US}
_TYPED = {"terms": "sterms", "date_histogram": "date_histogram", "cardinality": "cardinality", "min": "min",
          "max": "max", "value_count": "value_count"}  # fmt: skip
_JAVA = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def _ms_string(ms: int, fmt: str | None) -> str:
    if fmt in (None, "strict_date_optional_time", "date_optional_time", "strict_date_time", "date_time",
               "strict_date_optional_time_nanos"):  # fmt: skip
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if fmt == "epoch_millis":
        return str(ms)
    if fmt == "epoch_second":
        return str(ms // 1000)
    out = fmt
    if not re.fullmatch(r"[yMdHmsS'\-:. T/]+", out):
        raise unsupported(f"date format [{fmt}]")
    out = out.replace("SSS", f"{ms % 1000:03d}").replace("'", "")
    for java, py in _JAVA:
        out = out.replace(java, py)
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(out)


# -- calendar arithmetic on microseconds ----------------------------------------------------


def _floor(us: int, unit: str) -> int:
    if unit in _FIXED_OF:
        return us - us % _FIXED_OF[unit]
    day = us // DAY_US
    if unit == "w":
        return (day - (day + 3) % 7) * DAY_US  # 1970-01-01 was a Thursday
    dt = datetime.fromtimestamp(day * 86_400, UTC)
    month = 1 if unit == "y" else dt.month - (dt.month - 1) % 3 if unit == "q" else dt.month
    return int(datetime(dt.year, month, 1, tzinfo=UTC).timestamp()) * 1_000_000


def _next(us: int, unit: str) -> int:
    if unit in _FIXED_OF:
        return us + _FIXED_OF[unit]
    if unit == "w":
        return us + 7 * DAY_US
    dt = datetime.fromtimestamp(us // 1_000_000, UTC)
    months = {"M": 1, "q": 3, "y": 12}[unit] + dt.month - 1
    return int(datetime(dt.year + months // 12, months % 12 + 1, 1, tzinfo=UTC).timestamp()) * 1_000_000


class Aggregator:
    def __init__(self, searcher: Searcher, start_us: int | None, end_us: int | None, typed_keys: bool = False) -> None:
        self.s = searcher
        self.start_us = start_us
        self.end_us = end_us
        self.typed_keys = typed_keys

    def run(self, aggs: Any, q: tantivy.Query, depth: int = 0) -> dict[str, Any]:
        if not isinstance(aggs, dict):
            raise bad_request("aggregations must be an object", "parsing_exception")
        out = {}
        for name, spec in aggs.items():
            if not isinstance(spec, dict):
                raise bad_request(f"aggregation [{name}] must be an object", "parsing_exception")
            kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
            if len(kinds) != 1:
                raise bad_request(f"aggregation [{name}] must have exactly one type", "parsing_exception")
            kind = kinds[0]
            fn: Callable[..., dict[str, Any]] | None = getattr(self, f"_{kind}", None) if kind in _TYPED else None
            if fn is None:
                raise unsupported(f"aggregation type [{kind}]", "parsing_exception")
            sub = spec.get("aggs") or spec.get("aggregations")
            if sub and (depth >= 1 or kind not in ("terms", "date_histogram")):
                raise unsupported("aggregations nested more than one level (or under a metric)", "parsing_exception")
            body = spec[kind] if isinstance(spec[kind], dict) else {}
            res = fn(body, q, sub, depth)
            if "meta" in spec:
                res["meta"] = spec["meta"]
            out[f"{_TYPED[kind]}#{name}" if self.typed_keys else name] = res
        return out

    # -- helpers ---------------------------------------------------------------------------

    def _tantivy(self, q: tantivy.Query, agg: dict[str, Any]) -> list[dict[str, Any]]:
        return [r["a"] for r in self.s.aggregate(q, {"a": agg}, start_us=self.start_us, end_us=self.end_us)]

    def _field(self, spec: dict[str, Any], kind: str) -> str:
        if "field" not in spec:
            raise bad_request(f"[{kind}] needs a field (scripts are not supported)", "parsing_exception")
        f = field_name(spec["field"])
        return schema.TS if f in schema.TIMESTAMP_ALIASES else f

    @staticmethod
    def _restrict(q: tantivy.Query, r: tantivy.Query) -> tantivy.Query:
        return Q.boolean_query([(Occur.Must, q), (Occur.Must, r)])

    def _keyword_counts(self, field: str, q: tantivy.Query) -> tuple[dict[str, int], dict[str, set[int]]]:
        """Value -> matching events, for an event keyword (Tantivy) or a source field
        (per file, with the files of each value for sub-aggregations)."""
        counts: dict[str, int] = {}
        files: dict[str, set[int]] = {}
        if field in schema.EVENT_KEYWORDS:
            for res in self._tantivy(q, {"terms": {"field": schema.indexed(field), "size": 65_000}}):
                for b in res["buckets"]:
                    counts[b["key"]] = counts.get(b["key"], 0) + b["doc_count"]
            return counts, files
        if schema.is_event_field(field):
            raise unsupported(f"aggregating on [{field}] (only on keyword fields with values per event or per file)")
        per = self.s.per_source(q, start_us=self.start_us, end_us=self.end_us)
        for sid, src in self.s.store.catalog.many(per).items():
            v = src.attrs.get(field)
            for one in v if isinstance(v, list) else ([] if v is None else [v]):
                key = str(one)
                counts[key] = counts.get(key, 0) + per[sid]
                files.setdefault(key, set()).add(sid)
        return counts, files

    # -- bucket aggregations -----------------------------------------------------------------

    def _date_histogram(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        check_keys(spec, {"field", "fixed_interval", "calendar_interval", "interval", "min_doc_count",
                          "extended_bounds", "hard_bounds", "format", "time_zone", "offset", "keyed", "order"},
                   "date_histogram")  # fmt: skip
        if self._field(spec, "date_histogram") != schema.TS:
            raise unsupported("[date_histogram] on fields other than @timestamp")
        check_utc(spec.get("time_zone"), "date_histogram")
        if spec.get("keyed"):
            raise unsupported("[date_histogram] keyed buckets")
        fmt = spec.get("format")
        iv, unit = self._interval(spec)
        offset = duration_us(str(spec["offset"]), "offset") if "offset" in spec else 0
        if offset and unit:
            raise unsupported("[date_histogram] offset with a calendar interval")
        step = iv or DAY_US
        counts: dict[int, int] = {}
        # min_doc_count 1: Tantivy fills gaps densely, and a small interval over years
        # would exhaust its memory limit; gaps are filled here, with a bucket limit.
        hist = {"field": schema.TS, "interval": step, "offset": offset % step, "min_doc_count": 1}
        for res in self._tantivy(q, {"histogram": hist}):
            for b in res["buckets"]:
                k = int(b["key"])
                k = _floor(k, unit) if unit else k
                counts[k] = counts.get(k, 0) + b["doc_count"]
        min_count = int(spec.get("min_doc_count", 0))
        keys = sorted(k for k, n in counts.items() if n >= max(min_count, 1))
        lo, hi = self._bounds(spec.get("hard_bounds"), "hard_bounds")
        if min_count == 0:
            elo, ehi = self._bounds(spec.get("extended_bounds"), "extended_bounds")
            ends = keys + [x for x in (elo, ehi) if x is not None]
            if ends:
                keys = self._span(self._key(min(ends), iv, unit, offset), max(ends), iv, unit)
        keys = [k for k in keys if (lo is None or (k + iv if iv else _next(k, unit)) > lo) and (hi is None or k <= hi)]
        order = spec.get("order") or {"_key": "asc"}
        buckets = []
        for k in keys:
            b: dict[str, Any] = {"key_as_string": _ms_string(k // 1000, fmt), "key": k // 1000, "doc_count": counts.get(k, 0)}
            if sub:
                end = (k + iv if iv else _next(k, unit)) - 1
                r = Q.range_query(schema.SCHEMA, schema.TS, tantivy.FieldType.Integer, k, end)
                b.update(self.run(sub, self._restrict(q, r), depth + 1))
            buckets.append(b)
        return {"buckets": _ordered(buckets, order, "date_histogram")}

    def _interval(self, spec: dict[str, Any]) -> tuple[int, str]:
        """(fixed µs, "") or (0, calendar unit)."""
        given = [k for k in ("fixed_interval", "calendar_interval", "interval") if k in spec]
        if len(given) != 1:
            raise bad_request("[date_histogram] needs exactly one of fixed_interval, calendar_interval", "parsing_exception")
        raw = str(spec[given[0]]).strip()
        if given[0] != "fixed_interval" and raw in _CALENDAR:
            unit = _CALENDAR[raw]
            return (_FIXED_OF[unit], "") if unit in _FIXED_OF else (0, unit)
        if given[0] == "calendar_interval":
            raise unsupported(f"calendar_interval [{raw}] (minute, hour, day, week, month, quarter, year are)")
        iv = duration_us(raw, "interval")
        if iv <= 0:
            raise bad_request(f"interval [{raw}] must be positive")
        return iv, ""

    @staticmethod
    def _key(us: int, iv: int, unit: str, offset: int) -> int:
        return _floor(us, unit) if unit else (us - offset) // iv * iv + offset

    @staticmethod
    def _span(first: int, last: int, iv: int, unit: str) -> list[int]:
        keys: list[int] = []
        k = first
        while k <= last:
            keys.append(k)
            if len(keys) > MAX_BUCKETS:
                raise EsError(400, "too_many_buckets_exception",
                              f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}]")  # fmt: skip
            k = k + iv if iv else _next(k, unit)
        return keys

    @staticmethod
    def _bounds(b: Any, what: str) -> tuple[int | None, int | None]:
        if b is None:
            return None, None
        if not isinstance(b, dict) or set(b) - {"min", "max"}:
            raise bad_request(f"[{what}] takes min and max", "parsing_exception")
        try:
            return tuple(None if b.get(k) is None else datemath.parse(str(b[k])) for k in ("min", "max"))  # type: ignore[return-value]
        except ValueError as e:
            raise bad_request(f"[{what}] {e}") from None

    def _terms(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        check_keys(spec, {"field", "size", "shard_size", "order", "min_doc_count", "include", "exclude",
                          "show_term_doc_count_error", "execution_hint", "collect_mode"}, "terms")  # fmt: skip
        field = self._field(spec, "terms")
        size = int(spec.get("size", 10))
        if not 1 <= size <= MAX_BUCKETS:
            raise bad_request(f"[size] must be between 1 and {MAX_BUCKETS} in [terms]")
        min_count = int(spec.get("min_doc_count", 1))
        if min_count < 1:
            raise unsupported("[terms] min_doc_count 0")
        counts, files = self._keyword_counts(field, q)
        keep = _filter(spec.get("include"), spec.get("exclude"))
        counts = {k: n for k, n in counts.items() if n >= min_count and keep(k)}
        rows = [{"key": k, "doc_count": n} for k, n in counts.items()]
        top = _ordered(sorted(rows, key=lambda b: b["key"]), spec.get("order") or {"_count": "desc"}, "terms")[:size]
        for b in top:
            if sub:
                key = b["key"]
                r = (Q.term_query(schema.SCHEMA, schema.indexed(field), key) if field in schema.EVENT_KEYWORDS
                     else Q.term_set_query(schema.SCHEMA, schema.FILE_ID, sorted(files[key])))  # fmt: skip
                b.update(self.run(sub, self._restrict(q, r), depth + 1))
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": sum(counts.values()) - sum(b["doc_count"] for b in top),
                "buckets": top}  # fmt: skip

    # -- metrics -------------------------------------------------------------------------------

    def _cardinality(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        check_keys(spec, {"field", "precision_threshold"}, "cardinality")
        field = self._field(spec, "cardinality")
        if field == schema.FILE_ID:
            return {"value": len(self.s.per_source(q, start_us=self.start_us, end_us=self.end_us))}
        return {"value": len(self._keyword_counts(field, q)[0])}

    def _value_count(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        check_keys(spec, {"field"}, "value_count")
        field = self._field(spec, "value_count")
        if field in (schema.TS, schema.MESSAGE, schema.LINE, schema.NLINES, schema.FILE_ID):
            return {"value": self.s.count(q, start_us=self.start_us, end_us=self.end_us)}
        return {"value": sum(self._keyword_counts(field, q)[0].values())}

    def _minmax(self, kind: str, spec: dict[str, Any], q: tantivy.Query) -> dict[str, Any]:
        check_keys(spec, {"field", "format"}, kind)
        field = self._field(spec, kind)
        if field not in (schema.TS, schema.LINE, schema.NLINES):
            raise unsupported(f"[{kind}] on [{field}] (@timestamp, line and nlines are numeric)")
        vals = [r["value"] for r in self._tantivy(q, {kind: {"field": field}}) if r["value"] is not None]
        if not vals:
            return {"value": None}
        v = int(min(vals) if kind == "min" else max(vals))
        if field == schema.TS:
            return {"value": float(v // 1000), "value_as_string": _ms_string(v // 1000, spec.get("format"))}
        return {"value": float(v + (1 if field == schema.LINE else 0))}

    def _min(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        return self._minmax("min", spec, q)

    def _max(self, spec: dict[str, Any], q: tantivy.Query, sub: Any, depth: int) -> dict[str, Any]:
        return self._minmax("max", spec, q)


def _ordered(buckets: list[dict[str, Any]], order: Any, what: str) -> list[dict[str, Any]]:
    """ES ``order``: ``{"_count"|"_key": "asc"|"desc"}`` or a list of them (stable sorts)."""
    items = order if isinstance(order, list) else [order]
    for it in reversed(items):
        if not isinstance(it, dict) or len(it) != 1:
            raise bad_request(f"[{what}] order is malformed", "parsing_exception")
        (key, direction), = it.items()  # fmt: skip
        if key not in ("_count", "_key", "_term") or str(direction).lower() not in ("asc", "desc"):
            raise unsupported(f"[{what}] order {it}")
        attr = "doc_count" if key == "_count" else "key"
        buckets = sorted(buckets, key=lambda b: b[attr], reverse=str(direction).lower() == "desc")
    return buckets


def _filter(include: Any, exclude: Any) -> Callable[[str], bool]:
    """``include``/``exclude`` as a regular expression or a list of exact values."""

    def test(spec: Any, what: str) -> Callable[[str], bool] | None:
        if spec is None:
            return None
        if isinstance(spec, list):
            values = {str(v) for v in spec}
            return values.__contains__
        if isinstance(spec, str):
            try:
                rx = re.compile(spec)
            except re.error as e:
                raise bad_request(f"[terms] {what} [{spec}]: {e}") from None
            return lambda k: rx.fullmatch(k) is not None
        raise unsupported(f"[terms] {what} partitions")

    inc, exc = test(include, "include"), test(exclude, "exclude")
    return lambda k: (inc is None or inc(k)) and (exc is None or not exc(k))
