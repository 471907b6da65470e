"""Lucene ``query_string`` syntax, as Elasticsearch answers it, translated to Tantivy.

Tantivy's own parser is not that language (``a AND NOT b`` and wildcards differ), so the
text is parsed by ``luqum`` (a maintained Lucene grammar) and the tree is translated here.
Two things luqum does differently from Lucene's classic parser are undone:

* **Precedence.** luqum makes AND bind tighter than OR; Lucene does not: a chain
  ``a OR b AND c`` is one boolean whose clauses get their occur from the conjunctions
  around them (a SHOULD, b MUST, c MUST). :func:`_linear` flattens a chain back to the
  sequence the user wrote and :func:`_occurs` applies Lucene's ``addClause`` rules.
* **Operators luqum reads as words**: ``&&``, ``||``, ``!`` and a space after a colon
  (``tags: "console"``, found in real signatures) are normalized before parsing.

Field kinds: ``message`` goes through the indexing tokenizer (a term that splits into
several tokens becomes a phrase — stricter than ES's OR of the tokens, and what a log
search means; a term with no token matches nothing); event keywords match exactly;
``@timestamp`` ranges take ISO dates and ``now-1d`` math; every other field is a source
field, resolved by the caller to a set of ``file_id`` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import tantivy
from luqum import tree as T
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _luqum

from . import datemath, schema

Occur = tantivy.Occur
Q = tantivy.Query
SCHEMA = schema.SCHEMA


class QueryError(ValueError):
    """A query that cannot run: says what and where (1-based column)."""

    def __init__(self, message: str, column: int | None = None, query: str = "") -> None:
        self.message = message
        self.column = column
        self.query = query
        super().__init__(f"{message} at column {column}" if column else message)


@dataclass(frozen=True)
class Limits:
    max_expensive: int = 16
    """Wildcard, regex and fuzzy clauses per query (each walks the term dictionary)."""
    max_pattern: int = 256
    max_clauses: int = 1024


@dataclass(frozen=True, slots=True)
class SourceMatch:
    """What a clause asks of a source field, for the resolver (hashable: cache key)."""

    kind: str
    """term | wildcard | regex | range | exists"""
    value: str | None = None
    low: str | None = None
    high: str | None = None
    include_low: bool = True
    include_high: bool = True


class SourceResolver(Protocol):
    def ids(self, field: str, match: SourceMatch) -> set[int] | None:
        """File ids whose ``field`` matches; None means every source."""


# -- matching source values (shared by the catalog resolver and the tests' DictResolver) ----


@lru_cache(maxsize=1024)
def _wildcard_re(pattern: str) -> re.Pattern[str]:
    return re.compile(_wildcard_to_regex(pattern), re.S)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.S)


def _num(s: str | None) -> float | None:
    try:
        return float(s) if s is not None else None
    except ValueError:
        return None


def match_value(match: SourceMatch, value: str) -> bool:
    k = match.kind
    if k == "term":
        return value == match.value
    if k == "exists":
        return True
    if k == "wildcard":
        return _wildcard_re(match.value or "").fullmatch(value) is not None
    if k == "regex":
        return _regex(match.value or "").fullmatch(value) is not None
    if k == "range":
        lo, hi, v = _num(match.low), _num(match.high), _num(value)
        numeric = v is not None and (match.low is None or lo is not None) and (match.high is None or hi is not None)
        a: Any = v if numeric else value
        low: Any = lo if numeric else match.low
        high: Any = hi if numeric else match.high
        if low is not None and (a < low or (a == low and not match.include_low)):
            return False
        return not (high is not None and (a > high or (a == high and not match.include_high)))
    raise ValueError(f"unknown match kind {k}")


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


# -- normalizing and parsing ----------------------------------------------------------------

_SEGMENT = re.compile(r'"(?:\\.|[^"\\])*"?|/(?:\\.|[^/\\])*/|[^"/]+|/')


def _normalize(text: str) -> str:
    """``&&``/``||``/``!`` to words and ``field: value`` to ``field:value``, outside quotes."""
    out = []
    for seg in _SEGMENT.findall(text):
        if seg[:1] in ('"', "/") and len(seg) > 1:
            out.append(seg)
            continue
        seg = re.sub(r"(?<!\\)&&", " AND ", seg)
        seg = re.sub(r"(?<!\\)\|\|", " OR ", seg)
        seg = re.sub(r"(^|[\s(])!(?=\S)", r"\1NOT ", seg)
        seg = re.sub(r"(?<![\\\s]):\s+(?=\S)", ":", seg)
        out.append(seg)
    return "".join(out)


def parse(text: str) -> T.Item | None:
    """The luqum tree of a query (None for an empty query: everything)."""
    if not text or not text.strip():
        return None
    norm = _normalize(text)
    try:
        return _luqum.parse(norm)
    except IllegalCharacterError as e:
        raise QueryError(f"Illegal character: {e}", _position(str(e), text), text) from None
    except ParseError as e:
        msg = str(e)
        if "end of expression" in msg:
            col = len(text) + 1
            if text.count("(") - text.count("\\(") > text.count(")") - text.count("\\)"):
                raise QueryError("Expected ')'", col, text) from None
            if text.count('"') % 2:
                raise QueryError('Expected closing \'"\'', col, text) from None
            raise QueryError("Unexpected end of query", col, text) from None
        m = re.search(r"unexpected\s+'(.*?)'", msg)
        what = f"Unexpected '{m.group(1)}'" if m else "Syntax error"
        raise QueryError(what, _position(msg, text), text) from None
    except (RecursionError, ValueError) as e:
        raise QueryError(f"Cannot parse query: {e}", None, text) from None


def _position(msg: str, text: str) -> int | None:
    m = re.search(r"position (\d+)", msg)
    return min(int(m.group(1)) + 1, len(text) + 1) if m else None


# -- flattening chains back to Lucene's classic semantics -------------------------------------

_CHAINS = (T.AndOperation, T.OrOperation, T.UnknownOperation)


def _linear(node: T.Item, conj: str | None = None) -> list[tuple[str | None, T.Item]]:
    """The clauses of an operator chain as written, each with the conjunction before it."""
    if isinstance(node, _CHAINS):
        op = "AND" if isinstance(node, T.AndOperation) else "OR" if isinstance(node, T.OrOperation) else None
        out: list[tuple[str | None, T.Item]] = []
        for i, child in enumerate(node.children):
            out.extend(_linear(child, conj if i == 0 else op))
        return out
    return [(conj, node)]


def _occurs(clauses: list[tuple[str | None, T.Item]], default_and: bool) -> list[tuple[Any, T.Item]]:
    """Lucene's QueryParserBase.addClause: occur of each clause from conjunctions and mods."""
    out: list[list[Any]] = []
    for conj, node in clauses:
        mod = None
        while isinstance(node, T.Not | T.Prohibit | T.Plus):
            mod = "NOT" if isinstance(node, T.Not | T.Prohibit) else (mod or "REQ")
            node = node.a
        if out and conj == "AND" and out[-1][0] is not Occur.MustNot:
            out[-1][0] = Occur.Must
        if out and default_and and conj == "OR" and out[-1][0] is not Occur.MustNot:
            out[-1][0] = Occur.Should
        prohibited = mod == "NOT"
        if default_and:
            required = not prohibited and conj != "OR"
        else:
            required = mod == "REQ" or (conj == "AND" and not prohibited)
        occur = Occur.MustNot if prohibited else Occur.Must if required else Occur.Should
        out.append([occur, node])
    return [(o, n) for o, n in out]


