"""Digging for new failures on a real index: line templates, the diff of a failed build
against the passing builds of its job, the proposed signature and what it matches,
saving it (token, loopback, bug numbers), the pages, the CLI and the template trends.

Builds are written here in the real formats (oslo.log service logs with tracebacks,
Zuul console) with fresh ids, pids and timestamps in every build, so only templates can
tell which lines are new.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from appliance import cli, config, ingest
from appliance.recheck import templates as T
from appliance.recheck.digger import Digger
from appliance.recheck.engine import RecheckEngine
from appliance.recheck.propose import SaveError, save
from appliance.recheck.signatures import DEFAULT_DIR, SignatureSet
from index.schema import tokenize
from index.store import Store

from .conftest import write_build

NOW = datetime.now(UTC).replace(microsecond=0)
N_CPU = "controller/logs/screen-n-cpu.txt"
N_API = "controller/logs/screen-n-api.txt"
CONSOLE = "job-output.txt"
LIBVIRT = "Instance failed to spawn: libvirt.libvirtError: internal error: qemu unexpectedly closed the monitor"
TIMEOUT = "MessagingTimeout: Timed out waiting for a reply to message ID"
SCRIPT = "<script>alert(1)</script> <img src=x onerror=alert(2)> sent by a test"
GIT = "fatal: Could not read from remote repository."


def _oslo(t: datetime, pid: int, level: str, module: str, msg: str) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {pid} {level} {module} {msg}"


def _build_logs(rng: random.Random, start: datetime, extra_cpu: list[str], extra_api: list[str],
                extra_console: list[str]) -> dict[str, bytes]:  # fmt: skip
    """One build's logs: the same lines every build has (with its own ids), plus extras."""
    pid, t = rng.randint(1000, 30000), start + timedelta(seconds=30)
    cpu, api = [], []
    for i in range(30):
        t += timedelta(milliseconds=rng.randint(100, 900))
        inst, req = uuid.UUID(int=rng.getrandbits(128)), uuid.UUID(int=rng.getrandbits(128))
        cpu.append(_oslo(t, pid, "INFO", "nova.compute.manager", f"[req-{req}] [instance: {inst}] Took {rng.uniform(1, 9):.2f} seconds to spawn the instance on the hypervisor."))  # fmt: skip
        cpu.append(_oslo(t, pid, "DEBUG", "oslo_concurrency.lockutils", f'Lock "compute_resources" acquired by "nova.compute.resource_tracker.ResourceTracker.instance_claim" :: waited 0.00{i}s'))  # fmt: skip
        api.append(_oslo(t, pid + 1, "INFO", "nova.api.openstack.requestlog", f"[req-{req}] 10.0.{i}.{rng.randint(2, 250)} \"GET /compute/v2.1/servers/{inst}\" status: 200 len: {rng.randint(900, 2000)} microversion: 2.1 time: 0.{rng.randint(10, 99)}"))  # fmt: skip
    cpu.extend(
        x.replace("{t}", f"{t:%Y-%m-%d %H:%M:%S}.500").replace("{pid}", str(pid)) for x in extra_cpu
    )
    api.extend(
        x.replace("{t}", f"{t:%Y-%m-%d %H:%M:%S}.600").replace("{pid}", str(pid + 1))
        for x in extra_api
    )
    console = [
        f"{start:%Y-%m-%d %H:%M:%S}.{i:06d} | controller | TASK [devstack : run stack.sh step {i}]"
        for i in range(10)
    ]
    console += [f"{t:%Y-%m-%d %H:%M:%S}.000000 | controller | {x}" for x in extra_console]
    return {N_CPU: ("\n".join(cpu) + "\n").encode(), N_API: ("\n".join(api) + "\n").encode(),
            CONSOLE: ("\n".join(console) + "\n").encode()}  # fmt: skip


_TRACE = [
    "{t} {pid} ERROR nova.compute.manager [instance: 0c8e7f0e-5a1c-4f1e-9d1e-2b7a3c4d5e6f] "
    + LIBVIRT,
    "{t} {pid} ERROR nova.compute.manager Traceback (most recent call last):",
    '{t} {pid} ERROR nova.compute.manager   File "/opt/stack/nova/nova/virt/libvirt/guest.py", line 165, in launch',
    "{t} {pid} ERROR nova.compute.manager     return self._domain.createWithFlags(flags)",
    "{t} {pid} ERROR nova.compute.manager libvirt.libvirtError: internal error: qemu unexpectedly closed the monitor",
]
_TIMEOUT = ["{t} {pid} ERROR oslo_messaging.rpc.server [req-5b8f1c2e-2d3a-4b5c-8d9e-0f1a2b3c4d5e] " + TIMEOUT
            + " 4e0f6fb5a4c74f9c8b3a2e1d0c9b8a7f"]  # fmt: skip
