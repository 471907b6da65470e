"""The Lucene query language on a real Tantivy index: every form, Lucene's precedence, the
voting-append pitfall, errors with columns, limits, date math, and all real signatures."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import tantivy
import yaml

from index import datemath, schema
from index.query import (
    DictResolver,
    Limits,
    QueryError,
    SourceMatch,
    combine_and,
    fields_used,
    match_value,
    parse,
    query_terms,
    translate,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
H = 3_600_000_000  # µs

# message, file_id, loglevel, ts (µs), extra event fields; the line is the position (0-based)
DOCS: list[tuple[str, int, str, int, dict[str, object]]] = [
    ("Timed out waiting for a reply to message ID abc", 1, "ERROR", 1_416_876_561_685_000,
     {"module": "oslo_messaging.rpc.server", "pid": "123"}),
    ("request timed out after 30s", 2, "INFO", 1_416_876_562_000_000, {"module": "nova.compute.manager"}),
    ("all good here", 1, "INFO", 1_416_876_563_000_000, {}),
    ("waiting for port 22", 3, "WARNING", 1_416_963_000_000_000, {}),  # 2014-11-26T00:50Z
    ("slave.log (No such file or directory)", 2, "ERROR", 1_416_963_100_000_000, {"nlines": 2}),
    ('quoted "word" inside', 3, "DEBUG", 1_416_963_200_000_000, {}),
    ("ImportError: cannot import name foo", 4, "CRITICAL", 1_417_000_000_000_000, {}),
    ("log written by slave", 5, "INFO", 1_417_010_000_000_000, {}),
    ("Slave went offline during the build", 5, "ERROR", 1_417_020_000_000_000, {}),
    ("E: Failed to fetch http://mirror/x.deb Hash Sum mismatch", 4, "ERROR", 1_417_030_000_000_000, {}),
    ("orphan event", 6, "DEBUG", 1_417_040_000_000_000, {}),  # file 6 has no source record
]  # fmt: skip
ALL = set(range(len(DOCS)))
SOURCES: dict[int, dict[str, object]] = {
    1: {"build_status": "FAILURE", "voting": "1", "tags": ["console", "console.html"], "build_change": "100",
        "build_name": "tempest-full", "filename": "job-output.txt"},
    2: {"build_status": "SUCCESS", "voting": "0", "tags": ["screen-n-api.txt", "oslofmt"], "build_change": "200",
        "build_name": "tempest-slow", "filename": "screen-n-api.txt"},
    3: {"build_status": "FAILURE", "voting": "0", "tags": ["syslog.txt"], "build_change": "300", "build_name": "grenade"},
    4: {"build_status": "FAILURE", "voting": "1", "tags": ["console"], "build_change": "400"},
    5: {"build_status": "FAILURE", "voting": "1", "tags": ["console.html"], "build_change": "1000",
        "build_name": "tempest-slow-py3"},
}  # fmt: skip
NOW = 1_417_048_800_000_000  # 2014-11-27T00:40:00Z


@pytest.fixture(scope="module")
def searcher() -> tantivy.Searcher:
    idx = tantivy.Index(schema.SCHEMA)
    schema.register_tokenizers(idx)
    w = idx.writer(heap_size=15_000_000, num_threads=1)
    for i, (msg, fid, lvl, ts, extra) in enumerate(DOCS):
        doc = {
            "message": msg,
            "file_id": fid,
            "line": i,
            "nlines": 1,
            "ts": ts,
            **{k: v for k, v in extra.items() if k not in schema.EVENT_KEYWORDS},
            schema.KW: {"loglevel": lvl, **{k: v for k, v in extra.items() if k in schema.EVENT_KEYWORDS}},
        }
        w.add_json(orjson.dumps(doc).decode())
    w.commit()
    idx.reload()
    return idx.searcher()


def run(s: tantivy.Searcher, q: tantivy.Query) -> set[int]:
    res = s.search(q, limit=1000)
    return set(s.fast_field_values("line", [a for _, a in res.hits]))


def hits(s: tantivy.Searcher, text: str, **kw: object) -> set[int]:
    return run(s, translate(text, DictResolver(SOURCES), now_us=NOW, **kw))  # type: ignore[arg-type]


FORMS = [
    # terms and phrases on message, through the tokenizer
    ("timed", {0, 1}),
    ("TIMED", {0, 1}),
    ('message:"timed out"', {0, 1}),
    ('message: "timed out"', {0, 1}),
    ("ImportError", {6}),
    ("message:slave.log", {4}),  # a split term is a phrase: doc 7 has both words, apart
    ('message:"slave.log \\(No such"', {4}),
    ('message:"\\"word\\""', {5}),
    ("message:http\\:\\/\\/mirror", {9}),
    ('message:"Hash Sum mismatch" AND tags:console', {9}),
    # no token: the clause matches nothing
    ('message:"..."', set()),
    ('"..." OR timed', {0, 1}),
    ('NOT "..."', ALL),
    # boolean operators, both spellings, and implicit OR
    ('"timed out" AND NOT build_status:SUCCESS', {0}),
    ("timed && !build_status:SUCCESS", {0}),
    ("+timed -build_status:SUCCESS", {0}),
    ("timed good", {0, 1, 2}),
    ("timed OR good", {0, 1, 2}),
    ("timed || good", {0, 1, 2}),
    ("message:(timed OR port)", {0, 1, 3}),
    ("message:(timed port)", {0, 1, 3}),
    ("timed AND out OR good", {0, 1}),
    ("timed OR good AND build_status:FAILURE", {2}),
    ("good AND build_status:FAILURE OR timed", {2}),
    ("NOT loglevel:INFO OR timed", {0}),
    # purely negative, at top level and inside parens
    ("NOT loglevel:INFO", ALL - {1, 2, 7}),
    ("-loglevel:INFO", ALL - {1, 2, 7}),
    ("!loglevel:INFO", ALL - {1, 2, 7}),
    ("timed AND (NOT loglevel:INFO)", {0}),
    ("file_id:1 AND (-loglevel:INFO)", {0}),
    ("NOT build_status:SUCCESS", ALL - {1, 4}),  # doc 10's file has no source: it stays
    ("NOT NOT timed", {0, 1}),
    # everything
    ("*", ALL),
    ("*:*", ALL),
    ("", ALL),
    ("   ", ALL),
    # wildcards
    ("message:wait*", {0, 3}),
    ("message:WAIT*", {0, 3}),
    ("message:w?iting", {0, 3}),
    ("*ting", {0, 3}),
    ("message:slave.l*", {4}),
    ("message:\\*", set()),
    ("loglevel:ERR*", {0, 4, 8, 9}),
    ("loglevel:err*", set()),
    ("module:nova.*", {1}),
    ("build_name:tempest-*", {0, 1, 2, 4, 7, 8}),
    # regular expressions, anchored on the whole term
    ("/wait.*/", {0, 3}),
    ("/WAIT.*/", {0, 3}),
    ("/^wait.*$/", {0, 3}),
    ("/wait/", set()),
    ("message:/[0-9]+/", {3}),
    ("loglevel:/ERR.*/", {0, 4, 8, 9}),
    # keywords share one JSON field: a pattern stays within its own field's values
    ("loglevel:/INFO|DEBUG/", {1, 2, 5, 7, 10}),
    ("module:*", {0, 1}),
    ("pid:*", {0}),
    ("loglevel:/.*manager/", set()),
    ("module:/.*ERROR/", set()),
    ("build_name:/tempest-s.*/", {1, 4, 7, 8}),
    # proximity and fuzzy
    ('"timed waiting"~2', {0}),
    ('"timed waiting"~1.7', {0}),
    ('"timed waiting"', set()),
    ('"timed waiting"~', set()),
    ("waitng~", {0, 3}),
    ("waitng~1", {0, 3}),
    ("waitng~0", set()),
    ("ImportEror~1", {6}),
    ("loglevel:EROR~1", {0, 4, 8, 9}),
    # keyword event fields: exact
    ("loglevel:error", set()),
    ("loglevel:ERROR", {0, 4, 8, 9}),
    ('loglevel:"ERROR"', {0, 4, 8, 9}),
    ("pid:123", {0}),
    ("module:nova.compute.manager", {1}),
    # source fields, through the resolver
    ('tags: "console"', {0, 2, 6, 9}),
    ('tags:"console.html"', {0, 2, 7, 8}),
    ("build_status:FAILURE AND voting:1", {0, 2, 6, 7, 8, 9}),
    ("project:nothing", set()),
    # _exists_ and field:*
    ("_exists_:pid", {0}),
    ("NOT _exists_:pid", ALL - {0}),
    ("_exists_:loglevel", ALL),
    ("_exists_:message", ALL),
    ("_exists_:build_name", {0, 1, 2, 3, 4, 5, 7, 8}),
    ("build_name:*", {0, 1, 2, 3, 4, 5, 7, 8}),
    ("NOT _exists_:build_name", {6, 9, 10}),
    # numbers: line counts from 1
    ("line:1", {0}),
    ("line:0", set()),
    ("line:[2 TO 3]", {1, 2}),
    ("line:{2 TO 4]", {2, 3}),
    ("line:[2 TO 4}", {1, 2}),
    ("line:[10 TO *]", {9, 10}),
    ("line:[* TO 1]", {0}),
    ("line:>=10", {9, 10}),
    ("line:>10", {10}),
    ("line:<2", {0}),
    ("line:<=2", {0, 1}),
    ("line:[1.5 TO 2.5]", {1}),
    ("line:2.5", set()),
    ("line:1e999999999", set()),
    ("line:[-1e999999999 TO 1]", {0}),
    ("file_id:[1 TO 1e30]", ALL),
    ("nlines:2", {4}),
    ("file_id:1", {0, 2}),
    ("file_id:[3 TO 4]", {3, 5, 6, 9}),
    # source ranges: numeric when the values are numbers, else strings
    ("build_change:[150 TO 300]", {1, 3, 4, 5}),
    ("build_change:{200 TO 1000}", {3, 5, 6, 9}),
    ("build_change:>=300", {3, 5, 6, 7, 8, 9}),
    ("build_name:[grenade TO tempest-full]", {0, 2, 3, 5}),
    # dates: ISO, date only, epoch millis, date math
    ("@timestamp:[2014-11-25 TO 2014-11-25]", {0, 1, 2}),
    ("@timestamp:2014-11-25", {0, 1, 2}),
    ("timestamp:2014-11-25", {0, 1, 2}),
    ("ts:2014-11-25", {0, 1, 2}),
    ("@timestamp:>=2014-11-26", ALL - {0, 1, 2}),
    ("@timestamp:>2014-11-25", ALL - {0, 1, 2}),
    ('@timestamp:["2014-11-25T00:49:21Z" TO "2014-11-25T00:49:22.500Z"]', {0, 1}),
    ("@timestamp:[2014-11-25T00:49:21Z TO 2014-11-25T00:49:22Z}", {0}),
    ("@timestamp:[1416876561000 TO 1416876562000]", {0, 1}),
    ("@timestamp:[now-1d TO now]", ALL - {0, 1, 2}),
    ("@timestamp:<now-1d/d", {0, 1, 2}),
    ("@timestamp:<=now-2d/d", {0, 1, 2}),
    ("@timestamp:[2014-11-26T00:00:00Z TO now-1d+15m]", {3, 4, 5}),
    ("@timestamp:*", ALL),
    # boosts are accepted and ignored
    ("timed^2 OR good", {0, 1, 2}),
    ("message:(timed port)^3", {0, 1, 3}),
]


@pytest.mark.parametrize(("q", "want"), FORMS, ids=[q or "<empty>" for q, _ in FORMS])
def test_forms(searcher: tantivy.Searcher, q: str, want: set[int]) -> None:
    assert hits(searcher, q) == want


# -- Lucene's precedence ---------------------------------------------------------------------------


def test_a_or_b_and_c_is_lucene_not_boolean_algebra(searcher: tantivy.Searcher) -> None:
    """``a OR b AND c``: a SHOULD, b MUST, c MUST — not ``a OR (b AND c)``."""
    tree = parse("a OR b AND c")  # luqum's own reading nests the AND: we undo it
    assert type(tree).__name__ == "OrOperation"
    for a, b, c in itertools.permutations(["timed", "good", "build_status:FAILURE"], 3):
        assert hits(searcher, f"{a} OR {b} AND {c}") == hits(searcher, b) & hits(searcher, c)
        assert hits(searcher, f"{a} AND {b} OR {c}") == hits(searcher, a) & hits(searcher, b)


def test_default_operator_and(searcher: tantivy.Searcher) -> None:
    assert hits(searcher, "timed out", default_operator="AND") == {0, 1}
    assert hits(searcher, "timed good", default_operator="AND") == set()
    assert hits(searcher, "timed OR good", default_operator="AND") == {0, 1, 2}


def test_voting_filter_is_combined_not_appended(searcher: tantivy.Searcher) -> None:
    q = 'message:"timed out" OR message:port'
    assert hits(searcher, q) == {0, 1, 3}
    assert hits(searcher, combine_and(q, "voting:1")) == {0}
    # elastic-recheck appended text: Lucene then reads "timed out" as optional and
    # requires port AND voting — the real voting hit (doc 0) is lost.
    assert hits(searcher, q + " AND voting:1") == set()
    assert hits(searcher, combine_and("NOT loglevel:INFO", "voting:1")) == {0, 6, 8, 9}


def test_combine_and_text() -> None:
    assert combine_and("a OR b", "voting:1") == "(a OR b) AND (voting:1)"
    assert combine_and("  ", "voting:1") == "voting:1"
    assert combine_and("a", " ") == "a"


# -- source resolver -------------------------------------------------------------------------------


class Recording(DictResolver):
    def __init__(self) -> None:
        super().__init__(SOURCES)
        self.calls: list[tuple[str, SourceMatch]] = []

    def ids(self, field: str, match: SourceMatch) -> set[int] | None:
        self.calls.append((field, match))
        return super().ids(field, match)


@pytest.mark.parametrize(("q", "field", "match"), [
    ('tags:"a b"', "tags", SourceMatch("term", "a b")),
    ("build_name:tempest\\-full", "build_name", SourceMatch("term", "tempest-full")),
    ("tags:con\\*sole*", "tags", SourceMatch("wildcard", "con\\*sole*")),
    ("build_name:/x.*/", "build_name", SourceMatch("regex", "x.*")),
    ("build_change:{100 TO 300]", "build_change", SourceMatch("range", None, "100", "300", False, True)),
    ("build_change:>=5", "build_change", SourceMatch("range", None, "5", None, True, True)),
    ("build_change:<5", "build_change", SourceMatch("range", None, None, "5", True, False)),
    ("_exists_:tags", "tags", SourceMatch("exists")),
    ("tags:[* TO *]", "tags", SourceMatch("exists")),
    ("build_name:tempest~", "build_name", SourceMatch("term", "tempest")),
])  # fmt: skip
def test_source_clauses_reach_the_resolver(q: str, field: str, match: SourceMatch) -> None:
    r = Recording()
    translate(q, r)
    assert r.calls == [(field, match)]


def test_resolver_none_means_every_source(searcher: tantivy.Searcher) -> None:
    class Everyone:
        def ids(self, field: str, match: SourceMatch) -> set[int] | None:
            return None

    assert run(searcher, translate("_exists_:build_status AND timed", Everyone())) == {0, 1}
    assert run(searcher, translate("NOT _exists_:build_status", Everyone())) == set()


@pytest.mark.parametrize(("match", "value", "want"), [
    (SourceMatch("term", "console"), "console", True),
    (SourceMatch("term", "console"), "Console", False),
    (SourceMatch("term", "console"), "console.html", False),
    (SourceMatch("wildcard", "con*"), "console.html", True),
    (SourceMatch("wildcard", "c?nsole"), "console", True),
    (SourceMatch("wildcard", "a\\*b"), "a*b", True),
    (SourceMatch("wildcard", "a\\*b"), "axb", False),
    (SourceMatch("wildcard", "a.c"), "abc", False),
    (SourceMatch("regex", "con.*"), "console", True),
    (SourceMatch("regex", "sole"), "console", False),
    (SourceMatch("range", None, "9", "10"), "10", True),
    (SourceMatch("range", None, "9", "10"), "9.5", True),
    (SourceMatch("range", None, "9", "10", include_high=False), "10", False),
    (SourceMatch("range", None, "9", None, include_low=False), "9", False),
    (SourceMatch("range", None, "9", None), "100", True),
    (SourceMatch("range", None, "a", "c"), "b", True),
    (SourceMatch("range", None, "a", "c"), "d", False),
    (SourceMatch("range", None, "1", "5"), "abc", False),
    (SourceMatch("range"), "anything", True),
    (SourceMatch("exists"), "", True),
])  # fmt: skip
def test_match_value(match: SourceMatch, value: str, want: bool) -> None:
    assert match_value(match, value) is want


def test_dict_resolver_reads_lists_and_missing_fields() -> None:
    r = DictResolver(SOURCES)
    assert r.ids("tags", SourceMatch("term", "console")) == {1, 4}
    assert r.ids("build_name", SourceMatch("exists")) == {1, 2, 3, 5}
    assert r.ids("nope", SourceMatch("exists")) == set()


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "msg", "col"), [
    ("message:(a OR b", "Expected ')'", 16),
    ("[a TO b", "Expected ']'", 8),
    ("a AND AND b", "Unexpected 'AND'", 7),
    ("a)", "Unexpected ')'", 2),
    ("a AND", "Unexpected end of query", 6),
    ('message:"open', "Unterminated phrase", 9),
    ("message:/[/", "Invalid regular expression /[/: unclosed character class", 9),
    ("message:/(?=x)/", "look-around", 9),
    ("message:/(a|b)*a(a|b){40}/", "size limit", 9),
    ("a\\", "Nothing to escape", 2),
    ("line:abc", "line takes a whole number, not 'abc'", 6),
    ("file_id:[1 TO x]", "whole number", 9),
    ("message:[a TO b]", "Ranges work on", 9),
    ("loglevel:>A", "Ranges work on", 10),
    ("line:/1/", "do not apply to the numeric field line", 6),
    ("ts:1*", "do not apply to the numeric field ts", 4),
    ("line:1~", "numeric", 6),
    ("@timestamp:>yesterday", "not a time: 'yesterday'", 12),
    ("@timestamp:[now-1x TO now]", "not a time", 12),
    ("a:b:c", "another field", 3),
    ("foo~1.5", "Fractional edit distances", 1),
    ("foo~1.2.3", "Not a number", 5),
    ("_exists_:(a b)", "_exists_ takes a field name", 10),
])  # fmt: skip
def test_errors_say_what_and_where(q: str, msg: str, col: int) -> None:
    with pytest.raises(QueryError) as e:
        translate(q, DictResolver(SOURCES), now_us=NOW)
    assert msg in e.value.message
    assert e.value.column == col
    assert e.value.query == q
    assert str(e.value) == f"{e.value.message} at column {col}"
    assert isinstance(e.value, ValueError)


def test_parse_errors_come_from_parse_too() -> None:
    assert parse("") is None and parse("  \n") is None
    assert type(parse("a AND b")).__name__ == "AndOperation"
    with pytest.raises(QueryError, match="Expected '\\)' at column 31"):
        parse('(message:"x" OR tags:"console"')


def test_lucene_operators_luqum_reads_as_words() -> None:
    assert repr(parse("a && b")) == repr(parse("a AND b"))
    assert repr(parse("a || b")) == repr(parse("a OR b"))
    assert repr(parse("!a")) == repr(parse("NOT a"))
    assert repr(parse("a&&b")) == "Word('a&&b')"  # inside a term it is text, as in Lucene
    assert repr(parse("message:'x'")) == "SearchField('message', Word(\"'x'\"))"


def test_parsing_is_thread_safe() -> None:
    queries = [f'message:"w{i} x" AND (tags:t{i} OR NOT f:[{i} TO {i + 9}])' for i in range(200)]
    serial = [repr(parse(q)) for q in queries]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda q: repr(parse(q)), queries)) == serial


# -- limits ----------------------------------------------------------------------------------------


def test_expensive_forms_are_bounded() -> None:
    r = DictResolver(SOURCES)
    many = " OR ".join(f"message:a{i}*" for i in range(17))
    with pytest.raises(QueryError, match=r"Too many wildcard, regex or fuzzy clauses \(max 16\)"):
        translate(many, r)
    translate(many, r, limits=Limits(max_expensive=20))
    mixed = " ".join(
        [
            *(f"/r{i}.*/" for i in range(6)),
            *(f"f{i}~" for i in range(6)),
            *(f"tags:w{i}*" for i in range(5)),
        ]
    )
    with pytest.raises(QueryError, match="max 16"):
        translate(mixed, r)
    with pytest.raises(QueryError, match="longer than 256"):
        translate("message:" + "a" * 300 + "*", r)
    with pytest.raises(QueryError, match="longer than 10"):
        translate("/" + "a" * 11 + "/", r, limits=Limits(max_pattern=10))


def test_clause_and_depth_limits() -> None:
    r = DictResolver(SOURCES)
    with pytest.raises(QueryError, match=r"Too many clauses \(max 3\)"):
        translate("a b c d", r, limits=Limits(max_clauses=3))
    with pytest.raises(QueryError, match="nested too deeply"):
        translate("(" * 200 + "a" + ")" * 200, r)
    with pytest.raises(QueryError, match="nested too deeply"):
        translate("NOT " * 100 + "a", r)
    translate("(" * 20 + "a" + ")" * 20, r)


# -- highlighting terms and fields -----------------------------------------------------------------


@pytest.mark.parametrize(("q", "terms"), [
    ('message:"timed out" AND foo NOT bar AND build_status:X', [["timed", "out"], "foo"]),
    ("NOT (a OR NOT b)", ["b"]),
    ("-x +y *:z", ["y", "z"]),
    ("wait* slave.l* /re.*/ loglevel:ERROR", ["wait*", "slave", "l*"]),
    ('"a b"~3 waitng~ a', [["a", "b"], "waitng", "a"]),
    ("message:(x OR y) tags:(z)", ["x", "y"]),
    ("", []),
])  # fmt: skip
def test_query_terms_are_the_positive_message_terms(q: str, terms: list[object]) -> None:
    assert query_terms(q) == terms


def test_fields_used() -> None:
    q = "message:x AND tags:y OR _exists_:build_name NOT loglevel:E @timestamp:[now-1d TO now] z"
    assert fields_used(q) == {"message", "tags", "build_name", "loglevel", "@timestamp"}
    assert fields_used("*") == set() and fields_used("*:*") == set() and fields_used("") == set()


# -- dates -----------------------------------------------------------------------------------------

DAY = 24 * H
T0 = datemath.parse("2014-11-25T00:00:00Z")


@pytest.mark.parametrize(("text", "round_up", "want"), [
    ("2014-11-25", False, T0),
    ("2014-11-25", True, T0 + DAY - 1),
    ("2014-11-25T01", True, T0 + 2 * H - 1),
    ("2014-11-25T00:49:21.685Z", False, 1_416_876_561_685_000),
    ("2014-11-25T00:49:21.685Z", True, 1_416_876_561_685_999),
    ("2014-11-25T01:00:00+01:00", False, T0),
    ("2014-11-25 00:00:00", False, T0),
    ("2014-11", False, datemath.parse("2014-11-01")),
    ("2014-02", True, datemath.parse("2014-03-01") - 1),
    ("2014", True, datemath.parse("2015-01-01") - 1),
    ("1416876561685", False, 1_416_876_561_685_000),
    ("now", False, NOW),
    ("now-24h", False, NOW - DAY),
    ("now-1d/d", False, datemath.parse("2014-11-26")),
    ("now-1d/d", True, datemath.parse("2014-11-27") - 1),
    ("now/w", False, datemath.parse("2014-11-24")),  # a Monday
    ("now-1M/M", False, datemath.parse("2014-10-01")),
    ("now+1y", False, datemath.parse("2015-11-27T00:40:00Z")),
    ("2014-01-31||+1M", False, datemath.parse("2014-02-28")),
])  # fmt: skip
def test_datemath(text: str, round_up: bool, want: int) -> None:
    assert datemath.parse(text, now_us=NOW, round_up=round_up) == want


@pytest.mark.parametrize(
    "bad", ["", "yesterday", "2014-13-01", "now-1x", "now+99999y", "9" * 30, "x||+1d"]
)
def test_datemath_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        datemath.parse(bad, now_us=NOW)


# -- the real elastic-recheck signatures -----------------------------------------------------------


def _signatures() -> list[tuple[str, str]]:
    d = SHARED / "recheck-queries"
    if not d.is_dir():
        return []
    files = sorted(d.glob("*.yaml")) + sorted((SHARED / "fixtures").glob("1284371.yaml"))
    return [(f.stem, yaml.safe_load(f.read_text())["query"]) for f in files]


SIGNATURES = _signatures()


@pytest.mark.skipif(not SIGNATURES, reason=f"no signatures at {SHARED}")
def test_every_real_signature_translates_and_runs(searcher: tantivy.Searcher) -> None:
    assert len(SIGNATURES) >= 92
    found = {}
    for bug, q in SIGNATURES:
        try:
            found[bug] = run(searcher, translate(q, DictResolver(SOURCES), now_us=NOW))
            run(searcher, translate(combine_and(q, "voting:1"), DictResolver(SOURCES)))
            query_terms(q)
        except QueryError as e:  # pragma: no cover - the message says which
            pytest.fail(f"{bug}: {e}")
    assert found["1284371"] == {8}  # "Slave went offline during the build", console.html
    assert found["1400905"] == {9}  # "Hash Sum mismatch" AND tags:console
    assert sum(1 for v in found.values() if v) == 2
