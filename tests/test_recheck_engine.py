"""The recheck engine on a real index: classify, graph, uncategorized, lag, and the demo.

Builds are written in Zuul's console format and ingested with :mod:`appliance.ingest`;
what each signature should hit is computed from the written lines by a plain-Python
predicate per signature, independent of the query translation.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from appliance import config, ingest
from appliance.recheck.engine import RecheckEngine
from appliance.recheck.graph import HOUR_US, window
from appliance.recheck.signatures import SignatureSet
from index.store import Store

NOW = datetime(2024, 3, 4, 12, 30, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
TEST_ID = "tempest.api.compute.test_x.TestX.test_y"


@dataclass(frozen=True)
class Spec:
    name: str
    job: str
    result: str
    voting: bool
    queue: str
    hours_ago: float
    messages: tuple[str, ...]

    @property
    def uuid(self) -> str:
        return hashlib.md5(self.name.encode()).hexdigest()

    @property
    def start(self) -> datetime:
        return NOW - timedelta(hours=self.hours_ago)

    def lines(self) -> list[tuple[datetime, str]]:
        msgs = ["Running playbook", "TASK [setup]", *self.messages, f"Job finished: {self.result}"]
        return [(self.start + timedelta(seconds=7 * i), m) for i, m in enumerate(msgs)]

    @property
    def failed(self) -> bool:
        return self.result == "FAILURE"


SPECS = (
    Spec(
        "fail_voting",
        "tempest-full",
        "FAILURE",
        True,
        "gate",
        2,
        ("ERROR alpha happened in setup",),
    ),
    Spec(
        "fail_nonvoting",
        "nova-multi",
        "FAILURE",
        False,
        "check",
        3,
        ("alpha happened", "beta happened"),
    ),
    Spec("pass", "tempest-full", "SUCCESS", True, "check", 5, ("beta happened but fine",)),
    Spec("fail_unknown", "tempest-full", "FAILURE", True, "check", 30, ("something weird",)),
    Spec("fail_unknown2", "tempest-full", "FAILURE", True, "gate", 50, ("something else weird",)),
    Spec("fail_old", "grenade", "FAILURE", True, "gate", 12 * 24, ("alpha happened long ago",)),
    Spec(
        "fail_test",
        "tempest-full",
        "FAILURE",
        True,
        "check",
        4,
        (f"{{1}} {TEST_ID} [3.2s] ... FAILED", "gamma timeout"),
    ),
)
BY_NAME = {s.name: s for s in SPECS}


def _text(s: Spec) -> str:
    return "\n".join(m for _, m in s.lines())


# bug -> (YAML, which builds it should hit: an oracle over the written text)
SIGNATURES: dict[str, tuple[str, Callable[[Spec], bool]]] = {
    "1000001": ('query: message:"alpha happened" OR message:"beta happened"\n',
                lambda s: s.voting and ("alpha happened" in _text(s) or "beta happened" in _text(s))),
    "1000002": ('query: message:"beta happened"\nallow-nonvoting: true\n', lambda s: "beta happened" in _text(s)),
    "1000003": (f'query: message:"gamma timeout"\ntest_ids:\n  - {TEST_ID}\n',
                lambda s: s.voting and "gamma timeout" in _text(s) and f"{TEST_ID} [3.2s] ... FAILED" in _text(s)),
    "1000004": ('query: message:"gamma timeout"\ntest_ids:\n  - tempest.api.other.test_z\n', lambda s: False),
    "1000005": ('query: >-\n  message:"alpha happened" AND\n  tags:"job-output.txt"\nsuppress-graph: true\n'
                "suppress-notification: true\n",
                lambda s: s.voting and "alpha happened" in _text(s)),
}  # fmt: skip


def write_spec(root: Path, s: Spec) -> Path:
    d = root / s.uuid
    d.mkdir(parents=True)
    rec = {
        "uuid": s.uuid, "job_name": s.job, "result": s.result, "voting": s.voting, "pipeline": s.queue,
        "start_time": s.start.strftime("%Y-%m-%dT%H:%M:%S"), "end_time": s.lines()[-1][0].strftime("%Y-%m-%dT%H:%M:%S"),
        "project": "openstack/nova", "branch": "master", "change": 800000 + SPECS.index(s), "patchset": "2",
        "log_url": f"https://logs.example.org/{s.uuid[:7]}/", "tenant": "openstack",
    }  # fmt: skip
    (d / "build.json").write_bytes(orjson.dumps(rec))
    body = "".join(
        f"{t.strftime('%Y-%m-%d %H:%M:%S.%f')} | controller | {m}\n" for t, m in s.lines()
    )
    (d / "job-output.txt").write_text(body)
    return d


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> RecheckEngine:
    root = tmp_path_factory.mktemp("recheck-engine")
    sigdir = root / "signatures"
    sigdir.mkdir()
    for bug, (yml, _) in SIGNATURES.items():
        (sigdir / f"{bug}.yaml").write_text(yml)
    (sigdir / "1000009.yaml").write_text('query: message:"unclosed\n')
    dirs = [write_spec(root / "builds", s) for s in SPECS]
    cfg = config.load(data_dir=root / "data", workers=2)
    store = Store(cfg.data_dir)
    summary = ingest.ingest(store, cfg, ingest.plan(dirs), progress=False)
    assert summary.files == len(SPECS) and not summary.errors
    eng = RecheckEngine(store, signatures=SignatureSet(sigdir), cache_ttl_s=0)
    yield eng
    eng.stop()
    store.close()


def expected(spec: Spec) -> set[str]:
    return {bug for bug, (_, hits) in SIGNATURES.items() if hits(spec)}


# -- classify --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [s.name for s in SPECS])
def test_classify_matches_what_the_lines_say(engine: RecheckEngine, name: str) -> None:
    s = BY_NAME[name]
    c = engine.classify(s.uuid)
    assert c.found and c.indexed
    assert set(c.bugs) == expected(s)
    assert c.uncategorized == (s.failed and not expected(s))
    assert c.build["build_name"] == s.job and c.failed == s.failed


def test_or_signature_does_not_match_a_non_voting_build(engine: RecheckEngine) -> None:
    """elastic-recheck appended `` AND voting:1`` to the text; with a top-level OR that
    filtered one branch only. Here the filter applies to the whole query."""
    s = BY_NAME["fail_nonvoting"]
    assert "alpha happened" in _text(s) and "beta happened" in _text(s)
    c = engine.classify(s.uuid)
    assert "1000001" not in c.bugs
    assert "1000002" in c.bugs  # allow-nonvoting: runs without the filter
    # ... while a voting build with only one OR branch still matches:
    assert "1000001" in engine.classify(BY_NAME["fail_voting"].uuid).bugs


def test_matched_events_carry_their_lines_and_links(engine: RecheckEngine) -> None:
    s = BY_NAME["fail_voting"]
    m = next(m for m in engine.classify(s.uuid).matches if m.bug == "1000001")
    lines = [msg for _, msg in s.lines()]
    want = [i + 1 for i, msg in enumerate(lines) if "alpha happened" in msg]
    assert m.count == len(want)
    assert [e.line for e in m.events] == want
    e = m.events[0]
    assert e.filename == "job-output.txt" and "alpha happened" in e.message
    assert e.link == f"/logs/{s.uuid}/job-output.txt#L{want[0]}"
    assert e.log_url == f"https://logs.example.org/{s.uuid[:7]}/job-output.txt"
    assert e.ts_us == int(s.lines()[want[0] - 1][0].timestamp() * 1_000_000)
    assert m.url == "https://bugs.launchpad.net/bugs/1000001"


def test_short_uuid_change_lookup_and_unknown_build(engine: RecheckEngine) -> None:
    s = BY_NAME["fail_test"]
    assert engine.classify(s.uuid[:7]).build_uuid == s.uuid
    b = engine.find_build(800000 + SPECS.index(s), 2, "tempest-full")
    assert b is not None and b.uuid == s.uuid
    assert engine.find_build(1, 1, "nope") is None
    c = engine.classify("f" * 32)
    assert not c.found and not c.matches and not c.uncategorized


def test_a_bad_signature_is_reported_and_the_rest_still_run(engine: RecheckEngine) -> None:
    assert [e.bug for e in engine.signatures.errors] == ["1000009"]
    assert len(engine.signatures) == len(SIGNATURES)


def test_classify_waits_for_a_build_to_complete(engine: RecheckEngine) -> None:
    cat = engine.store.catalog
    uuid = "c0ffee" + "0" * 26
    cat.put_group(
        uuid, {"build_uuid": uuid, "build_status": "FAILURE", "build_name": "x"}, complete=False
    )
    t0 = time.monotonic()
    c = engine.classify(uuid, wait_s=0.4)
    assert c.found and not c.indexed and c.waited_s >= 0.4 and time.monotonic() - t0 < 3
    assert not c.uncategorized  # not final while files are still coming
    threading.Timer(
        0.3, lambda: cat.put_group(uuid, {"build_uuid": uuid, "build_status": "FAILURE"}, True)
    ).start()
    c = engine.classify(uuid, wait_s=10)
    assert c.indexed and c.waited_s < 5
    assert c.uncategorized  # failed, complete, no files: nothing matched


# -- graph -----------------------------------------------------------------------------------


def _first_hit_us(s: Spec, needles: tuple[str, ...]) -> int:
    return min(int(t.timestamp() * 1_000_000) for t, m in s.lines() if any(n in m for n in needles))


def test_graph_counts_distinct_builds_per_hour_status_queue_and_job(engine: RecheckEngine) -> None:
    g = engine.graph(days=10, now=NOW)
    start, end = window(NOW_US, 10)
    assert (g.start_us, g.end_us) == (start, end) and len(g.hours) == 240
    in_window = [s for s in SPECS if start <= int(s.start.timestamp() * 1e6) < end]
    by_bug = {b.bug: b for b in g.bugs}
    assert set(by_bug) == set(SIGNATURES)
    needles = {"1000001": ("alpha happened", "beta happened"), "1000002": ("beta happened",)}
    for bug, needle in needles.items():
        hit = [s for s in in_window if SIGNATURES[bug][1](s)]
        b = by_bug[bug]
        assert b.hits == len(hit) and b.fails == sum(s.failed for s in hit)
        assert b.fails24 == sum(s.failed and s.hours_ago <= 24 for s in hit)
        series: dict[str, list[int]] = {}
        for s in hit:
            row = series.setdefault(s.result, [0] * 240)
            row[(_first_hit_us(s, needle) - start) // HOUR_US] += 1
        assert b.series == series
        assert b.hits24 == sum(s.hours_ago <= 24 for s in hit)
        by_queue: dict[str, list[int]] = {}
        for s in hit:
            by_queue.setdefault(s.queue, [0] * 240)[(_first_hit_us(s, needle) - start) // HOUR_US] += 1
        assert b.by_queue == by_queue and sum(map(sum, by_queue.values())) == b.hits
        for q in {s.queue for s in hit}:
            assert b.queues[q] == {
                "hits": sum(s.queue == q for s in hit),
                "fails": sum(s.queue == q and s.failed for s in hit),
            }
        for job in {s.job for s in hit}:
            js = b.jobs[job]
            all_job = [s for s in in_window if s.job == job]
            assert (js.builds, js.failures) == (len(all_job), sum(s.failed for s in all_job))
            assert js.hits == sum(s.job == job for s in hit)
            assert js.failure_rate == pytest.approx(js.failures / js.builds)
    # fail_old hits 1000001's text but lies outside the window
    assert BY_NAME["fail_old"].uuid not in {s.uuid for s in in_window}
    order = [(-(b.fails24 * 100000 + b.fails)) for b in g.bugs]
    assert order == sorted(order)


def test_graph_json_has_elastic_recheck_shape(engine: RecheckEngine) -> None:
    gj = engine.graph_json(days=10, now=NOW)
    assert set(gj) >= {"now", "last_indexed", "behind", "buglist"}
    assert gj["now"] == NOW_US // 1000
    newest = max(int(t.timestamp() * 1000) for s in SPECS for t, _ in s.lines())
    assert gj["last_indexed"] == newest and gj["behind"] == gj["now"] - newest
    numbers = [b["number"] for b in gj["buglist"]]
    assert "1000005" not in numbers  # suppress-graph
    assert set(numbers) == set(SIGNATURES) - {"1000005"}
    for b in gj["buglist"]:
        assert set(b) >= {"number", "query", "logstash_url", "fails", "fails24", "voting", "data"}
        for series in b["data"]:
            assert len(series["data"]) == 240
            assert all(
                t2 - t1 == 3_600_000
                for (t1, _), (t2, _) in zip(series["data"], series["data"][1:], strict=False)
            )
    b2 = next(b for b in gj["buglist"] if b["number"] == "1000002")
    assert b2["voting"] is False
    assert (
        sum(n for s in b2["data"] if s["label"] == "FAILURE" for _, n in s["data"]) == b2["fails"]
    )


def test_lag_is_now_minus_newest_event(engine: RecheckEngine) -> None:
    lag = engine.lag(now=NOW)
    newest = max(int(t.timestamp() * 1_000_000) for s in SPECS for t, _ in s.lines())
    assert lag.last_indexed_us == newest
    assert lag.behind_s == pytest.approx((NOW_US - newest) / 1e6)
    youngest = min((s for s in SPECS), key=lambda s: s.hours_ago)
    assert lag.newest_build == youngest.uuid


# -- uncategorized ---------------------------------------------------------------------------


def test_uncategorized_lists_unmatched_failures_by_job_newest_first(engine: RecheckEngine) -> None:
    u = engine.uncategorized(days=10, now=NOW)
    start, end = window(NOW_US, 10)
    failed = [
        s for s in SPECS if s.failed and s.voting and start <= s.start.timestamp() * 1e6 < end
    ]
    want = [s for s in failed if not expected(s)]
    assert u.failed == len(failed) and u.categorized == len(failed) - len(want)
    got = {j.job: [b.build_uuid for b in j.builds] for j in u.jobs}
    want_by_job: dict[str, list[str]] = {}
    for s in sorted(want, key=lambda s: s.hours_ago):
        want_by_job.setdefault(s.job, []).append(s.uuid)
    assert got == want_by_job
    b = u.jobs[0].builds[0]
    assert b.log_url == f"https://logs.example.org/{b.build_uuid[:7]}/"
    assert b.link == f"/recheck/builds/{b.build_uuid}"
    # non-voting failures only when asked; this one is categorized by an allow-nonvoting bug
    every = engine.uncategorized(days=10, now=NOW, voting_only=False)
    assert every.failed == u.failed + 1 and every.count == u.count


def test_engine_api_serves_json(engine: RecheckEngine) -> None:
    """Everything the web layer puts in a JSON response must serialize."""
    for obj in (engine.graph(days=10, now=NOW), engine.uncategorized(days=10, now=NOW),
                engine.classify(BY_NAME["fail_voting"].uuid), engine.lag(now=NOW)):  # fmt: skip
        assert orjson.loads(orjson.dumps(obj.as_dict()))


# -- the shipped signatures on the demo data set -------------------------------------------------


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecheckEngine, list]:
    demo = pytest.importorskip("appliance.demo")
    root = tmp_path_factory.mktemp("recheck-demo")
    now = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
    dirs = demo.generate(root / "builds", now=now)
    plan = demo.plan_builds(now=now)
    cfg = config.load(data_dir=root / "data", workers=2)
    store = Store(cfg.data_dir)
    s = ingest.ingest(store, cfg, ingest.plan(dirs, tenant="demo"), progress=False)
    assert not s.errors
    eng = RecheckEngine(store, signatures=SignatureSet(), cache_ttl_s=0)
    yield eng, plan, now
    eng.stop()
    store.close()


def test_shipped_signatures_classify_the_demo_failures(demo_engine: tuple) -> None:
    eng, plan, _ = demo_engine
    assert not eng.signatures.errors and len(eng.signatures) >= 1
    shipped = {s.bug for s in eng.signatures}
    seen_bugs = set()
    for b in plan:
        c = eng.classify(b.uuid)
        assert c.found and c.indexed, b.uuid
        if b.result == "SUCCESS":
            assert c.bugs == [], (b.job, c.bugs)
        elif b.bug is not None:
            assert str(b.bug) in shipped
            assert c.bugs == [str(b.bug)], (b.job, b.bug, c.bugs)
            seen_bugs.add(str(b.bug))
        else:
            assert c.bugs == [] and c.uncategorized, (b.job, b.uncategorized, c.bugs)
    assert seen_bugs == shipped  # the demo shows every shipped bug


def test_demo_uncategorized_are_the_unmatched_failures(demo_engine: tuple) -> None:
    eng, plan, now = demo_engine
    u = eng.uncategorized(days=10, now=now, voting_only=False)
    want = {b.uuid for b in plan if b.result == "FAILURE" and b.bug is None}
    assert {fb.build_uuid for j in u.jobs for fb in j.builds} == want
    assert u.failed == sum(b.result == "FAILURE" for b in plan)
    g = eng.graph(days=10, now=now)
    for bug in g.bugs:
        assert bug.fails == sum(b.result == "FAILURE" and str(b.bug) == bug.bug for b in plan)


def test_classification_is_cached_until_what_it_depends_on_changes(engine: RecheckEngine) -> None:
    spec = BY_NAME["fail_voting"]
    first = engine.classify(spec.uuid)
    again = engine.classify(spec.uuid)
    assert again.bugs == first.bugs and again.matches == first.matches
    assert again.matches is first.matches  # served from the cache, not recomputed
    sigdir = engine.signatures.directory
    extra = sigdir / "1000077.yaml"
    extra.write_text('query: message:"alpha happened in setup"\n')
    try:
        engine.signatures.reload()
        assert "1000077" in engine.classify(spec.uuid).bugs  # a new signature invalidates
    finally:
        extra.unlink()
        engine.signatures.reload()
    assert "1000077" not in engine.classify(spec.uuid).bugs