_SCRIPT = ["{t} {pid} WARNING nova.api.wsgi [req-7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f] " + SCRIPT]


@dataclasses.dataclass
class World:
    cfg: config.Config
    sigdir: Path
    ids: dict[str, str]


BUILDS = {  # name: (job, result, hours ago, extra cpu, extra api, extra console)
    "pass1": ("tempest-full", "SUCCESS", 60, [], [], []),
    "pass2": ("tempest-full", "SUCCESS", 40, [], [], []),
    "pass3": ("tempest-full", "SUCCESS", 30, [], [], []),
    "fail1": ("tempest-full", "FAILURE", 10, _TRACE, _TIMEOUT + _SCRIPT, []),
    "fail2": ("tempest-full", "FAILURE", 5, _TRACE, [], []),
    "fail3": ("tempest-full", "FAILURE", 3, [], [], [GIT]),
    "other": ("nova-tox", "SUCCESS", 50, [], _TIMEOUT, []),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("dig")
    rng = random.Random(9)
    ids: dict[str, str] = {}
    for name, (job, result, hours, cpu, api, console) in BUILDS.items():
        start = NOW - timedelta(hours=hours)
        ids[name] = f"{rng.getrandbits(128):032x}"
        write_build(base / "logs", _build_logs(rng, start, cpu, api, console), result=result, job=job,
                    start=f"{start:%Y-%m-%dT%H:%M:%S}", build_uuid=ids[name])  # fmt: skip
    sigdir = base / "queries"
    sigdir.mkdir()
    cfg = config.load(
        env={}, data_dir=base / "data", min_free_fraction=0.0, workers=1, signatures_dir=sigdir
    )
    cfg = dataclasses.replace(cfg, extra={"templates_warm": False})
    store = Store(cfg.data_dir)
    try:
        summary = ingest.ingest(store, cfg, ingest.plan([base / "logs"]), progress=False)
        assert not summary.errors, summary.as_dict()
    finally:
        store.close()
    return World(cfg, sigdir, ids)


@pytest.fixture(scope="module")
def dig(world: World) -> Any:
    store = Store(world.cfg.data_dir)
    d = Digger(RecheckEngine(store, signatures=SignatureSet(world.sigdir)))
    yield d
    d.engine.stop()
    store.close()


# -- templates ---------------------------------------------------------------------------------


def test_templates_mask_what_varies_and_keep_what_does_not() -> None:
    a = "2024-02-13 10:00:03.500 1234 ERROR nova.compute.manager [req-1b4e28ba-2fa1-11d2-883f-0016d3cca427] Lost 10.0.0.7:5672 after 3.5s at 0x7f3b2c1d5e10 in /opt/stack/data/7/disk"
    b = "2024-03-01 23:59:59.001 77 ERROR nova.compute.manager [req-6fa459ea-ee8a-3ca4-894e-db77e160355e] Lost 192.168.1.20:15672 after 12s at 0x1 in /opt/stack/data/99/disk"
    assert T.key(a) == T.key(b)
    assert (
        T.key(a) == "<*> <*> <*> ERROR nova.compute.manager [<*>] Lost <*> after <*> at <*> in <*>"
    )
    assert (
        T.normalize(a)
        == "<TS> <TS> <NUM> ERROR nova.compute.manager [<REQ>] Lost <IP> after <NUM> at <HEX> in <PATH>"
    )
    assert (
        T.normalize("instance 0c8e7f0e-5a1c-4f1e-9d1e-2b7a3c4d5e6f at https://x.example/a1")
        == "instance <UUID> at <URL>"
    )
    assert (
        T.key('File "/opt/stack/nova/nova/virt/guest.py", in launch')
        == 'File "/opt/stack/nova/nova/virt/guest.py", in launch'
    )
    assert T.key("Timed out waiting") != T.key("Timed out writing")
    assert T.keys(["a 1", "b\x002", "", "c 3"]) == ["a <*>", "b <*>", "", "c <*>"]
    assert (
        T.severity("ERROR", "x") == 3
        and T.severity(None, "Traceback (most recent call last):") == 3
    )
    assert T.severity(None, "fatal: Could not read") == 3 and T.severity("WARNING", "x") == 2
    assert T.severity(None, "could not connect") == 2 and T.severity("DEBUG", "could not") == 0
    assert (
        T.severity(None, "all good") == 1 and T.severity(None, "RUN END RESULT_TIMED_OUT: [x]") == 3
    )
    assert T.phrases(_TRACE[0])[0] == LIBVIRT
    assert T.phrases(
        'msg: "Failed to connect to the host via ssh: ssh: connect to host 192.0.2.11 port 22"'
    ) == ["Failed to connect to the host via ssh: ssh: connect to host"]
    assert T.quote('say "hi" \\ there') == 'message:"say \\"hi\\" \\\\ there"'


_MASKED = re.compile(r"<(?:URL|REQ|UUID|IP|TS|PATH|NUM|HEX|ID)>")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)),
        max_size=120,
    )
)
def test_template_properties(text: str) -> None:
    k = T.key(text)
    assert not any(c in "0123456789" for c in k)  # every digit is in a masked token
    assert T.key(k) == k  # idempotent
    assert _MASKED.sub(T.MASK, T.normalize(text)) == k  # the same tokens, named
    assert T.keys([text, text]) == [k, k]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_phrases_are_runs_of_the_line(text: str) -> None:
    toks = tokenize(text)
    joined = " " + " ".join(toks) + " "
    for p in T.phrases(text):
        assert '"' not in p and "\\" not in p and len(tokenize(p)) >= T.MIN_PHRASE_TOKENS
        assert " " + " ".join(tokenize(p)) + " " in joined  # a phrase query on it matches the line


