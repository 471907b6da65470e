"""Hypothesis against the real app: every GET route with random parameters, random URLs,
random Elasticsearch bodies and random ``_bulk`` payloads.

Whatever comes in, the answer is never a 5xx, never shows a traceback, comes within a
bounded time, and for the Elasticsearch API an error is Elasticsearch-shaped. ``_bulk``
additionally keeps its promise: every item it reports created is in the index.
Bounded: a fixed number of examples per test, a short query time limit, no example
database written into the checkout.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from tests import web_fixtures as wf

TOKEN = "fuzz-token"
REPO = Path(__file__).resolve().parents[1]
ABS = "http://testserver"
"""URLs are sent absolute: httpx refuses a relative one whose path starts with "//"."""
MAX_SECONDS = 8.0
"""Per response; the app's query time limit is set to 2 s below."""
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from appliance import config, ingest
    from index.search import Searcher
    from index.store import Store
    from web.app import create_app

    base = tmp_path_factory.mktemp("fuzz")
    logs = wf.write_builds(base / "logs")
    cfg = config.load(env={}, data_dir=base / "data", min_free_fraction=0.0, workers=1, token=TOKEN,
                      query_timeout_s=2.0)  # fmt: skip
    store = Store(cfg.data_dir)
    try:
        ingest.ingest(store, cfg, ingest.plan([logs]), progress=False)
        _Created.base = Searcher(store).count("*")
    finally:
        store.close()
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


LEAK = re.compile(r'File "[^"\n]*(site-packages|/lib/python3|' + re.escape(str(REPO)) + r')[^"\n]*", line \d+')
"""A Python traceback of the server's own code (log lines may carry other programs' ones)."""


def _check(r: Any, elapsed: float, what: str) -> None:
    assert r.status_code < 500, f"{what} -> {r.status_code}: {r.text[:500]}"
    assert not LEAK.search(r.text), f"{what} shows a traceback"
    assert elapsed < MAX_SECONDS, f"{what} took {elapsed:.1f} s"


def _es_error_shape(r: Any, what: str) -> None:
    if r.status_code >= 400 and r.request.method != "HEAD":
        body = r.json()
        assert isinstance(body, dict) and "error" in body and body.get("status") == r.status_code, f"{what}: {r.text[:300]}"


# -- strategies ------------------------------------------------------------------------------------

FIELDS = ["message", "loglevel", "build_status", "build_name", "tags", "filename", "build_uuid", "@timestamp",
          "line", "module", "voting", "pid", "_exists_", "nosuch", "build_change", "project"]  # fmt: skip
BITS = ["AND", "OR", "NOT", "&&", "||", "!", "+", "-", "(", ")", '"', ":", "*", "?", "~", "~2", "^2", "[", "]",
        "{", "}", " TO ", "/", "\\", " ", "a", "error", "timed out", "2024-02-13", "now-1d", "*:*", ">=", "<",
        "/.*/", "/[a-", "\u00e9", "\x00", "\U0001f600", "\ufeff", "%", "&", "=", ";", "'", "<script>"]  # fmt: skip
lucene = st.lists(st.one_of(st.sampled_from(BITS), st.sampled_from(FIELDS).map(lambda f: f + ":"), st.text(max_size=6)),
                  max_size=14).map(" ".join)  # fmt: skip
SPECIAL = ["", "0", "-1", "now", "now-15m", "now-10d", "now-99999999d", "now+1y", "2024-02-13T00:00:00Z",
           "9999-12-31T23:59:59Z", "0001-01-01", "1e309", "nan", "inf", "asc", "desc", "message,build_name",
           "message," * 50, "true", "false", "null", "[]", "{}", "*", "1" * 40, "%00", "../../etc/passwd"]  # fmt: skip
value = st.one_of(lucene, st.text(max_size=40), st.integers(-(2**70), 2**70).map(str), st.sampled_from(SPECIAL))
KEYS = ["q", "from", "to", "f", "nf", "columns", "sort", "page", "size", "refresh", "n", "len", "field", "prefix",
        "limit", "days", "nonvoting", "raw", "now", "format", "v", "scroll", "scroll_id", "default_operator",
        "track_total_hits", "pretty"]  # fmt: skip
params = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8)), value), max_size=8)
segment = st.one_of(
    st.sampled_from([wf.FAILED, wf.PASSED, wf.API_LOG, wf.CONSOLE, "1-0", "0-0", "999999999-5", "-1--1", "logstash-*",
                     "logstash-2024.02.13", "a,b", "_all", "*", "..", ".", "%2e%2e", "x" * 300]),
    st.text(max_size=30),
)  # fmt: skip


