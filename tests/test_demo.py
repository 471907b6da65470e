"""The demo data set: deterministic, in the real formats, failures where the plan says.

The signature checks run a small evaluator of elastic-recheck's query subset (field
phrases, AND/OR/NOT, parentheses) with the appliance's field semantics — ``message`` is a
line minus its timestamp tokenized like the index does, ``tags`` the download-list tags
plus the base name, ``filename`` the path in the build without ``.gz``. It is a test
oracle, independent of the Tantivy translation, so a signature that only "works" through
a translator quirk still fails here.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
import zstandard

from appliance import builds, demo
from appliance.filelist import FileList
from index.schema import tokenize

NOW = datetime(2024, 3, 4, 12, 0, 0, tzinfo=UTC)
SIG_DIR = Path(demo.__file__).parent / "recheck" / "signatures"
FILE_LIST = FileList.load(Path(demo.__file__).parent / "defaults" / "file-list.yaml")

# -- the formats, as the real corpus has them ------------------------------------------------
OSLO = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\d+ )?(DEBUG|INFO|AUDIT|WARNING|ERROR|CRITICAL|TRACE) [\w.]+ (.*)$"
)
JOURNAL = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{6}) ([\w.-]+) ([\w@.-]+)\[(\d+)\]: (.*)$")
SYSLOG = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ([\w.-]+) ([\w@./-]+)(\[\d+\])?: (.*)$")
CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \| (.*)$")
ZUUL = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) \| (?:([\w.-]+) \| )?(.*)$")
_TS_PREFIX = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?: \|)?|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?) ?"
)


# -- a test oracle for elastic-recheck queries ------------------------------------------------

_QTOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>AND|OR|NOT)(?=[\s(])|(?P<field>[\w.@-]+):\s*'
    r'(?:"(?P<phrase>(?:[^"\\]|\\.)*)"|(?P<word>[^\s()]+)))'
)


def parse_query(q: str) -> Any:
    """Lucene subset -> nested tuples ('and'|'or', [..]), ('not', x), ('term', field, value)."""
    toks: list[tuple[str, Any]] = []
    pos, q = 0, q.strip()
    while pos < len(q):
        m = _QTOKEN.match(q, pos)
        if not m or m.end() == pos:
            if q[pos:].strip() == "":
                break
            raise ValueError(f"cannot parse query at {q[pos:pos + 30]!r}")
        pos = m.end()
        if m["lp"]:
            toks.append(("(", None))
        elif m["rp"]:
            toks.append((")", None))
        elif m["op"]:
            toks.append((m["op"], None))
        else:
            value = m["phrase"] if m["phrase"] is not None else m["word"]
            toks.append(("term", (m["field"], re.sub(r"\\(.)", r"\1", value))))
    it = 0

    def peek() -> str | None:
        return toks[it][0] if it < len(toks) else None

    def take() -> tuple[str, Any]:
        nonlocal it
        it += 1
        return toks[it - 1]

    def expr() -> Any:
        items = [conj()]
        while peek() == "OR":
            take()
            items.append(conj())
        return ("or", items) if len(items) > 1 else items[0]

    def conj() -> Any:
        items = [unary()]
        while peek() in ("AND", "NOT", "term", "("):
            if peek() == "AND":
                take()
            items.append(unary())
        return ("and", items) if len(items) > 1 else items[0]

    def unary() -> Any:
        kind, val = take()
        if kind == "NOT":
            return ("not", unary())
        if kind == "(":
            e = expr()
            assert take()[0] == ")", "unbalanced parentheses"
            return e
        assert kind == "term", f"unexpected {kind}"
        return ("term", *val)

    tree = expr()
    assert it == len(toks), f"trailing tokens in {q!r}"
    return tree


def evaluate(node: Any, doc: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(evaluate(n, doc) for n in node[1])
    if kind == "or":
        return any(evaluate(n, doc) for n in node[1])
    if kind == "not":
        return not evaluate(node[1], doc)
    _, fld, value = node
    if fld == "message":
        words = tokenize(value)
        return bool(words) and f" {' '.join(words)} " in doc["message"]
    if fld == "tags":
        return value.lower() in doc["tags"]
    return str(doc.get(fld, "")) == value


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    elif path.suffix == ".zst":
        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    return data.decode()


def log_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(filename as indexed: relative, no compression suffix; path) for a build's logs."""
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "build.json":
            rel = p.relative_to(root).as_posix()
            yield re.sub(r"\.(gz|zst)$", "", rel), p


def docs(root: Path, fields: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """One document per line, with the appliance's field semantics."""
    for filename, path in log_files(root):
        _, tags = FILE_LIST.match(filename)
        tagset = {t.lower() for t in tags}
        for line in read_text(path).splitlines():
            msg = _TS_PREFIX.sub("", line, count=1)
            yield {**(fields or {}), "message": f" {' '.join(tokenize(msg))} ", "tags": tagset,
                   "filename": filename, "line": line}  # fmt: skip


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], float]:
    dest = tmp_path_factory.mktemp("demo")
    t0 = time.perf_counter()
    dirs = demo.generate(dest, seed=0, now=NOW)
    return dest, dirs, time.perf_counter() - t0


