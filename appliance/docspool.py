"""A big file's documents on disk, on their way from a parser process to the writer.

A parser process sends a file's documents back pickled: for an 80 MB log that is ~95 MB
of JSON strings held in the parser, pickled, held again in the main process while it
unpickles, and held there while the writer adds them. A file bigger than
:data:`SPOOL_FROM` instead has its documents written to a scratch file per day as they
are made, in chunks, and the main process reads them back a line at a time. Ingesting
four 80 MB logs, the main process peaked at 560-600 MB before and 325-410 MB after, the
process tree at 1,050-1,110 MiB before and 815-850 MiB after. The scratch files are only
a transport: the journal, not they, makes ingest crash-safe, and an interrupted ingest's
leftovers are removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SPOOL_FROM = 16 << 20
"""Files at least this big (decompressed) spool their documents."""
CHUNK = 16_384
"""Documents made between two writes to the scratch files."""


@dataclass(frozen=True, slots=True)
class SpooledDocs:
    """One day's documents of one file: a scratch file of JSON lines (picklable)."""

    path: str
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield line[:-1]

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class Spool:
    """Writes a file's documents, day by day, to ``<dir>/<source id>-<day>.ndjson``."""

    def __init__(self, directory: str, source_id: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.source_id = source_id
        self.counts: dict[str, int] = {}

    def path(self, day: str) -> str:
        return str(self.dir / f"{self.source_id}-{day}.ndjson")

    def flush(self, docs: dict[str, list[str]]) -> None:
        """Append the documents made so far and empty the lists."""
        for day, lines in docs.items():
            if not lines:
                continue
            self.counts.setdefault(day, 0)  # known before the write: discard finds a half-written file
            with open(self.path(day), "a", encoding="utf-8") as f:
                f.write("\n".join(lines))
                f.write("\n")
            self.counts[day] += len(lines)
            lines.clear()

    def result(self) -> dict[str, SpooledDocs]:
        return {day: SpooledDocs(self.path(day), n) for day, n in self.counts.items()}

    def discard(self) -> None:
        """Remove what was written (the file failed half way)."""
        discard(self.result())


def clear(directory: str | Path) -> None:
    """Remove the scratch files an interrupted ingest left (only the writer calls this)."""
    d = Path(directory)
    if d.is_dir():
        for p in d.glob("*.ndjson"):
            p.unlink(missing_ok=True)


def discard(docs_by_day: dict[str, object]) -> None:
    """Remove the scratch files behind a result's documents, once they were added."""
    for docs in docs_by_day.values():
        if isinstance(docs, SpooledDocs):
            docs.discard()
