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

from .conftest import write_build

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
    env = {**os.environ, "APPLIANCE_COMMIT_EVERY_MB": "3", "APPLIANCE_WORKERS": "2"}
    clean = tmp_path / "clean"
    t0 = time.monotonic()
    p = _run(clean, src, env)
    assert p.wait(300) == 0, p.stderr.read() if p.stderr else ""
    took = time.monotonic() - t0  # kill moments are fractions of it: the test holds on any machine
    expected = _state(clean)
    assert expected[0] > 100_000 and expected[2] == 0

    rng = random.Random(7)
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
