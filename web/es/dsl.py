"""The Elasticsearch query DSL, translated to Tantivy through the Lucene translator.

Every leaf becomes Lucene text for :func:`index.query.translate` (quoted and escaped), so
``query_string``, ``match`` and ``term`` share one set of semantics — tokenizer, keyword
fields, source fields, date math; ``bool`` combines the translated leaves as Tantivy
boolean queries. Every key of every clause is checked: what the appliance cannot honour
is refused by name, never ignored (``boost`` is accepted: hits are not scored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import tantivy

from appliance.events import iso
from index import query as lucene
from index import schema

from .errors import bad_request, unsupported

Occur = tantivy.Occur
Q = tantivy.Query

_FIELD = re.compile(r"[@\w][\w.@\-]*")
UTC_ZONES = frozenset({"utc", "z", "gmt", "etc/utc", "etc/gmt", "+00:00", "-00:00", "+0000", "+00", "00:00", "uct"})
_DATE_FORMATS = frozenset({"strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos",
                           "strict_date_time", "date_time", "strict_date_time_no_millis", "date_time_no_millis",
                           "strict_date", "date", "epoch_millis", "epoch_second"})  # fmt: skip
_JAVA_ISO_PATTERN = re.compile(r"[yMdHmsSTXZ'\-:. ]+")
"""Java date patterns that spell ISO 8601 (``yyyy-MM-dd HH:mm:ss``): read as ISO."""


def quote(value: Any) -> str:
    s = value if isinstance(value, str) else _scalar(value)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"  # voting:1, as Logstash stored booleans
    if isinstance(value, int | float):
        return str(value)
    raise bad_request(f"expected a string or a number, not {value!r}", "parsing_exception")


def field_name(name: Any) -> str:
    """The appliance's field for an ES field name (``*.raw``/``*.keyword`` sub-fields are
    the field itself: keyword fields match exactly anyway)."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise bad_request(f"field name {name!r} is not supported", "parsing_exception")
    if name in ("_all", "*"):
        return "message"
    if name.endswith((".raw", ".keyword")):
        return name.rsplit(".", 1)[0]
    return name


def check_keys(body: dict[str, Any], allowed: set[str] | frozenset[str], what: str) -> None:
    bad = sorted(set(body) - set(allowed) - {"boost"})
    if bad:
        raise unsupported(f"[{what}] option [{bad[0]}]", "parsing_exception")


def check_utc(tz: Any, what: str) -> None:
    if tz is not None and str(tz).strip().lower() not in UTC_ZONES:
        raise unsupported(f"[{what}] time_zone [{tz}] (times are UTC)")


def _one(spec: Any, what: str) -> tuple[str, Any]:
    if not isinstance(spec, dict):
        raise bad_request(f"[{what}] query malformed, expected an object", "parsing_exception")
    spec = {k: v for k, v in spec.items() if k != "boost"}
    if len(spec) != 1:
        raise bad_request(f"[{what}] query malformed, expected exactly one field", "parsing_exception")
    k, v = next(iter(spec.items()))
    return field_name(k), v


def _opts(v: Any, main: str, allowed: set[str], what: str) -> tuple[Any, dict[str, Any]]:
    """``{"field": value}`` or ``{"field": {main: value, ...options}}``."""
    if not isinstance(v, dict):
        return v, {}
    check_keys(v, {main, *allowed}, what)
    if main not in v:
        raise bad_request(f"[{what}] requires [{main}]", "parsing_exception")
    return v[main], v


def minimum_should_match(spec: Any, n: int) -> int:
    """ES's integer and percentage forms (``2``, ``-1``, ``75%``, ``-25%``)."""
    s = str(spec).strip()
    try:
        if s.endswith("%"):
            pct = int(s[:-1])
            k = n * abs(pct) // 100
            need = k if pct >= 0 else n - k
        else:
            v = int(s)
            need = v if v >= 0 else n + v
    except ValueError:
        raise unsupported(f"minimum_should_match [{spec}]", "parsing_exception") from None
    return max(0, min(need, n + 1))