def _get_routes() -> list[Route]:
    from web.app import _routes

    return [r for r in _routes() if isinstance(r, Route) and r.methods and "GET" in r.methods]


GET_ROUTES = _get_routes()


def _fill(path: str, values: list[str]) -> str:
    out, i = [], 0
    for part in path.split("/"):
        if part.startswith("{") and "}" in part:
            name, _, rest = part[1:].partition("}")
            v = values[i % len(values)] if values else "x"
            i += 1
            out.append(quote(v, safe="/" if name.endswith(":path") else "") + rest)
        else:
            out.append(part)
    return "/".join(out)


# -- GET routes, URLs ------------------------------------------------------------------------------


@FUZZ
@given(route=st.sampled_from(GET_ROUTES), values=st.lists(segment, min_size=1, max_size=3), qs=params,
       html=st.booleans())  # fmt: skip
def test_every_get_route_survives_random_parameters(client: TestClient, route: Route, values: list[str],
                                                    qs: list[tuple[str, str]], html: bool) -> None:  # fmt: skip
    url = _fill(route.path, values)
    headers = {"Accept": "text/html"} if html else {"Accept": "application/json"}
    t0 = time.perf_counter()
    r = client.get(ABS + url, params=qs, headers=headers)
    _check(r, time.perf_counter() - t0, f"GET {url} {qs}")


@settings(FUZZ, max_examples=150)
@given(parts=st.lists(st.one_of(segment, st.sampled_from(["logs", "raw", "api", "recheck", "context", "_search",
                                                          "_cat", "static", "discover.json", "builds"])),
                      min_size=1, max_size=6),
       method=st.sampled_from(["GET", "HEAD", "OPTIONS", "DELETE", "POST"]))  # fmt: skip
def test_random_urls_and_methods(client: TestClient, parts: list[str], method: str) -> None:
    # Empty segments would make "//..." which httpx refuses on the client side; collapse them.
    url = "/" + "/".join(quote(p, safe="") for p in parts if p)
    t0 = time.perf_counter()
    r = client.request(method, ABS + url)  # no token: writes must be refused, not crash
    _check(r, time.perf_counter() - t0, f"{method} {url}")


# -- Elasticsearch bodies --------------------------------------------------------------------------

scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=12), st.sampled_from(["now-1d", "now", "2024-02-13", "1h", "1d", "month", "-1"]))  # fmt: skip
leaf_query = st.one_of(
    st.fixed_dictionaries({"query_string": st.fixed_dictionaries({"query": lucene},
                           optional={"default_field": st.sampled_from(FIELDS), "default_operator": st.sampled_from(["AND", "OR", "x"])})}),
    st.builds(lambda f, v: {"match": {f: v}}, st.sampled_from(FIELDS), scalar),
    st.builds(lambda f, v: {"match_phrase": {f: v}}, st.sampled_from(FIELDS), scalar),
    st.builds(lambda f, v: {"term": {f: v}}, st.sampled_from(FIELDS), scalar),
    st.builds(lambda f, v: {"terms": {f: v}}, st.sampled_from(FIELDS), st.lists(scalar, max_size=4)),
    st.builds(lambda f, r: {"range": {f: r}}, st.sampled_from(FIELDS),
              st.dictionaries(st.sampled_from(["gte", "gt", "lte", "lt", "format", "time_zone"]), scalar, max_size=3)),
    st.builds(lambda f: {"exists": {"field": f}}, st.sampled_from(FIELDS)),
    st.just({"match_all": {}}),
    st.dictionaries(st.text(max_size=8), scalar, max_size=2),
    scalar,
)  # fmt: skip
es_query = st.recursive(
    leaf_query,
    lambda inner: st.builds(lambda d: {"bool": d}, st.dictionaries(
        st.sampled_from(["must", "filter", "should", "must_not", "minimum_should_match", "boost"]),
        st.one_of(inner, st.lists(inner, max_size=3), scalar), max_size=4)),
    max_leaves=6,
)  # fmt: skip
agg_leaf = st.one_of(
    st.builds(lambda f, i: {"date_histogram": {"field": f, **i}}, st.sampled_from(FIELDS),
              st.dictionaries(st.sampled_from(["fixed_interval", "calendar_interval", "interval", "min_doc_count",
                                               "extended_bounds", "time_zone", "format"]), scalar, max_size=2)),
    st.builds(lambda f, s: {"terms": {"field": f, "size": s}}, st.sampled_from(FIELDS), scalar),
    st.builds(lambda k, f: {k: {"field": f}}, st.sampled_from(["cardinality", "min", "max", "avg", "nope"]), st.sampled_from(FIELDS)),
)  # fmt: skip
aggs = st.dictionaries(st.text(min_size=1, max_size=6), st.one_of(
    agg_leaf, st.builds(lambda a, sub: {**a, "aggs": sub}, agg_leaf, st.dictionaries(st.text(min_size=1, max_size=4), agg_leaf, max_size=2))),
    max_size=3)  # fmt: skip