# -- the diff ------------------------------------------------------------------------------------


def test_diff_finds_the_new_lines_and_not_the_common_ones(dig: Digger, world: World) -> None:
    d = dig.diff(world.ids["fail1"])
    assert d.found and d.failed and d.job == "tempest-full"
    assert set(d.compared) == {world.ids[n] for n in ("pass1", "pass2", "pass3")}
    first = d.units[0]
    assert first.severity_name == "error" and first.filename == N_CPU
    trace = next(nl for nl in first.lines if nl.nlines > 1)  # the traceback is one record, one unit
    assert "Traceback (most recent call last)" in trace.message and LIBVIRT in first.text
    texts = "\n".join(nl.message for u in d.units for nl in u.lines)
    assert TIMEOUT in texts and SCRIPT in texts
    for common in (
        "seconds to spawn the instance",
        "compute_resources",
        "status: 200",
        "run stack.sh",
    ):
        assert common not in texts
    assert first.rarity is not None and first.rarity.failed == 2 and first.rarity.passing == 0
    assert d.as_dict()["units"][0]["severity_name"] == "error"
    assert dig.diff("0" * 32).found is False


def test_a_passing_build_is_compared_with_the_others_and_has_nothing_new(
    dig: Digger, world: World
) -> None:
    d = dig.diff(world.ids["pass2"])
    assert d.new == 0 and not d.units and any("did not fail" in w for w in d.warnings)


def test_proposal_matches_the_failures_and_no_passing_build(dig: Digger, world: World) -> None:
    d, p = dig.propose(world.ids["fail1"])
    ev = p.evaluation
    assert p.query and ev is not None and ev.clean, p.as_dict()
    assert ev.hit_uuids == {world.ids["fail1"], world.ids["fail2"]} and ev.passing == 0
    assert (
        'tags:"screen-n-cpu.txt"' in p.query and TIMEOUT not in p.query
    )  # the timeout is in a passing build
    timeout = [c for c in p.candidates if len(c.phrases) == 1 and "Timed out waiting" in c.query]
    assert timeout and all(c.evaluation.passing == 1 for c in timeout)
    assert yaml.safe_load(p.yaml)["query"] == p.query and "allow-nonvoting" not in p.yaml
    _, p3 = dig.propose(world.ids["fail3"])
    assert "Could not read from remote repository" in (p3.query or "")
    assert p3.evaluation is not None and p3.evaluation.hit_uuids == {world.ids["fail3"]}
    _, mine = dig.propose(world.ids["fail1"], query='message:"Took" AND tags:"screen-n-cpu.txt"')
    assert mine.custom and mine.evaluation is not None and mine.evaluation.passing == 4
    assert any("passing" in w for w in mine.warnings)
    _, bad = dig.propose(world.ids["fail1"], query="message:(")
    assert bad.evaluation is not None and bad.evaluation.error


