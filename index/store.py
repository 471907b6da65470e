"""A data directory: the catalog, the archive and the day partitions, opened together.

Layout::

    <data>/catalog.sqlite   source files, their fields, the writer's journal
    <data>/archive/         raw files, zstd, content-addressed
    <data>/index/<day>/     one Tantivy index per UTC day
    <data>/write.lock       held by the one process that writes

Readers (search, the web app) open a Store without the lock; one writer at a time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import schema
from .archive import Archive
from .catalog import Catalog
from .partitions import Partitions
from .writer import Writer


class SchemaMismatch(Exception):
    """The data was indexed with another schema version: run ``appliance reindex``."""


class Store:
    def __init__(self, root: Path | str, *, check_schema: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.root / "catalog.sqlite")
        self.archive = Archive(self.root / "archive")
        self.partitions = Partitions(self.root / "index")
        version = self.catalog.get_meta("schema_version")
        if version is None:
            self.catalog.set_meta("schema_version", str(schema.SCHEMA_VERSION))
        elif check_schema and int(version) != schema.SCHEMA_VERSION:
            raise SchemaMismatch(
                f"{self.root} holds schema v{version}, this appliance writes v{schema.SCHEMA_VERSION}:"
                " run `appliance reindex`"
            )

    def writer(self, **kw: int) -> Writer:
        """The data directory's one writer; taking it also clears what a killed writer left
        half-written in the archive."""
        w = Writer(self.root, self.catalog, self.partitions, **kw)
        self.archive.clear_partial()
        return w

    def disk_usage(self) -> dict[str, int]:
        def du(p: Path) -> int:
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0

        return {
            "index": du(self.partitions.root),
            "archive": du(self.archive.root),
            "catalog": sum(f.stat().st_size for f in self.root.glob("catalog.sqlite*")),
        }

    def free_bytes(self) -> tuple[int, int]:
        """(free, total) bytes of the disk that holds the data."""
        u = shutil.disk_usage(self.root)
        return u.free, u.total

    def close(self) -> None:
        self.catalog.close()
