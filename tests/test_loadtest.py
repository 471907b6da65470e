"""The load-test command end to end, bounded small: corpus, server, locust with live
``_bulk`` ingest, and the report (per-endpoint percentiles, errors, latency plots).

The figures of a real run are in the README; this checks that the machinery that makes
them works and reports what it measured (requests seen, no failures, plots drawn).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_loadtest_command_runs_bounded_and_writes_its_report(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip("the real corpus is not here")
    out = tmp_path / "report"
    r = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--work", str(tmp_path / "work"), "--lines", "20000", "--days", "2",
         "--users", "3", "--spawn-rate", "3", "--run-time", "8s", "--wait", "0.1", "0.3", "--ingest", "bulk",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    with (out / "locust_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows.pop("Aggregated")
    assert int(total["Request Count"]) > 20 and int(total["Failure Count"]) == 0
    seen = {name for name, row in rows.items() if int(row["Request Count"]) > 0}
    assert {"/_bulk", "/discover", "/_search"} <= seen  # the UI, the API and live ingest all ran
    report = (out / "report.md").read_text()
    for name in ("/discover", "/_bulk"):
        assert f"`{name}` | {rows[name]['Request Count']} | 0 |" in report
    assert "| all requests | errors | 0 |" in report
    for plot in ("latency.svg", "timeline.svg"):
        svg = (out / plot).read_text()
        assert svg.startswith("<svg") and svg.count("<rect") + svg.count("<path") + svg.count("<polyline") > 3
