"""Time partitions: one Tantivy index per UTC day.

A query opens only the days its time range touches, and retention drops whole days by
renaming the day's directory away (atomic) before deleting it, so a partition is never
seen half-deleted.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tantivy

from . import schema

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY_US = 86_400_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1))
_MAX_US = int((datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1))


def day_of(ts_us: int) -> str:
    """The UTC day of a time; times past the calendar's ends clamp to its first/last day
    (a window ending "in year 9999 plus a day" is a query, not an error)."""
    ts_us = min(max(ts_us, _MIN_US), _MAX_US)
    return (_EPOCH + timedelta(microseconds=ts_us)).strftime("%Y-%m-%d")


def day_start_us(day: str) -> int:
    d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(d.timestamp()) * 1_000_000


class PartitionError(Exception):
    """A day's index cannot be opened (damaged); the other days still serve."""


class Partitions:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, tantivy.Index] = {}
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self.broken: dict[str, str] = {}
        """Days whose index failed to open or to verify, with the error (reported by
        stats/status)."""
        self._marked: dict[str, int | None] = {}
        """Days :meth:`mark_broken` reported, with their commit stamp then."""

    def days(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if _DAY_RE.match(p.name) and (p / "meta.json").exists()
        )

    def days_between(self, start_us: int | None, end_us: int | None) -> list[str]:
        lo = day_of(start_us) if start_us is not None else ""
        hi = day_of(end_us) if end_us is not None else "9999"
        return [d for d in self.days() if lo <= d <= hi]

    def mark_broken(self, day: str, why: str) -> None:
        """Report a day as damaged until its partition is rewritten (a checksum failure
        does not stop the day from opening, so opening it must not clear the report)."""
        self.broken[day] = why
        self._marked[day] = self._stamp(day)

    def _stamp(self, day: str) -> int | None:
        try:
            return (self.path(day) / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _opened(self, day: str, stamp: int | None) -> None:
        """The day opened (or reloaded) fine: it is no longer reported, unless it was
        marked damaged and has not been rewritten since."""
        if day in self._marked and self._marked[day] == stamp:
            return
        self._marked.pop(day, None)
        self.broken.pop(day, None)

    def path(self, day: str) -> Path:
        if not _DAY_RE.match(day):
            raise ValueError(f"not a day: {day!r}")
        return self.root / day

    def index(self, day: str, create: bool = False) -> tantivy.Index:
        with self._lock:
            idx = self._open.get(day)
            if idx is not None:
                return idx
            path = self.path(day)
            try:
                if (path / "meta.json").exists():
                    idx = tantivy.Index.open(str(path))
                elif create:
                    path.mkdir(parents=True, exist_ok=True)
                    idx = tantivy.Index(schema.SCHEMA, path=str(path))
                else:
                    raise PartitionError(f"no partition for {day}")
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 - tantivy-py panics are BaseExceptions
                self.broken[day] = f"{type(e).__name__}: {e}"
                raise PartitionError(f"partition {day} cannot be opened: {e}") from None
            schema.register_tokenizers(idx)
            self._opened(day, self._stamp(day))
            self._open[day] = idx
            return idx

    def searcher(self, day: str) -> tantivy.Searcher:
        """A searcher that sees the latest commit (tantivy-py only reloads after a delay)."""
        idx = self.index(day)
        try:
            stamp = (self.path(day) / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            raise PartitionError(f"partition {day} is gone") from None
        try:
            if self._seen.get(day) != stamp:
                idx.reload()
                self._seen[day] = stamp
                self._opened(day, stamp)
            return idx.searcher()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - a damaged segment can panic on reload
            self.broken[day] = f"{type(e).__name__}: {e}"
            raise PartitionError(f"partition {day} cannot be read: {e}") from None

    def forget(self, day: str) -> None:
        with self._lock:
            self._open.pop(day, None)
            self._seen.pop(day, None)

    def drop(self, day: str) -> None:
        """Remove a whole day: rename away (atomic), then delete."""
        path = self.path(day)
        self.forget(day)
        self.broken.pop(day, None)
        self._marked.pop(day, None)
        if not path.exists():
            return
        trash = self.root / f".trash-{day}-{os.getpid()}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_trash(self) -> None:
        for p in self.root.glob(".trash-*"):
            shutil.rmtree(p, ignore_errors=True)

    def size(self, day: str) -> int:
        return sum(f.stat().st_size for f in self.path(day).iterdir() if f.is_file())
