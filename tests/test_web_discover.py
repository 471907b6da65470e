"""Discover, its JSON twin, exports, context and completion, on a real small data dir."""

from __future__ import annotations

import csv
import io
import re

import orjson
import pytest
from starlette.testclient import TestClient

from tests import web_fixtures as wf
from web import export
from web.highlight import mark, terms_from
from web.security import CSP
from web.state import DiscoverState


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    with TestClient(wf.app(wf.data(tmp_path_factory))) as c:
        yield c


def get(client: TestClient, path: str = "/discover", **params: object):
    return client.get(path, params={**wf.RANGE, **params})


def page_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="row" tabindex="0" data-id="([^"]+)"', html)


def js(client: TestClient, **params: object) -> dict:
    r = get(client, "/discover.json", **params)
    assert r.status_code == 200, r.text
    return r.json()


def test_hits_and_highlights(client: TestClient) -> None:
    r = get(client, q='message:"timed out"')
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    data = js(client, q='message:"timed out"')
    assert data["total"] >= 2  # the ERROR line, the traceback, the console line
    assert {h["build_uuid"] for h in data["hits"]} == {wf.FAILED}
    assert re.search(r"<mark>Timed out</mark>", r.text, re.I)
    assert f"<strong id=\"total\">{data['total']}</strong>" in r.text


def test_json_twin_equals_page(client: TestClient) -> None:
    params = {"q": "nova", "size": 10, "page": 2, "sort": "asc"}
    page = get(client, **params).text
    data = js(client, **params)
    assert page_ids(page) == [h["_id"] for h in data["hits"]]
    assert len(data["hits"]) == 10
    assert f">{data['total']:,}</strong>" in page
    stamps = [h["@timestamp"] for h in data["hits"]]
    assert stamps == sorted(stamps)
    assert sum(b["count"] for b in data["histogram"]["buckets"]) == data["total"]
    names = {f["field"] for f in data["fields"]}
    assert {"loglevel", "build_name", "build_status", "filename"} <= names
    assert data["timed_out"] is False and data["took_ms"] >= 0


def test_script_lines_are_text(client: TestClient) -> None:
    r = get(client, q="alert")
    assert r.status_code == 200
    body = r.text
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=<mark>alert</mark>(1)&gt;" in body
    # every script on the page is ours, from /static
    assert re.findall(r"<script[^>]*>", body) == [
        '<script src="/static/app.js" defer>', '<script src="/static/discover.js" defer>'
    ]
    assert " style=" not in body and "<style" not in body
    hit = js(client, q="alert")["hits"][0]
    assert wf.SCRIPT_LINE in hit["message"]


@pytest.mark.parametrize("path", ["/discover", "/discover.json", "/static/app.css", "/context/999-1", "/api/fields"])
def test_security_headers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"


def test_bad_query_is_400_with_message(client: TestClient) -> None:
    r = get(client, q='message:"unclosed AND (')
    assert r.status_code == 400
    assert 'class="qerr"' in r.text and "Traceback" not in r.text
    j = get(client, "/discover.json", q="message:(a OR b")
    assert j.status_code == 400 and j.json()["error"] and j.json()["column"] == len("message:(a OR b") + 1
    caret = get(client, q="message:(a OR b").text
    assert "<pre>message:(a OR b\n" + " " * len("message:(a OR b") + "^</pre>" in caret
    for path in ("/discover.csv", "/discover.ndjson"):
        assert get(client, path, q="(((").status_code == 400
    bad_time = client.get("/discover.json", params={"from": "yesterday-ish"})
    assert bad_time.status_code == 400 and "from" in bad_time.json()["error"]


def test_only_get(client: TestClient) -> None:
    assert client.post("/discover").status_code == 405
    assert client.delete("/logs/x/y").status_code == 405