@pytest.fixture(scope="module")
def plan() -> list[demo.DemoBuild]:
    return demo.plan_builds(seed=0, now=NOW)


def _tree(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


# -- tests -----------------------------------------------------------------------------------


def test_deterministic_for_a_seed(generated: tuple[Path, list[Path], float], tmp_path: Path) -> None:
    dest, _, _ = generated
    again = demo.generate(tmp_path / "again", seed=0, now=NOW)
    assert len(again) == 48
    assert _tree(tmp_path / "again") == _tree(dest)
    demo.generate(tmp_path / "other", seed=1, now=NOW)
    assert set(_tree(tmp_path / "other")) != set(_tree(dest))


def test_size_speed_and_layout(generated: tuple[Path, list[Path], float], plan: list[demo.DemoBuild]) -> None:
    dest, dirs, seconds = generated
    assert seconds < 5
    assert [d.name for d in dirs] == [b.uuid for b in plan]
    assert all(d.parent == dest for d in dirs)
    total = sum(len(read_text(p).encode()) for d in dirs for _, p in log_files(d))
    assert 2_000_000 < total < 15_000_000
    suffixes = {p.suffix for d in dirs for _, p in log_files(d)}
    assert {".gz", ".zst", ".txt", ".yaml"} <= suffixes
    for d in dirs:
        names = {f for f, _ in log_files(d)}
        assert {"job-output.txt", "zuul-info/inventory.yaml"} <= names
        if demo._JOB[json.loads((d / "build.json").read_text())["job_name"]].kind != "tox":
            assert {"controller/logs/devstacklog.txt", "controller/logs/syslog.txt"} <= names


def test_plan_variety(plan: list[demo.DemoBuild]) -> None:
    assert len(plan) == 48
    failing = [b for b in plan if b.result == "FAILURE"]
    assert 0.2 <= len(failing) / len(plan) <= 0.3
    assert {b.bug for b in failing if b.bug} == set(demo.KNOWN_BUGS)
    assert {b.uncategorized for b in failing if b.uncategorized} == set(demo.UNCATEGORIZED)
    assert all((b.bug is None) != (b.uncategorized is None) for b in failing)
    assert all(b.bug is None and b.uncategorized is None for b in plan if b.result == "SUCCESS")
    assert len({b.job for b in plan}) == len(demo.JOBS)
    assert len({b.project for b in plan}) >= 4
    assert {b.pipeline for b in plan} == {"check", "gate"}
    assert {b.voting for b in plan} == {True, False}
    assert not [b for b in plan if b.pipeline == "gate" and not b.voting]
    assert all(NOW - timedelta(days=3) <= b.start < b.end <= NOW for b in plan)
    assert len({b.uuid for b in plan}) == len(plan)
    for b in failing:
        if b.bug and not demo.KNOWN_BUGS[b.bug].allow_nonvoting:
            assert b.voting, "a signature without allow-nonvoting would never see this failure"


def test_build_records_and_inventory(generated: tuple[Path, list[Path], float], plan: list[demo.DemoBuild]) -> None:
    _, dirs, _ = generated
    shapes = set()
    for b, d in zip(plan, dirs, strict=True):
        rec = builds.load_record(d / "build.json")
        shapes.add("v10" if isinstance(rec.get("ref"), dict) else "legacy")
        assert re.fullmatch(r"[0-9a-f]{32}", rec["uuid"])
        f = builds.from_zuul(rec)
        assert f["build_uuid"] == b.uuid and f["build_name"] == b.job and f["build_status"] == b.result
        assert f["project"] == b.project and f["build_change"] == str(b.change) and f["build_queue"] == b.pipeline
        assert f["voting"] == ("1" if b.voting else "0")
        assert builds.parse_time(rec["start_time"]) < builds.parse_time(rec["end_time"])
        inv = builds.from_inventory(yaml.safe_load((d / "zuul-info" / "inventory.yaml").read_text()))
        assert inv["node_provider"] == b.provider[0] and inv["build_node"] == b.label
        assert inv["build_uuid"] == b.uuid and inv["project"] == b.project
    assert shapes == {"v10", "legacy"}


def _parse_ts(kind: str, text: str, year: int) -> datetime:
    if kind in ("syslog", "journal"):
        fmt = "%Y %b %d %H:%M:%S" + (".%f" if kind == "journal" else "")
        return datetime.strptime(f"{year} {text}", fmt).replace(tzinfo=UTC)
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _kind(filename: str) -> tuple[str, re.Pattern[str]]:
    if filename == "job-output.txt":
        return "zuul", ZUUL
    if filename.endswith("screen-n-cpu.txt"):
        return "journal", JOURNAL
    if filename.endswith("syslog.txt"):
        return "syslog", SYSLOG
    if filename.endswith(("devstacklog.txt", "grenade.sh_log.txt")):
        return "console", CONSOLE
    if "/screen-" in filename:
        return "oslo", OSLO
    raise AssertionError(f"unexpected file {filename}")


def test_every_line_in_its_real_format_and_window(
    generated: tuple[Path, list[Path], float], plan: list[demo.DemoBuild]
) -> None:
    _, dirs, _ = generated
    seen_kinds: set[str] = set()
    tracebacks = 0
    for b, d in zip(plan, dirs, strict=True):
        for filename, path in log_files(d):
            if filename.endswith(".yaml"):
                continue
            kind, rx = _kind(filename)
            seen_kinds.add(kind)
            lines = read_text(path).splitlines()
            assert len(lines) >= 10, filename
            prev = None
            for line in lines:
                m = rx.match(line)
                assert m, f"{d.name}/{filename}: not {kind}: {line[:120]!r}"
                ts = _parse_ts(kind, m[1], b.start.year)
                assert b.start <= ts <= b.end, f"{filename}: {ts} outside {b.start}..{b.end}"
                assert prev is None or ts >= prev - timedelta(seconds=1 if kind == "syslog" else 0)
                prev = ts
                if kind == "oslo" and " ERROR " in line and "Traceback (most recent call last):" in line:
                    tracebacks += 1
                    # post-2015 oslo.log: the traceback lines carry the logging prefix, no context
                    assert re.search(r"\d ERROR [\w.]+ Traceback", line), line
    assert seen_kinds == {"zuul", "journal", "syslog", "console", "oslo"}
    assert tracebacks >= 2


def test_shipped_signatures_load_and_match_the_bugs() -> None:
    files = sorted(SIG_DIR.glob("*.yaml"))
    assert {int(p.stem) for p in files} == set(demo.KNOWN_BUGS)
    for p in files:
        data = yaml.safe_load(p.read_text())
        bug = demo.KNOWN_BUGS[int(p.stem)]
        assert re.fullmatch(r"\d{7}", p.stem)
        assert isinstance(data["query"], str)
        assert " ".join(data["query"].split()) == bug.query
        assert bool(data.get("suppress-graph")) == bug.suppress_graph
        assert bool(data.get("allow-nonvoting")) == bug.allow_nonvoting
        tree = parse_query(data["query"])
        assert tree[0] == "and" and any(t[1] in ("tags", "filename") for t in tree[1])


def test_signatures_hit_exactly_the_injected_failures(
    generated: tuple[Path, list[Path], float], plan: list[demo.DemoBuild]
) -> None:
    _, dirs, _ = generated
    queries = {n: parse_query(b.query) for n, b in demo.KNOWN_BUGS.items()}
    hits: dict[int, set[tuple[str, str]]] = {n: set() for n in queries}
    for d in dirs:
        for doc in docs(d):
            for n, q in queries.items():
                if evaluate(q, doc):
                    hits[n].add((d.name, doc["filename"]))
    for n, bug in demo.KNOWN_BUGS.items():
        expected = {(b.uuid, bug.filename) for b in plan if b.bug == n}
        assert expected, f"bug {n} never injected"
        assert hits[n] == expected, f"bug {n}"


def test_failures_look_like_failures(generated: tuple[Path, list[Path], float], plan: list[demo.DemoBuild]) -> None:
    _, dirs, _ = generated
    for b, d in zip(plan, dirs, strict=True):
        out = (d / "job-output.txt").read_text()
        errors = [
            line
            for f, p in log_files(d)
            if "/screen-" in f
            for line in read_text(p).splitlines()
            if " ERROR " in line
        ]
        if b.result == "SUCCESS":
            assert "... FAILED" not in out and " failed: 0 " in out
            assert not errors, f"passing build {b.uuid} logs an ERROR"
            warnings = [line for f, p in log_files(d) if "/screen-" in f for line in read_text(p).splitlines()
                        if " WARNING " in line]  # fmt: skip
            assert warnings or demo._JOB[b.job].kind == "tox"
        else:
            assert "... FAILED" in out and " failed: 1 " in out
    # the uncategorized server fault leaves a traceback in nova-api that no signature names
    sf = [d for b, d in zip(plan, dirs, strict=True) if b.uncategorized == "server-fault"]
    assert sf
    assert "Unexpected exception in API method" in read_text(next(sf[0].glob("controller/logs/screen-n-api.txt*")))


def test_query_oracle_can_fail() -> None:
    """The oracle itself: phrases are token sequences, tags exact, NOT and OR work."""
    doc = {"message": f" {' '.join(tokenize('ERROR: No matching distribution found for foo'))} ",
           "tags": {"console", "job-output.txt"}, "filename": "job-output.txt"}  # fmt: skip
    assert evaluate(parse_query('message:"No matching distribution" AND tags:console'), doc)
    assert not evaluate(parse_query('message:"matching No distribution" AND tags:console'), doc)
    assert not evaluate(parse_query('message:"No matching distribution" AND tags:"syslog.txt"'), doc)
    assert evaluate(parse_query('(message:"nope" OR message:"found for") AND NOT tags:syslog'), doc)
    assert not evaluate(parse_query('message:"found for" AND NOT filename:"job-output.txt"'), doc)
