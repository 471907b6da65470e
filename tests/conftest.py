"""Shared fixtures: the real corpus beside the repo, and build trees made from it."""

from __future__ import annotations

import gzip
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import settings

# CI gates merges: property tests run derandomized there (the same examples every run, so
# a green run stays green); locally they explore new examples each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "os-loganalyze"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the real corpus is not at {CORPUS}")
    return CORPUS


def write_build(
    root: Path,
    files: dict[str, bytes | Path],
    *,
    result: str = "FAILURE",
    job: str = "tempest-full",
    start: str = "2013-09-27T18:00:00",
    voting: bool = True,
    build_uuid: str | None = None,
    **extra: Any,
) -> Path:
    """A build directory: ``build.json`` (Zuul record, legacy shape) + the given files."""
    build_uuid = build_uuid or uuid.uuid4().hex
    d = root / build_uuid
    d.mkdir(parents=True)
    rec = {
        "uuid": build_uuid, "job_name": job, "result": result, "voting": voting,
        "start_time": start, "end_time": start, "pipeline": "check", "project": "openstack/nova",
        "branch": "master", "change": 12345, "patchset": "1", "ref": "refs/changes/45/12345/1",
        "log_url": f"https://logs.example.org/{build_uuid[:7]}/", "nodeset": "ubuntu-jammy", **extra,
    }  # fmt: skip
    (d / "build.json").write_bytes(orjson.dumps(rec))
    for name, content in files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, p)
        else:
            gz = name.endswith(".gz") and content[:2] != b"\x1f\x8b"
            p.write_bytes(gzip.compress(content) if gz else content)
    return d


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def big_oslo_log(n: int) -> tuple[bytes, int]:
    """An oslo.log file of ``n`` records over midnight, every 50th a 3-line traceback."""
    out, events = [], 0
    for i in range(n):
        t = 86_400 - n // 2 + i  # seconds since 2013-09-27T00:00, crossing into the 28th
        day, sec = 27 + t // 86_400, t % 86_400
        ts = f"2013-09-{day} {sec // 3600:02}:{sec // 60 % 60:02}:{sec % 60:02}.{i % 1000:03}"
        level = "ERROR" if i % 50 == 0 else "INFO"
        out.append(f"{ts} 4242 {level} nova.compute.manager [req-{i:08x}] instance {i} changed state " + "x" * 40)
        if level == "ERROR":
            out += [f"{ts} 4242 ERROR nova.compute.manager Traceback (most recent call last):",
                    f"{ts} 4242 ERROR nova.compute.manager ValueError: record {i}"]  # fmt: skip
        events += 1
    return ("\n".join(out) + "\n").encode(), events
