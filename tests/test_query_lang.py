"""The Lucene query language on a real Tantivy index: forms, precedence, errors, limits,
every real elastic-recheck signature, and hypothesis properties."""

from __future__ import annotations

import contextlib
import itertools

import orjson
import pytest
import tantivy
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from index import schema
from index.query import DictResolver, Limits, QueryError, combine_and, query_terms, translate

from .conftest import SHARED

DOCS = [
    # message, file_id, loglevel, ts (µs)
    ("Timed out waiting for a reply to message ID abc", 1, "ERROR", 1_416_876_561_685_000),
    ("request timed out after 30s", 2, "INFO", 1_416_876_562_000_000),
    ("all good here", 1, "INFO", 1_416_876_563_000_000),
    ("waiting for port 22", 3, "WARNING", 1_416_963_000_000_000),
    ("slave.log (No such file or directory)", 2, "ERROR", 1_416_963_100_000_000),
    ('quoted "word" inside', 3, "DEBUG", 1_416_963_200_000_000),
    ("ImportError: cannot import name foo", 4, "CRITICAL", 1_417_000_000_000_000),
]
SOURCES = {
    1: {"build_status": "FAILURE", "voting": "1", "tags": ["console", "console.html"], "build_change": "100", "build_name": "tempest-full"},
    2: {"build_status": "SUCCESS", "voting": "0", "tags": ["screen-n-api.txt", "oslofmt"], "build_change": "200", "build_name": "tempest-slow"},
    3: {"build_status": "FAILURE", "voting": "0", "tags": ["syslog.txt"], "build_change": "300", "build_name": "grenade"},
    4: {"build_status": "FAILURE", "voting": "1", "tags": ["console"], "build_change": "400"},
}  # fmt: skip
NOW = 1_417_050_000_000_000


@pytest.fixture(scope="module")
def searcher() -> tantivy.Searcher:
    idx = tantivy.Index(schema.SCHEMA)
    schema.register_tokenizers(idx)
    w = idx.writer()
    for i, (msg, fid, lvl, ts) in enumerate(DOCS):
        w.add_json(orjson.dumps({"message": msg, "file_id": fid, "line": i, "nlines": 1, "loglevel": lvl, "ts": ts}).decode())
    w.commit()
    idx.reload()
    return idx.searcher()


def hits(s: tantivy.Searcher, q: str, **kw: object) -> set[int]:
    res = s.search(translate(q, DictResolver(SOURCES), now_us=NOW, **kw), limit=100)
    return set(s.fast_field_values("line", [a for _, a in res.hits]))


@pytest.mark.parametrize(("q", "want"), [
    ('message:"timed out"', {0, 1}),
    ("timed", {0, 1}),
    ("TIMED", {0, 1}),
    ('"timed out" AND NOT build_status:SUCCESS', {0}),
    ('message:"timed out" AND NOT build_status:SUCCESS', {0}),
    ("timed && !build_status:SUCCESS", {0}),
    ("+timed -build_status:SUCCESS", {0}),
    ("timed good", {0, 1, 2}),
    ("message:(timed OR port)", {0, 1, 3}),
    ("message:(timed port)", {0, 1, 3}),
    ("timed OR good AND build_status:FAILURE", {2}),
    ("good AND build_status:FAILURE OR timed", {2}),
    ("NOT loglevel:INFO", {0, 3, 4, 5, 6}),
    ("-loglevel:INFO", {0, 3, 4, 5, 6}),
    ("timed AND (NOT loglevel:INFO)", {0}),
    ("*", set(range(7))),
    ("*:*", set(range(7))),
    ("message:wait*", {0, 3}),
    ("message:w?iting", {0, 3}),
    ("/wait.*/", {0, 3}),
    ("build_name:tempest-*", {0, 1, 2, 4}),
    ("build_name:/tempest-s.*/", {1, 4}),
    ('"timed waiting"~2', {0}),
    ('"timed waiting"', set()),
    ("waitng~", {0, 3}),
    ('message:"slave.log \\(No such"', {4}),
    ("message:slave.log", {4}),
    ('message:"\\"word\\""', {5}),
    ('tags: "console"', {0, 2, 6}),
    ('tags:"console.html"', {0, 2}),
    ("loglevel:error", set()),
    ("loglevel:ERROR", {0, 4}),
    ("loglevel:[ERROR TO INFO]", None),
    ("line:[2 TO 3]", {1, 2}),
    ("line:{2 TO 4]", {2, 3}),
    ("line:>=6", {5, 6}),
    ("line:<2", {0}),
    ("build_change:[150 TO 300]", {1, 3, 4, 5}),
    ("build_change:>=300", {3, 5, 6}),
    ("@timestamp:[2014-11-25 TO 2014-11-25]", {0, 1, 2}),
    ("@timestamp:>=2014-11-26", {3, 4, 5, 6}),
    ('@timestamp:["2014-11-25T00:49:21Z" TO "2014-11-25T00:49:22.500Z"]', {0, 1}),
    ("@timestamp:[1416876561000 TO 1416876562000]", {0, 1}),
    ("@timestamp:[now-1d TO now]", {6}),
    ("_exists_:loglevel", set(range(7))),
    ("_exists_:build_name", {0, 1, 2, 3, 4, 5}),
    ("NOT _exists_:build_name", {6}),
    ("timed^2 OR good", {0, 1, 2}),
    ("ImportError", {6}),
    ("", set(range(7))),
])  # fmt: skip
def test_forms(searcher: tantivy.Searcher, q: str, want: set[int] | None) -> None:
    if want is None:
        with pytest.raises(QueryError):
            hits(searcher, q)
        return
    assert hits(searcher, q) == want


