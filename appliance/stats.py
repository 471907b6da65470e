"""``appliance stats``: what the data directory holds, per day, and how full the disk is."""

from __future__ import annotations

from typing import Any

from index.partitions import PartitionError
from index.store import Store


def collect(store: Store) -> dict[str, Any]:
    days = []
    for day in store.partitions.days():
        entry: dict[str, Any] = {"day": day, "bytes": store.partitions.size(day)}
        try:
            idx = store.partitions.index(day)
            idx.reload()
            s = idx.searcher()
            entry.update(events=s.num_docs, segments=s.num_segments)
        except PartitionError as e:
            entry.update(error=str(e))
        days.append(entry)
    usage = store.disk_usage()
    free, total = store.free_bytes()
    cat = store.catalog.stats()
    builds = store.catalog._one("SELECT count(*), coalesce(sum(complete),0) FROM groups")
    pending = len(store.catalog.pending())
    raw = cat["bytes"]
    return {
        "data_dir": str(store.root),
        "days": days,
        "events": sum(d.get("events", 0) for d in days),
        "sources": cat["sources"],
        "pending_sources": pending,
        "builds": builds[0] if builds else 0,
        "builds_complete": builds[1] if builds else 0,
        "raw_bytes": raw,
        "disk": usage,
        "ratio_to_raw": {k: round(v / raw, 4) for k, v in usage.items()} if raw else {},
        "disk_free": free,
        "disk_total": total,
        "broken_partitions": dict(store.partitions.broken),
    }


def render(info: dict[str, Any]) -> str:
    lines = [f"data: {info['data_dir']}"]
    lines.append(f"{'day':<12}{'events':>14}{'index MB':>12}")
    for d in info["days"]:
        ev = f"{d['events']:,}" if "events" in d else "BROKEN"
        lines.append(f"{d['day']:<12}{ev:>14}{d['bytes'] / 1e6:>12.1f}")
    disk = info["disk"]
    raw = info["raw_bytes"] or 1
    lines += [
        f"events: {info['events']:,} in {len(info['days'])} days; sources: {info['sources']:,}"
        f" ({info['pending_sources']} pending); builds: {info['builds']:,} ({info['builds_complete']:,} complete)",
        f"raw logs: {info['raw_bytes'] / 1e6:,.1f} MB; index {disk['index'] / 1e6:,.1f} MB ({disk['index'] / raw:.3f}x),"
        f" archive {disk['archive'] / 1e6:,.1f} MB ({disk['archive'] / raw:.3f}x), catalog {disk['catalog'] / 1e6:.1f} MB",
        f"disk: {info['disk_free'] / 1e9:,.1f} GB free of {info['disk_total'] / 1e9:,.1f} GB",
    ]
    for day, err in info["broken_partitions"].items():
        lines.append(f"BROKEN partition {day}: {err} (run `appliance reindex --day {day}`)")
    return "\n".join(lines)
