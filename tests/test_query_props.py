"""Properties of the query translator on generated indexes: it only ever raises QueryError,
boolean queries mean what a reference model says, Lucene's flat-chain precedence holds,
and the usual algebra (``a AND NOT b`` = ``a -b`` = ``+a -b``, De Morgan) is kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import schema
from index.query import DictResolver, QueryError, fields_used, query_terms, translate

VOCAB = ["alpha", "beta", "gamma", "delta"]
SOURCES: dict[int, dict[str, Any]] = {
    1: {"build_status": "FAILURE", "tags": ["console"]},
    2: {"build_status": "SUCCESS", "tags": ["console", "syslog"]},
    3: {"build_status": "FAILURE"},
    4: {"build_status": "SUCCESS", "tags": ["syslog"]},
}  # file 5 has no source record
RESOLVER = DictResolver(SOURCES)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Doc:
    words: tuple[str, ...]
    level: str
    file: int


def _src(d: Doc) -> dict[str, Any]:
    return SOURCES.get(d.file, {})


# Each atom with its meaning on one document (line i, 0-based in the index, 1-based in queries).
ATOMS: dict[str, Callable[[int, Doc], bool]] = {
    "alpha": lambda i, d: "alpha" in d.words,
    "message:beta": lambda i, d: "beta" in d.words,
    "GAMMA": lambda i, d: "gamma" in d.words,
    "loglevel:ERROR": lambda i, d: d.level == "ERROR",
    "build_status:FAILURE": lambda i, d: _src(d).get("build_status") == "FAILURE",
    'tags:"console"': lambda i, d: "console" in _src(d).get("tags", []),
    "_exists_:tags": lambda i, d: "tags" in _src(d),
    "del*": lambda i, d: any(w.startswith("del") for w in d.words),
    "/b.t./": lambda i, d: any(re.fullmatch("b.t.", w) for w in d.words),
    '"alpha beta"': lambda i, d: any(
        d.words[k : k + 2] == ("alpha", "beta") for k in range(len(d.words))
    ),
    "line:[2 TO 4]": lambda i, d: 2 <= i + 1 <= 4,
    "file_id:{1 TO 3]": lambda i, d: 1 < d.file <= 3,
    "gama~1": lambda i, d: "gamma" in d.words,
}

docs_st = st.lists(
    st.builds(
        Doc,
        st.lists(st.sampled_from(VOCAB), min_size=1, max_size=5).map(tuple),
        st.sampled_from(["INFO", "ERROR"]),
        st.integers(1, 5),
    ),
    min_size=1,
    max_size=12,
)


def build(docs: list[Doc]) -> tantivy.Searcher:
    idx = tantivy.Index(schema.SCHEMA)
    schema.register_tokenizers(idx)
    w = idx.writer(heap_size=15_000_000, num_threads=1)
    for i, d in enumerate(docs):
        doc = {
            "message": " ".join(d.words),
            "file_id": d.file,
            "line": i,
            "nlines": 1,
            schema.KW: {"loglevel": d.level},
            "ts": i,
        }
        w.add_json(orjson.dumps(doc).decode())
    w.commit()
    idx.reload()
    return idx.searcher()


def hits(s: tantivy.Searcher, text: str) -> set[int]:
    res = s.search(translate(text, RESOLVER), limit=1000)
    return set(s.fast_field_values("line", [a for _, a in res.hits]))


# -- expressions with a reference meaning ----------------------------------------------------------

Expr = tuple[Any, ...]


def exprs(max_leaves: int = 6) -> st.SearchStrategy[Expr]:
    atom = st.sampled_from(sorted(ATOMS)).map(lambda a: ("atom", a))
    return st.recursive(
        atom,
        lambda kids: st.one_of(
            st.tuples(st.just("and"), st.sampled_from(["AND", "&&", "+"]), kids, kids),
            st.tuples(st.just("or"), st.sampled_from(["OR", "||", ""]), kids, kids),
            st.tuples(st.just("not"), st.sampled_from(["NOT ", "!", "-"]), kids),
        ),
        max_leaves=max_leaves,
    )


def render(e: Expr) -> str:
    if e[0] == "atom":
        return e[1]
    if e[0] == "not":
        return f"{e[1]}({render(e[2])})"
    left, right = render(e[2]), render(e[3])
    if e[1] == "+":
        return f"+({left}) +({right})"
    return f"({left}) {e[1]} ({right})".replace("  ", " ")


def evaluate(e: Expr, docs: list[Doc]) -> set[int]:
    if e[0] == "atom":
        return {i for i, d in enumerate(docs) if ATOMS[e[1]](i, d)}
    if e[0] == "not":
        return set(range(len(docs))) - evaluate(e[2], docs)
    a, b = evaluate(e[2], docs), evaluate(e[3], docs)
    return a & b if e[0] == "and" else a | b


@SETTINGS
@given(docs_st, exprs())
def test_boolean_queries_mean_what_the_model_says(docs: list[Doc], e: Expr) -> None:
    assert hits(build(docs), render(e)) == evaluate(e, docs)


@SETTINGS
@given(
    docs_st,
    st.lists(
        st.tuples(
            st.sampled_from(["AND", "OR", ""]), st.booleans(), st.sampled_from(sorted(ATOMS))
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_a_flat_chain_follows_lucene_classic_precedence(
    docs: list[Doc], chain: list[tuple[str, bool, str]]
) -> None:
    """No grouping by precedence: a clause is required when an AND touches it, else optional."""
    text = " ".join(
        f"{conj if k else ''} {'NOT ' if neg else ''}{atom}".strip()
        for k, (conj, neg, atom) in enumerate(chain)
    )
    conjs = [c if k else "" for k, (c, _, _) in enumerate(chain)] + [""]
    sets = [{i for i, d in enumerate(docs) if ATOMS[atom](i, d)} for _, _, atom in chain]
    must = [
        s
        for k, (s, (_, neg, _)) in enumerate(zip(sets, chain, strict=True))
        if not neg and "AND" in (conjs[k], conjs[k + 1])
    ]
    should = [
        s
        for k, (s, (_, neg, _)) in enumerate(zip(sets, chain, strict=True))
        if not neg and "AND" not in (conjs[k], conjs[k + 1])
    ]
    must_not = [s for s, (_, neg, _) in zip(sets, chain, strict=True) if neg]
    everything = set(range(len(docs)))
    if must:
        want = set.intersection(*must)
    elif should:
        want = set.union(*should)
    else:
        want = everything
    want -= set().union(*must_not)
    assert hits(build(docs), text) == want, text


@SETTINGS
@given(docs_st, exprs(3), exprs(3))
def test_algebra(docs: list[Doc], ea: Expr, eb: Expr) -> None:
    s = build(docs)
    a, b = render(ea), render(eb)
    A, B = hits(s, f"({a})"), hits(s, f"({b})")
    everything = set(range(len(docs)))
    assert (
        hits(s, f"({a}) AND NOT ({b})")
        == hits(s, f"({a}) -({b})")
        == hits(s, f"+({a}) -({b})")
        == A - B
    )
    assert (
        hits(s, f"NOT (({a}) OR ({b}))")
        == hits(s, f"NOT ({a}) AND NOT ({b})")
        == everything - (A | B)
    )
    assert hits(s, f"({a}) OR ({b})") >= A
    assert hits(s, f"NOT ({a})") == everything - A


# -- never anything but QueryError -----------------------------------------------------------------

FRAGMENTS = [
    "alpha", "Beta", "message", "tags", "loglevel", "line", "@timestamp", "_exists_", "build_status",
    ":", ": ", "(", ")", "[", "]", "{", "}", '"', '"a b"', "/", "/a.*/", "\\", "\\:", "*", "?", "~", "~2",
    "~0.5", "^", "^2", "+", "-", "!", "&&", "||", "AND", "OR", "NOT", "TO", " TO ", ">", ">=", "<", "<=",
    "now-1d/d", "2014-11-25T00:49:21Z", "1416876561000", "'", "1", "-1", "1.5", "99999999999999999999999",
    " ", " ", " ", "\n", "é", "\x00", "[a-", "(?=x)",
]  # fmt: skip


@cache
def _corpus() -> tantivy.Searcher:
    return build(
        [
            Doc(("alpha", "beta"), "ERROR", 1),
            Doc(("gamma",), "INFO", 5),
            Doc(("delta", "alpha"), "INFO", 2),
        ]
    )


def _check(q: str) -> None:
    try:
        tq = translate(q, RESOLVER, now_us=1_416_876_561_685_000)
        _corpus().search(tq, limit=10)
        query_terms(q)
        fields_used(q)
    except QueryError as e:
        assert e.message and e.query == q
        assert e.column is None or 1 <= e.column <= len(q) + 1, (e.column, len(q))


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
def test_fragments_of_syntax_only_raise_query_error(q: str) -> None:
    _check(q)


@SETTINGS
@given(exprs().map(render).flatmap(lambda q: st.integers(0, len(q)).map(lambda k: q[:k])))
def test_truncated_queries_only_raise_query_error(q: str) -> None:
    _check(q)


@SETTINGS
@given(st.text(max_size=60))
def test_random_text_only_raises_query_error(q: str) -> None:
    _check(q)
