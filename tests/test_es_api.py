"""The Elasticsearch API as curl one-liners see it (httpx against a real uvicorn server on
loopback, no token configured: writes from loopback only), plus the pure pieces: index
patterns, filter_path, cursors, calendar buckets, the bulk parser. Expectations are
computed from the documents sent."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request

from appliance import bulk
from appliance.formats import ndjson
from appliance.formats.base import Context
from web.es import aggs, cursor, params
from web.es.auth import authorize_write
from web.es.dsl import minimum_should_match
from web.es.errors import EsError
from web.es.indices import resolve

from .test_es_clients import fixture_docs, serve

DAY = "logstash-2014.11.24"


def ndj(*objs: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return [d["_source"] for d in fixture_docs()]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, docs: list[dict[str, Any]]) -> Iterator[str]:
    """A server holding the fixture, plus a few events with levels on 2024-02-13."""
    with serve(tmp_path_factory.mktemp("esapi")) as u:
        body = b"".join(ndj({"index": {"_index": "logstash-" + d["@timestamp"][:10].replace("-", ".")}}, d) for d in docs)
        r = httpx.post(f"{u}/_bulk", content=body, timeout=60)
        assert r.status_code == 200 and not r.json()["errors"]
        r = httpx.post(f"{u}/logstash-2024.02.13/_bulk", content=b"".join(LEVELLED), timeout=60)
        assert r.status_code == 200 and not r.json()["errors"]
        yield u


LEVELLED = [ndj({"index": {}}, {"@timestamp": f"2024-02-13T{h:02d}:{m:02d}:00Z", "message": f"level {lvl} event {h}",
                                "loglevel": lvl, "build_name": "levels", "tags": ["a.txt", "oslofmt"]})
            for h, lvl in ((1, "INFO"), (2, "ERROR"), (3, "ERROR"), (4, "WARNING")) for m in range(3)]  # fmt: skip


def search(url: str, body: Any, index: str = "logstash-*", **params: Any) -> httpx.Response:
    return httpx.post(f"{url}/{index}/_search", json=body, params=params, timeout=30)


def total(url: str, query: Any, index: str = "logstash-2014.*", **params: Any) -> int:
    r = search(url, {"size": 0, "query": query}, index, **params)
    assert r.status_code == 200, r.text
    return r.json()["hits"]["total"]["value"]


def es_error(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == status and body["error"]["root_cause"][0]["type"] == body["error"]["type"]
    return body["error"]


# -- cluster and index metadata ---------------------------------------------------------------


def test_root_answers_json_clients_and_leaves_browsers_to_discover(url: str) -> None:
    r = httpx.get(f"{url}/", headers={"Accept": "application/json"})
    assert r.json()["version"]["number"] and r.headers["x-elastic-product"] == "Elasticsearch"
    assert httpx.get(f"{url}/").json()["tagline"]  # curl's */*
    assert httpx.head(f"{url}/", headers={"Accept": "application/vnd.elasticsearch+json; compatible-with=8"}).status_code == 200
    assert "text/html" in httpx.get(f"{url}/", headers={"Accept": "text/html"}).headers["content-type"]


def test_cat_health_mapping_and_noop_admin(url: str, docs: list[dict[str, Any]]) -> None:
    per_day = Counter("logstash-" + d["@timestamp"][:10].replace("-", ".") for d in docs)
    rows = httpx.get(f"{url}/_cat/indices/logstash-2014.*?format=json&bytes=b").json()
    assert {r["index"]: int(r["docs.count"]) for r in rows} == dict(per_day)
    assert all(int(r["store.size"]) > 0 for r in rows)
    text = httpx.get(f"{url}/_cat/indices?v&h=index,docs.count&s=index").text.splitlines()
    assert text[0].split() == ["index", "docs.count"] and len(text) == len(per_day) + 2  # + 2024.02.13
    assert httpx.get(f"{url}/_cluster/health").json()["status"] == "green"
    props = httpx.get(f"{url}/{DAY}/_mapping").json()[DAY]["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date" and props["build_name"]["type"] == "keyword"
    assert httpx.put(f"{url}/logstash-2030.01.01", json={"settings": {}}).json()["acknowledged"]
    assert httpx.put(f"{url}/_template/logstash", json={"index_patterns": ["x"]}).json()["acknowledged"]
    assert httpx.put(f"{url}/_index_template/logstash", json={}).json()["acknowledged"]
    assert httpx.get(f"{url}/_template/logstash").status_code == 404  # accepted, not kept
    assert httpx.head(f"{url}/{DAY}").status_code == 200
    assert httpx.head(f"{url}/logstash-2030.01.01").status_code == 404  # PUT made nothing
    es_error(httpx.get(f"{url}/logstash-1999.01.01"), 404)


def test_outside_the_subset_is_a_400_that_names_it(url: str) -> None:
    cases = [
        (httpx.get(f"{url}/_nodes/stats"), "_nodes"),
        (httpx.post(f"{url}/{DAY}/_update/1", json={}), "_update"),
        (search(url, {"query": {"match_all": {}}, "rescore": {}}), "rescore"),
        (search(url, {"query": {"match": {"message": {"query": "x", "fuzziness": 2}}}}), "fuzziness"),
        (search(url, {"query": {"query_string": {"query": "x", "time_zone": "Europe/Paris"}}}), "time_zone"),
        (search(url, {"query": {"range": {"@timestamp": {"gte": "01/02/2014", "format": "dd/MM/yyyy"}}}}), "dd/MM/yyyy"),
        (search(url, {"query": {"query_string": {"query": "x", "default_field": "build_name"}}}), "default fields"),
        (search(url, {"query": {"simple_query_string": {"query": "a | b"}}}), "simple_query_string"),
        (search(url, {"sort": ["build_name"]}), "build_name"),
        (search(url, {"aggs": {"x": {"date_histogram": {"field": "@timestamp", "calendar_interval": "2d"}}}}), "2d"),
        (search(url, {"aggs": {"x": {"terms": {"field": "build_name", "script": "x"}}}}), "script"),
        (search(url, {"aggs": {"x": {"terms": {"field": "message"}}}}), "message"),
        (search(url, {"aggs": {"x": {"terms": {"field": "build_name"}, "aggs": {"y": {"terms": {"field": "tags"},
                                                                                   "aggs": {"z": {"max": {"field": "@timestamp"}}}}}}}}), "nested"),  # fmt: skip
        (search(url, {}, foo="bar"), "foo"),
        (httpx.post(f"{url}/_bulk", content=ndj({"index": {"_index": DAY}}, {}), params={"pipeline": "p"}), "pipeline"),
    ]
    for r, needle in cases:
        err = es_error(r)
        assert needle in err["reason"], (needle, err)
    err = es_error(httpx.delete(f"{url}/{DAY}"), 405)  # retention drops days, clients do not
    assert "DELETE" in err["reason"] and "not supported" in err["reason"]


def test_malformed_requests_are_400s_never_500s(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert es_error(httpx.post(f"{url}/_search", content=b"{nope"))["type"] == "parse_exception"
    assert es_error(search(url, {"query": {"query_string": {"query": "message:(oops"}}}))["type"] == "query_shard_exception"
    for body in ({"_source": 0}, {"size": -1}, {"size": "ten"}, {"from": 9990, "size": 20}, {"sort": 5},
                 {"query": []}, {"query": {"bool": {"must": [5]}}}, {"aggs": {"x": []}}, {"highlight": []},
                 {"query": {"match_all": {}}, "search_after": [1], "from": 5}, {"track_total_hits": "x"},
                 {"query": {"term": {"build_name": {"value": {"x": 1}}}}}, [1, 2]):  # fmt: skip
        es_error(search(url, body))
    es_error(httpx.post(f"{url}/_bulk", content=b'{"index": {}\n{"message": "x"}\n'))  # broken action line
    from web.routes import es as routes

    monkeypatch.setattr(routes, "MAX_BODY", 1000)
    assert es_error(httpx.post(f"{url}/_bulk", content=b" " * 2000), 413)["type"] == "content_too_long_exception"


# -- writes -----------------------------------------------------------------------------------


def test_bulk_items_fail_alone_and_the_good_ones_are_indexed(url: str) -> None:
    body = ndj(
        {"index": {"_index": "logstash-2024.03.01", "_id": "mine-1"}}, {"@timestamp": "2024-03-01T10:00:00Z", "message": "bulk ok one"},
        {"create": {"_index": "logstash-2024.03.01"}}, {"message": "bulk ok two"},  # no time: the index's day
        {"index": {"_index": "logstash-2024.03.01"}}, {"@timestamp": "not a date", "message": "bad time"},
        {"index": {"_index": "logstash-2024.03.01"}}, ["not", "an", "object"],
        {"delete": {"_index": "logstash-2024.03.01", "_id": "mine-1"}},
        {"update": {"_index": "logstash-2024.03.01", "_id": "mine-1"}}, {"doc": {"message": "x"}},
        {"frobnicate": {"_index": "logstash-2024.03.01"}}, {"message": "x"},
        {"index": {"_index": "undated"}}, {"message": "no time, no day"},
        {"index": {"_index": "logstash-2024.03.01", "pipeline": "p"}}, {"message": "x"},
        {"index": {}}, {"@timestamp": "2024-03-01T11:00:00Z", "message": "no index"},
        {"index": {"_index": "logstash-2024.03.01"}}, {"_id": "x", "message": "id inside"},
    )  # fmt: skip
    r = httpx.post(f"{url}/_bulk", content=body)
    assert r.status_code == 200 and r.json()["errors"] is True
    items = [next(iter(i.items())) for i in r.json()["items"]]
    assert [op for op, _ in items] == ["index", "create", "index", "index", "delete", "update", "frobnicate", "index",
                                       "index", "index", "index"]  # fmt: skip
    assert [it["status"] for _, it in items] == [201, 201] + [400] * 9
    assert items[0][1]["_id"] == "mine-1" and items[0][1]["_index"] == "logstash-2024.03.01"
    assert items[1][1]["_id"].split("-")[1] == "2"  # the appliance's "<file_id>-<line>"
    reasons = " ".join(it["error"]["reason"] for _, it in items[2:])
    for needle in ("@timestamp", "JSON object", "[delete] action is not supported", "[update]", "frobnicate",
                   "no @timestamp", "pipelines", "index is missing", "[_id] is a metadata field"):  # fmt: skip
        assert needle in reasons, needle
    hits = search(url, {"query": {"match": {"message": "bulk ok"}}, "sort": [{"@timestamp": "asc"}]}).json()["hits"]["hits"]
    assert [h["_source"]["message"] for h in hits] == ["bulk ok two", "bulk ok one"]  # 00:00 (day start), then 10:00
    assert hits[1]["_id"] == "mine-1" and hits[0]["_id"] == items[1][1]["_id"]
    assert "line" not in hits[0]["_source"] and hits[0]["_source"]["@timestamp"].startswith("2024-03-01T00:00:00")


def test_bulk_is_idempotent_and_groups_by_source_fields(url: str) -> None:
    body = ndj(*[x for i in range(6) for x in ({"index": {"_index": "logstash-2024.03.02"}},
                                               {"@timestamp": f"2024-03-02T00:00:0{i}Z", "message": f"replay {i}",
                                                "build_name": f"job-{i % 2}", "voting": True})])  # fmt: skip
    first = httpx.post(f"{url}/_bulk", content=body).json()
    again = httpx.post(f"{url}/_bulk", content=body).json()
    assert [i["index"]["_id"] for i in first["items"]] == [i["index"]["_id"] for i in again["items"]]
    assert total(url, {"match": {"message": "replay"}}, "logstash-2024.03.02") == 6
    assert len({i["index"]["_id"].split("-")[0] for i in first["items"]}) == 2  # two sources: job-0, job-1
    assert total(url, {"bool": {"filter": [{"term": {"voting": "1"}}, {"term": {"build_name": "job-1"}}]}},
                 "logstash-2024.03.02") == 3  # fmt: skip


def test_doc_api_and_refresh(url: str) -> None:
    r = httpx.post(f"{url}/logstash-2024.03.03/_doc?refresh=wait_for", json={"message": "single doc"})
    assert r.status_code == 201 and r.json()["result"] == "created" and r.json()["_index"] == "logstash-2024.03.03"
    r = httpx.put(f"{url}/logstash-2024.03.03/_create/c-1", json={"message": "created doc"})
    assert r.status_code == 201 and r.json()["_id"] == "c-1"
    assert es_error(httpx.put(f"{url}/logstash-2024.03.03/_doc", json={"message": "x"}))
    assert es_error(httpx.post(f"{url}/undated/_doc", json={"message": "x"}))["type"] == "mapper_parsing_exception"
    assert total(url, {"match": {"message": "doc"}}, "logstash-2024.03.03") == 2


def test_writes_without_a_token_only_from_loopback() -> None:
    def req(host: str, auth: str = "") -> Request:
        headers = [(b"authorization", auth.encode())] if auth else []
        return Request({"type": "http", "method": "POST", "path": "/_bulk", "headers": headers, "client": (host, 5)})

    authorize_write(req("127.0.0.1"), "")
    authorize_write(req("::1"), "")
    with pytest.raises(EsError) as e:
        authorize_write(req("10.1.2.3"), "")
    assert e.value.status == 403
    authorize_write(req("10.1.2.3", "Bearer tok"), "tok")
    authorize_write(req("10.1.2.3", "Basic " + __import__("base64").b64encode(b"any:tok").decode()), "tok")
    for auth in ("", "Bearer nope", "Basic !!!", "Digest tok"):
        with pytest.raises(EsError) as e:
            authorize_write(req("127.0.0.1", auth), "tok")
        assert e.value.status == 401


# -- the query DSL, checked against the documents ----------------------------------------------


def test_dsl_leaves_match_python(url: str, docs: list[dict[str, Any]]) -> None:
    def n(pred: Any) -> int:
        return sum(1 for d in docs if pred(d))

    low = [d["message"].lower() for d in docs]
    word = "offline"
    assert total(url, {"match": {"message": word}}) == sum(word in m for m in low)
    assert total(url, {"match": {"message": {"query": "slave offline", "operator": "and"}}}) == sum(
        "slave" in m and "offline" in m for m in low)  # fmt: skip
    assert total(url, {"match": {"message": {"query": "slave offline", "operator": "or"}}}) == sum(
        "slave" in m or "offline" in m for m in low)  # fmt: skip
    assert total(url, {"match_phrase": {"message": "Slave went offline"}}) == sum("slave went offline" in m for m in low)
    assert total(url, {"term": {"build_queue": "gate"}}) == n(lambda d: d["build_queue"] == "gate")
    assert total(url, {"term": {"build_queue.raw": {"value": "check"}}}) == n(lambda d: d["build_queue"] == "check")
    assert total(url, {"terms": {"build_status": ["FAILURE", "SUCCESS"]}}) == n(lambda d: d["build_status"] in ("FAILURE", "SUCCESS"))
    assert total(url, {"exists": {"field": "error_pr"}}) == n(lambda d: "error_pr" in d)
    assert total(url, {"prefix": {"build_name": "gate-tempest"}}) == n(lambda d: d["build_name"].startswith("gate-tempest"))
    assert total(url, {"wildcard": {"build_name": "*neutron*"}}) == n(lambda d: "neutron" in d["build_name"])
    assert total(url, {"match_all": {}}) == len(docs)
    assert total(url, {"match_none": {}}) == 0


def test_ranges_and_date_formats(url: str, docs: list[dict[str, Any]]) -> None:
    stamps = sorted(datetime.fromisoformat(d["@timestamp"]) for d in docs)
    mid = stamps[len(stamps) // 2]
    ms = int(mid.timestamp() * 1000)
    want_gte = sum(1 for t in stamps if t >= mid)
    assert total(url, {"range": {"@timestamp": {"gte": mid.isoformat()}}}) == want_gte
    assert total(url, {"range": {"@timestamp": {"gte": ms, "format": "epoch_millis"}}}) == want_gte
    assert total(url, {"range": {"@timestamp": {"gt": ms, "lt": ms + 3_600_000, "format": "epoch_millis"}}}) == sum(
        1 for t in stamps if mid < t < mid + timedelta(hours=1))  # fmt: skip
    assert total(url, {"range": {"@timestamp": {"gte": "2014-11-25", "lte": "2014-11-25", "format": "yyyy-MM-dd"}}}) == sum(
        1 for t in stamps if t.date().isoformat() == "2014-11-25")  # fmt: skip
    assert total(url, {"range": {"@timestamp": {"gte": "now-1d"}}}) == 0
    assert total(url, {"range": {"@timestamp": {"lte": "now", "time_zone": "UTC"}}}) == len(docs)


def test_bool_and_query_string_operators(url: str, docs: list[dict[str, Any]]) -> None:
    fail = [d for d in docs if d["build_status"] == "FAILURE"]
    gate = [d for d in docs if d["build_queue"] == "gate"]
    both = [d for d in fail if d["build_queue"] == "gate"]
    t_fail, t_gate = {"term": {"build_status": "FAILURE"}}, {"term": {"build_queue": "gate"}}
    assert total(url, {"bool": {"should": [t_fail, t_gate]}}) == len(fail) + len(gate) - len(both)
    assert total(url, {"bool": {"should": [t_fail, t_gate], "minimum_should_match": 2}}) == len(both)
    assert total(url, {"bool": {"should": [t_fail, t_gate], "minimum_should_match": "100%"}}) == len(both)
    assert total(url, {"bool": {"must": [t_fail], "should": [t_gate]}}) == len(fail)  # should only scores
    assert total(url, {"bool": {"must_not": [t_fail], "should": [t_gate]}}) == len(gate) - len(both)
    assert total(url, {"bool": {"must_not": [t_fail]}}) == len(docs) - len(fail)
    assert total(url, {"constant_score": {"filter": t_fail}}) == len(fail)
    qs = "build_status:FAILURE build_queue:gate"
    assert total(url, {"query_string": {"query": qs}}) == len(fail) + len(gate) - len(both)
    assert total(url, {"query_string": {"query": qs, "default_operator": "AND"}}) == len(both)
    assert total(url, None, q="build_status:FAILURE") == len(fail)
    assert total(url, None, q=qs, default_operator="AND") == len(both)
    r = httpx.get(f"{url}/logstash-2014.*/_count", params={"q": "build_status:FAILURE"})
    assert r.json()["count"] == len(fail)


def test_index_patterns_restrict_days(url: str, docs: list[dict[str, Any]]) -> None:
    per_day = Counter(d["@timestamp"][:10] for d in docs)
    assert total(url, {"match_all": {}}, "logstash-2014.11.24,logstash-2024.02.13") == per_day["2014-11-24"] + len(LEVELLED)
    assert total(url, {"match_all": {}}, "logstash-2014.11.*,-logstash-2014.11.25") == per_day["2014-11-24"]
    assert total(url, {"match_all": {}}, "_all") == total(url, {"match_all": {}}, "*")
    assert total(url, {"match_all": {}}, "logstash-1999.*") == 0


# -- response shaping -------------------------------------------------------------------------------


def test_totals_filter_path_fields_and_msearch(url: str, docs: list[dict[str, Any]]) -> None:
    q = {"query": {"match_all": {}}, "size": 1}
    assert search(url, {**q, "track_total_hits": 10}, "logstash-2014.*").json()["hits"]["total"] == {"value": 10, "relation": "gte"}
    assert "total" not in search(url, {**q, "track_total_hits": False}, "logstash-2014.*").json()["hits"]
    assert search(url, q, "logstash-2014.*", rest_total_hits_as_int="true").json()["hits"]["total"] == len(docs)
    r = search(url, q, "logstash-2014.*", filter_path="hits.hits._id,hits.total.value").json()
    assert set(r) == {"hits"} and set(r["hits"]["hits"][0]) == {"_id"} and r["hits"]["total"] == {"value": len(docs)}
    h = search(url, {**q, "docvalue_fields": [{"field": "@timestamp", "format": "epoch_millis"}], "fields": ["build_*"],
                     "version": True}, "logstash-2014.*").json()["hits"]["hits"][0]  # fmt: skip
    assert h["fields"]["@timestamp"] == [str(h["sort"][0])] and h["_version"] == 1
    assert h["fields"]["build_name"] == [h["_source"]["build_name"]]
    body = ndj({"index": "logstash-2014.*"}, {"size": 0, "query": {"term": {"build_status": "FAILURE"}}},
               {"index": ["logstash-2014.11.24"]}, {"size": 0}, {}, {"query": {"nope": {}}})  # fmt: skip
    rs = httpx.post(f"{url}/_msearch", content=body).json()["responses"]
    assert rs[0]["hits"]["total"]["value"] == sum(1 for d in docs if d["build_status"] == "FAILURE")
    assert rs[1]["hits"]["total"]["value"] == sum(1 for d in docs if d["@timestamp"].startswith("2014-11-24"))
    assert rs[2]["status"] == 400 and "nope" in rs[2]["error"]["reason"]


def test_highlight_options(url: str) -> None:
    q = {"match": {"message": "slave offline"}}
    hl = {"pre_tags": ["[["], "post_tags": ["]]"], "fields": {"message": {"fragment_size": 40, "number_of_fragments": 2}}}
    h = search(url, {"size": 1, "query": q, "highlight": hl}, "logstash-2014.*").json()["hits"]["hits"][0]
    frags = h["highlight"]["message"]
    assert 1 <= len(frags) <= 2 and all("[[" in f for f in frags) and all(len(f) < 100 for f in frags)
    h = search(url, {"size": 1, "query": q, "highlight": {"encoder": "html", "fields": {"*": {}}}}, "logstash-2014.*").json()
    frag = h["hits"]["hits"][0]["highlight"]["message"][0]
    assert "&lt;a href=" in frag or "<a href" not in frag
    h = search(url, {"size": 1, "query": q, "highlight": {"fields": {"build_name": {}}}}, "logstash-2014.*").json()
    assert "highlight" not in h["hits"]["hits"][0]


def test_aggregation_options(url: str) -> None:
    def agg(spec: dict[str, Any], index: str = "logstash-2024.02.13", **params: Any) -> Any:
        r = search(url, {"size": 0, "aggs": {"a": spec}}, index, **params)
        assert r.status_code == 200, r.text
        return r.json()["aggregations"]

    levels = Counter(orjson.loads(x.split(b"\n")[1])["loglevel"] for x in LEVELLED)
    a = agg({"terms": {"field": "loglevel", "order": {"_key": "asc"}}})["a"]
    assert [(b["key"], b["doc_count"]) for b in a["buckets"]] == sorted(levels.items())
    a = agg({"terms": {"field": "loglevel", "include": "ERR.*|WARN.*", "exclude": ["WARNING"]}})["a"]
    assert [b["key"] for b in a["buckets"]] == ["ERROR"]
    a = agg({"terms": {"field": "tags"}})["a"]
    assert {b["key"]: b["doc_count"] for b in a["buckets"]} == {"a.txt": len(LEVELLED), "oslofmt": len(LEVELLED)}
    typed = agg({"value_count": {"field": "loglevel"}}, typed_keys="true")
    assert typed == {"value_count#a": {"value": len(LEVELLED)}}
    a = agg({"date_histogram": {"field": "@timestamp", "fixed_interval": "30m", "min_doc_count": 0,
                                "extended_bounds": {"min": "2024-02-13T00:00:00Z", "max": "2024-02-13T05:59:59Z"}}})["a"]  # fmt: skip
    assert len(a["buckets"]) == 12 and sum(b["doc_count"] for b in a["buckets"]) == len(LEVELLED)
    a = agg({"date_histogram": {"field": "@timestamp", "interval": "1h", "offset": "+30m", "format": "epoch_millis"}})["a"]
    assert a["buckets"][0]["key_as_string"] == str(a["buckets"][0]["key"]) and a["buckets"][0]["key"] % 3_600_000 == 1_800_000
    week = agg({"date_histogram": {"field": "@timestamp", "calendar_interval": "week"}}, "logstash-2014.*")["a"]
    month = agg({"date_histogram": {"field": "@timestamp", "calendar_interval": "1M"}}, "logstash-2014.*")["a"]
    assert [b["key_as_string"][:10] for b in week["buckets"]] == ["2014-11-24"]  # a Monday
    assert [b["key_as_string"][:10] for b in month["buckets"]] == ["2014-11-01"]
    assert week["buckets"][0]["doc_count"] == month["buckets"][0]["doc_count"] > 0
    r = search(url, {"size": 0, "aggs": {"a": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms",
                                                                  "min_doc_count": 0}}}}, "logstash-2014.*")  # fmt: skip
    assert es_error(r)["type"] == "too_many_buckets_exception"


def test_scroll_by_hand(url: str, docs: list[dict[str, Any]]) -> None:
    r = search(url, {"size": 100, "query": {"match_all": {}}}, "logstash-2014.*", scroll="1m").json()
    ids = [h["_id"] for h in r["hits"]["hits"]]
    sid = r["_scroll_id"]
    while True:
        page = httpx.post(f"{url}/_search/scroll", json={"scroll": "1m", "scroll_id": sid}).json()
        assert page["hits"]["total"]["value"] == len(docs)
        if not page["hits"]["hits"]:
            break
        ids += [h["_id"] for h in page["hits"]["hits"]]
        sid = page["_scroll_id"]
    assert len(ids) == len(set(ids)) == len(docs)
    cleared = httpx.request("DELETE", f"{url}/_search/scroll", json={"scroll_id": [sid, "junk"]}).json()
    assert cleared == {"succeeded": True, "num_freed": 1}
    assert es_error(httpx.post(f"{url}/_search/scroll", json={"scroll_id": "junk"}), 404)["type"] == "search_context_missing_exception"
    expired = cursor.encode({"i": None, "b": {}, "p": {}, "a": None}, -1)
    es_error(httpx.post(f"{url}/_search/scroll", json={"scroll_id": expired}), 404)


# -- pure pieces ------------------------------------------------------------------------------------


def test_index_expressions() -> None:
    days = ["2014-11-24", "2014-11-25", "2014-11-27", "2024-02-13"]
    assert resolve(None, days).all_days and resolve("logstash-*", days).all_days and resolve("myapp", days).all_days
    s = resolve("logstash-2014.11.24,logstash-2014.11.27", days)
    assert s.days == ["2014-11-24", "2014-11-27"] and len(s.runs) == 2  # a gap: filtered, not spanned
    assert resolve("vector-2014.11.*", days).days == days[:3]
    assert resolve("*,-logstash-2014.11.2*", days).days == ["2024-02-13"]
    assert resolve("logstash-1999.01.01", days).empty
    with pytest.raises(EsError):
        resolve("_nodes", days)


def test_filter_path_and_minimum_should_match() -> None:
    b = {"took": 1, "items": [{"index": {"_id": "a", "status": 201}}, {"index": {"status": 400, "error": {"t": 1}}}]}
    assert params.filter_path(b, "errors,items.*.error,items.*.status") == {
        "items": [{"index": {"status": 201}}, {"index": {"status": 400, "error": {"t": 1}}}]}  # fmt: skip
    assert params.filter_path(b, "**.status") == {"items": [{"index": {"status": 201}}, {"index": {"status": 400}}]}
    assert params.filter_path(b, "-items") == {"took": 1}
    assert [minimum_should_match(x, 4) for x in (2, -1, "75%", "-25%", "100%", 9)] == [2, 3, 3, 3, 4, 5]


def test_cursor_tiebreaks() -> None:
    stamps = [5_000, 5_000, 5_000, 4_000]
    assert cursor.sort_values(stamps, None) == [[5, "5000:1"], [5, "5000:2"], [5, "5000:3"], [4, "4000:1"]]
    carry = cursor.Cursor.parse([5, "5000:3"])
    assert carry.bounds(None, None, True) == (None, 5_000, 3)
    assert cursor.sort_values([5_000, 4_000], carry) == [[5, "5000:4"], [4, "4000:1"]]
    assert cursor.Cursor.parse([5]).bounds(0, None, False) == (6_000, None, 0)
    for bad in ([], ["x"], [1, "made up"], [1, 2, 3], "1"):
        with pytest.raises(EsError):
            cursor.Cursor.parse(bad)
    sid = cursor.encode({"a": [1, "1000:1"]}, 60)
    assert cursor.decode(sid)["a"] == [1, "1000:1"]


def test_calendar_buckets() -> None:
    def us(s: str) -> int:
        return int(datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp() * 1e6)

    assert aggs._floor(us("2014-11-27T13:00:00"), "w") == us("2014-11-24T00:00:00")  # Monday
    assert aggs._floor(us("2014-11-27T13:00:00"), "M") == us("2014-11-01T00:00:00")
    assert aggs._floor(us("2014-11-27T13:00:00"), "q") == us("2014-10-01T00:00:00")
    assert aggs._next(us("2014-12-01T00:00:00"), "M") == us("2015-01-01T00:00:00")
    assert aggs._next(us("2014-10-01T00:00:00"), "q") == us("2015-01-01T00:00:00")


def test_bulk_parser_and_ndjson_format(tmp_path: Path) -> None:
    acts = bulk.parse_ndjson(b'\n{"index":{"_index":"a-2024.01.02","_id":7}}\n{"message":"m"}\n\n{"delete":{"_id":"1"}}\n'
                             b'{"index":{}}\n{broken\n{"create":{}}\n', "dflt")  # fmt: skip
    assert [(a.op, a.index, a.id, a.error is None) for a in acts] == [
        ("index", "a-2024.01.02", "7", True), ("delete", "dflt", "1", False), ("index", "dflt", None, False),
        ("create", "dflt", None, False)]  # fmt: skip
    with pytest.raises(bulk.BulkError):
        bulk.parse_ndjson(b'["index"]\n{}\n', None)
    assert bulk._event_time("2014-11-25T00:49:21.685+00:00", "") == 1416876561685000
    assert bulk._event_time(1416876561685, "") == 1416876561685000
    assert bulk._event_time("1416876561685", "") == 1416876561685000
    assert bulk._event_time(None, "logstash-2014.11.25") == 1416873600000000
    line = orjson.dumps({"ts": 1416876561685000, "message": "m", "loglevel": "INFO", "pid": "12", "_id": "x"})
    (rec,) = ndjson.parse([line.decode()], Context(filename="bulk/x", default_ts_us=0, year=2014))
    assert (rec.ts_us, rec.message, rec.loglevel, rec.pid) == (1416876561685000, "m", "INFO", "12")
    assert ndjson.detect([line.decode()], "x.json") == 0


def test_took_is_measured(url: str) -> None:
    t0 = time.perf_counter()
    r = search(url, {"query": {"match_all": {}}}).json()
    assert 0 <= r["took"] <= (time.perf_counter() - t0) * 1000 + 1 and r["timed_out"] is False


def test_a_shipped_file_links_to_its_events_not_to_a_404(url: str, docs: list[dict[str, Any]]) -> None:
    d = next(x for x in docs if x.get("build_uuid") and x.get("filename"))
    r = httpx.get(f"{url}/logs/{d['build_uuid']}/{d['filename']}")
    assert r.status_code == 302
    target = r.headers["location"]
    assert target.startswith("/discover?") and d["build_uuid"] in httpx.URL(target).params["q"]
    page = httpx.get(f"{url}{target}")
    assert page.status_code == 200 and d["build_uuid"][:7] in page.text
    assert httpx.get(f"{url}/logs/{d['build_uuid']}/no/such/file.txt").status_code == 404


def test_metrics_and_status_count_bulk_writes_lag_queue_and_latency(tmp_path: Path) -> None:
    """What an operator graphs: events and bytes per source (``_bulk`` included), lag, the
    writer's queue, partitions and the request latency histogram, from a real server."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.test_es_clients import serve

    def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(url + "/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}  # fmt: skip

    events = [{"@timestamp": f"2024-05-02T10:00:{i:02d}Z", "message": f"metric line {i}", "build_uuid": "m" * 32}
              for i in range(40)]  # fmt: skip
    body = b"".join(b'{"index":{"_index":"logstash-2024.05.02"}}\n' + orjson.dumps(e) + b"\n" for e in events)
    with serve(tmp_path / "data", token="tk") as url:
        before = scrape(url)
        auth = {"Authorization": "Bearer tk", "Content-Type": "application/x-ndjson"}
        assert httpx.post(url + "/_bulk", content=body, headers=auth).json()["errors"] is False
        assert httpx.post(url + "/_bulk", content=body, headers=auth).status_code == 200  # a retry: stored once
        for _ in range(3):
            assert httpx.get(url + "/discover.json", params={"q": "metric", "from": "2024-05-01"}).status_code == 200
        after = scrape(url)
        status = httpx.get(url + "/status").json()
    bulk = next(s for s in status["live_sources"] if s["source"] == "bulk")
    assert bulk["events"] == 40 and bulk["ingested"] == 1 and bulk["replayed"] == 1 and bulk["bytes"] > 0
    assert after[("appliance_source_events", (("source", "bulk"),))] == 40
    assert after[("appliance_source_bytes", (("source", "bulk"),))] == bulk["bytes"]
    assert after[("appliance_events", (("day", "2024-05-02"),))] == 40
    assert after[("appliance_partitions", ())] == 1
    assert after[("appliance_ingest_lag_seconds", ())] > 60 * 86400  # the newest event is from 2024
    assert ("appliance_writer_queue_depth", ()) in after
    key = ("appliance_request_seconds_count", (("family", "discover"),))
    assert after[key] - before.get(key, 0) == 3
    bulk_key = ("appliance_request_seconds_count", (("family", "_bulk"),))
    assert after[bulk_key] - before.get(bulk_key, 0) == 2