def test_save_writes_a_signature_the_engine_loads(dig: Digger, world: World) -> None:
    d, p = dig.propose(world.ids["fail2"])
    saved = dig.save("2061375", p.query, build=world.ids["fail2"])
    assert saved.loaded and saved.matches_build and saved.file == "2061375.yaml"
    text = (world.sigdir / "2061375.yaml").read_text()
    assert yaml.safe_load(text)["query"] == p.query and text.startswith(
        "# proposed by the appliance"
    )
    assert "2061375" in dig.engine.classify(world.ids["fail1"]).bugs
    assert "2061375" not in dig.engine.classify(world.ids["pass1"]).bugs
    with pytest.raises(SaveError) as e:
        dig.save("2061375", p.query)
    assert e.value.status == 409
    for bad in ("../2061376", "12a", "", " ", "1" * 13, "/etc/passwd", "1.yaml", "-1"):
        with pytest.raises(SaveError) as e:
            dig.save(bad, p.query)
        assert e.value.status == 400
    with pytest.raises(SaveError) as e:
        dig.save("2061377", "message:(")
    assert e.value.status == 400 and not (world.sigdir / "2061377.yaml").exists()
    with pytest.raises(SaveError) as e:
        save(DEFAULT_DIR, "2061378", "query: x\n")
    assert e.value.status == 409 and not (DEFAULT_DIR / "2061378.yaml").exists()
    assert sorted(p.name for p in world.sigdir.iterdir()) == ["2061375.yaml"]  # no temporary left
    (world.sigdir / "2061375.yaml").unlink()
    dig.engine.signatures.reload(force=True)


def test_template_trends_show_todays_new_errors(dig: Digger, world: World) -> None:
    tr = dig.trends(days=7, compute_missing=True)
    assert tr.analysed == tr.builds == len(BUILDS)
    libvirt = next(t for t in tr.templates if LIBVIRT in t.message)
    assert (
        libvirt.new
        and libvirt.builds_today == libvirt.failed_today == 2
        and "[instance: <UUID>]" in libvirt.template
    )
    assert libvirt.series["FAILURE"][-1] == 2 and sum(libvirt.series["SUCCESS"]) == 0
    assert sum(libvirt.hourly["FAILURE"]) == 2 and len(libvirt.hourly["FAILURE"]) == len(tr.hour_starts) == 24
    assert all(t.new for t in tr.templates)
    everything = dig.trends(days=7, only_new=False)
    assert {t.id for t in tr.templates} <= {t.id for t in everything.templates}
    assert not any(
        TIMEOUT in t.message and t.new for t in everything.templates
    )  # seen 50 h ago in "other"


# -- the pages -------------------------------------------------------------------------------


def _client(world: World, token: str = "", host: str = "testclient") -> TestClient:
    from web.app import create_app

    cfg = dataclasses.replace(world.cfg, token=token)
    return TestClient(create_app(cfg), client=(host, 50000))


