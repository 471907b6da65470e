"""kill -9 during ingest, then the same command again: exactly one clean ingest's events."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.search import Searcher
from index.store import Store

from .conftest import big_oslo_log, write_build

FILES = ["screen-c-api.txt.gz", "devstacklog.txt.gz", "syslog.txt.gz", "devstack@c-vol.service.log.txt"]


def _run(data: Path, src: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--data", str(data), "ingest", "--quiet", str(src)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip


def _state(data: Path) -> tuple[int, dict[int, int], int]:
    store = Store(data)
    try:
        se = Searcher(store)
        per = se.per_source("*")
        keys = {s.key: per.get(s.id, 0) for s in store.catalog.sources()}
        return se.count("*"), dict(sorted(keys.items())), len(store.catalog.pending())
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_at_random_moments_then_rerun_equals_clean_ingest(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "src"
    for i in range(4):
        write_build(src, {f"logs/{f}": corpus / f for f in FILES}, build_uuid=f"{i:032x}")
    expected = _kill_at_random_then_rerun(tmp_path, src, seed=7)
    assert expected[0] > 100_000


@pytest.mark.slow
def test_kill_9_during_big_files_then_rerun_equals_clean_ingest(tmp_path: Path) -> None:
    """Big files take their own path (decoded from their archived frames, documents
    spooled to <data>/tmp): killed there, nothing half-done stays behind either."""
    from appliance import docspool

    content, events = big_oslo_log(150_000)
    assert len(content) >= docspool.SPOOL_FROM
    src = tmp_path / "src"
    for i in range(2):
        write_build(src, {"logs/screen-n-cpu.txt": content, "logs/screen-n-api.txt": content[: len(content) // 2]},
                    build_uuid=f"{i:032x}")  # fmt: skip
    expected = _kill_at_random_then_rerun(tmp_path, src, seed=11)
    assert expected[0] > 2 * events
    data = tmp_path / "crashed"
    assert list((data / "tmp").glob("*")) == [], "spooled documents left behind"
    assert [p for p in (data / "archive").rglob(".*") if p.is_file()] == [], "partial archive blobs left behind"


def _kill_at_random_then_rerun(tmp_path: Path, src: Path, seed: int) -> tuple[int, dict[int, int], int]:
    """Ingest ``src`` cleanly; then kill -9 four ingests of it at random moments and run it
    once more to the end: the same events, per source, as the clean one. Returns that state."""
    env = {**os.environ, "APPLIANCE_COMMIT_EVERY_MB": "3", "APPLIANCE_WORKERS": "2"}
    clean = tmp_path / "clean"
    t0 = time.monotonic()
    p = _run(clean, src, env)
    assert p.wait(300) == 0, p.stderr.read() if p.stderr else ""
    took = time.monotonic() - t0  # kill moments are fractions of it: the test holds on any machine
    expected = _state(clean)
    assert expected[2] == 0

    rng = random.Random(seed)
    data = tmp_path / "crashed"
    kills = 0
    for _attempt in range(4):
        p = _run(data, src, env)
        time.sleep(took * rng.uniform(0.15, 0.85))
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.wait(60)
    p = _run(data, src, env)
    assert p.wait(300) == 0, p.stderr.read() if p.stderr else ""
    assert kills >= 1, "the ingest finished before any kill: make the corpus bigger"
    assert _state(data) == expected
    return expected


_SLEEPER = """
import time
from appliance.procs import die_with_parent, forkserver
if __name__ == "__main__":
    pool = forkserver().Pool(1, initializer=die_with_parent)
    pool.apply_async(time.sleep, (120,))  # a worker busy for two minutes
    time.sleep(0.5)
    print(pool._pool[0].pid, flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_busy_worker_dies_with_its_killed_parent(tmp_path: Path) -> None:
    """kill -9 of the appliance (the OOM killer) leaves no fork server, no busy worker."""
    script = tmp_path / "sleeper.py"
    script.write_text(_SLEEPER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None
    worker = int(p.stdout.readline())
    assert _alive(worker)
    p.kill()
    p.wait(10)
    deadline = time.monotonic() + 20  # far below the worker's two minutes
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived its parent"
