"""Reindex rebuilds the same hits from the archive; retention drops whole oldest days."""

from __future__ import annotations

from pathlib import Path

from appliance import config, ingest, reindex
from index import retention
from index.search import Searcher
from index.store import Store

from .conftest import write_build

QUERIES = ["loglevel:ERROR", 'message:"cannot switch to a different thread"', "build_status:FAILURE AND message:volume", "*"]


def _hits(data: Path) -> dict[str, list[tuple[int, int, int]]]:
    store = Store(data)
    se = Searcher(store)
    out = {}
    for q in QUERIES:
        page = se.search(q, limit=200)
        out[q] = sorted((h.file_id, h.line, h.nlines) for h in page.hits) + [(page.total, 0, 0)]
    store.close()
    return out


def _ingest(data: Path, src: Path) -> None:
    store = Store(data)
    ingest.ingest(store, config.load(data_dir=data), ingest.plan([src]), progress=False)
    store.close()


def test_reindex_gives_the_same_hits(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "src"
    write_build(src, {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz",
                      "logs/devstack@c-vol.service.log.txt": corpus / "devstack@c-vol.service.log.txt"})  # fmt: skip
    data = tmp_path / "data"
    _ingest(data, src)
    before = _hits(data)
    assert before["*"][-1][0] > 1000
    r = reindex.reindex(config.load(data_dir=data), progress=False)
    assert r.files == 2 and not r.errors
    assert _hits(data) == before


def test_a_damaged_partition_is_reported_and_reindex_day_repairs_it(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "src"
    write_build(src, {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz"}, start="2013-09-27T18:00:00")
    write_build(src, {"logs/syslog.txt.gz": corpus / "syslog.txt.gz"}, start="2014-06-09T15:00:00")
    data = tmp_path / "data"
    _ingest(data, src)
    before = _hits(data)
    store = Store(data)
    day = store.partitions.days()[0]
    for f in store.partitions.path(day).iterdir():
        if f.suffix in (".idx", ".pos", ".term"):
            b = bytearray(f.read_bytes())
            b[: min(len(b), 64)] = b"\xa5" * min(len(b), 64)
            f.write_bytes(bytes(b))
    (store.partitions.path(day) / "meta.json").write_text("{not json")
    store.close()
    store = Store(data)
    se = Searcher(store)
    assert se.count("*") < before["*"][-1][0], "the other days still serve"
    assert day in store.partitions.broken
    store.close()
    reindex.reindex(config.load(data_dir=data), progress=False, days=[day])
    assert _hits(data) == before


def test_disk_budget_drops_oldest_days_whole(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "src"
    starts = ["2013-09-25T10:00:00", "2013-09-26T10:00:00", "2013-09-27T10:00:00", "2013-09-28T10:00:00"]
    for i, s in enumerate(starts):
        write_build(src, {f"logs/devstack{i}.txt": (b"%s.000 | day %d line\n" % (s.replace("T", " ").encode(), i)) * 2000},
                    start=s)  # fmt: skip
    data = tmp_path / "data"
    _ingest(data, src)
    store = Store(data)
    assert store.partitions.days() == ["2013-09-25", "2013-09-26", "2013-09-27", "2013-09-28"]
    blobs_before = set(store.archive.blobs())
    u = store.disk_usage()
    budget = (u["index"] + u["archive"]) * 6 // 10
    w = store.writer()
    dropped = retention.enforce(store, min_free_fraction=0, disk_budget_bytes=budget)
    w.close()
    assert dropped and dropped == ["2013-09-25", "2013-09-26", "2013-09-27"][: len(dropped)]
    assert store.partitions.days()[-1] == "2013-09-28"
    u = store.disk_usage()
    assert u["index"] + u["archive"] <= budget
    se = Searcher(store)
    assert se.count('message:"day 0"') == 0 and se.count('message:"day 3"') == 2000
    assert len(set(store.archive.blobs())) == len(blobs_before) - len(dropped)
    assert {d for s in store.catalog.sources() for d in s.days} == set(store.partitions.days())


def test_retention_days_and_never_the_newest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_build(src, {"a.txt": b"2013-09-25 10:00:00.000 | old\n"}, start="2013-09-25T10:00:00")
    write_build(src, {"b.txt": b"2013-09-28 10:00:00.000 | new\n"}, start="2013-09-28T10:00:00")
    data = tmp_path / "data"
    _ingest(data, src)
    store = Store(data)
    from index.partitions import day_start_us

    now = day_start_us("2013-09-28") + 3600 * 10**6
    assert retention.enforce(store, retention_days=2, min_free_fraction=0, now_us=now) == ["2013-09-25"]
    assert retention.enforce(store, disk_budget_bytes=1, min_free_fraction=0, now_us=now) == []
    assert store.partitions.days() == ["2013-09-28"]


def test_an_older_schema_is_refused_with_the_fix_and_reindex_upgrades_it(tmp_path: Path, corpus: Path) -> None:
    """A data dir written by schema v1 (keywords as five text fields): every command but
    reindex says, in one line, to run ``appliance reindex``; reindex rebuilds the days
    from the archive in the current schema, with the same hits."""
    import subprocess
    import sys

    from index import schema

    src = tmp_path / "src"
    write_build(src, {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz"})
    data = tmp_path / "data"
    _ingest(data, src)
    before = _hits(data)
    store = Store(data)
    store.catalog.set_meta("schema_version", str(schema.SCHEMA_VERSION - 1))
    store.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), *args],
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    refused = cli("search", "--count", "loglevel:ERROR")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "run `appliance reindex`" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    done = cli("reindex")
    assert done.returncode == 0, done.stderr
    assert cli("search", "--count", "loglevel:ERROR").stdout.strip() == str(before["loglevel:ERROR"][-1][0])
    assert _hits(data) == before
