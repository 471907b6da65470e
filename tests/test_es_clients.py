"""The Elasticsearch API with the real opensearch-py and elasticsearch clients, on a real
uvicorn server on loopback, loaded with the 353 documents logstash.openstack.org stored."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
import yaml

from appliance import config
from web.app import create_app

from .conftest import SHARED

FIXTURE = SHARED / "fixtures" / "es-hits-logstash-2014.11.25.json"
TOKEN = "s3cret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    if not FIXTURE.exists():
        pytest.skip("fixtures absent")
    return [{**h["_source"], "_index_": h["_index"]} for h in orjson.loads(FIXTURE.read_bytes())["hits"]["hits"]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("es")
    app = create_app(config.load(data_dir=data, token=TOKEN))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


@pytest.fixture(scope="module")
def os_client(server: str, docs: list[dict]):  # noqa: ANN201
    from opensearchpy import OpenSearch, helpers

    c = OpenSearch(server, http_auth=("appliance", TOKEN), timeout=60)
    actions = ({"_index": d["_index_"], "_source": {k: v for k, v in d.items() if k != "_index_"}} for d in docs)
    ok, errors = helpers.bulk(c, actions, chunk_size=100)
    assert ok == len(docs) and not errors
    return c


def test_real_signature_finds_all_353(os_client, docs: list[dict]) -> None:  # noqa: ANN001
    q = yaml.safe_load((SHARED / "fixtures" / "1284371.yaml").read_text())["query"]
    r = os_client.search(index="logstash-*", body={"query": {"query_string": {"query": q}}, "size": 500})
    assert r["hits"]["total"]["value"] == len(docs) == 353
    ids = {h["_source"]["build_uuid"] for h in r["hits"]["hits"]}
    assert ids == {d["build_uuid"] for d in docs}
    # Each day's index holds that day's events, as Logstash's daily indices did.
    in_25 = sum(1 for d in docs if d["_index_"] == "logstash-2014.11.25")
    assert os_client.count(index="logstash-2014.11.25", body={"query": {"query_string": {"query": q}}})["count"] == in_25
    assert os_client.count(index="logstash-2014.11.24,logstash-2014.11.25", body={"query": {"query_string": {"query": q}}})["count"] == 353


def test_aggregations_match_python_counts(os_client, docs: list[dict]) -> None:  # noqa: ANN001
    body = {"size": 0, "query": {"match_all": {}}, "aggs": {
        "names": {"terms": {"field": "build_name", "size": 100}},
        "status": {"terms": {"field": "build_status"}},
        "builds": {"cardinality": {"field": "build_uuid"}},
        "hours": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
                  "aggs": {"q": {"terms": {"field": "build_queue"}}}},
        "first": {"min": {"field": "@timestamp"}}}}  # fmt: skip
    r = os_client.search(index="logstash-*", body=body)
    a = r["aggregations"]
    want = Counter(d["build_name"] for d in docs)
    assert {b["key"]: b["doc_count"] for b in a["names"]["buckets"]} == dict(want)
    assert a["builds"]["value"] == len({d["build_uuid"] for d in docs})
    assert sum(b["doc_count"] for b in a["hours"]["buckets"]) == len(docs)
    hours = Counter(d["@timestamp"][:13] for d in docs)
    assert {b["key_as_string"][:13]: b["doc_count"] for b in a["hours"]["buckets"] if b["doc_count"]} == dict(hours)
    first = min(d["@timestamp"] for d in docs)
    assert a["first"]["value_as_string"][:23] == first[:23]
    for b in a["hours"]["buckets"]:
        assert sum(x["doc_count"] for x in b["q"]["buckets"]) == b["doc_count"]


def test_search_after_and_scroll_page_through_everything(os_client, docs: list[dict]) -> None:  # noqa: ANN001
    seen, after = [], None
    while True:
        body = {"size": 40, "sort": [{"@timestamp": "desc"}], "query": {"match_all": {}}}
        if after:
            body["search_after"] = after
        hits = os_client.search(index="logstash-*", body=body)["hits"]["hits"]
        if not hits:
            break
        seen += [h["_id"] for h in hits]
        after = hits[-1]["sort"]
    stamps = Counter(d["@timestamp"] for d in docs)
    unique_ms = sum(1 for n in stamps.values() if n == 1)
    assert len(set(seen)) == len(seen) and len(seen) >= unique_ms
    from opensearchpy import helpers

    scrolled = list(helpers.scan(os_client, index="logstash-*", query={"query": {"match_all": {}}}, size=50, preserve_order=True))
    assert len(scrolled) >= unique_ms and len({h["_id"] for h in scrolled}) == len(scrolled)


def test_source_filtering_highlight_and_errors(os_client, server: str) -> None:  # noqa: ANN001
    r = os_client.search(index="logstash-*", body={
        "size": 1, "_source": ["build_*"], "query": {"match_phrase": {"message": "node went offline"}},
        "highlight": {"fields": {"message": {}}}})  # fmt: skip
    h = r["hits"]["hits"][0]
    assert set(h["_source"]) and all(k.startswith("build_") for k in h["_source"])
    assert "Looks like the <em>node went offline</em> during" in h["highlight"]["message"][0]
    bad = httpx.post(f"{server}/_search", json={"query": {"query_string": {"query": "message:(oops"}}})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "query_shard_exception"
    uns = httpx.post(f"{server}/_search", json={"query": {"geo_distance": {"x": 1}}})
    assert uns.status_code == 400 and "geo_distance" in uns.json()["error"]["reason"]
    agg = httpx.post(f"{server}/_search", json={"aggs": {"x": {"percentiles": {"field": "line"}}}})
    assert agg.status_code == 400 and "percentiles" in agg.json()["error"]["reason"]
    assert httpx.post(f"{server}/_search", content=b"{nope").status_code == 400


def test_writes_need_the_token_and_bad_items_fail_alone(server: str) -> None:
    body = b'{"index": {"_index": "logstash-2024.02.13"}}\n{"message": "hello bulk", "build_name": "x"}\n'
    assert httpx.post(f"{server}/_bulk", content=body).status_code == 401
    assert httpx.post(f"{server}/_bulk", content=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    mixed = body + b'{"index": {}}\n{"@timestamp": "not a date", "message": "bad"}\n{"delete": {"_id": "1"}}\n'
    r = httpx.post(f"{server}/_bulk", content=mixed, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["errors"] is True
    st = [next(iter(i.values()))["status"] for i in r.json()["items"]]
    assert st == [201, 400, 400]
    c = httpx.post(f"{server}/logstash-2024.02.13/_count", json={"query": {"match": {"message": "hello bulk"}}})
    assert c.json()["count"] == 1
    # The same request replayed is stored once.
    httpx.post(f"{server}/_bulk", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    c = httpx.post(f"{server}/_count", json={"query": {"match_phrase": {"message": "hello bulk"}}})
    assert c.json()["count"] == 1


def test_elasticsearch_client_and_cat(os_client, server: str, docs: list[dict]) -> None:  # noqa: ANN001
    from elasticsearch import Elasticsearch

    es = Elasticsearch(server, basic_auth=("appliance", TOKEN), request_timeout=60)
    assert es.info()["version"]["number"]
    r = es.search(index="logstash-2014.11.25", query={"term": {"build_status": "FAILURE"}}, size=3)
    want = sum(1 for d in docs if d["build_status"] == "FAILURE" and d["_index_"] == "logstash-2014.11.25")
    assert r["hits"]["total"]["value"] == want > 0
    cat = httpx.get(f"{server}/_cat/indices?format=json").json()
    assert sum(int(row["docs.count"]) for row in cat if row["index"] in ("logstash-2014.11.24", "logstash-2014.11.25")) == 353
    assert httpx.head(f"{server}/logstash-2014.11.25").status_code == 200
    assert httpx.head(f"{server}/logstash-1999.01.01").status_code == 404
    ms = httpx.post(f"{server}/_msearch", content=b'{"index": "logstash-*"}\n{"size": 0, "query": {"match_all": {}}}\n')
    assert ms.json()["responses"][0]["hits"]["total"]["value"] >= 353


def test_busy_writer_answers_429(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from appliance.service import IngestService
    from web.services import Services

    svc = Services.open(config.load(data_dir=tmp_path))
    svc.extras["ingest"] = IngestService(svc.store, max_jobs=1)
    gate = threading.Event()
    svc.ingest.start()
    svc.ingest.submit(lambda w: gate.wait(10))
    for _ in range(100):  # the writer thread takes the blocking job...
        if svc.ingest.queue_depth == 0:
            break
        time.sleep(0.02)
    svc.ingest.submit(lambda w: None)  # ...and this one fills the queue of one
    body = b'{"index": {"_index": "logstash-2024.02.13"}}\n{"message": "x"}\n'
    with TestClient(create_app(svc.config, svc), client=("127.0.0.1", 5000)) as c:
        r = c.post("/_bulk", content=body)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        gate.set()
