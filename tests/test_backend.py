"""The pluggable search side: the embedded index and a remote cluster give the same answers.

The "cluster" is a second appliance serving its Elasticsearch-compatible API on loopback
(A, loaded with the demo data set): the OpenSearch backend talks to it with the real
``opensearch-py`` client, exactly as it would to OpenSearch. Every comparison is
LocalBackend(A's data dir) against OpenSearchBackend(A's URL) on the same data. Writes go
to other appliances (B: the whole data set through :class:`RemoteWriter`; C: a scratch
cluster for the 429, passthrough, spool and CLI cases).
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opensearchpy import OpenSearch
from starlette.testclient import TestClient

from appliance import config, demo, ingest
from appliance.backend.base import BackendError, EventRef, SearchRequest
from appliance.backend.local import LocalBackend
from appliance.backend.opensearch import OpenSearchBackend
from appliance.backend.recheck import RemoteRecheckEngine
from appliance.backend.writer import RemoteWriter, ingest_remote
from appliance.recheck.engine import RecheckEngine
from appliance.recheck.signatures import SignatureSet
from index.partitions import DAY_US, day_start_us
from index.store import Store
from tests.test_es_clients import free_port, serve
from web.app import create_app
from web.routes import es as es_routes

TOKEN = "b4ckend"
QUERIES = [
    "*",
    "loglevel:ERROR",
    'message:"Timed out"',
    "build_status:FAILURE AND tags:console",
    'message:"Instance failed to spawn" OR message:"Failed to bind port"',
    "tags:screen-n-cpu.txt AND NOT loglevel:DEBUG",
    "build_name:tempest* AND voting:1",
    "module:nova.compute.* AND message:instance",
]


@dataclass
class Setup:
    logs: Path
    data: Path
    url: str
    """A: the appliance acting as the cluster."""
    local: LocalBackend
    remote: OpenSearchBackend
    start_us: int
    end_us: int
    published: str
    """A build whose ``log_url`` is a loopback log server."""
    unpublished: str
    """A build whose ``log_url`` refuses connections."""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _log_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("backend")
    roots = demo.generate(base / "logs", days=2, builds_per_day=10, now=datetime.now(UTC))
    logsrv, logs_url = _log_server(base / "logs")
    for root, url in ((roots[0], f"{logs_url}/{roots[0].name}/"), (roots[1], "http://127.0.0.1:1/nothing/")):
        rec = orjson.loads((root / "build.json").read_bytes())
        (root / "build.json").write_bytes(orjson.dumps({**rec, "log_url": url}))
    cfg = config.load(env={}, data_dir=base / "a", min_free_fraction=0.0)
    store = Store(cfg.data_dir)
    summary = ingest.ingest(store, cfg, ingest.plan([base / "logs"], tenant="demo"), progress=False)
    assert summary.files and not summary.errors
    days = store.partitions.days()
    span = (day_start_us(days[0]), day_start_us(days[-1]) + DAY_US - 1)
    with serve(cfg.data_dir) as url:
        remote = _remote(url)
        yield Setup(base / "logs", cfg.data_dir, url, LocalBackend(store), remote, *span, roots[0].name, roots[1].name)
        remote.close()
    logsrv.shutdown()
    store.close()


def _remote(url: str) -> OpenSearchBackend:
    """The backend as ``appliance`` builds it from its config."""
    return OpenSearchBackend.from_config(config.load(env={}, backend="opensearch", opensearch_url=url))


def _event(ev: dict[str, Any]) -> dict[str, Any]:
    """An event without the local-only bookkeeping (``file_id``) and ``flags``, which a
    local hit does not show."""
    return {k: v for k, v in ev.items() if k not in ("file_id", "flags")}


# -- the same answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("q", QUERIES)
def test_counts_and_first_pages_are_the_same(setup: Setup, q: str) -> None:
    s = setup
    mid = (s.start_us + s.end_us) // 2
    for lo, hi in ((s.start_us, s.end_us), (mid, s.end_us), (None, None)):
        assert s.local.count(q, lo, hi) == s.remote.count(q, lo, hi), (q, lo, hi)
    for newest, offset in ((True, 0), (False, 0), (True, 7)):
        a = s.local.search(q, s.start_us, s.end_us, newest_first=newest, size=15, offset=offset)
        b = s.remote.search(q, s.start_us, s.end_us, newest_first=newest, size=15, offset=offset)
        assert a.total == b.total
        assert [h.id for h in a.hits] == [h.id for h in b.hits]
        assert [h.ts_us for h in a.hits] == [h.ts_us for h in b.hits]
        assert [_event(h.event) for h in a.hits] == [_event(h.event) for h in b.hits]


def test_filters_histogram_and_top_values_are_the_same(setup: Setup) -> None:
    s = setup
    f = [("build_status", "FAILURE"), ("loglevel", "INFO")]
    assert s.local.search("*", filters=f, size=5).total == s.remote.search("*", filters=f, size=5).total > 0
    for q in QUERIES[:4]:
        for iv in (3_600_000_000, 600_000_000):
            a = s.local.histogram(q, s.start_us, s.end_us, iv)
            assert a == s.remote.histogram(q, s.start_us, s.end_us, iv) and sum(c for _, c in a) == s.local.count(q, s.start_us, s.end_us)
        fields = ["loglevel", "module", "build_name", "build_status", "filename", "tags", "project", "message"]
        a2 = s.local.top_values(fields, q, s.start_us, s.end_us, 5)
        assert a2 == s.remote.top_values(fields, q, s.start_us, s.end_us, 5) and "message" not in a2


def test_builds_matching_is_the_same(setup: Setup) -> None:
    s = setup
    qs = ["*", "loglevel:ERROR", 'message:"Timed out"', "message:("]
    fields = ("build_status", "build_name", "build_queue")
    a = s.local.builds_matching(qs, s.start_us, s.end_us, fields)
    b = s.remote.builds_matching(qs, s.start_us, s.end_us, fields)
    assert isinstance(a[3], BackendError) and isinstance(b[3], BackendError) and b[3].status == 400
    for x, y in zip(a[:3], b[:3], strict=True):
        assert isinstance(x, dict) and isinstance(y, dict) and x
        assert {u: (h.count, h.first_us // 1000, h.attrs) for u, h in x.items()} == {
            u: (h.count, h.first_us // 1000, h.attrs) for u, h in y.items()}  # a cluster's dates are ms


def test_search_many_batches_and_reports_each_error(setup: Setup) -> None:
    s = setup
    reqs = [SearchRequest("loglevel:ERROR", size=3), SearchRequest("message:(", size=3),
            SearchRequest("*", s.start_us, s.end_us, newest_first=False, size=2, offset=5)]  # fmt: skip
    a, b = s.local.search_many(reqs), s.remote.search_many(reqs)
    assert isinstance(a[1], BackendError) and isinstance(b[1], BackendError)
    for x, y in ((a[0], b[0]), (a[2], b[2])):
        assert not isinstance(x, BackendError) and not isinstance(y, BackendError)
        assert (x.total, [h.id for h in x.hits]) == (y.total, [h.id for h in y.hits])


def test_recheck_classify_graph_and_uncategorized_are_the_same(setup: Setup) -> None:
    s = setup
    sigs = SignatureSet()
    local = RecheckEngine(s.local.store, signatures=sigs, searcher=s.local.searcher, cache_ttl_s=0)
    remote = RemoteRecheckEngine(s.remote, signatures=sigs, cache_ttl_s=0)
    failed = [b for b in local.builds.builds() if b.failed]
    matched = 0
    for b in failed:
        a, r = local.classify(b.uuid, max_events=3), remote.classify(b.uuid, max_events=3)
        assert r.found and not r.errors and a.bugs == r.bugs, b.uuid
        assert [m.count for m in a.matches] == [m.count for m in r.matches]
        assert [[(e.filename, e.line, e.message) for e in m.events] for m in a.matches] == [
            [(e.filename, e.line, e.message) for e in m.events] for m in r.matches]  # fmt: skip
        matched += bool(a.matches)
    assert matched >= 2, "the demo data should hit known bugs"
    short = failed[0].uuid[:7]
    assert remote.classify(short).build_uuid == failed[0].uuid
    assert not remote.classify("0123456789abcdef").found
    ga, gr = local.graph(days=3), remote.graph(days=3)
    assert [(x.bug, x.hits, x.hits24, x.fails, x.fails24, x.series, x.by_queue, x.queues) for x in ga.bugs] == [
        (x.bug, x.hits, x.hits24, x.fails, x.fails24, x.series, x.by_queue, x.queues) for x in gr.bugs]  # fmt: skip
    assert [{j: v.as_dict() for j, v in x.jobs.items()} for x in ga.bugs] == [
        {j: v.as_dict() for j, v in x.jobs.items()} for x in gr.bugs]  # fmt: skip
    ua, ur = local.uncategorized(days=3), remote.uncategorized(days=3)
    assert (ua.failed, ua.categorized, ua.errors) == (ur.failed, ur.categorized, ur.errors)
    assert [(j.job, [b.build_uuid for b in j.builds]) for j in ua.jobs] == [
        (j.job, [b.build_uuid for b in j.builds]) for j in ur.jobs]  # fmt: skip
    assert remote.lag().last_indexed_us is not None


def test_context_and_raw_logs(setup: Setup) -> None:
    s = setup
    hit = s.local.search("loglevel:ERROR", size=1).hits[0]
    ev = hit.event
    ref = EventRef(ev["build_uuid"], ev["filename"], ev["line"], hit.ts_us, ev["nlines"])
    a, b = s.local.context(ref, 3, 3), s.remote.context(ref, 3, 3)
    assert [(x.line, x.hit) for x in a] == [(x.line, x.hit) for x in b] and sum(x.hit for x in a) == ev["nlines"]
    for x, y in zip(a, b, strict=True):  # a cluster has messages: lines minus their timestamp
        assert x.text.endswith(y.text)
    by_time = s.remote.context(replace(ref, line=None), 2, 2)
    assert [x.hit for x in by_time].count(True) == 1 and ev["message"] in [x.text for x in by_time]
    # published: the remote backend fetches the build's log_url (gzip undone), byte for byte
    files = s.local.top_values(["filename"], f'build_uuid:"{s.published}"', n=100)["filename"]
    assert len(files) >= 3
    for name, _ in files:
        assert b"".join(s.remote.raw_log(s.published, name)) == b"".join(s.local.raw_log(s.published, name)), name
    # log_url refuses: the file is rebuilt from its events, oldest first
    name = s.local.top_values(["filename"], f'build_uuid:"{s.unpublished}"', n=1)["filename"][0][0]
    q = f'build_uuid:"{s.unpublished}" AND filename:"{name}"'
    events = [h.event for h in s.local.search(q, newest_first=False, size=10_000).hits]
    text = b"".join(s.remote.raw_log(s.unpublished, name)).decode()
    assert text == "".join(f"{e['@timestamp']} {e['message']}\n" for e in events)
    with pytest.raises(BackendError) as e:
        s.remote.raw_log(s.unpublished, "no/such/file.txt")
    assert e.value.status == 404


def test_errors_are_backend_errors(setup: Setup) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    b = OpenSearchBackend(OpenSearch(dead, timeout=5, max_retries=0), url=dead)
    with pytest.raises(BackendError) as e:
        b.count("*")
    assert e.value.status == 502 and "cannot reach the search cluster" in e.value.message
    with pytest.raises(BackendError) as e:
        setup.remote.search("*", size=100, offset=9950)
    assert e.value.status == 400
    from index.query import QueryError

    with pytest.raises(QueryError) as q:
        setup.remote.check("message:(oops")
    assert q.value.column is not None


# -- writing to a cluster --------------------------------------------------------------------------


def test_remote_writer_fills_an_empty_cluster(setup: Setup, tmp_path: Path) -> None:
    """B starts empty; the whole data set goes in over its _bulk (with the token); then
    every query counts the same on B as on A, and B classifies failures the same."""
    s = setup
    cfg = config.load(env={}, data_dir=tmp_path / "unused")
    with serve(tmp_path / "b", token=TOKEN) as url:
        writer = RemoteWriter(OpenSearch(url, http_auth=("ci", TOKEN), timeout=120), url=url, chunk_size=2000)
        summary = ingest_remote(cfg, ingest.plan([s.logs], tenant="demo"), writer)
        assert not summary.errors and summary.events == s.local.count("*")
        b = _remote(url)
        for q in QUERIES:
            assert b.count(q) == s.local.count(q), q
        assert b.top_values(["build_name", "tags"], "*") == s.local.top_values(["build_name", "tags"], "*")
        first = b.search("loglevel:ERROR", size=3, newest_first=False).hits
        assert [_event(h.event) | {"_id": ""} for h in first] == [
            {k: v for k, v in _event(h.event).items() if k not in ("line", "nlines")} | {"_id": ""}
            for h in s.local.search("loglevel:ERROR", size=3, newest_first=False).hits]  # fmt: skip
        sigs = SignatureSet()
        eng = RemoteRecheckEngine(b, signatures=sigs, cache_ttl_s=0)
        local = RecheckEngine(s.local.store, signatures=sigs, searcher=s.local.searcher, cache_ttl_s=0)
        for build in [x for x in local.builds.builds() if x.failed]:
            assert eng.classify(build.uuid).bugs == local.classify(build.uuid).bugs
        # the same build again: stable ids overwrite on a real cluster; the appliance's
        # _bulk stores an identical request once
        again = ingest_remote(cfg, ingest.plan([s.logs / s.published], tenant="demo"), writer)
        assert again.events and not again.errors
        b.close()
        with pytest.raises(BackendError) as e:  # a wrong password is said plainly
            RemoteWriter(OpenSearch(url, http_auth=("ci", "wrong")), url=url).write([{"@timestamp": "2024-01-01T00:00:00Z"}])
        assert e.value.status == 502 and "credentials (401)" in e.value.message


class _BusyGate:
    """A bulk gate answering 429 to the next ``busy`` requests (as a cluster whose write
    queue is full), then letting them through."""

    def __init__(self, real: Any, busy: int) -> None:
        self.real = real
        self.busy = busy
        self.sem = real.sem

    @property
    def waiting(self) -> int:
        if self.busy > 0:
            self.busy -= 1
            return es_routes.BULK_WAITING
        return int(self.real.waiting)

    @waiting.setter
    def waiting(self, v: int) -> None:
        self.real.waiting = v


def _events(build: str, n: int) -> list[dict[str, Any]]:
    return [{"@timestamp": f"2024-05-0{1 + i % 2}T10:00:{i % 60:02d}.000Z", "message": f"event {i} of {build}",
             "build_uuid": build, "filename": "job-output.txt", "_id": f"{build}-{i}"} for i in range(n)]  # fmt: skip


def test_bulk_429_is_retried_with_backoff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _BusyGate(es_routes._Gate(), 2)
    monkeypatch.setattr(es_routes, "_Gate", lambda: gate)
    with serve(tmp_path / "c", token=TOKEN) as url:
        client = OpenSearch(url, http_auth=("ci", TOKEN), timeout=60)
        statuses: list[int] = []
        real = client.bulk

        def counted(*a: Any, **kw: Any) -> Any:
            try:
                res = real(*a, **kw)
            except Exception as e:
                statuses.append(int(getattr(e, "status_code", 0)))
                raise
            statuses.append(200)
            return res

        monkeypatch.setattr(client, "bulk", counted)
        res = RemoteWriter(client, url=url, initial_backoff_s=0.05, max_backoff_s=0.2, max_retries=3).write(
            _events("retry1", 30))
        assert res.ok == 30 and not res.failed and statuses == [429, 429, 200]
        assert _remote(url).count('build_uuid:"retry1"') == 30
        gate.busy = 10  # past max_retries the 429 is an error, not a hang
        with pytest.raises(BackendError) as e:
            RemoteWriter(client, url=url, initial_backoff_s=0.01, max_retries=1).write(_events("retry2", 3))
        assert "429" in e.value.message


# -- the web UI and APIs on a cluster ------------------------------------------------------------


@pytest.fixture(scope="module")
def web(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An appliance whose backend is the cluster A (its own data dir stays empty)."""
    cfg = config.load(env={}, data_dir=tmp_path_factory.mktemp("r") / "data", backend="opensearch",
                      opensearch_url=setup.url)  # fmt: skip
    with TestClient(create_app(cfg)) as c:
        yield c