# -- translation -----------------------------------------------------------------------------


@dataclass
class _Ctx:
    resolver: SourceResolver
    now_us: int | None
    limits: Limits
    default_and: bool
    text: str
    expensive: int = 0
    clauses: int = 0


def translate(
    text: str,
    resolver: SourceResolver,
    *,
    now_us: int | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen
    default_operator: str = "OR",
) -> tantivy.Query:
    tree = parse(text)
    if tree is None:
        return Q.all_query()
    ctx = _Ctx(resolver, now_us, limits, default_operator.upper() == "AND", text)
    try:
        return _node(tree, schema.MESSAGE, ctx)
    except QueryError:
        raise
    except RecursionError:
        raise QueryError("Query nested too deeply", None, text) from None
    except ValueError as e:  # tantivy refusing a value or a regex
        raise QueryError(f"Invalid query: {e}", None, text) from None


def _node(node: T.Item, field: str, ctx: _Ctx) -> tantivy.Query:
    ctx.clauses += 1
    if ctx.clauses > ctx.limits.max_clauses:
        raise QueryError(f"Too many clauses (max {ctx.limits.max_clauses})", None, ctx.text)
    if isinstance(node, (*_CHAINS, T.Not, T.Prohibit, T.Plus)):
        return _boolean(_occurs(_linear(node), ctx.default_and), field, ctx)
    if isinstance(node, T.Group):
        return _node(node.expr, field, ctx)
    if isinstance(node, T.FieldGroup):
        return _node(node.expr, field, ctx)
    if isinstance(node, T.SearchField):
        name = node.name
        if name == "_exists_":
            return _exists(_plain(node.expr), ctx)
        if name == "*":
            return _node(node.expr, schema.MESSAGE, ctx) if _plain(node.expr) != "*" else Q.all_query()
        return _node(node.expr, name, ctx)
    if isinstance(node, T.Boost):
        return _node(node.expr, field, ctx)
    if isinstance(node, T.Proximity):
        return _phrase(field, _unquote(node.term.value), ctx, slop=int(node.degree or 0))
    if isinstance(node, T.Fuzzy):
        return _fuzzy(field, _unescape(node.term.value), float(node.degree), ctx)
    if isinstance(node, T.Phrase):
        return _phrase(field, _unquote(node.value), ctx)
    if isinstance(node, T.Regex):
        return _pattern(field, node.value[1:-1], "regex", ctx)
    if isinstance(node, T.Range):
        return _range(field, _plain(node.low), _plain(node.high), node.include_low, node.include_high, ctx)
    if isinstance(node, T.From):
        return _range(field, _plain(node.a), "*", node.include, True, ctx)
    if isinstance(node, T.To):
        return _range(field, "*", _plain(node.a), True, node.include, ctx)
    if isinstance(node, T.Word):
        return _word(field, node.value, ctx)
    raise QueryError(f"Unsupported query syntax: {node!s}", None, ctx.text)


