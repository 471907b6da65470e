"""The recheck pages and their JSON twins, on the built-in demo data (known failures)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests import web_fixtures as wf
from web.security import CSP


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    with TestClient(wf.app(wf.demo_data(tmp_path_factory))) as c:
        yield c


def test_status_page_and_twin(client: TestClient) -> None:
    data = client.get("/recheck.json").json()
    shown = [b for b in data["bugs"] if not b["suppress_graph"]]
    assert shown and any(b["fails"] for b in shown)
    r = client.get("/recheck")
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    rows = re.findall(r'<tr id="bug-([^"]+)">', r.text)
    assert rows == [b["bug"] for b in shown]  # the engine's order: most recent failures first
    for b in shown:
        assert f'href="https://bugs.launchpad.net/bugs/{b["bug"]}"' in r.text
        assert b["discover_url"].replace("&", "&amp;") in r.text
    hit = next(b for b in shown if b["hits"])
    row = r.text.split(f'<tr id="bug-{hit["bug"]}">')[1].split("</tr>")[0]
    assert '<svg class="spark"' in row and "<rect class=" in row
    # the graph is by queue: one class per queue hit, bar titles name the queue and count
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert [c.strip() for c in cells[1:5]] == [f"<strong>{hit['fails24']}</strong>", str(hit["fails"]),
                                               str(hit["hits24"]), str(hit["hits"])]  # fmt: skip
    drawn = re.findall(r'<rect class="(\w+)"[^>]*><title>[^<]*: (\d+) ([^<]+)</title>', row)
    assert {q for _, _, q in drawn} == set(hit["by_queue"])
    assert {c for c, _, q in drawn} == {q if q in ("check", "gate") else "other" for q in hit["by_queue"]}
    assert sum(int(n) for _, n, _ in drawn) == hit["hits"]


def test_uncategorized_page_and_twin(client: TestClient) -> None:
    data = client.get("/recheck/uncategorized.json").json()
    page = client.get("/recheck/uncategorized").text
    uuids = [b["build_uuid"] for j in data["jobs"] for b in j["builds"]]
    assert len(uuids) == data["count"] > 0
    assert re.findall(r'<a href="/recheck/builds/([0-9a-f]+)">', page) == uuids
    logs = re.findall(r'<a class="to-log" href="(/logs/[^"]+)">', page)
    assert len(logs) == len(uuids) and all(client.get(u).status_code == 200 for u in logs[:3])
    for j in data["jobs"]:  # newest first within a job
        times = [b["time_us"] for b in j["builds"]]
        assert times == sorted(times, reverse=True)


def test_build_page_shows_matching_lines(client: TestClient) -> None:
    bug = next(b for b in client.get("/recheck.json").json()["bugs"] if b["fails"])
    hits = client.get("/discover.json", params={"q": bug["query"], "from": "now-10d", "size": 200}).json()["hits"]
    for uuid in dict.fromkeys(h["build_uuid"] for h in hits):
        c = client.get(f"/recheck/builds/{uuid}.json").json()
        if bug["bug"] in c["bugs"]:
            break
    else:
        pytest.fail(f"no build classified as {bug['bug']}")
    page = client.get(f"/recheck/builds/{uuid}").text
    assert f'<section class="match" id="bug-{bug["bug"]}">' in page
    match = next(m for m in c["matches"] if m["bug"] == bug["bug"])
    link = match["events"][0]["link"]
    assert f'href="{link}"' in page
    path, _, anchor = link.partition("#")
    viewer = client.get(path)
    assert viewer.status_code == 200 and f'id="{anchor.split("-")[0]}"' in viewer.text


def test_errors(client: TestClient) -> None:
    assert client.get("/recheck/builds/doesnotexist").status_code == 404
    assert client.get("/recheck/builds/doesnotexist.json").json()["status"] == 404
    assert client.get("/recheck", params={"days": "x"}).status_code == 400
    assert client.post("/recheck").status_code == 405


def test_the_window_reads_alike_on_pages_and_apis(client: TestClient) -> None:
    """One ``?days=`` rule everywhere: fractions count as whole days, the bounds are the same."""
    for path in ("/recheck.json", "/api/recheck/graph.json", "/recheck/uncategorized.json"):
        assert client.get(path, params={"days": "2.5"}).status_code == 200, path
        assert client.get(path, params={"days": "61"}).status_code == 400, path
    page = client.get("/recheck.json", params={"days": "2.5"}).json()
    two = client.get("/recheck.json", params={"days": "2"}).json()
    assert page == two and page != client.get("/recheck.json", params={"days": "3"}).json()


def test_links_from_data_are_only_http_or_local() -> None:
    from web.render import safe_url

    assert safe_url("javascript:alert(1)") == "#" and safe_url(" JaVaScRiPt:x") == "#"
    assert safe_url("data:text/html,x") == "#" and safe_url("//evil.example/x") == "#"
    assert safe_url("https://logs.example.org/a/") == "https://logs.example.org/a/"
    assert safe_url("/logs/a/b#L3") == "/logs/a/b#L3"


def test_recheck_pages_say_when_they_hit_the_time_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A query limit far below what the engine needs: every recheck page and API call
    answers 503 naming the limit (no hang, no traceback); the work finishes in the
    background and fills the cache, so the same page answers once it is done."""
    import dataclasses
    import time

    from web.app import create_app

    d = wf.data(tmp_path_factory)
    cfg = dataclasses.replace(d.cfg, query_timeout_s=1e-6)
    build = wf.FAILED
    # One computation per page, each in a fresh app: in one app the graph finishing in the
    # background warms the query cache the next page shares, and a warm page can beat a
    # 1 µs limit (this raced in CI).
    for path in ("/recheck/uncategorized.json", f"/recheck/builds/{build}"):
        with TestClient(create_app(cfg)) as c:
            r = c.get(path)
            assert r.status_code == 503 and "timed out" in r.text and "Traceback" not in r.text, path
    with TestClient(create_app(cfg)) as c:
        r = c.get("/recheck")
        assert r.status_code == 503 and "timed out" in r.text and "Traceback" not in r.text
        for _ in range(100):  # the status page's graph was computed in the background and cached
            if c.get("/recheck.json").status_code == 200:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the graph never finished in the background")
