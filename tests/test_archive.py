"""The zstd archive: byte-exact round trips, seekable line reads, dedupe, damage reported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from index import archive as archive_mod
from index.archive import Archive, ArchiveError


def _lines(n: int, width: int = 80) -> bytes:
    return b"".join(b"%08d " % i + b"x" * width + b"\n" for i in range(n))


def test_round_trip_is_byte_exact(tmp_path: Path) -> None:
    a = Archive(tmp_path)
    data = _lines(50_000) + b"no trailing newline"
    info = a.put(data)
    assert a.read(info.sha256) == data
    assert info.lines == 50_001
    assert len(info.frames) > 1, "a 4 MB file must span several frames"
    assert info.stored_size < len(data) / 5


def test_lines_across_frame_boundaries(tmp_path: Path) -> None:
    a = Archive(tmp_path)
    data = _lines(40_000)
    info = a.put(data)
    all_lines = data.split(b"\n")[:-1]
    boundary = info.frames[1].first_line
    for start, count in [(0, 3), (boundary - 2, 5), (39_998, 10), (12_345, 1)]:
        assert a.lines(info.sha256, start, count) == all_lines[start : start + count]
    assert a.lines(info.sha256, 50_000, 5) == []


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    a = Archive(tmp_path)
    i1 = a.put(b"same\n")
    i2 = a.put(b"same\n")
    assert i1.sha256 == i2.sha256
    assert len(list(a.blobs())) == 1


def test_blob_is_a_valid_zstd_file(tmp_path: Path) -> None:
    """The seek table sits in a skippable frame: the standard tool restores the file."""
    zstd = subprocess.run(["which", "zstd"], capture_output=True, text=True).stdout.strip()
    if not zstd:
        import zstandard

        a = Archive(tmp_path)
        info = a.put(_lines(1000))
        raw = zstandard.ZstdDecompressor().stream_reader(a.path(info.sha256).read_bytes(), read_across_frames=True).read()
        assert raw == _lines(1000)
        return
    a = Archive(tmp_path)
    info = a.put(_lines(1000))
    out = subprocess.run([zstd, "-dc", str(a.path(info.sha256))], capture_output=True, check=True).stdout
    assert out == _lines(1000)


def test_damaged_or_missing_blob_raises_archive_error(tmp_path: Path) -> None:
    a = Archive(tmp_path)
    info = a.put(_lines(100))
    with pytest.raises(ArchiveError):
        Archive(tmp_path).lines("0" * 64, 0, 1)
    p = a.path(info.sha256)
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ArchiveError):
        Archive(tmp_path).info(info.sha256)


def test_path_traversal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        Archive(tmp_path).path("../../etc/passwd")


def test_frames_end_on_line_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_mod, "FRAME_BYTES", 1000)
    a = Archive(tmp_path)
    data = _lines(500, width=37)
    info = a.put(data)
    for fr in info.frames[:-1]:
        end = fr.raw_offset + (info.frames[info.frames.index(fr) + 1].raw_offset - fr.raw_offset)
        assert data[end - 1 : end] == b"\n"
    assert sum(f.nlines for f in info.frames) == 500


def test_a_failed_write_leaves_nothing_and_a_killed_writers_partial_blob_is_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk in the middle of a blob: the error reaches the caller and no partial
    file stays; one a killed process left is removed when the next writer opens, while
    a live process's blob in progress is left alone."""
    import errno
    import os

    from index.store import Store

    store = Store(tmp_path / "data")
    archive = store.archive

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        archive.put(b"line\n" * 1000)
    monkeypatch.undo()
    assert [p for p in archive.root.rglob("*") if p.is_file()] == []

    sha = archive.put(b"kept\n").sha256
    d = archive.path(sha).parent
    killed = d / f".{'a' * 64}.zst.{_exited_pid()}.tmp"
    live = d / f".{'b' * 64}.zst.{os.getpid()}.tmp"
    killed.write_bytes(b"half")
    live.write_bytes(b"half")
    store.writer().close()
    assert not killed.exists() and live.exists() and archive.read(sha) == b"kept\n"
    assert list(archive.blobs()) == [sha]


def _exited_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid
