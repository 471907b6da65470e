"""Retention: drop whole days, oldest first, by age and by disk budget.

A day goes in three steps, each safe to interrupt: its directory is renamed away and
deleted (:meth:`Partitions.drop`), the catalog forgets the day (sources left with no
day are removed), and archive blobs no source references any more are deleted.
:func:`reconcile` finishes a drop that was interrupted between the steps.
"""

from __future__ import annotations

import time

from .partitions import day_of
from .store import Store
from .writer import Writer


def _usage(store: Store) -> int:
    u = store.disk_usage()
    return u["index"] + u["archive"]


def drop_day(store: Store, day: str) -> None:
    store.partitions.drop(day)
    for sha in store.catalog.forget_day(day):
        store.archive.delete(sha)


def reconcile(store: Store) -> list[str]:
    """Forget days the catalog still lists but whose partition is gone."""
    present = set(store.partitions.days())
    rows = store.catalog._all("SELECT DISTINCT day FROM source_days")
    gone = [r[0] for r in rows if r[0] not in present]
    for day in gone:
        for sha in store.catalog.forget_day(day):
            store.archive.delete(sha)
    store.partitions.clean_trash()
    return gone


def enforce(
    store: Store,
    *,
    retention_days: int = 0,
    min_free_fraction: float = 0.15,
    disk_budget_bytes: int = 0,
    now_us: int | None = None,
    writer: Writer | None = None,
) -> list[str]:
    """Drop the oldest days until every limit holds; never the newest day. Returns them."""
    reconcile(store)
    now_us = now_us if now_us is not None else int(time.time() * 1_000_000)
    cutoff = day_of(now_us - retention_days * 86_400_000_000) if retention_days > 0 else ""
    dropped: list[str] = []
    while True:
        days = store.partitions.days()
        if len(days) <= 1:
            break
        oldest = days[0]
        free, total = store.free_bytes()
        too_old = bool(cutoff) and oldest < cutoff
        too_full = total > 0 and free / total < min_free_fraction
        over_budget = disk_budget_bytes > 0 and _usage(store) > disk_budget_bytes
        if not (too_old or too_full or over_budget):
            break
        if writer is not None:
            writer.release_day(oldest)  # its open IndexWriter must not outlive the directory
        drop_day(store, oldest)
        dropped.append(oldest)
    return dropped
