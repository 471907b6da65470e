"""The spool source: drop a job's log tree with its ``build.json`` into a watched directory.

A build directory is taken once it has a ``build.json`` and nothing in it changed for
``settle_s`` seconds (a half-copied tree waits), ingested through the ingest service's
single writer, then moved to ``done/`` — or to ``failed/`` with a ``reason.txt``. Ingest
is idempotent, so a restart between the ingest and the move only re-checks the files.
Directories already waiting when the source starts are picked up (it survives restarts).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from index.store import Store

from .. import ingest
from ..background import Background
from ..config import Config
from ..service import Busy, IngestService

log = logging.getLogger("appliance.spool")


class SpoolSource:
    def __init__(self, cfg: Config, store: Store, service: IngestService, *, settle_s: float = 2.0) -> None:
        if cfg.spool_dir is None:
            raise ValueError("spool_dir is not configured")
        self.cfg = cfg
        self.store = store
        self.service = service
        self.root = Path(cfg.spool_dir)
        self.settle_s = settle_s
        for sub in ("done", "failed"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._bg = Background(self._run, "spool")
        self._stop = self._bg.stopping
        self.stats: dict[str, Any] = {"ingested": 0, "failed": 0, "events": 0, "bytes": 0,
                                      "last_build": None, "last_error": None, "waiting": 0}  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._bg.start()

    def stop(self) -> None:
        self._bg.stop(30)

    def status(self) -> dict[str, Any]:
        return {"source": "spool", "dir": str(self.root), "running": self.running, **self.stats}

    @property
    def running(self) -> bool:
        return self._bg.alive

    # -- work ------------------------------------------------------------------------------

    def candidates(self) -> list[Path]:
        return sorted(
            d for d in self.root.iterdir() if d.is_dir() and d.name not in ("done", "failed") and not d.name.startswith(".")
        )

    def ready(self, d: Path, now: float | None = None) -> bool:
        """build.json present and the tree quiet for ``settle_s``."""
        if not (d / "build.json").is_file():
            return False
        now = time.time() if now is None else now
        try:
            newest = max((p.lstat().st_mtime for p in d.rglob("*")), default=0.0)
            newest = max(newest, d.stat().st_mtime)
        except FileNotFoundError:  # a file renamed away mid-scan (rsync's temp files): still moving
            return False
        return now - newest >= self.settle_s

    def scan_once(self) -> int:
        """Ingest every ready build directory; returns how many were handled."""
        handled = 0
        waiting = 0
        for d in self.candidates():
            if self._stop.is_set():
                break
            if not self.ready(d):
                waiting += 1
                continue
            self._take(d)
            handled += 1
        self.stats["waiting"] = waiting
        return handled

    def _take(self, d: Path) -> None:
        try:
            builds = ingest.plan([d], tenant=self.cfg.tenant)
            if self.cfg.backend != "local":  # to the cluster (bulk, retried on 429), not the local writer
                from ..backend.writer import ingest_remote

                summary = ingest_remote(self.cfg, builds)
            else:
                summary = self._ingest_local(builds)
        except Exception as e:  # noqa: BLE001 - a bad tree is reported, never fatal
            self._move(d, "failed", f"{type(e).__name__}: {e}")
            self.stats["failed"] += 1
            self.stats["last_error"] = f"{d.name}: {e}"
            log.warning("spool: %s failed: %s", d.name, e)
            return
        self.stats["ingested"] += 1
        self.stats["events"] += summary.events
        self.stats["bytes"] += summary.bytes
        self.stats["last_build"] = d.name
        if summary.errors:
            self._move(d, "failed", "\n".join(f"{p}: {why}" for p, why in summary.errors))
        else:
            self._move(d, "done")

    def _ingest_local(self, builds: list[ingest.Build]) -> ingest.Summary:
        job = lambda w: ingest.ingest(self.store, self.cfg, builds, writer=w, progress=False)  # noqa: E731
        while True:
            try:
                return self.service.run(job)  # type: ignore[no-any-return]
            except Busy as e:
                time.sleep(e.retry_after)

    def _move(self, d: Path, where: str, reason: str = "") -> None:
        target = self.root / where / d.name
        if target.exists():
            shutil.rmtree(target)
        os.replace(d, target)
        if reason:
            (target / "reason.txt").write_text(reason + "\n")

    def _run(self) -> None:
        from watchfiles import watch

        self._scan()
        for _changes in watch(self.root, stop_event=self._stop, yield_on_timeout=True, rust_timeout=int(self.settle_s * 1000)):
            self._scan()

    def _scan(self) -> None:
        """One scan; an unexpected error (the spool dir itself gone, a permission change) is
        reported in the status and the next change retries, instead of killing the watcher."""
        try:
            self.scan_once()
        except Exception as e:  # noqa: BLE001 - the source keeps running; the error is shown
            self.stats["last_error"] = f"scan: {type(e).__name__}: {e}"
            log.exception("spool: scan failed")


def start(services: Any) -> None:
    """Startup hook (``web.app.STARTUP_HOOKS``): run the spool source if configured."""
    cfg = services.config
    if cfg.spool_dir is None:
        return
    src = SpoolSource(cfg, services.store, services.ingest)
    services.extras["spool"] = src
    src.start()