search_body = st.one_of(
    st.fixed_dictionaries({}, optional={
        "query": es_query, "aggs": aggs, "size": scalar, "from": scalar, "track_total_hits": scalar,
        "sort": st.one_of(scalar, st.lists(st.one_of(scalar, st.dictionaries(st.sampled_from(FIELDS + ["_doc", "_score"]),
                                                                             st.one_of(scalar, st.just({"order": "asc"})), max_size=1)), max_size=3)),
        "_source": st.one_of(scalar, st.lists(st.sampled_from(FIELDS), max_size=3)),
        "highlight": st.just({"fields": {"message": {}}}), "search_after": st.lists(scalar, max_size=2),
    }),
    scalar, st.lists(scalar, max_size=3),
)  # fmt: skip


@FUZZ
@given(body=search_body, path=st.sampled_from(["/_search", "/logstash-*/_search", "/_count", "/a,b/_search",
                                               "/logstash-2024.02.13/_count", "/_search?scroll=1m"]),
       raw=st.one_of(st.none(), st.binary(max_size=64)))  # fmt: skip
def test_es_search_bodies(client: TestClient, body: Any, path: str, raw: bytes | None) -> None:
    content = raw if raw is not None else json.dumps(body).encode()
    t0 = time.perf_counter()
    r = client.post(path, content=content, headers={"Content-Type": "application/json"})
    what = f"POST {path} {content[:300]!r}"
    _check(r, time.perf_counter() - t0, what)
    _es_error_shape(r, what)


@settings(FUZZ, max_examples=100)
@given(lines=st.lists(st.one_of(lucene, st.text(max_size=60)), max_size=6), pairs=st.lists(search_body, max_size=3))
def test_es_msearch_bodies(client: TestClient, lines: list[str], pairs: list[Any]) -> None:
    nd = "\n".join([*lines, *(json.dumps(p) for p in pairs)]) + "\n"
    t0 = time.perf_counter()
    r = client.post("/_msearch", content=nd.encode(), headers={"Content-Type": "application/x-ndjson"})
    _check(r, time.perf_counter() - t0, f"_msearch {nd[:300]!r}")
    _es_error_shape(r, "_msearch")


# -- _bulk -----------------------------------------------------------------------------------------

