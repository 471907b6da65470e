"""The container, without a container engine (none runs on the build machine).

What can be checked here is checked the way the image does it: the Containerfile is
parsed and linted; the package is installed into a *fresh* venv from exactly the files
the Containerfile copies, with ``pip install <dir>`` as its build stage does; then its
ENTRYPOINT runs with its ENV (data dir, host and port pointed at a temp dir and a free
loopback port), ``/healthz``, ``/readyz``, ``/status`` and ``/metrics`` answer, the
HEALTHCHECK command itself passes, pending writes are committed on SIGTERM and the
process exits 0. Not verified: the base image, the engine's build, user namespaces.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from loadtests import server as srvmod

from .conftest import write_build

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "Containerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|cargo|rustc|rustup|python3?-dev|libc6?-dev)\b")
TOKEN = "container-test-token"


# -- parsing the Containerfile ---------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]

    def last(self, op: str) -> str | None:
        found = self.all(op)
        return found[-1] if found else None


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARGs, stages) of a Containerfile: comments dropped, continuations joined."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, "the Containerfile ends inside a continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
        elif op == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            assert stages, f"{op} before FROM"
            stages[-1].instructions.append((op, rest))
    return args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for arg in stage.all("ENV"):
        for tok in shlex.split(arg):
            k, _, v = tok.partition("=")
            env[k] = v
    return env


def exec_form(arg: str) -> list[str]:
    value = json.loads(arg)
    assert isinstance(value, list) and all(isinstance(x, str) for x in value), arg
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(CONTAINERFILE.read_text())[1]


# -- lint ----------------------------------------------------------------------------------------


def test_containerfile_is_multi_stage_on_a_slim_python_311(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for st in stages:
        assert re.search(r"python:3\.11[.\w-]*slim", st.base), st.base
    build, final = stages[0], stages[-1]
    assert build.name, "the build stage is named (COPY --from uses it)"
    assert any(re.search(r"pip install [^&]*\s\"?\.(\[[a-z,]+\])?\"?(\s|$)", r) for r in build.all("RUN")), \
        "build stage runs `pip install .` (extras allowed)"
    copies = final.all("COPY")
    assert copies and all(c.startswith(f"--from={build.name} ") for c in copies), "the final stage copies the venv only"


def test_final_stage_runs_as_a_user_with_a_volume_port_healthcheck_and_no_build_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    user = final.last("USER")
    assert user and user.split(":")[0] not in ("root", "0"), user
    assert "/data" in (final.last("VOLUME") or "")
    assert (final.last("EXPOSE") or "").split() == ["8080"]
    assert final.last("STOPSIGNAL") == "SIGTERM"
    hc = final.last("HEALTHCHECK") or ""
    assert "/healthz" in hc and "CMD" in hc and "curl" not in hc and "wget" not in hc
    assert exec_form(final.last("ENTRYPOINT") or "null")[:2] == ["appliance", "serve"]
    env = env_of(final)
    assert env["APPLIANCE_DATA_DIR"] == "/data" and env["APPLIANCE_PORT"] == "8080"
    assert env["APPLIANCE_HOST"] == "0.0.0.0" and env["APPLIANCE_CONFIG"].startswith("/etc/appliance/")
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tools in the final stage: {run}"
        assert "apt-get install" not in run and "pip install" not in run, run
    # USER comes after everything that needs root in the final stage
    ops = [op for op, _ in final.instructions]
    assert all(op != "RUN" for op in ops[ops.index("USER"):]), "RUN after USER needs root?"


def test_build_context_sources_exist_and_ignore_file_keeps_junk_out(stages: list[Stage]) -> None:
    for arg in stages[0].all("COPY"):
        *srcs, _dest = arg.split()
        for s in srcs:
            assert (REPO / s).exists(), f"COPY source {s} missing"
    ignored = (REPO / ".containerignore").read_text().split()
    for junk in (".git", ".venv", "tests", "appliance-data", "test-artifacts"):
        assert junk in ignored, junk


def test_json_log_formatter_prints_one_object_per_line() -> None:
    import logging

    from appliance.logging_setup import JsonFormatter, log_config

    fmt = JsonFormatter()
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = logging.LogRecord("appliance.web", logging.ERROR, __file__, 1, "failed on %s", ("/x",), sys.exc_info())
    rec.request_id = "r-1"
    line = fmt.format(rec)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["level"] == "ERROR" and obj["msg"] == "failed on /x" and obj["request_id"] == "r-1"
    assert obj["exc_type"] == "ValueError" and "boom" in obj["exc"]
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/healthz", "1.1", 200), None)  # fmt: skip
    obj = json.loads(fmt.format(access))
    assert obj["status"] == 200 and obj["path"] == "/healthz" and obj["method"] == "GET"
    assert log_config("json")["formatters"]["main"]["()"].endswith("JsonFormatter")
    with pytest.raises(ValueError):
        log_config("xml")


# -- a fresh install, started as the image starts it --------------------------------------------


def _extras(stages: list[Stage]) -> str:
    """The ``[extras]`` the build stage installs with the package, as it writes them."""
    for r in stages[0].all("RUN"):
        m = re.search(r"pip install [^&]*\s\"?\.(\[[a-z,]+\])?", r)
        if m:
            return m[1] or ""
    return ""


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, stages: list[Stage]) -> Path:
    """A new venv with the package installed from the Containerfile's build context."""
    base = tmp_path_factory.mktemp("image")
    src = base / "src"
    src.mkdir()
    for arg in stages[0].all("COPY"):
        *srcs, _dest = arg.split()
        for s in srcs:
            p = REPO / s
            if p.is_dir():
                shutil.copytree(p, src / s, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            else:
                shutil.copy2(p, src / s)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", f"{src}{_extras(stages)}"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    if "opensearch" in _extras(stages):  # the image can front a cluster
        subprocess.run([str(venv / "bin" / "python"), "-c", "import opensearchpy"], check=True, timeout=60)
    if any("pip uninstall -y -q pip" in r for r in stages[0].all("RUN")):  # as the build stage does
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", "pip"], check=True, timeout=120)
        assert not (venv / "bin" / "pip").exists()
    return venv


def _image_env(final: Stage, venv: Path, data: Path, port: int, config: Path) -> dict[str, str]:
    env = env_of(final)
    env.update(
        PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        APPLIANCE_DATA_DIR=str(data),  # the /data volume
        APPLIANCE_HOST="127.0.0.1",  # tests listen on loopback only
        APPLIANCE_PORT=str(port),
        APPLIANCE_CONFIG=str(config),  # the mounted /etc/appliance/appliance.toml
        HOME=str(data),
    )
    env.pop("VIRTUAL_ENV", None)
    return {k: v for k, v in env.items() if "$" not in v}


def _counts(venv: Path, data: Path) -> dict[str, object]:
    """Events per source key, read by the fresh install's own code (a separate process)."""
    code = (
        "import sys, orjson\n"
        "from index.store import Store\nfrom index.search import Searcher\n"
        "st = Store(sys.argv[1]); se = Searcher(st); per = se.per_source('*')\n"
        "print(orjson.dumps({'total': se.count('*'), 'pending': len(st.catalog.pending()),"
        " 'keys': {s.key: per.get(s.id, 0) for s in st.catalog.sources()}}).decode())\n"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(data)], capture_output=True, text=True,
                         timeout=120, cwd=data)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _es_bulk_available(client: httpx.Client) -> bool:
    r = client.post("/_bulk", content=b"", headers={"Content-Type": "application/x-ndjson",
                                                    "Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    return r.status_code not in (404, 405)


def _bulk_body(n: int, day: str = "2024-02-13") -> bytes:
    lines = []
    for i in range(n):
        lines.append(orjson.dumps({"index": {"_index": f"logstash-{day.replace('-', '.')}"}}))
        lines.append(orjson.dumps({
            "@timestamp": f"{day}T10:00:{i % 60:02d}.000Z", "message": f"containertest bulk event {i}",
            "build_uuid": "e" * 32, "build_name": "container-job", "filename": "job-output.txt",
        }))  # fmt: skip
    return b"\n".join(lines) + b"\n"


@pytest.mark.slow
def test_fresh_install_serves_and_commits_on_sigterm(fresh_venv: Path, stages: list[Stage], tmp_path: Path) -> None:
    final = stages[-1]
    data, spool, staging = tmp_path / "data", tmp_path / "spool", tmp_path / "staging"
    data.mkdir()
    config = tmp_path / "appliance.toml"
    config.write_text(f'token = "{TOKEN}"\nspool_dir = "{spool}"\nmin_free_fraction = 0.0\nworkers = 1\n')
    first = write_build(staging, {"job-output.txt": b"2024-02-13 10:00:00.000 | containertest spooled one\n" * 40},
                        build_uuid="c1" * 16, start="2024-02-13T09:59:00")  # fmt: skip
    second = write_build(staging, {"job-output.txt": b"2024-02-13 11:00:00.000 | containertest spooled two\n" * 30},
                         build_uuid="c2" * 16, start="2024-02-13T10:59:00")  # fmt: skip
    port = srvmod.free_port()
    env = _image_env(final, fresh_venv, data, port, config)
    cmd = exec_form(final.last("ENTRYPOINT") or "[]") + exec_form(final.last("CMD") or "[]")
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "VIRTUAL_ENV"))}
    srv = srvmod.start(None, cmd=cmd, env={**clean_env, **env}, port=port, cwd=data,
                       log=tmp_path / "serve.log", inherit_env=False)
    try:
        with srv.client() as c:
            assert c.get("/healthz").status_code == 200
            ready = c.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert c.get("/status").json()["live_sources"][0]["source"] == "spool"
            assert b"appliance_partitions" in c.get("/metrics").content
            hc = subprocess.run(exec_form(final.last("HEALTHCHECK").split("CMD", 1)[1].strip()),  # type: ignore[union-attr]
                                env={**clean_env, **env}, timeout=30)  # fmt: skip
            assert hc.returncode == 0, "the image's HEALTHCHECK command fails"

            first.rename(spool / first.name)
            srvmod.wait_for(lambda: (spool / "done" / first.name).exists(), 60, what="first spool build done")
            bulk = _es_bulk_available(c)
            if bulk:
                r = c.post("/_bulk", content=_bulk_body(25),
                           headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKEN}"})  # fmt: skip
                assert r.status_code == 200 and r.json().get("errors") is False, r.text[:500]
            old = time.time() - 60  # settled at once: the watcher takes it right away
            for f in [second, *second.rglob("*")]:
                os.utime(f, (old, old))
            second.rename(spool / second.name)
            time.sleep(0.5)  # SIGTERM while it is taken (or just before): either way nothing is lost
        t0 = time.monotonic()
        assert srv.stop(90) == 0, srv.output()[-3000:]
        assert time.monotonic() - t0 < 60
    finally:
        if srv.alive():
            srv.kill()
    log = srv.output()
    assert "Traceback" not in log, log[-3000:]
    if "logging_setup" in inspect.getsource(__import__("web.cli", fromlist=["x"])):
        for line in filter(None, log.splitlines()):
            json.loads(line)  # structured logs once `serve` uses appliance.logging_setup

    state = _counts(fresh_venv, data)
    assert state["pending"] == 0, "SIGTERM left an unacknowledged source"
    keys = state["keys"]
    assert isinstance(keys, dict)
    assert keys[f"{first.name}/job-output.txt"] == 40
    two = f"{second.name}/job-output.txt"
    assert keys.get(two, 0) in (0, 30)
    if keys.get(two, 0) == 0:  # not taken before the shutdown: still in the spool, not lost
        assert (spool / second.name / "build.json").exists()
    if bulk:
        assert state["total"] == 40 + keys.get(two, 0) + 25

    # Restart on the same volume: whatever was left is ingested, nothing twice.
    srv = srvmod.start(None, cmd=cmd, env={**clean_env, **env}, port=port, cwd=data,
                       log=tmp_path / "serve2.log", inherit_env=False)
    try:
        srvmod.wait_for(lambda: (spool / "done" / second.name).exists(), 60, what="second spool build done")
    finally:
        assert srv.stop(90) == 0
    keys = _counts(fresh_venv, data)["keys"]
    assert isinstance(keys, dict)
    assert keys[f"{first.name}/job-output.txt"] == 40 and keys[two] == 30
