"""``appliance.bench_bigfiles``: the two builds hold the same lines, and both ingest whole.

Memory is not asserted (shared machines; the figure is in the README); what is checked is
that the benchmark compares like with like: the one big file is the side-by-side files
end to end, and each ingest indexed every one of its events — the big file's decoded
from its archived frames a chunk at a time, the same records as parsing it in memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import bench_bigfiles, docspool, formats
from appliance.formats.base import Context, Record
from index.search import Searcher
from index.store import Store
from tests.conftest import write_build


def test_big_files_are_real_oslo_logs_joined_and_ingested(corpus: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    write_build(tmp_path / "corpus", {"logs/screen-n-api.txt.gz": corpus / "screen-n-api.txt.gz",
                                      "logs/syslog.txt.gz": corpus / "syslog.txt.gz"})  # fmt: skip
    out = tmp_path / "out"
    bench_bigfiles.main(["--corpus", str(tmp_path / "corpus"), "--out", str(out), "--file-mb", "2", "--files", "2"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [r[0] for r in rows] == ["side-by-side", "one-file", "one-file-gz"] and all(float(r[2]) > 0 for r in rows)

    side = sorted((out / "side-by-side" / "logs").iterdir())
    one = out / "one-file" / "logs" / "screen-n-cpu.txt"
    assert len(side) == 2 and all(p.stat().st_size >= 2_000_000 for p in side)
    assert one.read_bytes() == b"".join(p.read_bytes() for p in side)
    assert b"nova.api" in one.read_bytes()[:100_000] and b"kernel:" not in one.read_bytes()  # no syslog
    expect = [sum(len(_records(p)) for p in side), len(_records(one))]
    assert one.stat().st_size >= docspool.SPOOL_FROM  # the big-file path
    assert expect[1] < expect[0]  # the lines before a file's first timestamp join the file before
    counts = [Searcher(Store(out / f"data-{case}")).count("*") for case in ("side-by-side", "one-file", "one-file-gz")]
    assert counts == [*expect, expect[1]]


def _records(path: Path) -> list[Record]:
    name = f"logs/{path.name}"
    return formats.parse_file(path.read_bytes(), name, Context(filename=name))[1]
