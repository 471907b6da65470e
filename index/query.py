"""Lucene ``query_string`` syntax, as Elasticsearch answers it, translated to Tantivy.

Tantivy's own parser is not that language, so the text is parsed by luqum
(:mod:`index.query_syntax`) and the tree is translated here, with Lucene's classic
semantics where luqum's differ:

* **Precedence.** luqum makes AND bind tighter than OR; Lucene does not. A chain at one
  paren level is flattened back into the sequence the user wrote and each clause gets its
  occur from the conjunctions around it (``QueryParserBase.addClause``): ``a OR b AND c``
  is a SHOULD, b MUST, c MUST. A boolean of MUST_NOT clauses only gets a match-all MUST,
  at top level and inside parens, as Elasticsearch does.
* **Fields.** ``message`` goes through the indexing tokenizer: a term that splits into
  several tokens (``slave.log``) is a phrase, because ES's standard analyzer kept such a
  term as one token, which the phrase matches; a term with no token (``"..."``) matches
  nothing (Lucene would drop the clause). Wildcards on ``message`` are lowercased and split
  the same way (``nova.comp*`` is a phrase of ``nova`` then ``comp.*``); regexes apply to
  single tokens, case-insensitively (ES lowercases them). Event keywords match exactly.
  ``@timestamp`` (= ``timestamp`` = ``ts``) takes ES dates and date math
  (:mod:`index.datemath`); ``line``, ``nlines``, ``file_id`` are integers, ``line`` counted
  from 1. Every other field is a *source field*: the caller's resolver turns the clause into
  the set of matching ``file_id`` values.
* **Regexes** are Rust regex syntax (what Tantivy's automaton takes; Python ``re`` for
  source fields), anchored on the whole term like Lucene's; a leading ``^`` or trailing
  ``$`` is dropped. Lucene-only operators (``~`` complement, ``&``, ``@``, ``<1-5>``) are not
  supported: they are literal characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import tantivy
from luqum import tree as T

from . import datemath, schema
from .query_sources import DictResolver, SourceMatch, SourceResolver, compiled_pattern, match_value
from .query_syntax import (
    QueryError,
    bound,
    has_wildcard,
    parse,
    plain,
    rust_escape,
    unescape,
    unquote,
    wildcard_pieces,
    wildcard_regex,
)

Occur = tantivy.Occur
Q = tantivy.Query
SCHEMA = schema.SCHEMA
U64_MAX = 2**64 - 1

__all__ = [
    "DictResolver", "Limits", "QueryError", "SourceMatch", "SourceResolver", "combine_and",
    "fields_used", "match_value", "parse", "query_terms", "translate",
]  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Bounds on what one query may cost; exceeding one is a :class:`QueryError`."""

    max_expensive: int = 16
    """Wildcard, regex and fuzzy clauses (each walks the term dictionary with an automaton)."""
    max_pattern: int = 256
    """Characters in one wildcard or regex pattern."""
    max_clauses: int = 1024
    max_depth: int = 64
    """Nesting of parens, NOTs and operator chains (Tantivy recurses on nested booleans)."""


# -- Lucene's clause occurs ------------------------------------------------------------------------

_CHAINS = (T.AndOperation, T.OrOperation, T.UnknownOperation)
_MODS = (T.Not, T.Prohibit, T.Plus)
_NESTING = (*_CHAINS, *_MODS, T.Group, T.FieldGroup)


def _linear(node: T.Item, conj: str | None = None) -> list[tuple[str | None, T.Item]]:
    """The clauses of an operator chain as written, each with the conjunction before it.

    In-order over luqum's (precedence-shaped) tree gives back the written sequence."""
    if isinstance(node, _CHAINS):
        op = (
            "AND"
            if isinstance(node, T.AndOperation)
            else "OR"
            if isinstance(node, T.OrOperation)
            else None
        )
        out: list[tuple[str | None, T.Item]] = []
        for i, child in enumerate(node.children):
            out.extend(_linear(child, conj if i == 0 else op))
        return out
    return [(conj, node)]


def _occurs(
    clauses: list[tuple[str | None, T.Item]], default_and: bool
) -> list[tuple[Any, T.Item]]:
    """QueryParserBase.addClause: each clause's occur from its conjunctions and modifier.

    Only the outer modifier is one (Lucene allows one); ``NOT NOT a`` nests, which is ``a``."""
    out: list[list[Any]] = []
    for conj, node in clauses:
        mod = None
        if isinstance(node, _MODS):
            mod = "REQ" if isinstance(node, T.Plus) else "NOT"
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
        out.append(
            [Occur.MustNot if prohibited else Occur.Must if required else Occur.Should, node]
        )
    return [(o, n) for o, n in out]


# -- translation -----------------------------------------------------------------------------------


def translate(
    text: str,
    resolver: SourceResolver,
    *,
    now_us: int | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen
    default_operator: str = "OR",
) -> tantivy.Query:
    """The Tantivy query for ``text``; :class:`QueryError` if it is malformed or too costly."""
    tree = parse(text)
    if tree is None:
        return Q.all_query()
    tr = _Translator(text, resolver, now_us, limits, default_operator.upper() == "AND")
    try:
        return tr.node(tree, schema.MESSAGE)
    except QueryError:
        raise
    except RecursionError:
        raise QueryError(f"Query nested too deeply (max {limits.max_depth})", None, text) from None
    except (ValueError, ArithmeticError) as e:  # Tantivy refusing a value: say so, don't crash
        raise tr.error(f"Invalid query: {e}") from None


def _kind(field: str) -> str:
    if field in (schema.MESSAGE, "*"):
        return "message"
    if field in schema.TIMESTAMP_ALIASES:
        return "time"
    if field in (schema.FILE_ID, schema.LINE, schema.NLINES):
        return "number"
    return "keyword" if field in schema.EVENT_KEYWORDS else "source"


class _Translator:
    def __init__(
        self,
        text: str,
        resolver: SourceResolver,
        now_us: int | None,
        limits: Limits,
        default_and: bool,
    ):
        self.text, self.resolver, self.now_us, self.limits = text, resolver, now_us, limits
        self.default_and = default_and
        self.expensive = self.clauses = self.depth = 0
        self.at: T.Item | None = None

    def error(self, message: str, node: T.Item | None = None) -> QueryError:
        node = node or self.at
        pos = getattr(node, "pos", None)
        return QueryError(message, pos + 1 if pos is not None else None, self.text)

    def node(self, node: T.Item, field: str) -> tantivy.Query:
        if not isinstance(node, _NESTING):
            return self._node(node, field)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.error(f"Query nested too deeply (max {self.limits.max_depth})", node)
        try:
            return self._node(node, field)
        finally:
            self.depth -= 1

    def _node(self, node: T.Item, field: str) -> tantivy.Query:
        if isinstance(node, (*_CHAINS, *_MODS)):
            return self.boolean(_occurs(_linear(node), self.default_and), field)
        if isinstance(node, T.Group | T.FieldGroup | T.Boost):
            return self.node(node.expr, field)
        if isinstance(node, T.SearchField):
            return self.search_field(node)
        self.clauses += 1
        if self.clauses > self.limits.max_clauses:
            raise self.error(f"Too many clauses (max {self.limits.max_clauses})", node)
        self.at = node
        if isinstance(node, T.Proximity):
            slop = 0 if node._implicit_degree else int(node.degree)
            return self.phrase(field, unquote(node.term.value), slop)
        if isinstance(node, T.Fuzzy):
            return self.fuzzy(field, node)
        if isinstance(node, T.Phrase):
            return self.phrase(field, unquote(node.value))
        if isinstance(node, T.Regex):
            return self.regex(field, node.value[1:-1])
        if isinstance(node, T.Range):
            return self.range(
                field, bound(node.low), bound(node.high), node.include_low, node.include_high
            )
        if isinstance(node, T.From):
            return self.range(field, bound(node.a), None, node.include, True)
        if isinstance(node, T.To):
            return self.range(field, None, bound(node.a), True, node.include)
        if isinstance(node, T.Word):
            raw = node.value
            if raw == "*":
                return self.exists(field)
            if has_wildcard(raw):
                return self.wildcard(field, raw)
            return self.term(field, unescape(raw))
        raise self.error(f"Unsupported query syntax: {type(node).__name__}", node)

    def boolean(self, clauses: list[tuple[Any, T.Item]], field: str) -> tantivy.Query:
        subs = [(occ, self.node(n, field)) for occ, n in clauses]
        if all(occ is Occur.MustNot for occ, _ in subs):
            subs.insert(0, (Occur.Must, Q.all_query()))  # all but those, as ES does
        if len(subs) == 1:
            return subs[0][1]
        return Q.boolean_query(subs)

    def search_field(self, node: T.SearchField) -> tantivy.Query:
        name = unescape(node.name)
        if isinstance(node.expr, T.SearchField):
            raise self.error(
                f"'{name}:' is followed by another field: quote the value or escape ':' as '\\:'",
                node.expr,
            )
        if name == "_exists_":
            if not isinstance(node.expr, T.Word | T.Phrase):
                raise self.error("_exists_ takes a field name", node.expr)
            self.at = node.expr
            target = plain(node.expr)
            return Q.all_query() if target == "*" else self.exists(target)
        return self.node(node.expr, name)

    # -- leaves, by field kind ----------------------------------------------------------------

    def exists(self, field: str) -> tantivy.Query:
        kind = _kind(field)
        if kind in ("message", "time", "number"):
            return Q.all_query()  # every event has these
        if kind == "keyword":
            return Q.exists_query(schema.indexed(field))
        return self.source(field, SourceMatch("exists"))

    def term(self, field: str, value: str) -> tantivy.Query:
        kind = _kind(field)
        if kind == "message":
            return self.phrase(field, value)
        if kind == "keyword":
            return Q.term_query(SCHEMA, schema.indexed(field), value)
        if kind == "time":
            return self._ts(self._date(value, False), self._date(value, True))
        if kind == "number":
            n = self._number(field, value)
            if n != n.to_integral_value():
                return Q.empty_query()
            return self._uint(field, int(n), int(n))
        return self.source(field, SourceMatch("term", value))

    def phrase(self, field: str, text: str, slop: int = 0) -> tantivy.Query:
        if _kind(field) != "message":
            return self.term(field, text)  # one value: slop means nothing
        toks = schema.tokenize(text)
        if not toks:
            return Q.empty_query()
        if len(toks) == 1:
            return Q.term_query(SCHEMA, schema.MESSAGE, toks[0])
        return Q.phrase_query(SCHEMA, schema.MESSAGE, toks, min(slop, 1_000_000))

    def wildcard(self, field: str, raw: str) -> tantivy.Query:
        kind = self._pattern_kind(field, raw, "Wildcards")
        if kind == "source":
            return self.source(field, SourceMatch("wildcard", raw))
        if kind == "keyword":
            return self._regex_query(*schema.keyword_regex(field, "(?s)" + wildcard_regex(raw, rust_escape)), raw)
        pieces = wildcard_pieces(raw.lower())
        if not pieces:
            return Q.empty_query()
        regexes = [wildcard_regex(p, rust_escape) for p in pieces]
        if len(pieces) == 1:
            return self._regex_query(schema.MESSAGE, regexes[0], raw)
        try:
            return Q.regex_phrase_query(SCHEMA, schema.MESSAGE, regexes)
        except ValueError as e:
            raise self.error(f"Invalid wildcard {raw!r}: {_tantivy_reason(e)}") from None

    def regex(self, field: str, pattern: str) -> tantivy.Query:
        pattern = re.sub(r"^\^|(?<!\\)\$$", "", pattern)  # the match is anchored anyway
        kind = self._pattern_kind(field, pattern, "Regular expressions")
        if kind == "message":
            return self._regex_query(schema.MESSAGE, "(?i)" + pattern, f"/{pattern}/")
        if kind == "keyword":
            return self._regex_query(*schema.keyword_regex(field, "(?s)" + pattern), f"/{pattern}/")
        self._regex_query(*schema.keyword_regex("module", pattern), f"/{pattern}/")  # one dialect for all fields
        try:
            compiled_pattern("regex", pattern)
        except re.error as e:
            raise self.error(f"Invalid regular expression /{pattern}/: {e}") from None
        return self.source(field, SourceMatch("regex", pattern))

    def fuzzy(self, field: str, node: T.Fuzzy) -> tantivy.Query:
        value = unescape(node.term.value)
        degree = float(node.degree)
        if node._implicit_degree:
            distance = 2
        elif degree >= 1:
            if degree != int(degree):
                raise self.error("Fractional edit distances are not allowed")
            distance = min(int(degree), 2)
        else:  # Lucene's old similarity (FuzzyQuery.floatToEdits); ~0 is exact
            distance = min(int((1 - degree) * len(value)), 2) if degree > 0 else 0
        kind = _kind(field)
        if kind in ("time", "number"):
            raise self.error(f"Fuzzy terms do not apply to the numeric field {field}")
        if kind == "source" or distance == 0:
            return self.term(field, value)
        if kind == "message":
            toks = schema.tokenize(value)
            if len(toks) != 1:
                return self.phrase(field, value)
            value = toks[0]
        self._count_expensive(value)
        return Q.fuzzy_term_query(
            SCHEMA, schema.indexed(field) if kind == "keyword" else schema.MESSAGE, value, distance=distance
        )

    def range(
        self, field: str, low: str | None, high: str | None, inc_lo: bool, inc_hi: bool
    ) -> tantivy.Query:
        kind = _kind(field)
        if low is None and high is None:
            return self.exists(field)
        if kind == "time":
            # ES rounding: an inclusive upper or exclusive lower bound rounds up.
            a = None if low is None else self._date(low, not inc_lo) + (0 if inc_lo else 1)
            b = None if high is None else self._date(high, inc_hi) - (0 if inc_hi else 1)
            return self._ts(a, b)
        if kind == "number":
            lo = hi = None
            if low is not None:
                n = self._number(field, low)
                lo = (
                    int(n.to_integral_value(ROUND_CEILING))
                    if inc_lo
                    else int(n.to_integral_value(ROUND_FLOOR)) + 1
                )
            if high is not None:
                n = self._number(field, high)
                hi = (
                    int(n.to_integral_value(ROUND_FLOOR))
                    if inc_hi
                    else int(n.to_integral_value(ROUND_CEILING)) - 1
                )
            return self._uint(field, lo, hi)
        if kind == "source":
            return self.source(field, SourceMatch("range", None, low, high, inc_lo, inc_hi))
        raise self.error(
            f"Ranges work on @timestamp, line, nlines, file_id and build fields, not {field}"
        )

    # -- helpers ------------------------------------------------------------------------------

    def source(self, field: str, match: SourceMatch) -> tantivy.Query:
        ids = self.resolver.ids(field, match)
        if ids is None:
            return Q.all_query()
        if not ids:
            return Q.empty_query()
        return Q.term_set_query(SCHEMA, schema.FILE_ID, sorted(i for i in ids if 0 <= i <= U64_MAX))

    def _pattern_kind(self, field: str, pattern: str, what: str) -> str:
        kind = _kind(field)
        if kind in ("time", "number"):
            raise self.error(f"{what} do not apply to the numeric field {field}")
        self._count_expensive(pattern)
        return kind

    def _count_expensive(self, pattern: str) -> None:
        self.expensive += 1
        if self.expensive > self.limits.max_expensive:
            raise self.error(
                f"Too many wildcard, regex or fuzzy clauses (max {self.limits.max_expensive})"
            )
        if len(pattern) > self.limits.max_pattern:
            raise self.error(f"Pattern longer than {self.limits.max_pattern} characters")

    def _regex_query(self, field: str, regex: str, shown: str) -> tantivy.Query:
        try:
            return Q.regex_query(SCHEMA, field, regex)
        except ValueError as e:
            what = "regular expression" if shown.startswith("/") else "wildcard"
            raise self.error(f"Invalid {what} {shown}: {_tantivy_reason(e)}") from None

    def _date(self, value: str, round_up: bool) -> int:
        try:
            return datemath.parse(value, now_us=self.now_us, round_up=round_up)
        except ValueError as e:
            raise self.error(str(e)) from None

    def _ts(self, lo: int | None, hi: int | None) -> tantivy.Query:
        lo = None if lo is None else max(lo, -(2**63))
        hi = None if hi is None else min(hi, 2**63 - 1)
        if lo is not None and hi is not None and lo > hi:
            return Q.empty_query()
        if lo is None and hi is None:
            return Q.all_query()
        return Q.range_query(SCHEMA, schema.TS, tantivy.FieldType.Integer, lo, hi)

    def _number(self, field: str, value: str) -> Decimal:
        try:
            n = Decimal(value.strip())
        except InvalidOperation:
            n = Decimal("nan")
        if not n.is_finite():
            raise self.error(f"{field} takes a whole number, not {value!r}")
        limit = Decimal(U64_MAX + 2)  # beyond u64 either way: same answer, no 10**huge ints
        return max(-limit, min(n, limit))

    def _uint(self, field: str, lo: int | None, hi: int | None) -> tantivy.Query:
        """A u64 range, ``line`` counted from 1 by users and from 0 in the index."""
        shift = 1 if field == schema.LINE else 0
        lo = 0 if lo is None else max(lo - shift, 0)
        hi = U64_MAX if hi is None else min(hi - shift, U64_MAX)
        if lo > hi:
            return Q.empty_query()
        return Q.range_query(SCHEMA, field, tantivy.FieldType.Unsigned, lo, hi)


