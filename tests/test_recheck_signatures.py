"""Loading elastic-recheck signatures: the real 91, bad files, flags, live reload."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from appliance.recheck.signatures import DEFAULT_DIR, SignatureSet, parse

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "recheck-queries"


@pytest.fixture(scope="module")
def real() -> SignatureSet:
    if not REAL.is_dir():
        pytest.skip(f"the real signatures are not at {REAL}")
    return SignatureSet(REAL)


def test_every_real_signature_loads_and_translates(real: SignatureSet) -> None:
    files = sorted(REAL.glob("*.yaml"))
    assert len(files) == 91
    assert real.errors == ()
    assert [s.bug for s in real] == sorted((p.stem for p in files), key=int)
    for s in real:
        raw = yaml.safe_load((REAL / f"{s.bug}.yaml").read_text())
        assert s.query == raw["query"].strip()
        assert s.suppress_graph == bool(raw.get("suppress-graph"))
        assert s.allow_nonvoting == bool(raw.get("allow-nonvoting"))
        assert list(s.test_ids) == list(raw.get("test_ids") or [])
    assert sum(s.suppress_graph for s in real) == sum(
        "suppress-graph: true" in p.read_text() for p in files
    )


def test_the_1284371_fixture_loads(tmp_path: Path) -> None:
    src = SHARED / "fixtures" / "1284371.yaml"
    if not src.is_file():
        pytest.skip("fixture missing")
    (tmp_path / "1284371.yaml").write_bytes(src.read_bytes())
    sigs = SignatureSet(tmp_path)
    assert not sigs.errors and sigs.get("1284371") is not None
    assert "Slave went offline during the build" in sigs.get("1284371").query


def test_voting_filter_is_combined_with_the_whole_query(real: SignatureSet) -> None:
    from index.query import combine_and

    s = real.get("1260311") or next(iter(real))
    assert s.effective_query == combine_and(s.query, "voting:1")
    free = next(x for x in real if x.allow_nonvoting)
    assert free.effective_query == free.query


def test_bad_files_are_reported_with_their_reason_and_the_rest_load(tmp_path: Path) -> None:
    (tmp_path / "1000001.yaml").write_text('query: message:"fine"\n')
    (tmp_path / "1000002.yaml").write_text("query: message:broken\n\tsuppress-graph: [unclosed\n")
    (tmp_path / "1000003.yaml").write_text("suppress-graph: true\n")
    (tmp_path / "1000004.yaml").write_text('query: (message:"unbalanced" AND tags:"console"\n')
    (tmp_path / "1000005.yaml").write_text("- just\n- a list\n")
    (tmp_path / "1000006.yaml").write_text(
        'query: message:"ok"\nowner: someone\nresolved_at: 2014-01-02\n'
    )
    (tmp_path / "notes.txt").write_text("not a signature")
    sigs = SignatureSet(tmp_path)
    assert [s.bug for s in sigs] == ["1000001", "1000006"]
    reasons = {e.bug: e.reason for e in sigs.errors}
    assert set(reasons) == {"1000002", "1000003", "1000004", "1000005"}
    assert reasons["1000002"].startswith("YAML error at line")
    assert reasons["1000003"] == "missing or empty 'query'"
    assert reasons["1000004"].startswith("query does not translate")
    assert "mapping" in reasons["1000005"]
    s6 = sigs.get("1000006")
    assert dict(s6.extra) == {"owner": "someone"} and s6.resolved and s6.resolved_at == "2014-01-02"
    assert any("owner" in w for w in sigs.warnings)
    assert [s.bug for s in sigs.active()] == ["1000001"]  # resolved bugs are not run
    assert s6.as_dict()["resolved_at"] == "2014-01-02"


def test_flags_and_test_ids_parse_as_elastic_recheck_wrote_them(tmp_path: Path) -> None:
    text = ("query: >-\n  message:\"x\" AND\n  tags:console\nsuppress-notification: true\n"
            "allow-nonvoting: true\ntest_ids:\n  - a.b.C.test_d\n")  # fmt: skip
    s, warnings = parse(tmp_path / "1234.yaml", text)
    assert (s.bug, s.query) == ("1234", 'message:"x" AND tags:console')
    assert s.suppress_notification and s.allow_nonvoting and not s.suppress_graph
    assert s.test_ids == ("a.b.C.test_d",) and warnings == []
    assert s.url == "https://bugs.launchpad.net/bugs/1234"


def test_reload_picks_up_changes_and_reports_whether_anything_changed(tmp_path: Path) -> None:
    p = tmp_path / "1000001.yaml"
    p.write_text('query: message:"one"\n')
    sigs = SignatureSet(tmp_path)
    v = sigs.version
    assert sigs.reload() is False and sigs.version == v
    p.write_text('query: message:"two words"\n')
    assert sigs.reload(force=True) is True and sigs.get("1000001").query == 'message:"two words"'
    assert sigs.version == v + 1
    (tmp_path / "1000002.yaml").write_text('query: message:"(\n')
    sigs.reload()
    assert len(sigs) == 1 and [e.bug for e in sigs.errors] == ["1000002"]
    p.unlink()
    sigs.reload()
    assert len(sigs) == 0


def test_default_directory_is_the_shipped_one() -> None:
    sigs = SignatureSet()
    assert sigs.directory == DEFAULT_DIR
    assert len(sigs) == len(list(DEFAULT_DIR.glob("*.yaml"))) and not sigs.errors


def test_missing_directory_is_empty_not_fatal(tmp_path: Path) -> None:
    sigs = SignatureSet(tmp_path / "nope")
    assert len(sigs) == 0 and sigs.errors == ()


def test_watcher_reloads_live(tmp_path: Path) -> None:
    (tmp_path / "1000001.yaml").write_text('query: message:"one"\n')
    sigs = SignatureSet(tmp_path)
    sigs.start()
    try:
        assert sigs.watching
        time.sleep(0.3)  # let the watcher arm
        (tmp_path / "1000002.yaml").write_text('query: message:"added live"\n')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sigs.get("1000002") is None:
            time.sleep(0.05)
        assert (
            sigs.get("1000002") is not None and sigs.get("1000002").query == 'message:"added live"'
        )
    finally:
        sigs.stop()
    assert not sigs.watching