def test_filters_for_and_against(client: TestClient) -> None:
    everything = js(client)["total"]
    errors = js(client, f="loglevel:ERROR")
    assert 0 < errors["total"] < everything
    assert {h["loglevel"] for h in errors["hits"]} == {"ERROR"}
    no_debug = js(client, nf="loglevel:DEBUG", size=500)
    assert all(h.get("loglevel") != "DEBUG" for h in no_debug["hits"])
    assert len(no_debug["hits"]) == no_debug["total"] < everything
    passed = js(client, f="build_status:SUCCESS")
    assert passed["total"] == 12 and {h["build_uuid"] for h in passed["hits"]} == {wf.PASSED}
    page = get(client, f="build_status:SUCCESS", nf="loglevel:DEBUG").text
    assert 'class="pill"' in page and 'class="pill neg"' in page
    assert "build_status: SUCCESS" in page and "NOT loglevel: DEBUG" in page


def test_sidebar_values_link_to_filters(client: TestClient) -> None:
    page = get(client).text
    assert 'data-field="loglevel"' in page
    st = DiscoverState(frm=wf.RANGE["from"], to=wf.RANGE["to"])
    assert st.with_filter("loglevel", "ERROR").replace("&", "&amp;") in page


def test_sidebar_counts_add_up_and_pid_completes(client: TestClient) -> None:
    """The sidebar's counts are the events a filter on the value finds; pid, left out of
    the sidebar for its cost, still completes (schema v2 gave it a fast column)."""
    data = js(client, q="_exists_:pid")
    fields = {f["field"]: f["values"] for f in data["fields"]}
    assert {"loglevel", "module"} <= set(fields) and "pid" not in fields
    module, n = fields["module"][0]["value"], fields["module"][0]["count"]
    assert js(client, q=f'_exists_:pid AND module:"{module}"')["total"] == n > 0
    pid = data["hits"][0]["pid"]
    assert pid in client.get("/api/values", params={"field": "pid", "prefix": pid[:1]}).json()["values"]


def test_histogram_svg(client: TestClient) -> None:
    page = get(client).text
    assert '<svg id="histo"' in page and "<rect x=" in page
    data = js(client)
    assert data["histogram"]["interval"] in ("30m", "1h")  # a 3-day range in about 80 bars


def test_paging_and_sort(client: TestClient) -> None:
    first = js(client, size=5)["hits"]
    second = js(client, size=5, page=2)["hits"]
    assert not {h["_id"] for h in first} & {h["_id"] for h in second}
    assert first[0]["@timestamp"] >= second[0]["@timestamp"]
    oldest = js(client, size=1, sort="asc")["hits"][0]
    assert oldest["@timestamp"].startswith(wf.DAY1 + "T09:59:00")


def test_columns_in_url(client: TestClient) -> None:
    page = get(client, columns="message,pid").text
    assert '<th class="c-pid">' in page and '<th class="c-build_name">' not in page


def test_row_details_have_links(client: TestClient) -> None:
    hit = js(client, q="MessagingTimeout")["hits"][0]
    page = get(client, q="MessagingTimeout").text
    assert f'href="/logs/{wf.FAILED}/{wf.API_LOG}#L{hit["line"]}"' in page
    assert f'href="/context/{hit["_id"]}?n=10&amp;len={hit["nlines"]}"' in page
    assert "/discover?q=build_uuid%3A%22" + wf.FAILED in page


def test_context(client: TestClient) -> None:
    hit = js(client, q="MessagingTimeout")["hits"][0]
    c = client.get(f"/context/{hit['_id']}.json", params={"n": 2, "len": hit["nlines"]}).json()
    assert c["build_uuid"] == wf.FAILED and c["filename"] == wf.API_LOG
    lines = wf.api_log_failed().splitlines()
    want = range(hit["line"] - 2, hit["line"] + hit["nlines"] + 2)
    assert [x["line"] for x in c["lines"]] == list(want)
    assert [x["text"] for x in c["lines"]] == [lines[n - 1] for n in want]
    assert [x["line"] for x in c["lines"] if x["hit"]] == list(range(hit["line"], hit["line"] + hit["nlines"]))
    page = client.get(f"/context/{hit['_id']}", params={"n": 2}).text
    assert f'id="L{hit["line"]}"' in page and f'href="/logs/{wf.FAILED}/{wf.API_LOG}#L{hit["line"]}"' in page
    assert client.get("/context/nonsense").status_code == 404
    assert client.get("/context/99999-1.json").status_code == 404


