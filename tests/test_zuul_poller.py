"""The Zuul poller against a local HTTP server: a builds API in both record shapes and a
log tree made from the real corpus, with a manifest, gzip, a flaky file and a webhook."""

from __future__ import annotations

import copy
import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import pytest

from appliance import config
from appliance.recheck.engine import RecheckEngine
from appliance.recheck.signatures import SignatureSet
from appliance.sources.zuul import ZuulPoller, ZuulSettings, manifest_files
from index.search import Searcher
from index.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
CORPUS = SHARED / "corpus" / "os-loganalyze"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class FakeZuul:
    """Serves ``/api/tenant/t/builds`` (newest first, paged) and ``/logs/<uuid>/...``."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    flaky: dict[str, int] = field(default_factory=dict)
    """Path -> how many times to answer 503 first."""
    requests: list[str] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def log_requests(self, uuid: str) -> list[str]:
        return [p for p in self.requests if p.startswith(f"/logs/{uuid}/")]


def _handler(z: FakeZuul) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            u = urlsplit(self.path)
            path = unquote(u.path)
            z.requests.append(path)
            if z.flaky.get(path, 0) > 0:
                z.flaky[path] -= 1
                self._send(503, b"busy", {"Retry-After": "0"})
                return
            if path == "/api/tenant/t/builds":
                q = parse_qs(u.query)
                assert q["complete"] == ["true"]
                skip, limit = int(q.get("skip", ["0"])[0]), int(q["limit"][0])
                newest_first = sorted(z.records, key=lambda r: r["_id"], reverse=True)
                self._send(200, orjson.dumps(newest_first[skip : skip + limit]))
            elif path in z.files:
                body, headers = z.files[path]
                self._send(200, body, headers)
            else:
                self._send(404, b"not found", {"Content-Type": "text/plain"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            z.posted.append({"path": self.path, "body": orjson.loads(body)})
            self._send(200, b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    return H


@pytest.fixture
def zuul() -> Iterator[FakeZuul]:
    if not CORPUS.is_dir() or not FIXTURES.is_dir():
        pytest.skip(f"the shared corpus and fixtures are not at {SHARED}")
    z = FakeZuul()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(z))
    z.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield z
    httpd.shutdown()
    httpd.server_close()


# -- the log tree --------------------------------------------------------------------------

C_VOL = "devstack@c-vol.service.log.txt"
C_API = "devstack@c-api.service.log.txt"
VOL_AS = "controller/logs/screen-c-vol.txt"
"""Journal exports served under the listed names a devstack job gives its service logs."""
API_AS = "controller/logs/screen-n-api.txt"


def _phrase() -> str:
    """The exception line that ends the real traceback in the cinder-volume journal."""
    msgs = [line.split("]: ", 1)[1] for line in (CORPUS / C_VOL).read_text().splitlines()]
    after = msgs[next(i for i, m in enumerate(msgs) if m.startswith("Traceback")) + 1 :]
    last = next(m for m in after if not m.startswith(" "))
    return last.split(":", 1)[1].strip()


def add_build(z: FakeZuul, shape: str, n: int, *, uuid: str, result: str = "FAILURE", logs: bool = True,
              minutes_ago: int = 60) -> dict[str, Any]:  # fmt: skip
    """A build record of the fixture's shape, with its log tree on the server."""
    rec = copy.deepcopy(orjson.loads((FIXTURES / f"zuul-builds-{shape}.json").read_bytes())[0])
    end = NOW - timedelta(minutes=minutes_ago)
    rec.update(_id=n, uuid=uuid, result=result, end_time=end.strftime("%Y-%m-%dT%H:%M:%S"),
               start_time=(end - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"))  # fmt: skip
    rec["log_url"] = f"{z.url}/logs/{uuid}/" if logs else None
    z.records.append(rec)
    if not logs:
        return rec
    api = gzip.decompress((CORPUS / "screen-c-api.txt.gz").read_bytes()).splitlines(keepends=True)[
        :400
    ]
    tree = {
        "job-output.txt": (b"2024-02-13 23:17:30.123456 | controller | Job started\n"
                           + f"2024-02-13 23:39:00.000000 | controller | Job finished: {result}\n".encode(),
                           {"Content-Type": "text/plain"}),
        VOL_AS: ((CORPUS / C_VOL).read_bytes(), {"Content-Type": "text/plain"}),
        # served gzip-encoded on the wire, stored plain
        API_AS: (gzip.compress((CORPUS / C_API).read_bytes()),
                 {"Content-Type": "text/plain", "Content-Encoding": "gzip"}),
        # not in the file list: never fetched
        f"controller/logs/{C_API}": ((CORPUS / C_API).read_bytes(), {"Content-Type": "text/plain"}),
        # a file stored gzipped (.gz) and served as its bytes
        "controller/logs/screen-c-api.txt.gz": (gzip.compress(b"".join(api)), {"Content-Type": "application/gzip"}),
        "controller/logs/etc/nova/nova.conf": (b"[DEFAULT]\ndebug = True\n", {"Content-Type": "text/plain"}),
        "controller/logs/screenshot.png": (b"\x89PNG....", {"Content-Type": "image/png"}),
    }  # fmt: skip

    def node(path: str) -> dict[str, Any]:
        return {"name": path, "mimetype": "text/plain", "encoding": None}

    manifest = {"tree": [
        node("job-output.txt"),
        {"name": "controller", "mimetype": "application/directory", "children": [
            {"name": "logs", "mimetype": "application/directory", "children": [
                node(VOL_AS.rsplit("/", 1)[1]), node(API_AS.rsplit("/", 1)[1]), node(C_API),
                node("screen-c-api.txt.gz"), node("screenshot.png"),
                {"name": "etc", "mimetype": "application/directory", "children": [
                    {"name": "nova", "mimetype": "application/directory", "children": [node("nova.conf")]}]},
            ]}]},
    ], "index_links": False}  # fmt: skip
    z.files[f"/logs/{uuid}/zuul-manifest.json"] = (
        orjson.dumps(manifest),
        {"Content-Type": "application/json"},
    )
    for path, (body, headers) in tree.items():
        z.files[f"/logs/{uuid}/{path}"] = (body, headers)
    return rec


WANTED = {"job-output.txt", VOL_AS, API_AS, "controller/logs/screen-c-api.txt.gz"}


@pytest.fixture
def setup(zuul: FakeZuul, tmp_path: Path) -> tuple[config.Config, Store, Path]:
    sigdir = tmp_path / "signatures"
    sigdir.mkdir()
    (sigdir / "1700001.yaml").write_text(
        f'query: >-\n  message:"{_phrase()}" AND tags:"screen-c-vol.txt"\n'
    )
    (sigdir / "1700002.yaml").write_text('query: message:"this text is in no log at all"\n')
    cfg = config.load(env={}, data_dir=tmp_path / "data", workers=2)
    cfg = replace(cfg, zuul_url=zuul.url, zuul_tenant="t", signatures_dir=sigdir)
    return cfg, Store(cfg.data_dir), sigdir


def settings(cfg: config.Config, **kw: Any) -> ZuulSettings:
    base = ZuulSettings.from_config(cfg)
    return replace(base, backoff_s=0.01, rate_per_s=500, page_size=2, **kw)


def test_manifest_tree_is_flattened_and_never_escapes() -> None:
    tree = {
        "tree": [
            {"name": "a.txt"},
            {"name": "d", "children": [{"name": "b.txt"}, {"name": "../evil"}]},
        ]
    }
    assert manifest_files(tree) == ["a.txt", "d/b.txt"]


def test_poll_ingests_both_shapes_classifies_and_resumes(zuul: FakeZuul, setup: tuple) -> None:
    cfg, store, sigdir = setup
    legacy = add_build(zuul, "legacy", 1, uuid="a" * 32, minutes_ago=90)
    v10 = add_build(zuul, "v10", 2, uuid="b" * 32, result="SUCCESS", minutes_ago=60)
    add_build(zuul, "legacy", 3, uuid="c" * 32, result="NODE_FAILURE", logs=False, minutes_ago=30)
    zuul.flaky[f"/logs/{'a' * 32}/{VOL_AS}"] = 2
    engine = RecheckEngine(store, signatures=SignatureSet(sigdir), cache_ttl_s=0)
    p = ZuulPoller(cfg, store, settings=settings(cfg), engine=engine)
    r = p.poll_once()
    assert (r.new, r.ingested) == (3, 2) and not r.errors
    # only the listed files were fetched, each once (plus the flaky one's retries)
    for rec in (legacy, v10):
        got = {q.split("/", 3)[3] for q in zuul.log_requests(rec["uuid"])}
        assert got == WANTED | {"zuul-manifest.json"}
    assert p.fetcher.retried >= 2
    # build fields from both record shapes, files under their paths without .gz
    se = Searcher(store)
    for rec in (legacy, v10):
        project = rec["ref"]["project"] if isinstance(rec.get("ref"), dict) else rec["project"]
        q = f'build_uuid:"{rec["uuid"]}" AND project:"{project}" AND build_status:"{rec["result"]}"'
        assert se.count(q) > 0
        assert (
            se.count(f'build_uuid:"{rec["uuid"]}" AND filename:"controller/logs/screen-c-api.txt"')
            > 0
        )
    vol_lines = (CORPUS / C_VOL).read_text().splitlines()
    assert 0 < se.count(f'build_uuid:"{legacy["uuid"]}" AND filename:"{VOL_AS}"') <= len(vol_lines)
    api_lines = (CORPUS / C_API).read_text().splitlines()
    assert 0 < se.count(f'build_uuid:"{legacy["uuid"]}" AND filename:"{API_AS}"') <= len(api_lines)
    # the failed build was classified with the signature made from its real traceback line
    assert r.classified == {legacy["uuid"]: ["1700001"]}
    assert store.catalog.group("c" * 32)[1] is True  # NODE_FAILURE: recorded, nothing fetched
    assert zuul.log_requests("c" * 32) == []
    st = p.status()
    assert (
        st["builds_ingested"] == 2
        and st["polls"] == 1
        and st["errors"] == 0
        and st["lag_s"] >= 29 * 60
    )
    # a second poll, and a new poller on the same data dir, take nothing again
    before = len(zuul.requests)
    assert p.poll_once().new == 0
    assert ZuulPoller(cfg, store, settings=settings(cfg)).poll_once().new == 0
    assert all(q == "/api/tenant/t/builds" for q in zuul.requests[before:])
    # a new build is picked up alone
    add_build(zuul, "v10", 4, uuid="d" * 32, minutes_ago=5)
    r = ZuulPoller(cfg, store, settings=settings(cfg), engine=engine).poll_once()
    assert r.new == 1 and r.ingested == 1 and list(r.classified) == ["d" * 32]


def test_first_poll_takes_only_the_backfill(zuul: FakeZuul, setup: tuple) -> None:
    cfg, store, _ = setup
    for i in range(5):
        add_build(zuul, "legacy", 10 + i, uuid=f"{i:x}" * 32, result="SUCCESS", minutes_ago=100 - i)
    r = ZuulPoller(cfg, store, settings=settings(cfg, backfill=2, classify=False)).poll_once()
    assert r.ingested == 2
    newest = sorted(zuul.records, key=lambda x: x["end_time"])[-2:]
    fetched = {q.split("/")[2] for q in zuul.requests if q.startswith("/logs/")}
    assert fetched == {k["uuid"] for k in newest}


def test_late_finishing_build_with_older_id_is_not_missed(zuul: FakeZuul, setup: tuple) -> None:
    """Zuul numbers builds when they start: one that started earlier (lower id) can
    finish after a poll already saw higher ids; an id watermark would skip it."""
    cfg, store, _ = setup
    add_build(zuul, "legacy", 25, uuid="e" * 32, result="SUCCESS", minutes_ago=50)
    p = ZuulPoller(cfg, store, settings=settings(cfg, classify=False))
    assert p.poll_once().ingested == 1
    add_build(
        zuul, "legacy", 21, uuid="1" * 32, result="SUCCESS", minutes_ago=20
    )  # started first, ended later
    for i in range(4):  # newer builds push it to a later page
        add_build(
            zuul, "legacy", 40 + i, uuid=f"{i + 2:x}" * 32, result="SUCCESS", minutes_ago=10 - i
        )
    r = p.poll_once()
    assert (r.new, r.ingested) == (5, 5)
    assert (
        zuul.log_requests("1" * 32) and len(zuul.log_requests("e" * 32)) == len(WANTED) + 1
    )  # e only once


def test_serve_hook_polls_through_the_ingest_service_and_notifies(
    zuul: FakeZuul, setup: tuple
) -> None:
    """``appliance serve``'s startup hook: the poller thread ingests through the one
    writer, classifies with the process's engine and posts to the configured webhook."""
    from appliance.sources.zuul import start_from_services
    from web.services import Services

    cfg, store, _ = setup
    store.close()
    rec = add_build(zuul, "v10", 1, uuid="9" * 32)
    extra = {"zuul_notify": True, "notify_webhook_url": zuul.url + "/hook", "zuul_poll_interval_s": 0.2,
             "zuul_rate_per_s": 500.0}  # fmt: skip
    services = Services.open(replace(cfg, extra=extra))
    p = start_from_services(services)
    assert p is not None and services.extras["zuul"] is p
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and p.status()["notified"] < 1:
            time.sleep(0.1)
    finally:
        services.close()  # stops the poller, the engine's watcher, then the writer
    st = p.status()
    assert st["notified"] == 1 and st["classified"] == 1 and not st["running"]
    (hook,) = zuul.posted
    assert hook["path"] == "/hook" and hook["body"]["bugs"] == ["1700001"]
    assert hook["body"]["build_uuid"] == rec["uuid"]
    assert services.store.catalog.group(rec["uuid"])[1] is True
    assert "recheck" in services.extras and not services.extras["recheck"].signatures.watching


def test_no_zuul_configured_no_poller(tmp_path: Path) -> None:
    from appliance.sources.zuul import start_from_services
    from web.services import Services

    services = Services.open(config.load(env={}, data_dir=tmp_path / "data"))
    assert start_from_services(services) is None and "zuul" not in services.extras
    services.close()


def test_unreachable_logs_are_retried_then_given_up(zuul: FakeZuul, setup: tuple) -> None:
    cfg, store, _ = setup
    rec = add_build(zuul, "legacy", 1, uuid="8" * 32)
    manifest = f"/logs/{rec['uuid']}/zuul-manifest.json"
    zuul.flaky[manifest] = 10_000
    p = ZuulPoller(cfg, store, settings=settings(cfg, retries=1, classify=False))
    for _ in range(2):  # tried by this poll and retried by the next, then given up
        r = p.poll_once()
        assert (r.new, r.ingested) == (1, 0) and r.errors
    assert p.poll_once().new == 0
    assert p.status()["errors"] >= 2 and "gave up" in p.status()["last_error"]


def test_zuul_poll_command_once(
    zuul: FakeZuul, setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    from contextlib import redirect_stdout

    from appliance import cli

    cfg, store, sigdir = setup
    store.close()
    add_build(zuul, "legacy", 1, uuid="7" * 32)
    for k, v in {
        "ZUUL_URL": zuul.url,
        "ZUUL_TENANT": "t",
        "SIGNATURES_DIR": str(sigdir),
        "ZUUL_RATE_PER_S": "500",
    }.items():
        monkeypatch.setenv(f"APPLIANCE_{k}", v)
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["--data", str(cfg.data_dir), "recheck", "zuul-poll", "--once"])
    assert code == 0, out.getvalue()
    assert "1 new, 1 ingested" in out.getvalue() and f"{'7' * 32}: 1700001" in out.getvalue()
    with redirect_stdout(io.StringIO()) as again:
        assert cli.main(["--data", str(cfg.data_dir), "recheck", "zuul-poll", "--once"]) == 0
    assert "0 new" in again.getvalue()
