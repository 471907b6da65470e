"""Builds as the recheck engine sees them: file ids, build fields, time, completeness.

The index knows events and files; recheck reasons about builds. This view joins the
catalog's ``build_uuid`` source field (file id -> build) with its groups (the build
fields and ``complete`` the ingest records), cached and refreshed cheaply: the file
map only when the catalog generation moves, groups incrementally by ``updated_at``.
Builds that arrived without a group (e.g. through ``_bulk``) take their fields from
one of their files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from index.catalog import Catalog

FAILED_STATUSES = frozenset({"FAILURE", "POST_FAILURE", "TIMED_OUT"})
"""Results that count as a failed build (elastic-recheck only knew Jenkins' FAILURE)."""

_FILE_ONLY = frozenset({"filename", "tags"})


@dataclass(frozen=True, slots=True)
class BuildInfo:
    uuid: str
    attrs: dict[str, Any]
    """Build fields (``build_name``, ``build_status``, ``voting``, ``log_url``...)."""
    file_ids: frozenset[int]
    time_us: int | None
    """The build's start (from its Zuul record), else its first event's time."""
    complete: bool
    """Every file of the build is acknowledged (True for builds without a group:
    whatever is searchable is all there is)."""

    @property
    def status(self) -> str:
        return str(self.attrs.get("build_status") or "")

    @property
    def job(self) -> str:
        return str(self.attrs.get("build_name") or "")

    @property
    def queue(self) -> str:
        return str(self.attrs.get("build_queue") or "")

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def voting(self) -> bool:
        """Unknown counts as voting, as Logstash treated builds without the field."""
        return str(self.attrs.get("voting", "1")).lower() not in ("0", "false", "no")


class BuildIndex:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._generation = -1
        self._files: dict[str, frozenset[int]] = {}
        self._by_file: dict[int, str] = {}
        self._groups: dict[str, tuple[dict[str, Any], bool]] = {}
        self._groups_since = 0.0
        self._fallback: dict[str, tuple[dict[str, Any], int | None]] = {}
        self._builds: dict[str, BuildInfo] = {}
        self.version = 0
        """Bumped whenever any build changed (callers cache on it)."""

    # -- refreshing ------------------------------------------------------------------------

    def refresh(self) -> int:
        """Catch up with the catalog; returns :attr:`version`."""
        with self._lock:
            changed = False
            gen = self.catalog.generation
            if gen != self._generation:
                files = {u: frozenset(ids) for u, ids in self.catalog.values("build_uuid").items()}
                changed = changed or files != self._files
                self._files = files
                self._by_file = {fid: u for u, ids in files.items() for fid in ids}
                self._generation = gen
            fresh = self.catalog.groups(since=self._groups_since)
            for key, attrs, complete, updated in fresh:
                old = self._groups.get(key)
                if old != (attrs, complete):
                    self._groups[key] = (attrs, complete)
                    changed = True
                self._groups_since = max(self._groups_since, updated)
            if changed:
                self._rebuild()
                self.version += 1
            return self.version

    def _rebuild(self) -> None:
        missing = [u for u in self._files if u not in self._groups and u not in self._fallback]
        if missing:
            self._fallback.update(self._from_files(missing))
        out: dict[str, BuildInfo] = {}
        for uuid in set(self._files) | set(self._groups):
            ids = self._files.get(uuid, frozenset())
            group = self._groups.get(uuid)
            if group is not None:
                attrs, complete = group
                t = attrs.get("start_us")
                if t is None and uuid in self._fallback:
                    t = self._fallback[uuid][1]
                fields = {k: v for k, v in attrs.items() if k != "start_us"}
            elif uuid in self._fallback:
                fields, t = self._fallback[uuid]
                complete = True
            else:
                continue
            out[uuid] = BuildInfo(uuid, fields, ids, int(t) if t is not None else None, complete)
        self._builds = out

    def _from_files(self, uuids: list[str]) -> dict[str, tuple[dict[str, Any], int | None]]:
        """Fields and first event time of builds that have no group, from their files."""
        pick = {min(self._files[u]): u for u in uuids if self._files[u]}
        out: dict[str, tuple[dict[str, Any], int | None]] = {}
        for fid, src in self.catalog.many(pick).items():
            fields = {k: v for k, v in src.attrs.items() if k not in _FILE_ONLY}
            out[pick[fid]] = (fields, src.first_ts)
        return out

    # -- reading ---------------------------------------------------------------------------

    def get(self, uuid: str) -> BuildInfo | None:
        self.refresh()
        return self._builds.get(uuid)

    def get_cached(self, uuid: str) -> BuildInfo | None:
        """Like :meth:`get` without catching up first (for loops after one refresh)."""
        return self._builds.get(uuid)

    def resolve(self, ref: str) -> BuildInfo | None:
        """A build by its uuid or a unique prefix of it (the 7-character short uuid)."""
        ref = ref.strip().lower()
        b = self.get(ref)
        if b is not None or len(ref) < 7:
            return b
        found = [x for u, x in self._builds.items() if u.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def build_of(self, file_id: int) -> str | None:
        return self._by_file.get(file_id)

    def builds(self) -> list[BuildInfo]:
        self.refresh()
        return list(self._builds.values())

    def between(self, start_us: int, end_us: int) -> list[BuildInfo]:
        """Builds whose time falls in ``[start_us, end_us)``."""
        return [
            b for b in self.builds() if b.time_us is not None and start_us <= b.time_us < end_us
        ]

    def find(self, *, change: str | int | None = None, patchset: str | int | None = None,
             job: str | None = None) -> list[BuildInfo]:  # fmt: skip
        """Builds of a change/patchset/job, newest first."""
        want = {"build_change": change, "build_patchset": patchset, "build_name": job}
        want = {k: str(v) for k, v in want.items() if v not in (None, "")}
        hits = [b for b in self.builds() if all(str(b.attrs.get(k)) == v for k, v in want.items())]
        return sorted(hits, key=lambda b: b.time_us or 0, reverse=True)

    def group_by_build(self, file_counts: Iterable[tuple[int, Any]]) -> dict[str, list[Any]]:
        """``(file_id, value)`` pairs -> ``{build_uuid: [values]}`` (files of no build dropped)."""
        out: dict[str, list[Any]] = {}
        for fid, v in file_counts:
            u = self._by_file.get(fid)
            if u is not None:
                out.setdefault(u, []).append(v)
        return out
