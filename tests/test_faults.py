"""Faults on real processes: kill -9 of the server, a full disk budget, a damaged partition.

Each test runs ``appliance`` commands and ``appliance serve`` as separate processes on
loopback (``loadtests.server``) and checks what a deployer would: after the fault, the
data holds exactly what one clean ingest holds, nothing is corrupt, the other days serve.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.search import Searcher
from index.store import Store
from loadtests import server as srvmod

from .conftest import write_build

BASE_ENV = {"APPLIANCE_MIN_FREE_FRACTION": "0", "APPLIANCE_WORKERS": "2", "APPLIANCE_CONFIG": "/dev/null"}


def _env(**kw: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    return {**env, **BASE_ENV, **{k: str(v) for k, v in kw.items()}}


def _cli(data: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), *args],
                          capture_output=True, text=True, env=env or _env(), timeout=timeout)  # fmt: skip


def _state(data: Path) -> tuple[int, dict[str, int], int]:
    """(events, events per source key, unacknowledged sources)."""
    store = Store(data)
    try:
        se = Searcher(store)
        per = se.per_source("*")
        keys = {s.key: per.get(s.id, 0) for s in store.catalog.sources()}
        return se.count("*"), dict(sorted(keys.items())), len(store.catalog.pending())
    finally:
        store.close()


def _age(root: Path, seconds: float = 600) -> None:
    """Make a tree look settled to the spool (nothing changed for a while)."""
    t = time.time() - seconds
    for p in [root, *root.rglob("*")]:
        os.utime(p, (t, t))


# -- kill -9 -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_of_serve_during_spool_ingest_then_restart_equals_one_clean_ingest(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "src"
    for i in range(4):
        write_build(src, {f"logs/{f.name}": f for f in sorted(corpus.iterdir())}, build_uuid=f"{i + 1:032x}")
    clean = tmp_path / "clean"
    r = _cli(clean, "ingest", "--quiet", str(src))
    assert r.returncode == 0, r.stderr
    expected = _state(clean)
    assert expected[0] > 100_000 and expected[2] == 0

    spool, data = tmp_path / "spool", tmp_path / "data"
    shutil.copytree(src, spool)
    _age(spool)
    env = _env(APPLIANCE_SPOOL_DIR=spool)
    names = sorted(p.name for p in src.iterdir())

    def all_done() -> bool:
        return sorted(p.name for p in (spool / "done").iterdir()) == names

    rng = random.Random(11)
    kills = 0
    for attempt in range(4):
        srv = srvmod.start(data, env=env, log=tmp_path / f"serve-{attempt}.log", inherit_env=False)
        try:
            # the writer thread starts with the first spool job: the ingest is under way
            srvmod.wait_for(lambda s=srv: all_done() or s.get("/status").json()["writer"]["running"], 30, 0.05,
                            "spool ingest")  # fmt: skip
            time.sleep(rng.uniform(0.2, 2.0))
        finally:
            if not all_done():
                srv.kill()
                kills += 1
            elif srv.alive():
                srv.stop(60)
    assert kills >= 2
    srv = srvmod.start(data, env=env, log=tmp_path / "serve-final.log", inherit_env=False)
    try:
        srvmod.wait_for(lambda: sorted(p.name for p in (spool / "done").iterdir()) == sorted(p.name for p in src.iterdir()),
                        120, 0.2, "every build in done/")  # fmt: skip
        assert not list((spool / "failed").iterdir())
    finally:
        assert srv.stop(60) == 0, srv.output()[-2000:]
    assert _state(data) == expected
    assert "Traceback" not in srv.output()


@pytest.mark.slow
def test_kill_9_of_serve_during_bulk_then_resending_the_unacknowledged_equals_one_clean_load(
    tmp_path: Path, corpus: Path
) -> None:
    """A shipper's view: bodies answered 200 are durable; a body whose answer was lost to the
    kill is sent again and is not doubled, whether or not it had been committed."""
    import httpx

    from appliance.bench_bulk import bodies

    src = tmp_path / "src"
    for i in range(2):
        write_build(src, {f"logs/{f.name}": f for f in sorted(corpus.iterdir())}, build_uuid=f"{i + 1:032x}")
    sent = [b for b, _, _ in bodies(src, max_bytes=1 << 20)]
    assert len(sent) >= 20
    auth = {"Authorization": "Bearer t0k", "Content-Type": "application/x-ndjson"}
    env = _env(APPLIANCE_TOKEN="t0k")

    def load(srv: srvmod.Server, todo: list[int], acked: set[int]) -> None:
        with srv.client(timeout=60) as c:
            for i in todo:
                try:
                    r = c.post("/_bulk", content=sent[i], headers=auth)
                except httpx.HTTPError:
                    return  # the server died under us: this body is not acknowledged
                if r.status_code == 200:
                    assert r.json()["errors"] is False
                    acked.add(i)

    clean = tmp_path / "clean"
    with srvmod.running(clean, env=env, log=tmp_path / "clean.log", inherit_env=False) as srv:
        done: set[int] = set()
        load(srv, list(range(len(sent))), done)
        assert done == set(range(len(sent)))
    expected = _state(clean)
    assert expected[0] > 50_000 and expected[2] == 0

    data, acked, kills = tmp_path / "data", set(), 0
    rng = random.Random(5)
    for attempt in range(3):
        srv = srvmod.start(data, env=env, log=tmp_path / f"bulk-{attempt}.log", inherit_env=False)
        todo = [i for i in range(len(sent)) if i not in acked]
        th = threading.Thread(target=load, args=(srv, todo, acked), daemon=True)
        th.start()
        time.sleep(rng.uniform(0.5, 2.5))
        if th.is_alive():
            srv.kill()
            kills += 1
        th.join(120)
        if srv.alive():
            srv.stop(60)
        durable = _state(data)[0]
        assert durable >= sum(sent[i].count(b"\n") // 2 for i in acked)  # acknowledged = searchable after kill -9
    assert kills >= 2
    with srvmod.running(data, env=env, log=tmp_path / "bulk-final.log", inherit_env=False) as srv:
        load(srv, [i for i in range(len(sent)) if i not in acked], acked)
    assert acked == set(range(len(sent)))
    assert _state(data) == expected


# -- disk budget -----------------------------------------------------------------------------------


def _day_build(root: Path, day: str, n: int, tag: str) -> Path:
    lines = b"".join(b"%s 10:%02d:%02d.000 | %s line %d of a long enough log record to weigh something\n"
                     % (day.encode(), i // 60 % 60, i % 60, tag.encode(), i) for i in range(n))  # fmt: skip
    return write_build(root, {"job-output.txt": lines}, start=f"{day}T09:59:00", build_uuid=f"{int(day[-2:]):032x}")


def _check_partitions(data: Path, expect_per_day: dict[str, int]) -> list[str]:
    """Every remaining day opens and holds exactly its events; the catalog agrees."""
    store = Store(data)
    try:
        days = store.partitions.days()
        se = Searcher(store)
        for d in days:
            s = store.partitions.searcher(d)
            assert s.num_docs == expect_per_day[d], d
            assert se.count(f'build_uuid:"{int(d[-2:]):032x}"') == expect_per_day[d]
        assert not store.partitions.broken
        assert {day for s in store.catalog.sources() for day in s.days} == set(days)
        assert not store.catalog.pending()
        return days
    finally:
        store.close()


def test_disk_budget_drops_oldest_days_and_ingest_goes_on(tmp_path: Path) -> None:
    days = [f"2024-03-{d:02d}" for d in range(1, 7)]
    src = tmp_path / "src"
    builds = {d: _day_build(src, d, 6000, f"day{d[-2:]}") for d in days}
    # The budget: what about two and a half days take, measured on a scratch ingest of one.
    probe = tmp_path / "probe"
    assert _cli(probe, "ingest", "--quiet", str(builds[days[0]])).returncode == 0
    store = Store(probe)
    u = store.disk_usage()
    store.close()
    budget = int((u["index"] + u["archive"]) * 2.5)
    env = _env(APPLIANCE_DISK_BUDGET_BYTES=budget)
    data = tmp_path / "data"
    kept: list[str] = []
    for d in days:
        r = _cli(data, "ingest", "--json", "--quiet", str(builds[d]), env=env)
        assert r.returncode == 0, r.stderr  # ingest goes on past the budget
        kept = _check_partitions(data, dict.fromkeys(days, 6000))
        assert kept[-1] == d, "the newest day is never dropped"
        assert kept == sorted(kept) and kept == days[days.index(kept[0]) : days.index(d) + 1], "oldest first, no holes"
        store = Store(data)
        usage = store.disk_usage()
        blobs = len(list(store.archive.blobs()))
        store.close()
        assert usage["index"] + usage["archive"] <= budget or len(kept) == 1
        assert blobs == len(kept), "archive blobs of dropped days are deleted"
    assert 1 < len(kept) < len(days)


def test_disk_budget_holds_while_serving(tmp_path: Path) -> None:
    days = [f"2024-03-{d:02d}" for d in range(1, 5)]
    spool, data = tmp_path / "spool", tmp_path / "data"
    staging = tmp_path / "staging"
    for d in days:
        _day_build(staging, d, 6000, f"day{d[-2:]}")
    probe = tmp_path / "probe"
    assert _cli(probe, "ingest", "--quiet", str(staging / f"{1:032x}")).returncode == 0
    store = Store(probe)
    u = store.disk_usage()
    store.close()
    budget = int((u["index"] + u["archive"]) * 2.5)
    spool.mkdir()
    env = _env(APPLIANCE_SPOOL_DIR=spool, APPLIANCE_DISK_BUDGET_BYTES=budget)
    with srvmod.running(data, env=env, log=tmp_path / "serve.log", inherit_env=False) as srv:
        for b in sorted(staging.iterdir()):
            _age(b)
            b.rename(spool / b.name)
            srvmod.wait_for(lambda b=b: (spool / "done" / b.name).exists(), 60, 0.1, f"{b.name} ingested")
        days_now = [d["day"] for d in srv.get("/status").json()["days"]]
    assert days_now[-1] == days[-1] and 1 <= len(days_now) < len(days), "oldest days dropped, the newest kept"
    assert days_now == days[-len(days_now):]
    kept = _check_partitions(data, dict.fromkeys(days, 6000))  # every remaining day opens and counts
    assert kept == days_now


# -- a damaged partition ---------------------------------------------------------------------------


def _three_days(tmp_path: Path) -> tuple[Path, list[str]]:
    src = tmp_path / "src"
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    for d in days:
        _day_build(src, d, 3000, f"day{d[-2:]}")
    data = tmp_path / "data"
    r = _cli(data, "ingest", "--quiet", str(src))
    assert r.returncode == 0, r.stderr
    return data, days


def _flip(path: Path, where: str) -> None:
    b = bytearray(path.read_bytes())
    if where == "footer":  # the segment file's footer: tantivy refuses to open it
        for i in range(len(b) - 40, len(b)):
            b[i] ^= 0xA5
    else:  # the middle: only a checksum would notice
        rng = random.Random(3)
        for _ in range(256):
            i = rng.randrange(len(b) // 4, len(b) * 3 // 4)
            b[i] ^= 0xFF
    path.write_bytes(bytes(b))


def _discover_total(srv: srvmod.Server, **params: str) -> int:
    r = srv.get("/discover.json", params={"q": "*", "from": "0", "size": "1", **params})
    assert r.status_code == 200, r.text[:300]
    return int(r.json()["total"])


@pytest.mark.slow
def test_damaged_partition_is_reported_other_days_serve_and_reindex_repairs_it(tmp_path: Path) -> None:
    data, days = _three_days(tmp_path)
    bad = days[1]
    seg = sorted((data / "index" / bad).glob("*.idx"))[0]
    _flip(seg, "footer")
    with srvmod.running(data, env=_env(), log=tmp_path / "serve.log", inherit_env=False) as srv:
        status = srv.get("/status").json()
        assert bad in status["broken_partitions"], status["broken_partitions"]
        assert [d for d in status["days"] if "error" in d] == [d for d in status["days"] if d["day"] == bad]
        assert bad in srv.get("/readyz").json()["broken_partitions"]
        assert _discover_total(srv) == 6000, "the other days serve"
        assert _discover_total(srv, **{"from": f"{bad}T00:00:00Z", "to": f"{bad}T23:59:59Z"}) == 0
        assert srv.get("/metrics").text.count("appliance_broken_partitions 1.0") == 1

        # The server holds no write lock (no live source), so reindex runs beside it.
        r = _cli(data, "reindex", "--quiet", "--day", bad)
        assert r.returncode == 0, r.stderr
        assert _discover_total(srv) == 9000
        status = srv.get("/status").json()
        assert not status["broken_partitions"] and all("error" not in d for d in status["days"])
    assert "Traceback" not in srv.output()
    _check_partitions(data, dict.fromkeys(days, 3000))


def test_bytes_flipped_inside_a_segment_are_reported(tmp_path: Path) -> None:
    data, days = _three_days(tmp_path)
    bad = days[1]
    for seg in sorted((data / "index" / bad).glob("*.fast")):
        _flip(seg, "middle")
    with srvmod.running(data, env=_env(), log=tmp_path / "serve.log", inherit_env=False) as srv:
        r = srv.get("/discover.json", params={"q": "*", "from": "0", "size": "5"})
        assert r.status_code == 200
        # the query may or may not read the damaged bytes; the startup check always finds them
        _wait_verified(srv)
        assert bad in srv.get("/status").json()["broken_partitions"]


def _wait_verified(srv: srvmod.Server) -> dict[str, object]:
    for _ in range(100):
        ready = srv.get("/readyz").json()
        if ready["checksums_verified"]:
            return ready  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("the startup checksum check never finished")


def test_verify_finds_damage_no_query_notices_and_reindex_clears_it(tmp_path: Path) -> None:
    data, days = _three_days(tmp_path)
    bad = days[2]
    pos = max((data / "index" / bad).glob("*.pos"), key=lambda p: p.stat().st_size)  # read by phrases only
    body = bytearray(pos.read_bytes())
    assert len(body) > 400
    body[len(body) // 3] ^= 0x01  # one bit, far from the footer
    pos.write_bytes(bytes(body))
    blob = next(p for p in (data / "archive").rglob("*") if p.is_file() and p.stat().st_size > 1000)
    good_blob = blob.read_bytes()
    _flip(blob, "middle")

    r = _cli(data, "verify", "--archive")
    assert r.returncode == 1
    assert f"day {bad}: " in r.stdout and "checksum mismatch" in r.stdout
    assert f"appliance reindex --day {bad}" in r.stdout
    assert "archive: " in r.stdout
    assert all(f"day {d}:" not in r.stdout for d in days[:2])

    with srvmod.running(data, env=_env(), log=tmp_path / "serve.log", inherit_env=False) as srv:
        ready = _wait_verified(srv)
        assert list(ready["broken_partitions"]) == [bad]  # type: ignore[call-overload]
        assert _discover_total(srv) == 9000, "a damaged day is reported, not hidden"
        store = Store(data)
        src = next(x for x in store.catalog.sources() if x.sha256 == blob.name.removesuffix(".zst"))
        store.close()
        r = srv.get("/discover.json", params={"q": f'build_uuid:"{src.attrs["build_uuid"]}"', "from": "0"})
        assert r.status_code == 200, r.text[:300]
        assert "log text unavailable" in r.text, "hits of a damaged archive blob still show, saying why"
        r = srv.get(f"/logs/{src.key}")
        assert r.status_code == 200 and "The archived file is damaged" in r.text
    assert f"day partition {bad} is damaged" in srv.output()

    blob.write_bytes(good_blob)
    r = _cli(data, "reindex", "--quiet", "--day", bad)
    assert r.returncode == 0, r.stderr
    r = _cli(data, "verify", "--archive")
    assert r.returncode == 0, r.stdout
    assert "ok: 3 day partitions and the archive" in r.stdout
