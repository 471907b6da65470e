"""The benchmark corpus generator: manifest = disk, timestamps shifted, failures injected.

A small run (20k lines over 2 days) of the real corpus; the signature checks reuse the
query oracle of :mod:`tests.test_demo` with the real elastic-recheck queries.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance import builds, demo
from index.schema import tokenize
from loadtests import corpus
from tests.test_demo import FILE_LIST, SIG_DIR, evaluate, log_files, parse_query

SHARED = Path(__file__).resolve().parents[1].parent / "shared"  # as tests/conftest.py finds it
SOURCE = SHARED / "corpus" / "os-loganalyze"
REAL_QUERIES = SHARED / "recheck-queries"
END = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
LINES = 20_000

pytestmark = pytest.mark.skipif(
    not (SOURCE / "console.html.gz").is_file() or not REAL_QUERIES.is_dir(),
    reason="the real corpus (/work/shared) is not here",
)

ISO = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d{3}|\.\d{6}) ")
SYSLOG = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S* ")  # rsyslog: "  tgtd: last message repeated"
JOURNAL = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\.\d{6} \S+ ")


def _query(bug: int) -> Any:
    path = REAL_QUERIES / f"{bug}.yaml"
    if not path.is_file():
        path = SIG_DIR / f"{bug}.yaml"
    return parse_query(yaml.safe_load(path.read_text())["query"])


def _doc(filename: str, message: str, fields: dict[str, str]) -> dict[str, Any]:
    _, tags = FILE_LIST.match(filename)
    return {**fields, "message": f" {' '.join(tokenize(message))} ", "tags": {t.lower() for t in tags},
            "filename": filename}  # fmt: skip


def _message(line: str) -> str:
    for rx in (ISO, SYSLOG, JOURNAL):
        m = rx.match(line)
        if m:
            rest = line[m.end() :]
            return rest[2:] if rx is ISO and rest.startswith("| ") else rest
    return line


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, corpus.Manifest]:
    out = tmp_path_factory.mktemp("corpus")
    m = corpus.generate(out, lines=LINES, days=2, seed=0, end=END, workers=2, source=SOURCE)
    return out, m


def test_manifest_matches_the_files_on_disk(run: tuple[Path, corpus.Manifest]) -> None:
    out, m = run
    entries = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert entries == m.builds
    assert len(entries) >= 10
    assert {p.name for p in out.iterdir() if p.is_dir()} == {e["uuid"] for e in entries}
    log_lines = 0
    for e in entries:
        root = out / e["uuid"]
        on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"build.json"}
        assert on_disk == set(e["files"])
        total = nbytes = 0
        for rel, n in e["files"].items():
            data = _raw(root / rel)
            assert data.count(b"\n") == n, rel
            assert data.endswith(b"\n")
            total += n
            nbytes += len(data)
            if rel != "zuul-info/inventory.yaml":
                log_lines += n
        assert (total, nbytes) == (e["lines"], e["bytes"])
    assert LINES <= log_lines <= LINES * 1.05


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_build_records_agree_with_the_manifest(run: tuple[Path, corpus.Manifest]) -> None:
    out, m = run
    jobs = {j.name: j for j in corpus.JOB_TABLE}
    for e in m.builds:
        rec = builds.load_record(out / e["uuid"] / "build.json")
        f = builds.from_zuul(rec)
        assert (f["build_uuid"], f["build_name"], f["build_status"]) == (e["uuid"], e["job"], e["status"])
        assert (rec["start_time"], rec["end_time"]) == (e["start"], e["end"])
        assert f["voting"] == ("1" if jobs[e["job"]].voting else "0")
        inv = builds.from_inventory(yaml.safe_load((out / e["uuid"] / "zuul-info" / "inventory.yaml").read_text()))
        assert inv["build_uuid"] == e["uuid"] and inv["node_provider"]
    starts = [datetime.fromisoformat(e["start"]).replace(tzinfo=UTC) for e in m.builds]
    assert starts == sorted(starts)
    assert (END - min(starts)).total_seconds() > 86400  # spread over the two days
    assert all(datetime.fromisoformat(e["end"]).replace(tzinfo=UTC) <= END for e in m.builds)
    assert {e["status"] for e in m.builds} == {"SUCCESS", "FAILURE"}
    assert len({e["job"] for e in m.builds}) >= 6


def test_every_timestamp_shifted_into_the_build_window(run: tuple[Path, corpus.Manifest]) -> None:
    out, m = run
    kinds: dict[str, int] = {}
    for e in m.builds:
        start = datetime.fromisoformat(e["start"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(e["end"]).replace(tzinfo=UTC)
        for filename, path in log_files(out / e["uuid"]):
            if filename.endswith(".yaml"):
                continue
            if filename.endswith("syslog.txt"):
                kind, rx, fmt = "syslog", SYSLOG, "%Y %b %d %H:%M:%S"
            elif ".service.log" in filename or filename.endswith("screen-n-cpu.txt"):
                kind, rx, fmt = "journal", JOURNAL, "%Y %b %d %H:%M:%S"
            else:
                kind, rx, fmt = "console" if "screen-" not in filename else "oslo", ISO, "%Y-%m-%d %H:%M:%S"
            seen = 0
            for line in _raw(path).decode("utf-8", "replace").splitlines():
                mt = rx.match(line)
                if not mt:
                    assert kind in ("console", "oslo", "journal"), f"{filename}: {line[:100]!r}"
                    continue
                text = mt[1] if rx is ISO else f"{start.year} {mt[1]}"
                ts = datetime.strptime(text, fmt).replace(tzinfo=UTC)
                assert start <= ts <= end, f"{e['uuid']}/{filename}: {ts} not in {start}..{end}"
                seen += 1
            assert seen, filename
            kinds[kind] = kinds.get(kind, 0) + seen
    assert set(kinds) == {"console", "oslo", "syslog", "journal"}


def test_console_is_plain_text_with_inner_timestamps_shifted(run: tuple[Path, corpus.Manifest]) -> None:
    out, m = run
    for e in m.builds:
        text = (out / e["uuid"] / "job-output.txt").read_text(errors="replace")
        assert "<a href" not in text and "&lt;" not in text and "<pre>" not in text
        year = e["start"][:4]
        inner = re.findall(r"^\S+ \S+ \| (\d{4})-\d\d-\d\d \d\d:\d\d:\d\d ", text, re.M)
        assert inner and set(inner) <= {year, str(int(year) + 1)}


def test_injected_failures_match_their_signatures_in_failing_builds_only(run: tuple[Path, corpus.Manifest]) -> None:
    out, m = run
    bugs = {inj.bug for inj in corpus.INJECTIONS}
    queries = {n: _query(n) for n in bugs}
    injected_any = False
    for e in m.builds:
        if e["bugs"]:
            assert e["status"] == "FAILURE"
            injected_any = True
        fields = {"build_name": e["job"], "build_queue": e["pipeline"], "voting": "1" if e["voting"] else "0"}
        hits: dict[int, set[str]] = {}
        for filename, path in log_files(out / e["uuid"]):
            for line in _raw(path).decode("utf-8", "replace").splitlines():
                doc = _doc(filename, _message(line), fields)
                for n, q in queries.items():
                    if evaluate(q, doc):
                        hits.setdefault(n, set()).add(filename)
        expected = {n: {f for f, ns in e["injected"].items() if n in ns} for n in e["bugs"]}
        assert hits == expected, e["uuid"]
        for n in e["bugs"]:  # the appliance runs signatures on voting builds unless allowed
            inj = next(i for i in corpus.INJECTIONS if i.bug == n)
            assert e["voting"] or inj.allow_nonvoting
    assert injected_any


def test_every_injection_matches_its_query() -> None:
    """All of them, not only those a small run happens to use; and each only its own."""
    queries = {inj.bug: _query(inj.bug) for inj in corpus.INJECTIONS}
    assert len(corpus.REAL_INJECTIONS) >= 10
    assert {i.bug for i in corpus.DEMO_INJECTIONS} == set(demo.KNOWN_BUGS)
    rng = corpus.random.Random(0)
    neighbour = {"console": b".123 | x", "oslo": b".123 4242 INFO x", "syslog": b" host x", "journal": b".123456 host p[7]: x"}
    for inj in corpus.INJECTIONS:
        rows = corpus._injected_rows(inj, b"2024-03-04 10:00:00", neighbour[inj.fmt], rng, "np0012345678")
        matched = set()
        for _, rest in rows:
            line = rest.decode().rstrip("\n")
            line = line.split(" | ", 1)[1] if inj.fmt == "console" else line
            doc = _doc(inj.dest, line, {"build_name": "tempest-full-py3", "voting": "1"})
            matched |= {n for n, q in queries.items() if evaluate(q, doc)}
        assert matched == {inj.bug}, inj.bug


def test_deterministic_and_gzip(run: tuple[Path, corpus.Manifest], tmp_path: Path) -> None:
    out, m = run
    again = corpus.generate(tmp_path / "again", lines=LINES, days=2, seed=0, end=END, workers=1, source=SOURCE)
    assert again.builds == m.builds
    for e in m.builds[:5]:
        for rel in e["files"]:
            assert (tmp_path / "again" / e["uuid"] / rel).read_bytes() == (out / e["uuid"] / rel).read_bytes()
    other = corpus.generate(tmp_path / "other", lines=LINES, days=2, seed=1, end=END, workers=1, source=SOURCE)
    assert [e["uuid"] for e in other.builds] != [e["uuid"] for e in m.builds]
    gz = corpus.generate(tmp_path / "gz", lines=3000, builds=3, days=1, seed=0, end=END, gzip=True, workers=1,
                         source=SOURCE)  # fmt: skip
    assert len(gz.builds) == 3
    for e in gz.builds:
        logs = [r for r in e["files"] if r != "zuul-info/inventory.yaml"]
        assert logs and all(r.endswith(".gz") for r in logs)
        assert sum(_raw(tmp_path / "gz" / e["uuid"] / r).count(b"\n") for r in e["files"]) == e["lines"]
    assert 2900 <= sum(e["lines"] for e in gz.builds) - sum(e["files"]["zuul-info/inventory.yaml"] for e in gz.builds) <= 3100


def test_cli_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert corpus.main(["--out", str(tmp_path), "--builds", "2", "--lines", "500", "--end", "2024-03-04", "--workers", "1",
                        "--source", str(SOURCE)]) == 0
    assert "2 builds" in capsys.readouterr().out
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 2
