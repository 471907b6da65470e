"""A small real data directory for the web tests: two builds, written here, ingested once.

Shared by ``test_web_*`` and ``test_browser_*`` (one ingest per session). The logs are
in the real formats (oslo.log service log, Zuul console) and include attacker-shaped
lines (``<script>``, ``<img onerror>``) to prove they are rendered as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette

if TYPE_CHECKING:
    from appliance.config import Config

FAILED = "a1" * 16
PASSED = "b2" * 16
API_LOG = "controller/logs/screen-n-api.txt"
CONSOLE = "job-output.txt"
SCRIPT_LINE = "<script>alert(1)</script> and <img src=x onerror=alert(1)>"
DAY1, DAY2 = "2024-02-13", "2024-02-14"
RANGE = {"from": "2024-02-12T00:00:00Z", "to": "2024-02-15T00:00:00Z"}


def _record(uuid: str, result: str, job: str, start: str) -> dict[str, object]:
    return {
        "uuid": uuid, "job_name": job, "result": result, "voting": True, "start_time": start,
        "log_url": f"https://logs.example.org/{uuid[:7]}/", "nodeset": "ubuntu-jammy",
        "project": "openstack/nova", "branch": "master", "pipeline": "check",
        "change": 829161, "patchset": "3", "ref": "refs/changes/61/829161/3", "tenant": "openstack",
    }  # fmt: skip


def api_log_failed() -> str:
    L = [
        f"{DAY1} 10:00:00.000 1234 DEBUG nova.api.wsgi [req-1] Starting request GET /servers",
        f"{DAY1} 10:00:01.000 1234 INFO nova.api.wsgi [req-1] GET /servers status: 200",
        f"{DAY1} 10:00:02.000 1234 WARNING nova.compute.manager [req-2] Instance failed to spawn, retrying",
        f"{DAY1} 10:00:03.000 1234 ERROR nova.compute.manager [req-3] Timed out waiting for a reply to message ID abc123",
        f"{DAY1} 10:00:03.500 1234 ERROR nova.compute.manager Traceback (most recent call last):",
        f'{DAY1} 10:00:03.500 1234 ERROR nova.compute.manager   File "/opt/stack/nova/nova/compute/manager.py", line 42, in spawn',
        f"{DAY1} 10:00:03.500 1234 ERROR nova.compute.manager     self.driver.spawn()",
        f"{DAY1} 10:00:03.500 1234 ERROR nova.compute.manager MessagingTimeout: Timed out waiting for a reply",
        f"{DAY1} 10:00:04.000 1234 INFO nova.api.wsgi [req-4] {SCRIPT_LINE}",
        f'{DAY1} 10:00:05.000 1234 DEBUG nova.api.wsgi [req-5] headers: {{"X-Test": "a&b"}}',
    ]
    for i in range(7):  # a run of equal times (exports page across it)
        L.append(f"{DAY1} 10:00:30.000 1234 INFO nova.api.wsgi [req-s{i}] same-time event {i}")
    for i in range(40):
        lvl = "DEBUG" if i % 3 else "INFO"
        L.append(f"{DAY1} 10:01:{i:02d}.000 1234 {lvl} nova.api.wsgi [req-{10 + i}] filler request {i} done")
    return "\n".join(L) + "\n"


def api_log_passed() -> str:
    return "".join(
        f"{DAY2} 11:00:{i:02d}.000 4321 INFO nova.api.wsgi [req-{i}] GET /servers status: 200 round {i}\n" for i in range(12)
    )


BIG_LOG = "controller/logs/screen-big.txt"
BIG_LINES = 40_000


def big_log() -> str:
    """A long service log, dated outside :data:`RANGE` (it only serves the viewer tests)."""
    return "".join(
        f"2024-03-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000 777 {'DEBUG' if i % 4 else 'INFO'} "
        f"nova.compute.manager [req-{i}] periodic task {i} ran for instance {i * 7919 % 100003} in 0.{i % 997:03d}s\n"
        for i in range(BIG_LINES)
    )


def console_log() -> str:
    return (
        f"{DAY1} 09:59:00.000000 | controller | TASK [run tempest]\n"
        f"{DAY1} 09:59:01.000000 | controller | tempest.api.compute.servers.test_create_server ... FAILED\n"
        f"{DAY1} 09:59:02.000000 | controller | Timed out waiting for a reply\n"
    )


def write_builds(root: Path) -> Path:
    a, b = root / FAILED, root / PASSED
    (a / "controller/logs").mkdir(parents=True)
    (b / "controller/logs").mkdir(parents=True)
    (a / "build.json").write_text(json.dumps(_record(FAILED, "FAILURE", "tempest-full", f"{DAY1}T09:58:00")))
    (b / "build.json").write_text(json.dumps(_record(PASSED, "SUCCESS", "nova-tox", f"{DAY2}T10:58:00")))
    (a / API_LOG).write_text(api_log_failed())
    (a / CONSOLE).write_text(console_log())
    (b / API_LOG).write_text(api_log_passed())
    (b / BIG_LOG).write_text(big_log())
    return root


@dataclass
class Data:
    root: Path
    logs: Path
    cfg: Config


_DATA: Data | None = None


def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """Build (once per session) and return the data directory."""
    global _DATA
    if _DATA is None:
        from appliance import config, ingest
        from index.store import Store

        base = tmp_path_factory.mktemp("webdata")
        logs = write_builds(base / "logs")
        cfg = config.load(env={}, data_dir=base / "data", min_free_fraction=0.0, workers=1)
        store = Store(cfg.data_dir)
        try:
            summary = ingest.ingest(store, cfg, ingest.plan([logs]), progress=False)
            assert summary.files == 4 and not summary.errors, summary.as_dict()
        finally:
            store.close()
        _DATA = Data(base / "data", logs, cfg)
    return _DATA


def app(d: Data) -> Starlette:
    from web.app import create_app

    return create_app(d.cfg)


_DEMO: Data | None = None


def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """The built-in demo data set (builds of the last 3 days, known failures), once per session."""
    global _DEMO
    if _DEMO is None:
        from datetime import UTC, datetime

        from appliance import config, demo, ingest
        from index.store import Store

        base = tmp_path_factory.mktemp("webdemo")
        demo.generate(base / "logs", days=3, now=datetime.now(UTC))
        cfg = config.load(env={}, data_dir=base / "data", min_free_fraction=0.0)
        store = Store(cfg.data_dir)
        try:
            summary = ingest.ingest(store, cfg, ingest.plan([base / "logs"], tenant="demo"), progress=False)
            assert summary.files and not summary.errors, summary.as_dict()
        finally:
            store.close()
        _DEMO = Data(base / "data", base / "logs", cfg)
    return _DEMO
