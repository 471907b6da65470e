"""The log viewer and raw downloads: anchors, levels, escaping, byte-exact raw, no traversal."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests import web_fixtures as wf
from web import logview
from web.security import CSP


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    with TestClient(wf.app(wf.data(tmp_path_factory))) as c:
        yield c


URL = f"/logs/{wf.FAILED}/{wf.API_LOG}"


def test_viewer_has_every_line_anchored(client: TestClient) -> None:
    r = client.get(URL)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    n = len(wf.api_log_failed().splitlines())
    ids = re.findall(r'<div class="[^"]*" id="L(\d+)"><a href="#L\1">\1</a>', r.text)
    assert list(map(int, ids)) == list(range(1, n + 1))
    assert r.text.rstrip().endswith("</html>")


def test_viewer_levels_and_traceback_block(client: TestClient) -> None:
    html = client.get(URL).text
    cls = {n: c for c, n in re.findall(r'<div class="([^"]*)" id="L(\d+)"', html)}
    assert cls["1"] == "d" and cls["2"] == "i" and cls["3"] == "w" and cls["4"] == "e"
    assert cls["5"] == "e tb tb0"
    assert cls["6"] == cls["7"] == cls["8"] == "e tb"
    assert cls["9"] == "i"


def test_viewer_escapes_log_text(client: TestClient) -> None:
    html = client.get(URL).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>', '<script src="/static/logs.js">']
    assert f'href="/discover?q=build_uuid%3A%22{wf.FAILED}%22' in html


@pytest.mark.parametrize("path", [f"/raw/{wf.FAILED}/{wf.API_LOG}", f"{URL}?raw=1"])
def test_raw_download_is_byte_exact(client: TestClient, path: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.content == (wf.data(tmp_path_factory).logs / wf.FAILED / wf.API_LOG).read_bytes()
    assert r.headers["content-type"].startswith("text/plain")
    assert 'attachment; filename="screen-n-api.txt"' in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_json_twin_pages_through_the_lines_as_the_page_classes_them(client: TestClient) -> None:
    html = client.get(URL).text
    classes = {int(n): c for c, n in re.findall(r'<div class="([^"]*)" id="L(\d+)"', html)}
    text = wf.api_log_failed().splitlines()
    got, url = [], f"{URL}?format=json&lines=3"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["content-type"] == "application/json"
        body = page.json()
        assert body["build_uuid"] == wf.FAILED and body["filename"] == wf.API_LOG and body["total_lines"] == len(text)
        assert len(body["lines"]) <= 3
        got += body["lines"]
        url = body["next"]
    assert [x["n"] for x in got] == list(range(1, len(text) + 1)) and [x["text"] for x in got] == text
    names = {"d": "DEBUG", "i": "INFO", "w": "WARNING", "e": "ERROR"}
    for x in got:
        cls = classes[x["n"]].split()
        assert x["level"] == names.get(cls[0]) and x["traceback"] == ("tb" in cls)
    assert any(x["traceback"] for x in got) and "<script>alert(1)</script>" in "".join(x["text"] for x in got)
    for bad in ("start=0", "lines=0", "lines=99999", "start=x"):
        r = client.get(f"{URL}?format=json&{bad}")
        assert r.status_code == 400 and "Traceback" not in r.text
    assert client.get(f"/logs/{wf.FAILED}/no/such.txt?format=json").status_code == 404


def test_unknown_logs_are_404(client: TestClient) -> None:
    for path in (f"/logs/{wf.FAILED}/nope.txt", "/logs/unknown/job-output.txt", f"/raw/{wf.PASSED}/{wf.CONSOLE}"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-security-policy"] == CSP


TRAVERSALS = [
    "/logs/x/../../etc/passwd",
    "/logs/x/%2e%2e/%2e%2e/etc/passwd",
    "/logs/x/..%2f..%2f..%2fetc%2fpasswd",
    "/logs/%2e%2e/%2e%2e%2fetc/passwd",
    f"/logs/{wf.FAILED}/../../../../etc/passwd",
    f"/logs/{wf.FAILED}/controller/logs/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    f"/logs/{wf.FAILED}//etc/passwd",
    "/raw/x/../../etc/passwd",
    "/raw/..%252f..%252fetc/passwd",
    f"/logs/{wf.FAILED}/%00../etc/passwd",
]


def _asgi_get(app: object, raw: str) -> tuple[int, bytes]:
    """Send ``raw`` to the app exactly as written (an HTTP client would normalize dots)."""
    from urllib.parse import unquote

    path, _, query = raw.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": unquote(path), "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    out: dict[str, object] = {"body": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: dict[str, object]) -> None:
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        elif msg["type"] == "http.response.body":
            out["body"] = out["body"] + msg.get("body", b"")  # type: ignore[operator]

    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    return out["status"], out["body"]  # type: ignore[return-value]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_path_traversal_is_404(client: TestClient, raw: str) -> None:
    status, body = _asgi_get(client.app, raw)
    assert status == 404, raw
    assert b"root:" not in body
    r = client.get(raw)  # and through a normalizing client too
    assert r.status_code == 404 and b"root:" not in r.content


def test_stream_lines_is_independent_of_chunking() -> None:
    text = wf.api_log_failed().encode()
    whole = "".join(logview.stream_lines([text], chunk_lines=7))
    assert whole.count('<section class="chunk">') == -(-len(text.splitlines()) // 7)
    for size in (1, 7, 100, 4096):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert "".join(logview.stream_lines(pieces, chunk_lines=7)) == whole


def test_bare_python_traceback_is_a_block() -> None:
    lines = [
        "some output",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "    boom()",
        "ValueError: nope",
        "after",
    ]
    c = logview.Classifier()
    classes = [c.classify(t) for t in lines]
    assert classes == ["n", "n tb tb0", "n tb", "n tb", "n tb", "n"]


def test_real_journal_traceback_is_one_block(corpus: Path) -> None:
    lines = (corpus / "devstack@c-vol.service.log.txt").read_text().splitlines()
    c = logview.Classifier()
    classes = [c.classify(t) for t in lines]
    start = next(i for i, t in enumerate(lines) if "Traceback (most recent call last)" in t)
    block = [i for i, k in enumerate(classes) if "tb" in k.split()]
    assert block == list(range(start, start + len(block)))
    assert "cannot switch to a different thread" in lines[block[-1]]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
def test_a_50_mb_log_streams_whole_in_flat_memory(tmp_path: Path) -> None:
    """A real server, a real 50 MB screen log: the page arrives whole (every line anchored,
    the last one too) while the server grows by less than the log (7 MiB for an 87 MiB page
    when written); the raw download is byte-exact; the JSON twin reads a window near the end."""
    import hashlib
    import subprocess
    import sys

    from loadtests import server as srvmod

    from .conftest import big_oslo_log, write_build

    content, _ = big_oslo_log(440_000)
    assert len(content) > 50_000_000
    uuid = "5" * 32
    build = write_build(tmp_path / "in", {"logs/screen-n-cpu.txt": content}, build_uuid=uuid)
    data = tmp_path / "data"
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "ingest", "--quiet", str(build)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    n = content.count(b"\n")
    url = f"/logs/{uuid}/logs/screen-n-cpu.txt"
    with srvmod.running(data, log=tmp_path / "serve.log") as srv, srv.client(timeout=300) as c:
        base = peak = _rss(srv.proc.pid)
        size, tail = 0, b""
        with c.stream("GET", url) as page:
            assert page.status_code == 200
            for chunk in page.iter_bytes():
                size += len(chunk)
                tail = (tail + chunk)[-65536:]
                peak = max(peak, _rss(srv.proc.pid))
        assert size > len(content)
        assert f'id="L{n}"><a href="#L{n}">{n}</a>'.encode() in tail and tail.rstrip().endswith(b"</html>")
        assert peak - base < 48 << 20, f"the server grew by {(peak - base) >> 20} MiB for a 50 MB log"
        raw = hashlib.sha256()
        with c.stream("GET", url, params={"raw": "1"}) as dl:
            for chunk in dl.iter_bytes():
                raw.update(chunk)
        assert raw.hexdigest() == hashlib.sha256(content).hexdigest()
        window = c.get(url, params={"format": "json", "start": str(n - 2), "lines": "5000"}).json()
        assert [x["n"] for x in window["lines"]] == [n - 2, n - 1, n] and window["next"] is None
        assert window["lines"][-1]["text"] == content.rstrip(b"\n").rsplit(b"\n", 1)[1].decode()