def test_voting_filter_is_combined_not_appended(searcher: tantivy.Searcher) -> None:
    q = 'message:"timed out" OR message:port'
    assert hits(searcher, combine_and(q, "voting:1")) == {0}
    # elastic-recheck's text append changes the meaning of a top-level OR (Lucene reads
    # it as: "timed out" optional, port AND voting required) and loses the real hit:
    assert hits(searcher, q + " AND voting:1") == set()


@pytest.mark.parametrize(("q", "msg", "col"), [
    ("message:(a OR b", "Expected ')'", 16),
    ("a AND AND b", "Unexpected 'AND'", 7),
    ('message:"open', None, None),
    ("message:/[/", "regular expression", None),
    ("line:abc", "whole number", None),
    ("message:[a TO b]", "Ranges", None),
])  # fmt: skip
def test_errors_say_what_and_where(q: str, msg: str | None, col: int | None) -> None:
    with pytest.raises(QueryError) as e:
        translate(q, DictResolver(SOURCES))
    if msg:
        assert msg in str(e.value)
    if col:
        assert e.value.column == col


def test_expensive_forms_are_bounded() -> None:
    many = " OR ".join(f"message:a{i}*" for i in range(17))
    with pytest.raises(QueryError, match="max 16"):
        translate(many, DictResolver(SOURCES))
    with pytest.raises(QueryError, match="longer than"):
        translate("message:" + "a" * 300 + "*", DictResolver(SOURCES))
    translate(many, DictResolver(SOURCES), limits=Limits(max_expensive=20))


def test_query_terms_are_the_positive_message_terms() -> None:
    assert query_terms('message:"timed out" AND foo NOT bar AND build_status:X') == [["timed", "out"], "foo"]


def _signatures() -> list[tuple[str, str]]:
    d = SHARED / "recheck-queries"
    if not d.is_dir():
        return []
    files = sorted(d.glob("*.yaml")) + [SHARED / "fixtures" / "1284371.yaml"]
    return [(f.stem, yaml.safe_load(f.read_text())["query"]) for f in files]


@pytest.mark.skipif(not _signatures(), reason="shared signatures absent")
def test_every_real_signature_translates(searcher: tantivy.Searcher) -> None:
    sigs = _signatures()
    assert len(sigs) == 92
    for bug, q in sigs:
        try:
            searcher.search(translate(q, DictResolver(SOURCES)), limit=1)
        except QueryError as e:  # pragma: no cover - the message says which
            pytest.fail(f"{bug}: {e}")


# -- properties -------------------------------------------------------------------------------

WORDS = ["timed", "out", "waiting", "port", "good", "error", "loglevel:ERROR", "build_status:FAILURE", "voting:1"]
atoms = st.sampled_from(WORDS)


def _expr(depth: int = 2) -> st.SearchStrategy[str]:
    if depth == 0:
        return atoms
    sub = _expr(depth - 1)
    return st.one_of(
        atoms,
        st.tuples(sub, st.sampled_from([" AND ", " OR ", " "]), sub).map("".join),
        sub.map(lambda x: f"({x})"),
        sub.map(lambda x: f"NOT {x}"),
    )


@settings(max_examples=150, deadline=None)
@given(st.one_of(_expr(), st.text(max_size=40)))
def test_translator_never_crashes(q: str) -> None:
    with contextlib.suppress(QueryError):
        translate(q, DictResolver(SOURCES))


@settings(max_examples=60, deadline=None)
@given(_expr(1), _expr(1))
def test_algebra(searcher: tantivy.Searcher, a: str, b: str) -> None:
    A, B = hits(searcher, f"({a})"), hits(searcher, f"({b})")
    everything = set(range(len(DOCS)))
    assert hits(searcher, f"({a}) AND NOT ({b})") == hits(searcher, f"({a}) -({b})") == hits(searcher, f"+({a}) -({b})") == A - B
    assert hits(searcher, f"NOT (({a}) OR ({b}))") == hits(searcher, f"NOT ({a}) AND NOT ({b})") == everything - (A | B)
    assert hits(searcher, f"({a}) OR ({b})") == A | B
    assert hits(searcher, f"({a}) AND ({b})") == A & B
    assert hits(searcher, f"NOT ({a})") == everything - A


def test_a_or_b_and_c_is_lucene_not_boolean_algebra(searcher: tantivy.Searcher) -> None:
    # Lucene: a SHOULD, b MUST, c MUST — not a OR (b AND c).
    for a, b, c in itertools.permutations(["timed", "good", "build_status:FAILURE"], 3):
        assert hits(searcher, f"{a} OR {b} AND {c}") == hits(searcher, f"{b}") & hits(searcher, f"{c}")
