"""The spool source with a real watcher and the real writer thread."""

from __future__ import annotations

import time
from pathlib import Path

from appliance import config
from appliance.service import IngestService
from appliance.sources.spool import SpoolSource
from index.search import Searcher
from index.store import Store

from .conftest import write_build


def _wait(cond, timeout: float = 15.0) -> bool:  # noqa: ANN001
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _spool(tmp_path: Path, settle_s: float) -> tuple[Path, Store, IngestService, SpoolSource]:
    """A spool dir, its store, the writer thread and a (not yet started) spool source."""
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    cfg = config.load(data_dir=tmp_path / "data", spool_dir=spool)
    store = Store(cfg.data_dir)
    svc = IngestService(store)
    return spool, store, svc, SpoolSource(cfg, store, svc, settle_s=settle_s)


def test_spool_ingests_complete_trees_and_sets_aside_bad_ones(tmp_path: Path) -> None:
    spool, store, svc, src = _spool(tmp_path, settle_s=0.5)
    src.start()
    try:
        # A half-copied tree (no build.json yet) waits.
        half = spool / "half"
        (half / "logs").mkdir(parents=True)
        (half / "logs" / "a.txt").write_bytes(b"2024-02-13 10:00:00.000 | waiting line\n" * 10)
        time.sleep(1.5)
        assert half.exists() and Searcher(store).count("*") == 0
        write_build(tmp_path / "staging", {"job-output.txt": b"2024-02-13 10:00:00.000 | spooled line\n" * 25},
                    build_uuid="c" * 32, start="2024-02-13T10:00:00")  # fmt: skip
        (tmp_path / "staging" / ("c" * 32)).rename(spool / ("c" * 32))
        assert _wait(lambda: (spool / "done" / ("c" * 32)).exists())
        assert Searcher(store).count('message:"spooled line" AND build_uuid:' + "c" * 32) == 25
        (spool / "broken").mkdir()
        (spool / "broken" / "build.json").write_text("{not json")
        assert _wait(lambda: (spool / "failed" / "broken" / "reason.txt").exists())
        assert "build.json" in (spool / "failed" / "broken" / "reason.txt").read_text()
        (half / "build.json").write_text('{"uuid": "' + "d" * 32 + '", "result": "SUCCESS"}')
        assert _wait(lambda: (spool / "done" / "half").exists())
        assert Searcher(store).count('message:"waiting line"') == 10
        assert src.status()["ingested"] == 2 and src.status()["failed"] == 1
    finally:
        src.stop()
        svc.stop()
    # Restart: nothing is ingested twice.
    assert Searcher(Store(tmp_path / "data")).count("*") == 35


def test_a_file_vanishing_mid_scan_is_not_ready_and_not_fatal(tmp_path: Path) -> None:
    """rsync renames its temp files away while the watcher looks: the tree is still moving."""
    spool, store, svc, src = _spool(tmp_path, settle_s=0.0)
    d = write_build(spool, {"logs/a.txt": b"x\n"}, build_uuid="e" * 32)

    class Vanishing(type(d)):  # a tree whose listing names a file that is gone by its stat
        def rglob(self, pattern: str):  # noqa: ANN202
            yield from super().rglob(pattern)
            yield self / "logs" / ".a.txt.Xy12"

    assert src.ready(d) and not src.ready(Vanishing(d))
    svc.stop()


def test_readyz_says_which_source_stopped(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    spool = tmp_path / "spool"
    spool.mkdir()
    cfg = config.load(env={}, data_dir=tmp_path / "data", spool_dir=spool)
    with TestClient(create_app(cfg)) as web:
        ready = web.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["problems"] == []
        spool_source = web.app.state.services.extras["spool"]
        spool_source.stop()  # as if its thread had died
        ready = web.get("/readyz")
        assert ready.status_code == 503 and ready.json()["problems"] == ["spool: not running"]
        assert web.get("/status").json()["live_sources"][0]["running"] is False
        assert web.get("/healthz").status_code == 200  # alive, just not ready


def test_a_tree_still_being_written_waits_even_with_its_build_json(tmp_path: Path) -> None:
    """build.json copied first (as rsync of a sorted tree may do): the tree is taken only
    once nothing in it has changed for ``settle_s``, so no half-written file goes in."""
    spool, store, svc, src = _spool(tmp_path, settle_s=1.0)
    d = write_build(tmp_path / "staging", {}, build_uuid="f" * 32, start="2024-02-13T10:00:00")
    d = d.rename(spool / d.name)
    log = d / "job-output.txt"
    src.start()
    try:
        for i in range(8):  # one line every 0.3 s: never quiet for 1 s
            with log.open("ab") as f:
                f.write(b"2024-02-13 10:00:%02d.000 | still copying %d\n" % (i, i))
            time.sleep(0.3)
            assert not (spool / "done" / d.name).exists(), f"taken while being written (after line {i})"
        assert _wait(lambda: (spool / "done" / d.name).exists())
        assert Searcher(store).count('message:"still copying"') == 8
    finally:
        src.stop()
        svc.stop()
