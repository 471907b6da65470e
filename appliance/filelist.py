"""Which files of a build are indexed, and with which tags.

The list is in OpenDev's ``download-list.yaml`` format (``files: [{name, tags}]``). A
file matches an entry by its path relative to the build root, then by the entry's path
as a suffix (``logs/screen-n-cpu.txt`` vs ``controller/logs/screen-n-cpu.txt``), then
by base name. Unlisted text files are indexed too unless configured otherwise; every
file also gets its base name as a tag, as Logstash gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

COMPRESSED_SUFFIXES = (".gz", ".zst")
SKIP_SUFFIXES = (
    ".subunit", ".json", ".png", ".jpg", ".gif", ".svg", ".ico", ".css", ".js", ".woff", ".ttf",
    ".tar", ".tgz", ".bz2", ".xz", ".zip", ".pyc", ".db", ".sqlite", ".pcap", ".bin", ".qcow2",
)  # fmt: skip
"""Unlisted files with these endings are not logs (``build.json`` and manifests included)."""


def strip_compression(name: str) -> str:
    for suf in COMPRESSED_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


@dataclass(frozen=True)
class Entry:
    name: str
    tags: tuple[str, ...]


class FileList:
    def __init__(self, entries: list[Entry], index_unlisted: bool = True) -> None:
        self.entries = entries
        self.index_unlisted = index_unlisted
        self._exact = {e.name: e for e in entries}
        self._base: dict[str, Entry] = {}
        for e in entries:
            self._base.setdefault(e.name.rsplit("/", 1)[-1], e)

    @classmethod
    def load(cls, path: Path, index_unlisted: bool = True) -> FileList:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"file list {path}: {e}") from None
        entries = []
        for item in data.get("files") or []:
            if isinstance(item, dict) and item.get("name"):
                entries.append(Entry(str(item["name"]), tuple(str(t) for t in item.get("tags") or ())))
        return cls(entries, index_unlisted)

    def match(self, filename: str) -> tuple[bool, tuple[str, ...]]:
        """(index it?, tags) for a path relative to the build root, compression stripped."""
        base = filename.rsplit("/", 1)[-1]
        e = self._exact.get(filename)
        if e is None:
            e = next((x for x in self.entries if filename.endswith("/" + x.name)), None)
        if e is None:
            e = self._base.get(base)
        if e is not None:
            return True, _dedupe((base, *e.tags))
        if not self.index_unlisted or base.lower().endswith(SKIP_SUFFIXES) or base == "build.json":
            return False, ()
        return True, (base,)


def _dedupe(tags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tags))