def test_pages_render_and_escape_log_text(world: World) -> None:
    with _client(world) as c:
        r = c.get(f"/recheck/builds/{world.ids['fail1']}/diff")
        assert r.status_code == 200 and "Proposed signature" in r.text
        assert (
            "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        )
        assert "<img src=x" not in r.text and "libvirtError" in r.text
        j = c.get(f"/recheck/builds/{world.ids['fail1'][:7]}/diff.json").json()
        assert (
            j["proposal"]["evaluation"]["passing"] == 0
            and j["diff"]["units"][0]["severity_name"] == "error"
        )
        q = c.get(
            f"/recheck/builds/{world.ids['fail1']}/diff", params={"query": 'message:"<b>x</b>"'}
        )
        assert (
            q.status_code == 200 and "<b>x</b>" not in q.text and "&lt;b&gt;x&lt;/b&gt;" in q.text
        )
        build = c.get(f"/recheck/builds/{world.ids['fail1']}").text
        assert f'href="/recheck/builds/{world.ids["fail1"]}/diff"' in build
        t = c.get("/recheck/templates")
        assert t.status_code == 200 and '<svg class="spark"' in t.text
        assert c.get("/recheck/templates.json", params={"all": "1"}).json()["total_today"] >= 1
        for bad in (
            "/recheck/builds/nosuchbuild/diff",
            "/recheck/builds/" + "0" * 32 + "/diff.json",
        ):
            assert c.get(bad).status_code == 404
        assert (
            c.get(f"/recheck/builds/{world.ids['fail1']}/diff", params={"days": "x"}).status_code
            == 400
        )
        assert c.get("/recheck/templates", params={"days": "99"}).status_code == 400


def _form(world: World, bug: str, **more: str) -> dict[str, str]:
    return {
        "bug": bug,
        "query": f'message:"{LIBVIRT}" AND tags:"screen-n-cpu.txt"',
        "days": "10",
        **more,
    }


def test_saving_needs_the_token_or_loopback(world: World) -> None:
    url = f"/recheck/builds/{world.ids['fail1']}/signature"
    with _client(world) as c:  # no token configured, not loopback
        assert c.post(url, data=_form(world, "3000001")).status_code == 403
    with _client(world, host="127.0.0.1") as c:  # no token configured, loopback
        r = c.post(url, data=_form(world, "3000002"), headers={"Origin": "https://evil.example"})
        assert r.status_code == 403  # a form from another site
        r = c.post(url, data=_form(world, "3000002"))
        assert r.status_code == 201 and "3000002.yaml" in r.text and "It matches build" in r.text
    with _client(world, token="s3cret") as c:
        assert c.post(url, data=_form(world, "3000003")).status_code == 401
        assert c.post(url, data=_form(world, "3000003", token="wrong")).status_code == 401
        assert c.post(url, data=_form(world, "../3000003", token="s3cret")).status_code == 400
        assert (
            c.post(url, data=_form(world, "3000003", token="s3cret", query="message:(")).status_code
            == 400
        )
        assert c.post(url, data=_form(world, "3000003", token="s3cret")).status_code == 201
        assert c.post(url, data=_form(world, "3000003", token="s3cret")).status_code == 409
        api = {"bug": "3000004", "query": f'message:"{LIBVIRT}"', "build": world.ids["fail2"]}
        assert c.post("/api/recheck/signatures", json=api).status_code == 401
        r = c.post("/api/recheck/signatures", json=api, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 201 and r.json()["matches_build"] is True
        bad = c.post(
            "/api/recheck/signatures",
            json={**api, "bug": "1/../../x"},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert bad.status_code == 400
        assert (
            c.post(
                url,
                content=b"x" * 70_000,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ).status_code
            == 413
        )
    assert sorted(p.name for p in world.sigdir.iterdir()) == [
        "3000002.yaml",
        "3000003.yaml",
        "3000004.yaml",
    ]
    for p in world.sigdir.iterdir():
        p.unlink()


# -- the command line --------------------------------------------------------------------------


def _cli(world: World, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["--data", str(world.cfg.data_dir), "recheck", *argv])
    return code, out.getvalue()


def test_cli_diff_propose_save_templates(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_SIGNATURES_DIR", str(world.sigdir))
    code, out = _cli(world, "diff", world.ids["fail1"])
    assert code == 0 and "[error] controller/logs/screen-n-cpu.txt" in out and LIBVIRT in out
    code, out = _cli(world, "diff", world.ids["fail1"], "--json")
    assert code == 0 and json.loads(out)["units"][0]["filename"] == N_CPU
    code, out = _cli(world, "propose", world.ids["fail3"], "--save", "--bug", "3000005")
    assert code == 0 and "saved 3000005.yaml" in out and "matches the build" in out
    assert (
        "remote repository" in yaml.safe_load((world.sigdir / "3000005.yaml").read_text())["query"]
    )
    code, out = _cli(world, "templates", "--all")
    assert code == 0 and "error templates" in out
    (world.sigdir / "3000005.yaml").unlink()


# -- quality on the load-test corpus -------------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "os-loganalyze"


@pytest.mark.skipif(
    not (SOURCE / "console.html.gz").is_file(), reason="the real corpus (/work/shared) is not here"
)
def test_proposals_on_replayed_builds_with_injected_failures(tmp_path: Path) -> None:
    from appliance import bench_diff
    from loadtests import corpus

    end = datetime(2024, 3, 4, 12, tzinfo=UTC)
    corpus.generate(tmp_path / "corpus", lines=60_000, builds=60, days=3, seed=5, fail_rate=0.5, end=end,
                    workers=2, source=SOURCE)  # fmt: skip
    cfg = config.load(env={}, data_dir=tmp_path / "data", min_free_fraction=0.0, workers=1)
    store = Store(cfg.data_dir)
    try:
        assert not ingest.ingest(
            store, cfg, ingest.plan([tmp_path / "corpus"]), progress=False
        ).errors
    finally:
        store.close()
    r = bench_diff.run(tmp_path / "corpus", tmp_path / "data", cases=10)
    assert r["total"] == 10 and r["good"] >= 9 and r["on_target"] >= 9, r["cases"]
    assert r["cached"]["max_s"] < 2.0 and r["new_build"]["max_s"] < 2.0
