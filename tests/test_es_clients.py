"""The Elasticsearch API with the real opensearch-py and elasticsearch (8.x) clients, on a
real uvicorn server on loopback, loaded with the 353 documents logstash.openstack.org
stored in 2014 (every field they had). Every expectation is computed from the fixture."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
import yaml

from appliance import config
from web.app import create_app
from web.services import Services

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURE = SHARED / "fixtures" / "es-hits-logstash-2014.11.25.json"
SIGNATURE = SHARED / "fixtures" / "1284371.yaml"
TOKEN = "s3cret"


# -- a real server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(data: Path, services: Services | None = None, **cfg: Any) -> Iterator[str]:
    """``create_app`` under uvicorn in a thread, on a free loopback port."""
    app = create_app(services.config if services else config.load(data_dir=data, **cfg), services)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{srv.config.port}"
    finally:
        srv.should_exit = True
        th.join(30)


def fixture_docs() -> list[dict[str, Any]]:
    """The fixture's hits: ``_source`` plus the ``_index`` and ``_id`` ES had."""
    if not FIXTURE.exists():
        pytest.skip(f"fixtures absent: {FIXTURE}")
    return [{"_index": h["_index"], "_id": h["_id"], "_source": h["_source"]}
            for h in orjson.loads(FIXTURE.read_bytes())["hits"]["hits"]]  # fmt: skip


# -- the two clients, each against its own server ---------------------------------------------


@dataclass
class Loaded:
    kind: str
    client: Any
    helpers: Any
    url: str
    docs: list[dict[str, Any]]
    keeps_ids: bool


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return fixture_docs()