def _boolean(clauses: list[tuple[Any, T.Item]], field: str, ctx: _Ctx) -> tantivy.Query:
    subs = [(occ, _node(n, field, ctx)) for occ, n in clauses]
    if all(occ is Occur.MustNot for occ, _ in subs):
        subs.insert(0, (Occur.Must, Q.all_query()))  # a purely negative query: all but those
    if len(subs) == 1 and subs[0][0] is not Occur.MustNot:
        return subs[0][1]
    return Q.boolean_query(subs)


def _plain(node: T.Item) -> str:
    return _unquote(node.value) if isinstance(node, T.Phrase) else _unescape(str(getattr(node, "value", node)))


def _unquote(value: str) -> str:
    return _unescape(value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _has_wildcard(raw: str) -> bool:
    return re.search(r"(?<!\\)[*?]", raw) is not None


def _wildcard_to_regex(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            out.append(re.escape(raw[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return "".join(out)


def _word(field: str, raw: str, ctx: _Ctx) -> tantivy.Query:
    if raw == "*":
        return Q.all_query() if field == schema.MESSAGE else _exists(field, ctx)
    if _has_wildcard(raw):
        return _pattern(field, raw, "wildcard", ctx)
    return _term(field, _unescape(raw), ctx)


def _term(field: str, value: str, ctx: _Ctx) -> tantivy.Query:
    if field == schema.MESSAGE:
        return _phrase(field, value, ctx)
    if field in schema.TIMESTAMP_ALIASES:
        t = _date(value, ctx, False)
        return _ts_range(t, _date(value, ctx, True) if len(value) <= 10 else t + 999, ctx)
    if field in schema.NUMERIC_EVENT_FIELDS:
        n = _uint(field, value, ctx)
        return Q.range_query(SCHEMA, field, tantivy.FieldType.Unsigned, n, n)
    if field in schema.EVENT_KEYWORDS:
        return Q.term_query(SCHEMA, field, value)
    return _source(field, SourceMatch("term", value), ctx)


def _source(field: str, match: SourceMatch, ctx: _Ctx | None = None) -> tantivy.Query:
    ids = ctx.resolver.ids(field, match) if ctx else None
    if ids is None:
        return Q.all_query()
    if not ids:
        return Q.empty_query()
    return Q.term_set_query(SCHEMA, schema.FILE_ID, sorted(ids))


def _phrase(field: str, text: str, ctx: _Ctx, slop: int = 0) -> tantivy.Query:
    if field != schema.MESSAGE:
        if slop:
            raise QueryError(f"Proximity works on message, not {field}", None, ctx.text)
        return _term(field, text, ctx)
    toks = schema.tokenize(text)
    if not toks:
        return Q.empty_query()
    if len(toks) == 1:
        return Q.term_query(SCHEMA, field, toks[0])
    return Q.phrase_query(SCHEMA, field, toks, slop)


def _expensive(pattern: str, ctx: _Ctx) -> None:
    ctx.expensive += 1
    if ctx.expensive > ctx.limits.max_expensive:
        raise QueryError(f"Too many wildcard, regex or fuzzy clauses (max {ctx.limits.max_expensive})", None, ctx.text)
    if len(pattern) > ctx.limits.max_pattern:
        raise QueryError(f"Pattern longer than {ctx.limits.max_pattern} characters", None, ctx.text)


def _pattern(field: str, raw: str, kind: str, ctx: _Ctx) -> tantivy.Query:
    _expensive(raw, ctx)
    regex = _wildcard_to_regex(raw) if kind == "wildcard" else raw
    if kind == "regex":
        try:
            re.compile(regex)
        except re.error as e:
            raise QueryError(f"Invalid regular expression /{raw}/: {e}", None, ctx.text) from None
    if field == schema.MESSAGE:
        if kind == "wildcard":
            regex = _wildcard_to_regex(raw.lower())
        try:
            return Q.regex_query(SCHEMA, field, regex)
        except ValueError as e:
            raise QueryError(f"Invalid pattern {raw!r}: {e}", None, ctx.text) from None
    if field in schema.EVENT_KEYWORDS:
        try:
            return Q.regex_query(SCHEMA, field, regex)
        except ValueError as e:
            raise QueryError(f"Invalid pattern {raw!r}: {e}", None, ctx.text) from None
    if field in schema.TIMESTAMP_ALIASES or field in schema.NUMERIC_EVENT_FIELDS:
        raise QueryError(f"Wildcards and regexes do not apply to the numeric field {field}", None, ctx.text)
    return _source(field, SourceMatch(kind, raw if kind == "wildcard" else regex), ctx)


def _fuzzy(field: str, value: str, degree: float, ctx: _Ctx) -> tantivy.Query:
    _expensive(value, ctx)
    distance = 2 if degree < 1 else min(2, int(degree))
    if field == schema.MESSAGE:
        toks = schema.tokenize(value)
        if len(toks) != 1:
            return _phrase(field, value, ctx)
        return Q.fuzzy_term_query(SCHEMA, field, toks[0], distance=distance)
    if field in schema.EVENT_KEYWORDS:
        return Q.fuzzy_term_query(SCHEMA, field, value, distance=distance)
    return _term(field, value, ctx)


def _exists(field: str, ctx: _Ctx) -> tantivy.Query:
    if field in schema.TIMESTAMP_ALIASES or field in schema.NUMERIC_EVENT_FIELDS or field == schema.MESSAGE:
        return Q.all_query()
    if field in schema.FAST_KEYWORDS:
        return Q.exists_query(field)
    if field in schema.EVENT_KEYWORDS:
        return Q.regex_query(SCHEMA, field, ".*")
    return _source(field, SourceMatch("exists"), ctx)


def _date(value: str, ctx: _Ctx, round_up: bool) -> int:
    try:
        return datemath.parse(value, now_us=ctx.now_us, round_up=round_up)
    except ValueError as e:
        raise QueryError(str(e), None, ctx.text) from None


def _uint(field: str, value: str, ctx: _Ctx) -> int:
    try:
        n = int(value)
    except ValueError:
        raise QueryError(f"{field} takes a whole number, not {value!r}", None, ctx.text) from None
    if field == schema.LINE:
        n -= 1  # users count lines from 1; the index from 0
    return max(0, n)


def _ts_range(lo: int | None, hi: int | None, ctx: _Ctx) -> tantivy.Query:
    return Q.range_query(
        SCHEMA, schema.TS, tantivy.FieldType.Integer,
        lo if lo is not None else -(2**63), hi if hi is not None else 2**63 - 1,
    )  # fmt: skip


def _range(field: str, low: str, high: str, inc_lo: bool, inc_hi: bool, ctx: _Ctx) -> tantivy.Query:
    lo = None if low in ("*", "") else low
    hi = None if high in ("*", "") else high
    if field in schema.TIMESTAMP_ALIASES:
        a = _date(lo, ctx, not inc_lo) if lo is not None else None
        b = _date(hi, ctx, inc_hi) if hi is not None else None
        if a is not None and not inc_lo:
            a += 1
        if b is not None and not inc_hi:
            b -= 1
        return _ts_range(a, b, ctx)
    if field in schema.NUMERIC_EVENT_FIELDS:
        a = _uint(field, lo, ctx) + (0 if inc_lo else 1) if lo is not None else 0
        b = _uint(field, hi, ctx) - (0 if inc_hi else 1) if hi is not None else 2**63 - 1
        if b < a:
            return Q.empty_query()
        return Q.range_query(SCHEMA, field, tantivy.FieldType.Unsigned, a, b)
    if field == schema.MESSAGE or field in schema.EVENT_KEYWORDS:
        raise QueryError(f"Ranges work on numeric, date and build fields, not {field}", None, ctx.text)
    return _source(field, SourceMatch("range", None, lo, hi, inc_lo, inc_hi), ctx)


# -- what else callers need from a query -----------------------------------------------------


def _walk(node: T.Item, field: str, positive: bool, visit: Callable[[T.Item, str, bool], None]) -> None:
    if isinstance(node, T.Not | T.Prohibit):
        _walk(node.a, field, False, visit)
        return
    if isinstance(node, T.SearchField):
        _walk(node.expr, node.name, positive, visit)
        return
    visit(node, field, positive)
    for child in node.children:
        _walk(child, field, positive, visit)


def query_terms(text: str) -> list[str | list[str]]:
    """Tokens (and token phrases) of the positive ``message`` clauses, for highlighting."""
    tree = parse(text)
    out: list[str | list[str]] = []
    if tree is None:
        return out

    def visit(node: T.Item, field: str, positive: bool) -> None:
        if not positive or field != schema.MESSAGE:
            return
        if isinstance(node, T.Phrase | T.Word) and not isinstance(node, T.Regex):
            raw = node.value
            if raw == "*" or (isinstance(node, T.Word) and _has_wildcard(raw)):
                return
            toks = schema.tokenize(_unquote(raw) if isinstance(node, T.Phrase) else _unescape(raw))
            if len(toks) == 1:
                out.append(toks[0])
            elif toks:
                out.append(toks)

    _walk(tree, schema.MESSAGE, True, visit)
    return out


def fields_used(text: str) -> set[str]:
    tree = parse(text)
    out: set[str] = set()
    if tree is None:
        return out

    def visit(node: T.Item, field: str, positive: bool) -> None:
        if isinstance(node, T.Word | T.Phrase | T.Regex | T.Range | T.From | T.To):
            out.add(field)

    _walk(tree, schema.MESSAGE, True, visit)
    return out


def combine_and(q_text: str, filter_text: str) -> str:
    """``(q) AND (filter)`` — never append text to a query (elastic-recheck's ``voting:1`` bug)."""
    q = q_text.strip() or "*"
    return f"({q}) AND ({filter_text})"
