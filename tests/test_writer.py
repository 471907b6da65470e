"""The writer's discipline: journal, commit, verify, recover — on a real Tantivy index."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from index.search import Searcher
from index.store import Store
from index.writer import LockedError, WriterError

DAY_US = 86_400_000_000
T0 = 19_000 * DAY_US  # 2022-01-08


def _docs(fid: int, n: int, day_offset: int = 0, word: str = "hello") -> list[str]:
    return [
        orjson.dumps({"message": f"{word} world {i}", "ts": T0 + day_offset * DAY_US + i, "file_id": fid,
                      "line": i, "nlines": 1, "kw": {"loglevel": "INFO"}}).decode()
        for i in range(n)
    ]  # fmt: skip


def _add(w, fid: int, key: str, n: int = 10, days: tuple[int, ...] = (0,), sha: str = "a" * 64) -> None:
    by_day = {}
    for d in days:
        by_day[f"2022-01-{8 + d:02d}"] = _docs(fid, n, d)
    w.add_source(fid, key, sha, {"build_uuid": key.split("/")[0], "tags": ["t1", "t2"]}, {}, by_day)


def test_commit_acknowledges_and_counts(tmp_path: Path) -> None:
    store = Store(tmp_path)
    w = store.writer()
    _add(w, 1, "b1/f", 10, days=(0, 1))
    assert store.catalog.get(1).state == "pending"
    assert w.commit() == [1]
    assert store.catalog.get(1).state == "done"
    assert Searcher(store).count("*") == 20
    assert Searcher(store).count("build_uuid:b1 AND message:world") == 20
    w.close()


def test_same_key_replaces_not_doubles(tmp_path: Path) -> None:
    store = Store(tmp_path)
    w = store.writer()
    _add(w, 1, "b1/f", 10)
    w.commit()
    _add(w, 2, "b1/f", 7, sha="b" * 64)
    w.commit()
    assert Searcher(store).count("*") == 7
    assert store.catalog.get(1) is None
    w.close()


def test_uncommitted_sources_are_rolled_back_by_the_next_writer(tmp_path: Path) -> None:
    store = Store(tmp_path)
    w = store.writer()
    _add(w, 1, "b1/f", 10)
    w.commit()
    _add(w, 2, "b2/f", 5, days=(0, 2))
    # Simulate a crash after some partitions committed but before the acknowledgement.
    for day in sorted(w._dirty):
        w._commit_day(day)
    w._dirty.clear()
    w.abandon()
    assert Searcher(store).count("*") == 20, "the half-done source is visible before recovery"
    w2 = store.writer()
    assert w2.recovered == [2]
    assert Searcher(store).count("*") == 10
    assert store.catalog.get(2) is None
    w2.close()


def test_one_writer_per_data_dir(tmp_path: Path) -> None:
    store = Store(tmp_path)
    w = store.writer()
    with pytest.raises(LockedError):
        Store(tmp_path).writer()
    w.close()
    Store(tmp_path).writer().close()


def test_wrong_typed_document_is_never_acknowledged(tmp_path: Path) -> None:
    store = Store(tmp_path)
    w = store.writer()
    bad = orjson.dumps({"message": "x", "ts": T0, "file_id": -5, "line": 0, "nlines": 1}).decode()
    with pytest.raises(WriterError):
        w.add_source(9, "b/f", "c" * 64, {}, {}, {"2022-01-08": [bad]})
        w.commit()
    assert store.catalog.get(9) is None or store.catalog.get(9).state == "pending"
    w.abandon()
    w2 = store.writer()
    assert store.catalog.get(9) is None
    assert Searcher(store).count("*") == 0
    w2.close()


def test_a_day_marked_damaged_stays_reported_when_opened_until_it_is_rewritten(tmp_path: Path) -> None:
    """A checksum failure does not stop a day from opening: a search that opens it after
    the startup check must not clear the report (it did, racing the check); a new commit
    to the day (reindex) does."""
    store = Store(tmp_path)
    w = store.writer()
    _add(w, 1, "b1/f", 10)
    w.commit()
    day = "2022-01-08"
    readers = Store(tmp_path)  # as a serving process: its own partitions, not yet opened
    readers.partitions.mark_broken(day, "checksum: 1.fast")
    assert Searcher(readers).count("*") == 10  # opens and reads the day
    assert readers.partitions.broken == {day: "checksum: 1.fast"}
    _add(w, 2, "b2/f", 5)
    w.commit()
    assert Searcher(readers).count("*") == 15
    assert readers.partitions.broken == {}
    w.close()
