"""The Elasticsearch query DSL, translated to Tantivy through the Lucene translator.

Every leaf becomes Lucene text for :func:`index.query.translate` (so ``query_string``,
``match`` and ``term`` share one set of semantics); ``bool`` combines the translated
leaves as Tantivy boolean queries. Anything else is refused by name, never ignored.
"""

from __future__ import annotations

from typing import Any

import tantivy

from index import query as lucene
from index import schema

from .errors import EsError

Occur = tantivy.Occur
Q = tantivy.Query


def quote(value: Any) -> str:
    s = str(value)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(name: str) -> str:
    if name in ("_all", "*"):
        return "message"
    if name.endswith(".raw") or name.endswith(".keyword"):
        return name.rsplit(".", 1)[0]
    return name


def _one(spec: Any, what: str) -> tuple[str, Any]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise EsError(400, "parsing_exception", f"[{what}] query malformed, expected one field")
    k, v = next(iter(spec.items()))
    return _field(k), v


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
            raise EsError(400, "query_shard_exception", f"Failed to parse query [{text}]: {e}") from None
        if positive:
            self.highlight_texts.append(text)
        return q

    def compile(self, dsl: Any, positive: bool = True) -> tantivy.Query:
        if dsl is None:
            return Q.all_query()
        if not isinstance(dsl, dict) or len(dsl) != 1:
            raise EsError(400, "parsing_exception", "a query is an object with exactly one key")
        kind, body = next(iter(dsl.items()))
        fn = getattr(self, f"_q_{kind}", None)
        if fn is None:
            raise EsError(400, "parsing_exception", f"[{kind}] query is not supported by the appliance")
        return fn(body, positive)

    def _q_match_all(self, body: Any, positive: bool) -> tantivy.Query:
        return Q.all_query()

    def _q_match_none(self, body: Any, positive: bool) -> tantivy.Query:
        return Q.empty_query()

    def _q_query_string(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict) or "query" not in body:
            raise EsError(400, "parsing_exception", "[query_string] requires 'query'")
        unknown = set(body) - {"query", "default_field", "default_operator", "analyze_wildcard", "lenient",
                               "allow_leading_wildcard", "boost", "fields", "time_zone"}  # fmt: skip
        if unknown:
            raise EsError(400, "parsing_exception", f"[query_string] does not support {sorted(unknown)}")
        df = _field(body.get("default_field", "message"))
        fields = body.get("fields")
        if df != "message" or (fields and [_field(f) for f in fields] != ["message"]):
            raise EsError(400, "parsing_exception", "[query_string] default_field other than message is not supported")
        op = str(body.get("default_operator", "OR")).upper()
        if op not in ("AND", "OR"):
            raise EsError(400, "parsing_exception", f"[query_string] default_operator {op} is invalid")
        return self.lucene(str(body["query"]), op, positive)

    def _q_simple_query_string(self, body: Any, positive: bool) -> tantivy.Query:
        return self._q_query_string(body, positive)

    def _q_match(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "match")
        op = "OR"
        if isinstance(v, dict):
            op = str(v.get("operator", "OR")).upper()
            v = v.get("query", "")
        if field == "message":
            toks = schema.tokenize(str(v))
            if not toks:
                return Q.empty_query()
            return self.lucene(f"message:({(' ' + op + ' ').join(toks)})", "OR", positive)
        return self.lucene(f"{field}:{quote(v)}", "OR", positive)

    def _q_match_phrase(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "match_phrase")
        if isinstance(v, dict):
            slop = int(v.get("slop", 0))
            v = v.get("query", "")
            return self.lucene(f"{field}:{quote(v)}" + (f"~{slop}" if slop else ""), "OR", positive)
        return self.lucene(f"{field}:{quote(v)}", "OR", positive)

    def _q_term(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "term")
        if isinstance(v, dict):
            v = v.get("value")
        return self.lucene(f"{field}:{quote(v)}", "OR", positive)

    def _q_terms(self, body: Any, positive: bool) -> tantivy.Query:
        body = {k: v for k, v in (body or {}).items() if k != "boost"}
        field, vs = _one(body, "terms")
        if not isinstance(vs, list):
            raise EsError(400, "parsing_exception", "[terms] takes a list of values")
        if not vs:
            return Q.empty_query()
        return self.lucene(f"{field}:({' OR '.join(quote(v) for v in vs)})", "OR", positive)

    def _q_prefix(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "prefix")
        if isinstance(v, dict):
            v = v.get("value")
        esc = "".join("\\" + c if not c.isalnum() else c for c in str(v))
        return self.lucene(f"{field}:{esc}*", "OR", positive)

    def _q_wildcard(self, body: Any, positive: bool) -> tantivy.Query:
        field, v = _one(body, "wildcard")
        if isinstance(v, dict):
            v = v.get("value", v.get("wildcard"))
        esc = "".join(c if c.isalnum() or c in "*?" else "\\" + c for c in str(v))
        return self.lucene(f"{field}:{esc}", "OR", positive)

    def _q_exists(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict) or "field" not in body:
            raise EsError(400, "parsing_exception", "[exists] requires 'field'")
        return self.lucene(f"_exists_:{_field(body['field'])}", "OR", False)

    def _q_range(self, body: Any, positive: bool) -> tantivy.Query:
        field, spec = _one(body, "range")
        if not isinstance(spec, dict):
            raise EsError(400, "parsing_exception", "[range] takes an object of bounds")
        unknown = set(spec) - {"gte", "gt", "lte", "lt", "format", "time_zone", "boost", "from", "to",
                               "include_lower", "include_upper"}  # fmt: skip
        if unknown:
            raise EsError(400, "parsing_exception", f"[range] does not support {sorted(unknown)}")
        lo, lo_inc = (spec["gte"], True) if "gte" in spec else (spec.get("gt", spec.get("from")), "from" in spec)
        hi, hi_inc = (spec["lte"], True) if "lte" in spec else (spec.get("lt", spec.get("to")), "to" in spec)
        a = "*" if lo is None else quote(lo)
        b = "*" if hi is None else quote(hi)
        return self.lucene(f"{field}:{'[' if lo_inc else '{'}{a} TO {b}{']' if hi_inc else '}'}", "OR", False)

    def _q_bool(self, body: Any, positive: bool) -> tantivy.Query:
        if not isinstance(body, dict):
            raise EsError(400, "parsing_exception", "[bool] takes an object")
        unknown = set(body) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
        if unknown:
            raise EsError(400, "parsing_exception", f"[bool] does not support {sorted(unknown)}")

        def many(x: Any) -> list[Any]:
            return x if isinstance(x, list) else [] if x is None else [x]

        subs: list[tuple[Any, tantivy.Query]] = []
        for key, occ in (("must", Occur.Must), ("filter", Occur.Must)):
            subs += [(occ, self.compile(c, positive)) for c in many(body.get(key))]
        subs += [(Occur.MustNot, self.compile(c, False)) for c in many(body.get("must_not"))]
        should = [self.compile(c, positive) for c in many(body.get("should"))]
        msm = body.get("minimum_should_match")
        if should:
            need = 0 if subs else 1
            if msm is not None:
                try:
                    need = int(str(msm).rstrip("%")) if not str(msm).endswith("%") else (
                        len(should) * int(str(msm).rstrip("%")) // 100)  # fmt: skip
                except ValueError:
                    raise EsError(400, "parsing_exception", f"minimum_should_match {msm!r} is not supported") from None
                if need < 0:
                    need = len(should) + need
            if need > 0:
                subs.append((Occur.Must, Q.boolean_query([(Occur.Should, q) for q in should], minimum_number_should_match=need)))
            else:
                subs += [(Occur.Should, q) for q in should]
        if not subs:
            return Q.all_query()
        if all(o is Occur.MustNot for o, _ in subs):
            subs.insert(0, (Occur.Must, Q.all_query()))
        return Q.boolean_query(subs)

    def _q_constant_score(self, body: Any, positive: bool) -> tantivy.Query:
        return self.compile((body or {}).get("filter"), positive)

    def highlight_terms(self) -> list[str | list[str]]:
        out: list[str | list[str]] = []
        for t in self.highlight_texts:
            try:
                out += lucene.query_terms(t)
            except lucene.QueryError:
                continue
        return out