class Compiler:
    """Turns a DSL query into a Tantivy query; collects message terms for highlighting."""

    def __init__(self, resolver: lucene.SourceResolver, now_us: int | None = None) -> None:
        self.resolver = resolver
        self.now_us = now_us
        self.highlight_texts: list[str] = []

    def lucene(self, text: str, default_operator: str = "OR", positive: bool = True) -> tantivy.Query:
        try:
            q = lucene.translate(text, self.resolver, now_us=self.now_us, default_operator=default_operator)
        except lucene.QueryError as e:
            raise bad_request(f"Failed to parse query [{text}]: {e}", "query_shard_exception") from None
        if positive:
            self.highlight_texts.append(text)
        return q

    def compile(self, dsl: Any, positive: bool = True) -> tantivy.Query:
        if dsl is None:
            return Q.all_query()
        if not isinstance(dsl, dict) or len(dsl) != 1:
            raise bad_request("a query is an object with exactly one key (its type)", "parsing_exception")
        kind, body = next(iter(dsl.items()))
        fn: Callable[[Any, bool], tantivy.Query] | None = getattr(self, f"_q_{kind}", None)
        if fn is None:
            raise unsupported(f"[{kind}] query", "parsing_exception")
        return fn(body, positive)

    # -- leaves -------------------------------------------------------------------------------

    def _q_match_all(self, body: Any, positive: bool) -> tantivy.Query:
        check_keys(body or {}, set(), "match_all")
        return Q.all_query()

    def _q_match_none(self, body: Any, positive: bool) -> tantivy.Query:
        check_keys(body or {}, set(), "match_none")
        return Q.empty_query()

    def _q_query_string(self, body: Any, positive: bool, what: str = "query_string") -> tantivy.Query:
        if not isinstance(body, dict) or "query" not in body:
            raise bad_request(f"[{what}] requires [query]", "parsing_exception")
        check_keys(body, {"query", "default_field", "fields", "default_operator", "analyze_wildcard", "lenient",
                          "allow_leading_wildcard", "time_zone", "auto_generate_synonyms_phrase_query",
                          "max_determinized_states", "enable_position_increments", "escape", "flags"}, what)  # fmt: skip
        check_utc(body.get("time_zone"), what)
        fields = [field_name(f.split("^")[0]) for f in body.get("fields") or []]
        if field_name(body.get("default_field", "message")) != "message" or any(f != "message" for f in fields):
            raise unsupported(f"[{what}] on default fields other than message")
        op = str(body.get("default_operator", "OR")).upper()
        if op not in ("AND", "OR"):
            raise bad_request(f"[{what}] default_operator [{op}] is neither AND nor OR", "parsing_exception")
        return self.lucene(str(body["query"]), op, positive)

    def _q_simple_query_string(self, body: Any, positive: bool) -> tantivy.Query:
        # Its own syntax (| + - as operators, with quirks); the plain words and phrases it
        # shares with Lucene are translated, the operators refused.
        text = str((body or {}).get("query", "")) if isinstance(body, dict) else ""
        if re.search(r"[|+\-~()\\]|\bAND\b|\bOR\b|\bNOT\b", text) or (isinstance(body, dict) and "flags" in body):
            raise unsupported("[simple_query_string] with operators (use query_string)", "parsing_exception")
        return self._q_query_string(body, positive, "simple_query_string")

    def _q_match(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "match")
        v, o = _opts(v, "query", {"operator", "lenient", "zero_terms_query", "auto_generate_synonyms_phrase_query",
                                  "analyzer"}, "match")  # fmt: skip
        op = str(o.get("operator", "OR")).upper()
        if op not in ("AND", "OR"):
            raise bad_request(f"[match] operator [{op}] is neither AND nor OR", "parsing_exception")
        if o.get("zero_terms_query", "none") != "none" or o.get("analyzer", "standard") != "standard":
            raise unsupported("[match] zero_terms_query / analyzer options")
        if field == "message":
            toks = schema.tokenize(_scalar(v) if not isinstance(v, str) else v)
            if not toks:
                return Q.empty_query()
            return self.lucene(f"message:({f' {op} '.join(toks)})", "OR", positive)
        return self.lucene(f"{field}:{quote(v)}", "OR", positive)

    def _q_match_phrase(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "match_phrase")
        v, o = _opts(v, "query", {"slop", "analyzer", "zero_terms_query"}, "match_phrase")
        if o.get("zero_terms_query", "none") != "none" or o.get("analyzer", "standard") != "standard":
            raise unsupported("[match_phrase] zero_terms_query / analyzer options")
        slop = int(o.get("slop", 0))
        return self.lucene(f"{field}:{quote(v)}" + (f"~{slop}" if slop else ""), "OR", positive)

    def _q_term(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "term")
        v, o = _opts(v, "value", {"case_insensitive"}, "term")
        if o.get("case_insensitive") and field != "message":
            raise unsupported("[term] case_insensitive on keyword fields")
        return self.lucene(f"{field}:{quote(v)}", "OR", positive)

    def _q_terms(self, body: Any, positive: bool) -> tantivy.Query:
        field, vs = _one(body, "terms")
        if not isinstance(vs, list):
            raise unsupported("[terms] lookup (terms take a list of values)", "parsing_exception")
        if not vs:
            return Q.empty_query()
        return self.lucene(f"{field}:({' OR '.join(quote(v) for v in vs)})", "OR", positive)

    def _q_prefix(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "prefix")
        v, _ = _opts(v, "value", set(), "prefix")
        esc = "".join(c if c.isalnum() else "\\" + c for c in str(v))
        return self.lucene(f"{field}:{esc}*", "OR", positive)

    def _q_wildcard(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "wildcard")
        if isinstance(v, dict) and "wildcard" in v and "value" not in v:
            v = {**{k: x for k, x in v.items() if k != "wildcard"}, "value": v["wildcard"]}
        v, _ = _opts(v, "value", set(), "wildcard")
        esc = "".join(c if c.isalnum() or c in "*?" else "\\" + c for c in str(v))
        return self.lucene(f"{field}:{esc}", "OR", positive)

    def _q_exists(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict) or "field" not in body:
            raise bad_request("[exists] requires [field]", "parsing_exception")
        check_keys(body, {"field"}, "exists")
        return self.lucene(f"_exists_:{field_name(body['field'])}", "OR", False)

    def _q_range(self, body: Any, positive: bool) -> tantivy.Query:
        field, spec = _one(body, "range")
        if not isinstance(spec, dict):
            raise bad_request("[range] takes an object of bounds", "parsing_exception")
        check_keys(spec, {"gte", "gt", "lte", "lt", "from", "to", "include_lower", "include_upper", "format",
                          "time_zone", "relation"}, "range")  # fmt: skip
        check_utc(spec.get("time_zone"), "range")
        if spec.get("relation", "intersects").lower() not in ("intersects", "within", "contains"):
            raise bad_request(f"[range] relation [{spec['relation']}] is invalid", "parsing_exception")
        lo, lo_inc = _bound(spec, "gte", "gt", "from", "include_lower")
        hi, hi_inc = _bound(spec, "lte", "lt", "to", "include_upper")
        a, b = (self._range_value(x, spec.get("format")) for x in (lo, hi))
        return self.lucene(f"{field}:{'[' if lo_inc else '{'}{a} TO {b}{']' if hi_inc else '}'}", "OR", False)

    @staticmethod
    def _range_value(v: Any, fmt: Any) -> str:
        if v is None:
            return "*"
        names = [f.strip() for f in str(fmt).split("||")] if fmt else []
        for name in names:
            if name not in _DATE_FORMATS and not _JAVA_ISO_PATTERN.fullmatch(name):
                raise unsupported(f"[range] format [{name}]")
        digits = isinstance(v, int | float) and not isinstance(v, bool) or isinstance(v, str) and v.isdigit()
        if digits and "epoch_second" in names:
            return quote(iso(int(float(v) * 1_000_000)))
        if digits and "epoch_millis" in names:
            return quote(iso(int(float(v) * 1000)))
        return quote(v)

    # -- compound -------------------------------------------------------------------------------

    def _q_bool(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict):
            raise bad_request("[bool] takes an object", "parsing_exception")
        check_keys(body, {"must", "filter", "should", "must_not", "minimum_should_match", "adjust_pure_negative"}, "bool")

        def many(x: Any) -> list[Any]:
            return x if isinstance(x, list) else [] if x is None else [x]

        required = [self.compile(c, positive) for key in ("must", "filter") for c in many(body.get(key))]
        banned = [self.compile(c, False) for c in many(body.get("must_not"))]
        should = [self.compile(c, positive) for c in many(body.get("should"))]
        subs = [(Occur.Must, q) for q in required] + [(Occur.MustNot, q) for q in banned]
        if should:
            msm = body.get("minimum_should_match")
            need = minimum_should_match(msm, len(should)) if msm is not None else (0 if required else 1)
            if need > len(should):
                return Q.empty_query()
            if need == 1:
                subs.append((Occur.Must, Q.boolean_query([(Occur.Should, q) for q in should])))
            elif need > 1:
                subs.append((Occur.Must, Q.boolean_query([(Occur.Should, q) for q in should],
                                                         minimum_number_should_match=need)))  # fmt: skip
            # need == 0: should clauses only score, and hits are not scored
        if not subs:
            return Q.all_query()
        if all(o is Occur.MustNot for o, _ in subs):
            subs.insert(0, (Occur.Must, Q.all_query()))
        return subs[0][1] if len(subs) == 1 else Q.boolean_query(subs)

    def _q_constant_score(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict) or "filter" not in body:
            raise bad_request("[constant_score] requires [filter]", "parsing_exception")
        check_keys(body, {"filter"}, "constant_score")
        return self.compile(body["filter"], positive)

    def highlight_terms(self) -> list[str | list[str]]:
        out: list[str | list[str]] = []
        for t in self.highlight_texts:
            try:
                out += lucene.query_terms(t)
            except lucene.QueryError:
                continue
        return out


def _bound(spec: dict[str, Any], inc: str, exc: str, legacy: str, legacy_flag: str) -> tuple[Any, bool]:
    if inc in spec:
        return spec[inc], True
    if exc in spec:
        return spec[exc], False
    return spec.get(legacy), bool(spec.get(legacy_flag, True))