doc_value = st.one_of(scalar, st.lists(scalar, max_size=3), st.dictionaries(st.text(max_size=5), scalar, max_size=2))
timestamp = st.one_of(
    st.sampled_from(["2024-02-13T10:00:00Z", "2024-02-13T10:00:00.123456+02:00", "2024-02-13 10:00:00", "1707818400000",
                     "13/Feb/2024:10:00:00 +0000", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59Z", "", "now"]),
    st.integers(-(2**63), 2**64), st.floats(allow_nan=True), st.none(),
)  # fmt: skip
document = st.fixed_dictionaries(
    {},
    optional={"@timestamp": timestamp, "message": st.one_of(st.text(max_size=200), doc_value), "loglevel": doc_value,
              "build_uuid": st.one_of(st.text(max_size=40), doc_value), "tags": doc_value, "filename": doc_value,
              "line": doc_value, "build_name": doc_value, "_id": doc_value},
).flatmap(lambda d: st.dictionaries(st.text(max_size=10), doc_value, max_size=3).map(lambda extra: {**extra, **d}))  # fmt: skip
action = st.one_of(
    st.builds(lambda k, meta: {k: meta}, st.sampled_from(["index", "create", "delete", "update", "upsert", ""]),
              st.dictionaries(st.sampled_from(["_index", "_id", "_type", "pipeline", "routing"]),
                              st.one_of(st.sampled_from(["logstash-2024.02.13", "logstash-*", "x", "", "logstash-2024.13.45"]), scalar),
                              max_size=3)),
    scalar,
)  # fmt: skip
good_pair = st.tuples(
    st.sampled_from(['{"index":{"_index":"logstash-2024.02.13"}}', '{"create":{"_index":"logstash-2024.02.14"}}', '{"index":{}}']),
    st.fixed_dictionaries({"@timestamp": st.sampled_from(["2024-02-13T10:00:00Z", "2024-02-14T23:59:59.999Z"]),
                           "message": st.text(max_size=80)},
                          optional={"loglevel": st.sampled_from(["ERROR", "INFO", ""]), "tags": doc_value,
                                    "build_uuid": st.text(max_size=40), "extra": doc_value}).map(json.dumps),
).map("\n".join)  # fmt: skip
"""Mostly valid items, so that the created-items check has something to count."""
bulk_line = st.one_of(good_pair, good_pair, action.map(json.dumps), document.map(json.dumps), st.text(max_size=40),
                      st.sampled_from(["", "{", "[]", "null", '{"index":', "\ufeff{}"]))  # fmt: skip


class _Created:
    ids: set[str] = set()
    """Distinct ``_id``s reported created: a batch sent again is stored once (ingest is
    idempotent) and answers the same ids."""
    base = 0


@settings(FUZZ, max_examples=120)
@given(lines=st.lists(st.one_of(bulk_line, st.tuples(action.map(json.dumps), document.map(json.dumps)).map("\n".join)),
                      max_size=12),
       path=st.sampled_from(["/_bulk", "/logstash-2024.02.13/_bulk", "/_bulk?refresh=true", "/x/_bulk"]),
       trailing=st.booleans(), junk=st.one_of(st.none(), st.binary(max_size=40)))  # fmt: skip
def test_bulk_bodies(client: TestClient, lines: list[str], path: str, trailing: bool, junk: bytes | None) -> None:
    body = ("\n".join(lines) + ("\n" if trailing else "")).encode() + (junk or b"")
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKEN}"}
    t0 = time.perf_counter()
    r = client.post(path, content=body, headers=headers)
    what = f"POST {path} {body[:400]!r}"
    _check(r, time.perf_counter() - t0, what)
    _es_error_shape(r, what)
    if r.status_code == 200:
        out = r.json()
        assert isinstance(out.get("items"), list) and isinstance(out.get("errors"), bool), what
        for item in out["items"]:
            (res,) = item.values()
            if 200 <= int(res.get("status", 0)) < 300 and res.get("result") == "created":
                _Created.ids.add(str(res.get("_id")))


def test_bulk_created_items_are_all_in_the_index(client: TestClient) -> None:
    """Runs after :func:`test_bulk_bodies` (file order): acknowledged = searchable."""
    if not _Created.ids:
        pytest.skip("no _bulk item was created (run with test_bulk_bodies)")
    searcher = client.app.state.services.searcher  # type: ignore[attr-defined]
    got = searcher.count("*")
    n = len(_Created.ids)
    assert got == _Created.base + n, f"{n} distinct ids reported created, the index grew by {got - _Created.base}"



def _write_routes() -> list[tuple[Route, str]]:
    from web.app import _routes

    out = []
    for r in _routes():
        if isinstance(r, Route) and r.methods and "_bulk" not in r.path:
            out += [(r, m) for m in sorted(r.methods & {"POST", "PUT", "DELETE"})]
    return out


WRITE_ROUTES = _write_routes()
form_body = st.lists(st.tuples(st.sampled_from(["bug", "query", "build", "q", "message", "tags", "nonvoting",
                                                "allow_nonvoting", "x"]), value), max_size=5)  # fmt: skip


@settings(FUZZ, max_examples=200)
@given(target=st.sampled_from(WRITE_ROUTES), values=st.lists(segment, min_size=1, max_size=3),
       body=st.one_of(document.map(json.dumps), st.dictionaries(st.text(max_size=8), doc_value, max_size=4).map(json.dumps),
                      form_body.map(lambda kv: urlencode(kv)), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.sampled_from(["", "{", "null", "[]", '{"bug": "1" }', '{"bug": 123456, "query": "message:\\"x\\""}'])),
       ctype=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]),
       token=st.booleans())  # fmt: skip
def test_write_routes_survive_random_bodies(client: TestClient, target: tuple[Route, str], values: list[str],
                                            body: str, ctype: str, token: bool) -> None:  # fmt: skip
    """Every POST/PUT/DELETE route but ``_bulk`` (fuzzed above): ``_doc``, index admin, the
    signature saves, with and without the token."""
    route, method = target
    path = _fill(route.path, values)
    headers = {"Content-Type": ctype} if ctype else {}
    if token:
        headers["Authorization"] = f"Bearer {TOKEN}"
    t0 = time.perf_counter()
    r = client.request(method, ABS + path, content=body.encode("utf-8", "surrogatepass"), headers=headers)
    what = f"{method} {path} {body[:300]!r}"
    _check(r, time.perf_counter() - t0, what)
    if not token and any(w in route.path for w in ("/_doc", "/_create", "/signature")):
        assert r.status_code >= 400, f"{what}: a write without the token was accepted"