def _a(setup: Setup, path: str, **params: Any) -> httpx.Response:
    """A's own answer (its local path), for comparison."""
    return httpx.get(setup.url + path, params=params, headers={"accept": "text/html"}, timeout=60)


def test_discover_on_a_cluster_matches_the_local_page(setup: Setup, web: TestClient) -> None:
    from appliance.events import iso

    rng = {"from": iso(setup.start_us), "to": iso(setup.end_us)}
    for params in ({"q": "loglevel:ERROR OR message:failed"}, {"q": "tags:console", "f": "build_status:FAILURE",
                   "sort": "asc", "page": "2", "size": "5"}, {"q": ""}):  # fmt: skip
        mine = web.get("/discover.json", params={**rng, **params}).json()
        theirs = _a(setup, "/discover.json", **rng, **params).json()
        assert mine["total"] == theirs["total"] > 0
        assert [_event(h) for h in mine["hits"]] == [_event(h) for h in theirs["hits"]]
        assert mine["histogram"] == theirs["histogram"]
        want = {f["field"]: f["values"] for f in theirs["fields"]}
        assert mine["fields"] and all(f["values"] == want[f["field"]] for f in mine["fields"])
    page = web.get("/discover", params={**rng, "q": "loglevel:ERROR"})
    assert page.status_code == 200 and 'href="/context?build=' in page.text
    ctx_url = page.text.split('href="/context?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    ctx = web.get("/context.json?" + ctx_url).json()
    assert any(x["hit"] for x in ctx["lines"]) and ctx["build_uuid"]
    html = web.get("/context?" + ctx_url)
    assert html.status_code == 200 and "/context.json?build=" in html.text
    rows = web.get("/discover.ndjson", params={**rng, "q": "tags:console"}).text.splitlines()
    assert len(rows) == setup.local.count("tags:console", setup.start_us, setup.end_us)
    assert web.get("/discover.json", params={"q": "message:(oops"}).json()["column"] is not None
    vals = web.get("/api/values", params={"field": "build_status"}).json()["values"]
    assert "FAILURE" in vals and "build_status" in web.get("/api/fields").json()["fields"]


def test_recheck_pages_on_a_cluster_match_the_local_ones(setup: Setup, web: TestClient) -> None:
    mine, theirs = web.get("/recheck.json").json(), _a(setup, "/recheck.json").json()
    assert [(b["bug"], b["hits"], b["fails"]) for b in mine["bugs"]] == [
        (b["bug"], b["hits"], b["fails"]) for b in theirs["bugs"]]  # fmt: skip
    assert web.get("/recheck").status_code == 200
    u = web.get("/recheck/uncategorized.json").json()
    assert u["failed"] == _a(setup, "/recheck/uncategorized.json").json()["failed"] > 0
    assert web.get("/recheck/uncategorized").status_code == 200
    hit = next(b for b in theirs["bugs"] if b["fails"])
    build = setup.local.search(f"({hit['query']}) AND build_status:FAILURE", size=1).hits[0].event["build_uuid"]
    for path in (f"/recheck/builds/{build}.json", f"/api/recheck/builds/{build}"):
        a, b = web.get(path).json(), _a(setup, path).json()
        assert a["bugs"] == b["bugs"] and hit["bug"] in a["bugs"]
        assert [m["count"] for m in a["matches"]] == [m["count"] for m in b["matches"]]
    page = web.get(f"/recheck/builds/{build}")
    assert page.status_code == 200 and f'href="/logs/{build}/' in page.text
    assert web.get("/api/recheck/graph.json").json()["buglist"]
    # Digging re-parses archived files: on a cluster it says so (no 500, no empty page).
    for path in (f"/recheck/builds/{build}/diff.json", "/recheck/templates.json", f"/recheck/builds/{build}/diff"):
        r = web.get(path, headers={"accept": "text/html"})
        assert r.status_code == 501 and "needs the local index" in r.text, path


def test_es_read_api_on_a_cluster_answers_from_the_cluster(setup: Setup, web: TestClient) -> None:
    """Search clients pointed at the appliance see the cluster's data (its own dir is empty)."""
    q = {"query": {"query_string": {"query": "loglevel:ERROR OR message:failed"}}, "size": 3,
         "sort": [{"@timestamp": "desc"}]}  # fmt: skip
    mine = web.post("/logstash-*/_search", json=q).json()
    theirs = httpx.post(setup.url + "/logstash-*/_search", json=q, timeout=60).json()
    assert mine["hits"]["total"] == theirs["hits"]["total"] and mine["hits"]["total"]["value"] > 0
    assert [h["_id"] for h in mine["hits"]["hits"]] == [h["_id"] for h in theirs["hits"]["hits"]]
    count = web.post("/_count", json={"query": q["query"]}).json()["count"]
    assert count == theirs["hits"]["total"]["value"] or theirs["hits"]["total"]["relation"] == "gte"
    body = b'{"index":"logstash-*"}\n' + orjson.dumps({"query": q["query"], "size": 0}) + b"\n{}\n" + orjson.dumps(
        {"size": 0}) + b"\n"
    ms = web.post("/_msearch", content=body, headers={"content-type": "application/x-ndjson"}).json()["responses"]
    assert ms[0]["hits"]["total"]["value"] == count and ms[1]["hits"]["total"]["value"] > count
    page = web.post("/_search", params={"scroll": "1m"}, json={"size": 50, "query": {"match_all": {}}}).json()
    seen = len(page["hits"]["hits"])
    while page["hits"]["hits"]:
        page = web.post("/_search/scroll", json={"scroll": "1m", "scroll_id": page["_scroll_id"]}).json()
        seen += len(page["hits"]["hits"])
    assert seen == ms[1]["hits"]["total"]["value"]
    cat = web.get("/_cat/indices", params={"format": "json"}).json()
    assert sum(int(r["docs.count"]) for r in cat) == seen
    bad = web.post("/_search", json={"query": {"nosuch": {}}})
    assert bad.status_code == 400 and bad.json()["error"]["type"]  # the cluster's own 400, passed on


def test_logs_on_a_cluster(setup: Setup, web: TestClient) -> None:
    name = setup.local.top_values(["filename"], f'build_uuid:"{setup.published}"', n=1)["filename"][0][0]
    raw = web.get(f"/logs/{setup.published}/{name}", params={"raw": "1"})
    assert raw.status_code == 200 and raw.content == b"".join(setup.local.raw_log(setup.published, name))
    assert web.get(f"/raw/{setup.unpublished}/{name}").status_code in (200, 404)
    page = web.get(f"/logs/{setup.published}/{name}")
    assert page.status_code == 200 and 'id="L1"' in page.text
    assert web.get(f"/logs/{setup.published}/no/such.txt").status_code == 404


def test_a_cluster_that_is_down_is_a_clear_error(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = config.load(env={}, data_dir=tmp_path / "d", backend="opensearch", opensearch_url=dead,
                      opensearch_timeout_s=5)  # fmt: skip
    with TestClient(create_app(cfg)) as c:
        for path in ("/discover.json", "/recheck.json", "/api/recheck/builds/0123456789abcdef", "/api/values?field=x"):
            r = c.get(path)
            assert r.status_code == 502 and "cannot reach the search cluster" in r.json()["error"], path
        for path in ("/discover", "/recheck", "/logs/abc/def.txt"):
            r = c.get(path, headers={"accept": "text/html"})
            assert r.status_code == 502 and "cannot reach" in r.text and "Traceback" not in r.text, path
        assert c.get("/discover.json", params={"q": "a AND (b"}).status_code == 400  # checked here first


def test_sources_write_to_a_cluster(setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """_bulk passthrough, the spool source and ``appliance ingest --backend opensearch``
    all land in the cluster C; nothing is written to the local data dir."""
    import shutil

    from appliance import cli
    from appliance.sources.spool import SpoolSource

    with serve(tmp_path / "c", token=TOKEN) as url:
        c = _remote(url)
        cfg = config.load(env={}, data_dir=tmp_path / "r", backend="opensearch", opensearch_url=url,
                          opensearch_user="ci", opensearch_password=TOKEN, token="front",
                          spool_dir=tmp_path / "spool")  # fmt: skip
        with TestClient(create_app(cfg)) as web:
            body = b"".join(orjson.dumps({"index": {"_index": "logstash-2024.05.01", "_id": e.pop("_id")}}) + b"\n"
                            + orjson.dumps(e) + b"\n" for e in _events("passthrough", 5))  # fmt: skip
            assert web.post("/_bulk", content=body, headers={"content-type": "application/x-ndjson"}).status_code == 401
            r = web.post("/_bulk", content=body, headers={"authorization": "Bearer front",
                                                          "content-type": "application/x-ndjson"})  # fmt: skip
            assert r.status_code == 200 and not r.json()["errors"] and len(r.json()["items"]) == 5
            one = web.post("/logstash-2024.05.02/_doc", json=_events("passthrough", 1)[0] | {"_id": None},
                           headers={"authorization": "Bearer front"})  # fmt: skip
            assert one.status_code == 400  # the cluster's own refusal (an _id in the body), passed on
            one = web.post("/logstash-2024.05.02/_doc", json={"@timestamp": "2024-05-02T00:00:00Z", "message": "x",
                                                               "build_uuid": "passthrough"},
                           headers={"authorization": "Bearer front"})  # fmt: skip
            assert one.status_code == 201 and one.json()["_index"] == "logstash-2024.05.02"
        assert c.count('build_uuid:"passthrough"') == 6
        shutil.copytree(setup.logs / setup.unpublished, tmp_path / "spool" / setup.unpublished)
        spool = SpoolSource(cfg, Store(cfg.data_dir), service=None, settle_s=0)  # type: ignore[arg-type]
        assert spool.scan_once() == 1 and spool.stats["ingested"] == 1, spool.stats
        q = f'build_uuid:"{setup.unpublished}"'
        assert c.count(q) == setup.local.count(q) == spool.stats["events"]
        for k, v in {"URL": url, "USER": "ci", "PASSWORD": TOKEN}.items():
            monkeypatch.setenv(f"APPLIANCE_OPENSEARCH_{k}", v)
        assert cli.main(["ingest", "--data", str(tmp_path / "r"), "--backend", "opensearch", "--quiet",
                         str(setup.logs / setup.published)]) == 0  # fmt: skip
        q = f'build_uuid:"{setup.published}"'
        assert c.count(q) == setup.local.count(q) > 0
        assert not Store(cfg.data_dir).partitions.days()  # nothing local
        c.close()


def test_zuul_poller_ingests_into_and_classifies_from_a_cluster(tmp_path: Path) -> None:
    """The poller's whole cycle on a cluster: a build from Zuul's API, its logs fetched,
    written to the cluster, classified by the cluster's recheck engine."""
    from appliance.sources.zuul import ZuulPoller
    from tests import test_zuul_poller as tz

    if not tz.CORPUS.is_dir() or not tz.FIXTURES.is_dir():
        pytest.skip(f"the shared corpus and fixtures are not at {tz.SHARED}")
    z = tz.FakeZuul()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), tz._handler(z))
    z.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sigdir = tmp_path / "signatures"
    sigdir.mkdir()
    (sigdir / "1700001.yaml").write_text(f'query: >-\n  message:"{tz._phrase()}" AND tags:"screen-c-vol.txt"\n')
    try:
        with serve(tmp_path / "c", token=TOKEN) as url:
            cfg = config.load(env={}, data_dir=tmp_path / "r", backend="opensearch", opensearch_url=url,
                              opensearch_user="ci", opensearch_password=TOKEN, zuul_url=z.url,
                              zuul_tenant="t")  # fmt: skip
            rec = tz.add_build(z, "v10", 1, uuid="e" * 32)
            c = _remote(url)
            engine = RemoteRecheckEngine(c, signatures=SignatureSet(sigdir), cache_ttl_s=0)
            report = ZuulPoller(cfg, Store(cfg.data_dir), settings=tz.settings(cfg), engine=engine).poll_once()
            assert report.ingested == 1 and not report.errors, report
            assert c.count(f'build_uuid:"{rec["uuid"]}" AND filename:"{tz.VOL_AS}"') > 0
            assert report.classified == {rec["uuid"]: ["1700001"]}
            c.close()
    finally:
        httpd.shutdown()
