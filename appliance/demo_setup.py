"""The built-in demo: generate a few days of synthetic CI builds and ingest them once.

``appliance serve --demo`` calls this so that a newcomer sees search and recheck working
on a fresh machine, without any logs of their own and without ``../shared``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from index.store import Store

from . import demo, ingest
from .config import Config


def ensure_demo(cfg: Config, *, force: bool = False, quiet: bool = True) -> ingest.Summary | None:
    """Ingest the demo data set unless the data directory already holds events."""
    store = Store(cfg.data_dir)
    try:
        if not force and store.catalog.stats()["sources"] > 0:
            return None
        src = cfg.data_dir / "demo-logs"
        shutil.rmtree(src, ignore_errors=True)
        demo.generate(src, now=datetime.now(UTC))
        summary = ingest.ingest(store, cfg, ingest.plan([src], tenant=cfg.tenant or "demo"), progress=not quiet)
        if not quiet:
            print(f"demo: ingested {summary.files} files of {summary.builds} builds, {summary.events:,} events")
        return summary
    finally:
        store.close()
