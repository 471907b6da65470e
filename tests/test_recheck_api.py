"""The recheck JSON API and the ``appliance recheck`` commands, on the engine tests' builds."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from appliance import cli, config, ingest
from index.store import Store
from web.routes import recheck_api
from web.services import Services

from .test_recheck_engine import BY_NAME, NOW, SIGNATURES, SPECS, expected, write_spec

AT = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Config, Path]:
    root = tmp_path_factory.mktemp("recheck-api")
    sigdir = root / "signatures"
    sigdir.mkdir()
    for bug, (yml, _) in SIGNATURES.items():
        (sigdir / f"{bug}.yaml").write_text(yml)
    (sigdir / "1000009.yaml").write_text('query: message:"unclosed\n')
    dirs = [write_spec(root / "builds", s) for s in SPECS]
    cfg = replace(config.load(env={}, data_dir=root / "data", workers=2), signatures_dir=sigdir)
    store = Store(cfg.data_dir)
    assert not ingest.ingest(store, cfg, ingest.plan(dirs), progress=False).errors
    store.close()
    return cfg, sigdir


@pytest.fixture(scope="module")
def client(data: tuple[config.Config, Path]) -> TestClient:
    cfg, _ = data
    services = Services.open(cfg)
    app = Starlette(routes=recheck_api.routes)
    app.state.services = services
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    services.close()


def test_build_endpoint_classifies(client: TestClient) -> None:
    s = BY_NAME["fail_voting"]
    r = client.get(f"/api/recheck/builds/{s.uuid}")
    assert r.status_code == 200
    d = r.json()
    assert set(d["bugs"]) == expected(s) and d["indexed"] and not d["uncategorized"]
    m = next(m for m in d["matches"] if m["bug"] == "1000001")
    assert m["events"][0]["link"].startswith(f"/logs/{s.uuid}/job-output.txt#L")
    assert client.get(f"/api/recheck/builds/{s.uuid[:7]}").json()["build_uuid"] == s.uuid
    d = client.get(f"/api/recheck/builds/{BY_NAME['fail_unknown'].uuid}?wait=0.1&events=1").json()
    assert d["uncategorized"] and d["bugs"] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/recheck/builds/" + "f" * 32, 404),
        ("/api/recheck/builds/xyz", 400),
        ("/api/recheck/builds/<script>", 400),
        ("/api/recheck/builds/" + "a" * 32 + "?wait=61", 400),
        ("/api/recheck/builds/" + "a" * 32 + "?wait=soon", 400),
        ("/api/recheck/builds/" + "a" * 32 + "?events=-1", 400),
        ("/api/recheck/graph.json?days=0", 400),
        ("/api/recheck/graph?days=1e9", 400),
        ("/api/recheck/uncategorized?days=nan", 400),
        ("/api/recheck/graph?now=yesterday-ish", 400),
    ],
)
def test_bad_requests_are_json_4xx(client: TestClient, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json") and "error" in r.json()


def test_graph_endpoints(client: TestClient) -> None:
    gj = client.get(f"/api/recheck/graph.json?days=10&now={AT}").json()
    assert {"now", "last_indexed", "behind", "buglist"} <= set(gj)
    assert "1000005" not in {b["number"] for b in gj["buglist"]}
    g = client.get(f"/api/recheck/graph?now={AT}").json()
    assert {b["bug"] for b in g["bugs"]} == set(SIGNATURES) and len(g["hours"]) == 240
    assert "lag" in g and g["lag"]["last_indexed_us"] > 0


def test_uncategorized_signatures_and_lag_endpoints(client: TestClient) -> None:
    u = client.get(f"/api/recheck/uncategorized?days=10&now={AT}").json()
    listed = {b["build_uuid"] for j in u["jobs"] for b in j["builds"]}
    in_window = [s for s in SPECS if s.hours_ago < 240]
    assert listed == {s.uuid for s in in_window if s.failed and s.voting and not expected(s)}
    sig = client.get("/api/recheck/signatures").json()
    assert sig["count"] == len(SIGNATURES) and [e["bug"] for e in sig["errors"]] == ["1000009"]
    assert client.get("/api/recheck/lag").json()["last_indexed_us"] > 0


# -- the command line ---------------------------------------------------------------------------


def run(data: tuple[config.Config, Path], *argv: str) -> tuple[int, str]:
    cfg, sigdir = data
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["--data", str(cfg.data_dir), "recheck", *argv])
    return code, out.getvalue()


def test_cli_classify(data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_SIGNATURES_DIR", str(data[1]))
    s = BY_NAME["fail_test"]
    code, out = run(data, "classify", s.uuid, "--json")
    assert code == 0 and set(json.loads(out)["bugs"]) == expected(s)
    code, out = run(data, "classify", "--change", str(800000 + SPECS.index(s)), "--patchset", "2")
    assert code == 0 and s.uuid in out and "bug 1000003" in out
    code, out = run(data, "classify", BY_NAME["fail_unknown"].uuid)
    assert code == 0 and "uncategorized" in out
    assert run(data, "classify", "0" * 32)[0] == 1


def test_cli_graph_uncategorized_signatures_notify(
    data: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLIANCE_SIGNATURES_DIR", str(data[1]))
    code, out = run(data, "graph", "--now", AT, "--format", "elastic-recheck")
    assert code == 0 and {b["number"] for b in json.loads(out)["buglist"]} == set(SIGNATURES) - {
        "1000005"
    }
    code, out = run(data, "graph", "--now", AT)
    assert code == 0 and "1000001" in out
    code, out = run(data, "uncategorized", "--now", AT)
    assert (
        code == 0 and BY_NAME["fail_unknown"].uuid in out and BY_NAME["fail_voting"].uuid not in out
    )
    code, out = run(data, "signatures", "--check")
    assert code == 1
    code, out = run(
        data,
        "signatures",
        "--signatures",
        str(Path(__file__).parents[1] / "appliance/recheck/signatures"),
        "--check",
    )
    assert code == 0
    code, out = run(data, "notify", BY_NAME["fail_voting"].uuid, "--dry-run")
    assert code == 0 and "would POST" in out and "https://bugs.launchpad.net/bugs/1000001" in out
    assert "1000005" not in out  # suppress-notification