@pytest.fixture(scope="module", params=["opensearch", "elasticsearch"])
def loaded(request: pytest.FixtureRequest, docs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    with serve(tmp_path_factory.mktemp(request.param), token=TOKEN) as url:
        if request.param == "opensearch":
            from opensearchpy import OpenSearch, helpers

            client: Any = OpenSearch(url, http_auth=("logstash", TOKEN), timeout=60)
        else:
            from elasticsearch import Elasticsearch, helpers  # type: ignore[no-redef]

            client = Elasticsearch(url, basic_auth=("logstash", TOKEN), request_timeout=60)
        keeps = request.param == "opensearch"  # one run sends ES's _ids, the other lets the appliance number
        actions = [{"_index": d["_index"], "_source": d["_source"], **({"_id": d["_id"]} if keeps else {})} for d in docs]
        ok, errors = helpers.bulk(client, actions, chunk_size=100)
        assert ok == len(docs) == 353 and not errors
        yield Loaded(request.param, client, helpers, url, docs, keeps)
        client.close()


def _search(ld: Loaded, index: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return dict(ld.client.search(index=index, body=body, **kw))


def _status(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(HTTP status, ES error body) from either client's exception."""
    meta = getattr(exc, "meta", None)
    status = getattr(meta, "status", None) or getattr(exc, "status_code", None)
    body = getattr(exc, "body", None) or getattr(exc, "info", None)
    return int(status), body  # type: ignore[arg-type]


# -- search ----------------------------------------------------------------------------------


def test_real_signature_finds_every_event(loaded: Loaded) -> None:
    q = yaml.safe_load(SIGNATURE.read_text())["query"]
    r = _search(loaded, "logstash-*", {"query": {"query_string": {"query": q}}, "size": 500})
    assert r["hits"]["total"] == {"value": len(loaded.docs), "relation": "eq"}
    assert {h["_source"]["build_uuid"] for h in r["hits"]["hits"]} == {d["_source"]["build_uuid"] for d in loaded.docs}
    stamps = [h["sort"][0] for h in r["hits"]["hits"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    for h in r["hits"]["hits"]:  # each hit in the daily index of its time, as Logstash had it
        assert h["_index"] == "logstash-" + h["_source"]["@timestamp"][:10].replace("-", ".")
    if loaded.keeps_ids:
        assert {h["_id"] for h in r["hits"]["hits"]} == {d["_id"] for d in loaded.docs}


def test_count_per_daily_index(loaded: Loaded) -> None:
    q = {"query": {"query_string": {"query": yaml.safe_load(SIGNATURE.read_text())["query"]}}}
    per_day = Counter(d["_index"] for d in loaded.docs)
    for index, n in per_day.items():
        assert loaded.client.count(index=index, body=q)["count"] == n
    assert loaded.client.count(index=",".join(per_day), body=q)["count"] == len(loaded.docs)
    assert loaded.client.count(index="logstash-1999.01.01", body=q)["count"] == 0


def test_aggregations_match_python(loaded: Loaded) -> None:
    srcs = [d["_source"] for d in loaded.docs]
    body = {"size": 0, "query": {"match_all": {}}, "aggs": {
        "names": {"terms": {"field": "build_name", "size": 100}},
        "status": {"terms": {"field": "build_status"}},
        "builds": {"cardinality": {"field": "build_uuid"}},
        "hours": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
                  "aggs": {"status": {"terms": {"field": "build_status"}}}},
        "cal": {"date_histogram": {"field": "@timestamp", "calendar_interval": "hour", "min_doc_count": 1}},
        "per_job": {"terms": {"field": "build_name", "size": 3},
                    "aggs": {"days": {"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}}}},
        "first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}}}  # fmt: skip
    a = _search(loaded, "logstash-*", body)["aggregations"]
    names = Counter(s["build_name"] for s in srcs)
    assert {b["key"]: b["doc_count"] for b in a["names"]["buckets"]} == dict(names)
    assert {b["key"]: b["doc_count"] for b in a["status"]["buckets"]} == dict(Counter(s["build_status"] for s in srcs))
    assert a["builds"]["value"] == len({s["build_uuid"] for s in srcs})
    hours = Counter(s["@timestamp"][:13] for s in srcs)
    assert {b["key_as_string"][:13]: b["doc_count"] for b in a["hours"]["buckets"] if b["doc_count"]} == dict(hours)
    assert {b["key_as_string"][:13]: b["doc_count"] for b in a["cal"]["buckets"]} == dict(hours)
    keys = [b["key"] for b in a["hours"]["buckets"]]
    assert keys == list(range(keys[0], keys[-1] + 1, 3_600_000))  # empty hours filled (min_doc_count 0)
    for b in a["hours"]["buckets"]:
        want = Counter(s["build_status"] for s in srcs if s["@timestamp"][:13] == b["key_as_string"][:13])
        assert {x["key"]: x["doc_count"] for x in b["status"]["buckets"]} == dict(want)
    top3 = names.most_common()
    assert [b["key"] for b in a["per_job"]["buckets"]] == [k for k, _ in sorted(top3, key=lambda kv: (-kv[1], kv[0]))[:3]]
    for b in a["per_job"]["buckets"]:
        days = Counter(s["@timestamp"][:10] for s in srcs if s["build_name"] == b["key"])
        assert {x["key_as_string"][:10]: x["doc_count"] for x in b["days"]["buckets"] if x["doc_count"]} == dict(days)
    stamps = sorted(s["@timestamp"] for s in srcs)
    assert a["first"]["value_as_string"][:23] == stamps[0][:23] and a["last"]["value_as_string"][:23] == stamps[-1][:23]


def _page_all(ld: Loaded, index: str, order: str, size: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        body: dict[str, Any] = {"size": size, "sort": [{"@timestamp": {"order": order}}], "query": {"match_all": {}}}
        if after is not None:
            body["search_after"] = after
        hits = _search(ld, index, body)["hits"]["hits"]
        if not hits:
            return seen
        seen += [h["_id"] for h in hits]
        after = hits[-1]["sort"]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_search_after_pages_through_everything(loaded: Loaded, order: str) -> None:
    seen = _page_all(loaded, "logstash-2014.*", order, 40)
    assert len(seen) == len(set(seen)) == len(loaded.docs)
    if loaded.keeps_ids:
        assert set(seen) == {d["_id"] for d in loaded.docs}


def test_scroll_pages_through_everything(loaded: Loaded) -> None:
    hits = list(loaded.helpers.scan(loaded.client, index="logstash-2014.*", query={"query": {"match_all": {}}},
                                    size=50, scroll="1m"))  # fmt: skip
    ids = [h["_id"] for h in hits]
    assert len(ids) == len(set(ids)) == len(loaded.docs)
    ordered = list(loaded.helpers.scan(loaded.client, index="logstash-*", size=33, preserve_order=True,
                                       query={"query": {"match_all": {}}, "sort": [{"@timestamp": "asc"}]}))  # fmt: skip
    stamps = [h["sort"][0] for h in ordered]
    assert stamps == sorted(stamps) and len(ordered) >= len(loaded.docs)


def test_paging_is_exact_when_events_share_a_timestamp(loaded: Loaded) -> None:
    """57 events of one microsecond, over three requests (three sources, several segments)."""
    stamp = "2024-02-13T10:00:00.123456Z"
    for part in range(3):
        actions = [{"_index": "logstash-2024.02.13",
                    "_source": {"@timestamp": stamp, "message": f"tie {part} {i}", "build_name": f"tie-{part}"}}
                   for i in range(19)]  # fmt: skip
        assert loaded.helpers.bulk(loaded.client, actions)[0] == 19
    for order in ("desc", "asc"):
        seen = _page_all(loaded, "logstash-2024.02.13", order, 10)
        assert len(seen) == len(set(seen)) == 57
    scrolled = [h["_id"] for h in loaded.helpers.scan(loaded.client, index="logstash-2024.02.13", size=7)]
    assert len(scrolled) == len(set(scrolled)) == 57


def test_source_filtering_and_highlight(loaded: Loaded) -> None:
    q = {"match_phrase": {"message": "node went offline"}}
    r = _search(loaded, "logstash-*", {"size": 5, "_source": ["build_*"], "query": q,
                                       "highlight": {"fields": {"message": {"number_of_fragments": 0}}}})  # fmt: skip
    want = sum(1 for d in loaded.docs if "node went offline" in d["_source"]["message"].lower())
    assert r["hits"]["total"]["value"] == want > 0
    for h in r["hits"]["hits"]:
        assert h["_source"] and all(k.startswith("build_") for k in h["_source"])
        assert "<em>node went offline</em>" in h["highlight"]["message"][0].lower()
    r = _search(loaded, "logstash-*", {"size": 2, "query": q, "_source": {"includes": ["build_*", "message"],
                                                                          "excludes": ["build_uuid"]}})  # fmt: skip
    assert all("message" in h["_source"] and "build_uuid" not in h["_source"] for h in r["hits"]["hits"])
    r = _search(loaded, "logstash-*", {"size": 2, "query": q, "_source": False})
    assert all("_source" not in h for h in r["hits"]["hits"])


def test_term_and_bool_queries_through_the_client(loaded: Loaded) -> None:
    srcs = [d["_source"] for d in loaded.docs]
    body = {"size": 0, "query": {"bool": {"filter": [{"term": {"build_status": "FAILURE"}}],
                                          "must_not": [{"terms": {"build_queue": ["gate"]}}]}}}  # fmt: skip
    want = sum(1 for s in srcs if s["build_status"] == "FAILURE" and s["build_queue"] != "gate")
    assert _search(loaded, "logstash-*", body)["hits"]["total"]["value"] == want


def test_errors_reach_the_client_as_elasticsearch_errors(loaded: Loaded) -> None:
    for body, kind, needle in (
        ({"query": {"query_string": {"query": "message:(oops"}}}, "query_shard_exception", "oops"),
        ({"query": {"geo_distance": {"x": 1}}}, "parsing_exception", "geo_distance"),
        ({"aggs": {"p": {"percentiles": {"field": "line"}}}}, "parsing_exception", "percentiles"),
        ({"sort": [{"build_name": "asc"}]}, "illegal_argument_exception", "build_name"),
    ):
        with pytest.raises(Exception) as ei:
            _search(loaded, "logstash-*", body)
        status, err = _status(ei.value)
        assert status == 400 and err["error"]["type"] == kind and needle in err["error"]["reason"], err


def test_cluster_info_cat_and_index_existence(loaded: Loaded) -> None:
    info = loaded.client.info()
    assert info["version"]["number"].startswith("7.")
    assert loaded.client.indices.exists(index="logstash-2014.11.25")
    assert not loaded.client.indices.exists(index="logstash-1999.01.01")
    rows = loaded.client.cat.indices(index="logstash-2014.*", format="json")
    per_day = Counter(d["_index"] for d in loaded.docs)
    assert {r["index"]: int(r["docs.count"]) for r in rows} == dict(per_day)
    assert loaded.client.cluster.health()["status"] == "green"


def test_writes_need_the_token(loaded: Loaded) -> None:
    if loaded.kind == "opensearch":
        from opensearchpy import OpenSearch

        anon: Any = OpenSearch(loaded.url, timeout=10)
        wrong: Any = OpenSearch(loaded.url, http_auth=("logstash", "nope"), timeout=10)
    else:
        from elasticsearch import Elasticsearch

        anon = Elasticsearch(loaded.url, request_timeout=10)
        wrong = Elasticsearch(loaded.url, basic_auth=("logstash", "nope"), request_timeout=10)
    for c in (anon, wrong):
        with pytest.raises(Exception) as ei:
            c.index(index="logstash-2024.02.14", body={"message": "sneaky"})
        status, err = _status(ei.value)
        assert status == 401 and err["error"]["type"] == "security_exception"
        assert c.count(index="logstash-*", body={"query": {"match": {"message": "sneaky"}}})["count"] == 0  # reads are public
    r = loaded.client.index(index="logstash-2024.02.14", body={"message": "welcome"}, id="w1")
    assert r["_id"] == "w1" and r["result"] == "created"
    hits = _search(loaded, "logstash-2024.02.14", {"query": {"match": {"message": "welcome"}}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["w1"] and hits[0]["_source"]["@timestamp"].startswith("2024-02-14T00:00:00")


# -- back-pressure ------------------------------------------------------------------------------


def test_busy_writer_answers_429_and_clients_retry(tmp_path: Path) -> None:
    """A writer queue of one, held by a slow job: ``_bulk`` gets 429 + Retry-After, and the
    opensearch-py bulk helper's retries get every document in once the writer moves."""
    import httpx
    from opensearchpy import OpenSearch, helpers

    from appliance.service import IngestService

    svc = Services.open(config.load(data_dir=tmp_path))
    svc.extras["ingest"] = IngestService(svc.store, max_jobs=1)
    gate = threading.Event()
    svc.ingest.start()
    svc.ingest.submit(lambda w: gate.wait(30))
    for _ in range(200):  # the writer thread takes the slow job...
        if svc.ingest.queue_depth == 0:
            break
        time.sleep(0.01)
    svc.ingest.submit(lambda w: None)  # ...and this one fills the queue of one
    with serve(tmp_path, svc) as url:
        body = b'{"index": {"_index": "logstash-2024.02.13"}}\n{"message": "held back"}\n'
        r = httpx.post(f"{url}/_bulk", content=body)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "es_rejected_execution_exception"
        threading.Timer(1.5, gate.set).start()
        client = OpenSearch(url, timeout=30)
        actions = ({"_index": "logstash-2024.02.13", "_source": {"message": f"retried {i}"}} for i in range(20))
        ok, _ = helpers.bulk(client, actions, max_retries=8, initial_backoff=1, max_backoff=2)
        assert ok == 20
        assert client.count(index="logstash-2024.02.13", body={"query": {"match": {"message": "retried"}}})["count"] == 20
