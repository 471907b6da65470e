"""Ingest end to end on real files: counts, idempotence, dedupe, bad input, no traceback."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import config, ingest
from index.search import Searcher
from index.store import Store

from .conftest import big_oslo_log, write_build


def _ingest(data: Path, *paths: Path, **cfg_kw) -> ingest.Summary:
    cfg = config.load(data_dir=data, **cfg_kw)
    store = Store(data)
    try:
        return ingest.ingest(store, cfg, ingest.plan(list(paths)), progress=False)
    finally:
        store.close()


def test_real_build_is_searchable_with_build_fields(tmp_path: Path, corpus: Path) -> None:
    b = write_build(tmp_path / "in", {
        "logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz",
        "logs/devstack@c-vol.service.log.txt": corpus / "devstack@c-vol.service.log.txt",
    })  # fmt: skip
    s = _ingest(tmp_path / "data", b)
    assert s.files == 2 and not s.errors
    raw = gzip.decompress((corpus / "screen-c-api.txt.gz").read_bytes())
    assert s.lines == raw.count(b"\n") + 14
    store = Store(tmp_path / "data")
    se = Searcher(store)
    assert se.count("*") == s.events
    assert se.count('build_status:FAILURE AND filename:"logs/screen-c-api.txt"') > 1000
    assert se.count('tags:"screen-c-api.txt"') == se.count('filename:"logs/screen-c-api.txt"')
    page = se.search('message:"cannot switch to a different thread"', limit=5)
    assert page.total >= 1
    hit = se.fetch(page.hits)[0]
    assert any(b"cannot switch to a different thread" in line for line in hit.lines)


def test_second_ingest_is_idempotent_and_identical_files_are_stored_once(tmp_path: Path, corpus: Path) -> None:
    f = {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz"}
    b1 = write_build(tmp_path / "in", f, build_uuid="a" * 32)
    first = _ingest(tmp_path / "data", b1)
    again = _ingest(tmp_path / "data", b1)
    assert again.files == 0 and again.unchanged == 1
    b2 = write_build(tmp_path / "in", f, build_uuid="b" * 32)
    _ingest(tmp_path / "data", b2)
    store = Store(tmp_path / "data")
    assert Searcher(store).count("*") == 2 * first.events
    assert len(list(store.archive.blobs())) == 1


def test_bad_input_is_reported_and_the_rest_goes_in(tmp_path: Path) -> None:
    good = b"".join(b"2024-02-13 10:00:%02d.000 | line %d\n" % (i, i) for i in range(50))
    varied = b"".join(b"2024-02-13 10:%02d:%02d.000 | request %d took %d ms\n" % (i // 60 % 60, i % 60, i * 7919, i * 31 % 977) for i in range(20_000))
    corrupt = bytearray(gzip.compress(varied))
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 16] = b"\xff" * 16
    files = {
        "good.txt": good,
        "corrupt.txt.gz": bytes(corrupt),
        "truncated.txt.gz": gzip.compress(good)[:-30],
        "junk.bin.txt": bytes(range(256)) * 64,
        "latin1.txt": b"2024-02-13 10:00:00.000 | caf\xe9 cr\xe8me\n",
        "huge.txt": b"2024-02-13 10:00:00.000 | " + b"x" * (10 << 20) + b"\nnext\n",
        "badts.txt": b"2024-02-13 10:00:00.000 | ok\n2024-13-45 10:00:00.000 | bad month\n",
    }
    b = write_build(tmp_path / "in", files, start="2024-02-13T09:00:00")
    s = _ingest(tmp_path / "data", b)
    text = "\n".join(s.warnings)
    assert "corrupt.txt" in text and "truncated.txt" in text
    assert any(p.endswith("junk.bin.txt") and "binary" in why for p, why in s.skipped)
    assert not s.errors
    store = Store(tmp_path / "data")
    se = Searcher(store)
    assert se.count('filename:"good.txt"') == 50
    assert se.count('filename:"truncated.txt"') > 0
    assert se.count('filename:"corrupt.txt"') > 0
    assert se.count("flags:invalid_utf8") == 1
    assert se.count("flags:truncated") == 1
    assert se.count('flags:bad_timestamp AND filename:"badts.txt"') == 1
    assert se.count('message:"bad month"') == 1


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "--data", str(tmp_path / "d"), "ingest", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "missing" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "--data", str(tmp_path / "d"), "search", "message:(unclosed"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr and "column" in r.stderr


@pytest.mark.parametrize("keep_debug", [True, False])
def test_debug_events_kept_by_default_dropped_by_switch(tmp_path: Path, corpus: Path, keep_debug: bool) -> None:
    b = write_build(tmp_path / "in", {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz"})
    s = _ingest(tmp_path / "data", b, keep_debug=keep_debug)
    n = Searcher(Store(tmp_path / "data")).count("loglevel:DEBUG")
    assert (n > 0) == keep_debug
    assert (s.dropped_debug > 0) == (not keep_debug)


def test_stats_reports_what_the_data_dir_holds(tmp_path: Path, corpus: Path) -> None:
    """``appliance stats``: per-day events add up to what was ingested; sizes and builds."""
    import orjson

    b1 = write_build(tmp_path / "in", {"logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz"},
                     build_uuid="a" * 32, start="2013-09-27T18:00:00")  # fmt: skip
    b2 = write_build(tmp_path / "in", {"logs/syslog.txt.gz": corpus / "syslog.txt.gz"},
                     build_uuid="b" * 32, start="2014-03-17T16:00:00", result="SUCCESS")  # fmt: skip
    s = _ingest(tmp_path / "data", b1, b2)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(tmp_path / "data"), "stats", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    r = cli("--json")
    assert r.returncode == 0, r.stderr
    info = orjson.loads(r.stdout)
    assert info["events"] == s.events == sum(d["events"] for d in info["days"])
    assert len(info["days"]) >= 2 and all(d["bytes"] > 0 and d["segments"] >= 1 for d in info["days"])
    assert info["sources"] == 2 and info["pending_sources"] == 0
    assert info["builds"] == info["builds_complete"] == 2
    assert info["raw_bytes"] == s.bytes
    assert 0 < info["ratio_to_raw"]["archive"] < info["ratio_to_raw"]["index"] < 1
    text = cli()
    assert text.returncode == 0 and f"events: {s.events:,} in {len(info['days'])} days" in text.stdout
    assert "Traceback" not in text.stderr


def test_a_big_file_spools_its_documents_and_leaves_no_scratch(tmp_path: Path) -> None:
    """Files past docspool.SPOOL_FROM hand their documents over on disk, per day; the
    result is what the in-memory path gives, and nothing is left in <data>/tmp."""
    from appliance import docspool

    content, events = big_oslo_log(150_000)
    assert len(content) >= docspool.SPOOL_FROM
    b = write_build(tmp_path / "in", {"logs/screen-n-cpu.txt": content})
    data = tmp_path / "data"
    (data / "tmp").mkdir(parents=True)
    (data / "tmp" / "7-2013-09-27.ndjson").write_text('{"left": "by a killed ingest"}\n')
    s = _ingest(data, b)
    assert s.events == events and not s.errors
    assert list((data / "tmp").iterdir()) == []
    se = Searcher(Store(data))
    assert se.count("*") == events
    assert se.count("loglevel:ERROR") == events // 50
    assert se.count('message:"ValueError: record 100"') == 1
    assert se.count("*", end_us=1380326400 * 10**6 - 1) == events // 2  # 2013-09-28T00:00Z
    hit = se.fetch(se.search('message:"ValueError: record 100"', limit=1).hits)[0]
    assert hit.hit.nlines == 3 and b"record 100" in hit.lines[2]
    small = _ingest(tmp_path / "data2", b, inflight_mb=1)  # one file in flight: same answer
    assert small.events == events

    # the parser's side: documents on disk, per day, counted; discard removes them
    log = b / "logs" / "screen-n-cpu.txt"
    task = ingest.FileTask(str(log), "logs/screen-n-cpu.txt", "k", 9, {}, 0, 2013, True, None,
                           str(tmp_path / "archive"), raw_bytes=len(content), scratch_dir=str(tmp_path / "scratch"))  # fmt: skip
    res = ingest.process_file(task)
    assert all(isinstance(d, docspool.SpooledDocs) for d in res.docs.values())
    assert sorted(res.docs) == ["2013-09-27", "2013-09-28"]
    assert sum(len(list(d)) for d in res.docs.values()) == res.events == events
    docspool.discard(res.docs)


def test_a_big_file_that_cannot_be_read_back_half_way_is_an_error_and_leaves_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big file is parsed from its archived frames: a frame that fails to read (a disk
    error) makes that file an error, reported, and its half-written spool goes."""
    from appliance import docspool
    from index.archive import Archive, ArchiveError

    content, _ = big_oslo_log(150_000)
    log = tmp_path / "screen-n-cpu.txt"
    log.write_bytes(content)
    real = Archive.stream

    def failing(self: Archive, sha: str) -> Iterator[bytes]:
        for i, frame in enumerate(real(self, sha)):
            if i == 12:
                raise ArchiveError(f"blob {sha} frame {i} is damaged: test")
            yield frame

    monkeypatch.setattr(Archive, "stream", failing)
    scratch = tmp_path / "scratch"
    task = ingest.FileTask(str(log), "logs/screen-n-cpu.txt", "k", 9, {}, 0, 2013, True, None,
                           str(tmp_path / "archive"), raw_bytes=len(content), scratch_dir=str(scratch))  # fmt: skip
    assert len(content) >= docspool.SPOOL_FROM
    res = ingest.process_file(task)
    assert res.status == "error" and "frame 12 is damaged" in res.reason and res.docs == {}
    assert list(scratch.iterdir()) == []
    assert list((tmp_path / "scratch").iterdir()) == []