@pytest.mark.parametrize("batch", [3, 500])
def test_exports_stream_every_hit(client: TestClient, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(export, "BATCH", batch)
    for params in ({}, {"sort": "asc"}, {"q": "nova", "nf": "loglevel:DEBUG"}):
        total = js(client, **params)["total"]
        r = get(client, "/discover.csv", **params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][:2] == ["@timestamp", "message"] and len(rows) - 1 == total
        assert len({row[-1] for row in rows[1:]}) == total  # every event once
        nd = get(client, "/discover.ndjson", **params)
        events = [orjson.loads(x) for x in nd.content.splitlines()]
        assert len(events) == total == len({e["_id"] for e in events})


def test_completion_api(client: TestClient) -> None:
    fields = client.get("/api/fields").json()["fields"]
    assert {"message", "loglevel", "build_name", "build_status", "filename", "tags"} <= set(fields)
    assert client.get("/api/values", params={"field": "build_name", "prefix": "temp"}).json()["values"] == [
        "tempest-full"
    ]
    assert "ERROR" in client.get("/api/values", params={"field": "loglevel", "prefix": "e"}).json()["values"]
    assert client.get("/api/values").status_code == 400


def test_home_is_discover_for_browsers(client: TestClient) -> None:
    r = client.get("/", headers={"accept": "text/html"})
    assert r.status_code == 200 and 'id="qform"' in r.text


def test_unexpected_error_is_500_without_traceback(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    searcher = client.app.state.services.searcher

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(searcher, "search", boom)
    for path in ("/discover", "/discover.json"):
        r = get(client, path)
        assert r.status_code == 500
        assert "secret internals" not in r.text and "Traceback" not in r.text
        assert r.headers["content-security-policy"] == CSP


def test_time_limit_says_partial(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.services.searcher, "timeout_s", 0.0)
    assert js(client)["timed_out"] is True
    r = get(client)
    assert r.status_code == 200 and "partial: timed out" in r.text


def test_long_message_cell_starts_near_its_match(client: TestClient) -> None:
    from web.discover_data import snippet

    text = "x" * 300 + " the needle here " + "y" * 50
    cell = snippet(text, terms_from(["needle"]))
    assert cell.startswith("… ") and "needle" in cell[:100]


def test_highlight_escapes_then_marks() -> None:
    t = terms_from(["alert", ("timed", "out"), "wait*"])
    out = mark('<b>Timed out</b> waiting; alert("x") & TIMED', t)
    assert str(out) == (
        "&lt;b&gt;<mark>Timed out</mark>&lt;/b&gt; <mark>waiting</mark>; "
        "<mark>alert</mark>(&#34;x&#34;) &amp; TIMED"
    )


def test_state_round_trips_through_the_url() -> None:
    from starlette.datastructures import QueryParams

    st = DiscoverState.from_params(
        QueryParams("q=a&from=now-7d&f=build_status:FAILURE&nf=loglevel:DEBUG&columns=message,pid&sort=asc&page=3")
    )
    assert st.lucene() == '(a) AND build_status:"FAILURE" AND NOT loglevel:"DEBUG"'
    again = DiscoverState.from_params(QueryParams(st.url().partition("?")[2]))
    assert again == st
    assert DiscoverState().lucene() == "*"
    assert DiscoverState(filters=st.filters[1:]).lucene() == 'NOT loglevel:"DEBUG"'