def _tantivy_reason(e: ValueError) -> str:
    """The useful last line of Tantivy's regex error."""
    msg = str(e).strip().strip("'")
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    last = lines[-1] if lines else msg
    for prefix in ("An invalid argument was passed: ", "'", "RegexQueryError: ", "error: "):
        last = last.removeprefix(prefix)
    return last.strip("'")


# -- what else callers need from a query -----------------------------------------------------------


def _walk(
    node: T.Item, field: str, positive: bool, visit: Callable[[T.Item, str, bool], None]
) -> None:
    if isinstance(node, T.Not | T.Prohibit):
        _walk(node.a, field, not positive, visit)
        return
    if isinstance(node, T.SearchField):
        _walk(node.expr, unescape(node.name), positive, visit)
        return
    visit(node, field, positive)
    if not isinstance(node, T.Range | T.From | T.To | T.Fuzzy | T.Proximity):
        for child in node.children:
            _walk(child, field, positive, visit)


def query_terms(text: str) -> list[str | list[str]]:
    """Message tokens (a list for a phrase) of the positive clauses, for highlighting.

    A wildcard comes back as its lowercased token pattern(s) (``wait*``)."""
    tree = parse(text)
    out: list[str | list[str]] = []
    if tree is None:
        return out

    def add(item: str | list[str]) -> None:
        if item not in out:
            out.append(item)

    def visit(node: T.Item, field: str, positive: bool) -> None:
        if not positive or _kind(field) != "message":
            return
        if isinstance(node, T.Proximity | T.Fuzzy):
            node = node.term
        if isinstance(node, T.Word) and not isinstance(node, T.Regex) and has_wildcard(node.value):
            if node.value != "*":
                for p in wildcard_pieces(node.value.lower()):
                    add(p)
            return
        if isinstance(node, T.Phrase | T.Word) and not isinstance(node, T.Regex):
            toks = schema.tokenize(plain(node))
            if len(toks) == 1:
                add(toks[0])
            elif toks:
                add(toks)

    _walk(tree, schema.MESSAGE, True, visit)
    return out


def fields_used(text: str) -> set[str]:
    """The fields a query reads (bare terms read ``message``; ``_exists_:f`` reads ``f``)."""
    tree = parse(text)
    out: set[str] = set()
    if tree is None:
        return out

    def visit(node: T.Item, field: str, positive: bool) -> None:
        if field == "_exists_" and isinstance(node, T.Word | T.Phrase):
            if plain(node) != "*":
                out.add(plain(node))
        elif isinstance(node, T.Term | T.Range | T.From | T.To | T.Fuzzy | T.Proximity) and not (
            isinstance(node, T.Word) and node.value == "*" and _kind(field) == "message"
        ):
            out.add(schema.MESSAGE if field == "*" else field)

    _walk(tree, schema.MESSAGE, True, visit)
    return out


def combine_and(q_text: str, filter_text: str) -> str:
    """``(q) AND (filter)``: both apply whole, whatever their operators.

    Never append text to a query: elastic-recheck's ``q + " AND voting:1"`` turns
    ``a OR b`` into ``a OR b AND voting:1``, which Lucene reads as b AND voting (a optional)."""
    q, f = q_text.strip(), filter_text.strip()
    if not q:
        return f
    if not f:
        return q
    return f"({q}) AND ({f})"
