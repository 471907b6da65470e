"""Writing events to a cluster: the sources (CLI ingest, spool, Zuul poller) with
``backend = "opensearch"``.

Log trees are parsed exactly as for the local index (:func:`appliance.formats.parse_file`,
the same record-to-document step :func:`appliance.ingest._documents`), and each event goes
out as the Logstash-shaped document the local index would return for it (build fields,
``filename``, ``tags``, plus ``line``/``nlines`` so a cluster can show context), into
``<prefix>YYYY.MM.DD`` by its ``@timestamp``. :class:`RemoteWriter` batches them with
``opensearch-py``'s ``streaming_bulk`` and backs off and retries when the cluster answers
429 (too many requests), as Logstash does. Document ids are derived from build, file and
line, so ingesting the same build again overwrites instead of duplicating.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from index import schema

from .. import formats
from ..config import Config
from ..events import iso
from ..filelist import FileList
from ..formats.base import Context
from ..ingest import Build, Summary, _documents
from ..reader import read_log

MAX_ERRORS = 50


@dataclass(slots=True)
class WriteResult:
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first :data:`MAX_ERRORS` item errors, as the cluster said them."""


class RemoteWriter:
    def __init__(self, client: Any, index: str = "logstash-*", *, url: str = "", timeout_s: float = 30.0,
                 chunk_size: int = 5000, max_chunk_bytes: int = 10 * 1024 * 1024, max_retries: int = 8,
                 initial_backoff_s: float = 1.0, max_backoff_s: float = 60.0) -> None:  # fmt: skip
        self.client = client
        self.prefix = index.rstrip("*") if index.endswith("*") else index
        """Events of a day go to ``prefix + YYYY.MM.DD`` (a pattern ``logstash-*`` gives
        Logstash's daily indices); an index name without ``*`` takes every day."""
        self.daily = index.endswith("*")
        self.url = url
        self.timeout_s = timeout_s
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.max_retries = max_retries
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s

    @classmethod
    def from_config(cls, cfg: Config) -> RemoteWriter:
        from .opensearch import make_client

        return cls(make_client(cfg), cfg.opensearch_index, url=cfg.opensearch_url, timeout_s=cfg.opensearch_timeout_s)

    def index_of(self, ts: str) -> str:
        return self.prefix + ts[:10].replace("-", ".") if self.daily else self.prefix

    def _actions(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for ev in events:
            doc = dict(ev)
            doc_id = doc.pop("_id", None)
            act = {"_op_type": "index", "_index": self.index_of(str(doc.get("@timestamp", ""))), "_source": doc}
            if doc_id is not None:
                act["_id"] = str(doc_id)
            yield act

    def write(self, events: Iterable[dict[str, Any]]) -> WriteResult:
        """Send every event; a whole request refused with 429 and items refused with 429
        are retried with exponential backoff (``max_retries`` times), other item errors
        are counted and reported. Raises :class:`BackendError` if the cluster is down."""
        from opensearchpy.helpers import streaming_bulk

        from .opensearch import call

        res = WriteResult()

        def run() -> None:
            for ok, item in streaming_bulk(
                self.client, self._actions(events), chunk_size=self.chunk_size, max_chunk_bytes=self.max_chunk_bytes,
                raise_on_error=False, max_retries=self.max_retries, initial_backoff=self.initial_backoff_s,
                max_backoff=self.max_backoff_s, yield_ok=True, request_timeout=self.timeout_s,
            ):  # fmt: skip
                if ok:
                    res.ok += 1
                    continue
                res.failed += 1
                if len(res.errors) < MAX_ERRORS:
                    info = next(iter(item.values()), {}) if isinstance(item, dict) else {}
                    res.errors.append(f"{info.get('_index', '?')}/{info.get('_id', '?')}: {info.get('status')} "
                                      f"{orjson.dumps(info.get('error', '')).decode()[:300]}")  # fmt: skip

        call(run, self.url, self.timeout_s)
        return res

    def close(self) -> None:
        self.client.close()


# -- log trees to events -------------------------------------------------------------------------


def doc_id(build_uuid: str, filename: str, line: int) -> str:
    """Stable per event: the same build ingested again overwrites its events."""
    return hashlib.blake2b(f"{build_uuid}\0{filename}\0{line}".encode(), digest_size=16).hexdigest()


def build_events(cfg: Config, b: Build, filelist: FileList, summary: Summary) -> Iterator[dict[str, Any]]:
    """A planned build's events (see the module docstring), counting into ``summary``."""
    for path, filename in b.files:
        wanted, tags = filelist.match(filename)
        if not wanted:
            summary.skipped.append((str(path), "not in the file list"))
            continue
        try:
            data, warning = read_log(Path(path))
        except OSError as e:
            summary.errors.append((str(path), f"cannot read: {e.strerror or e}"))
            continue
        if warning:
            summary.warnings.append(f"{filename}: {warning}")
        if formats.is_binary(data):
            summary.skipped.append((str(path), "binary file"))
            continue
        default_ts = b.start_us or int(Path(path).stat().st_mtime * 1_000_000)
        ctx = Context(filename=filename, default_ts_us=default_ts, year=datetime.fromtimestamp(default_ts / 1e6, UTC).year)
        fmt, records, warnings = formats.parse_file(data, filename, ctx)
        summary.warnings.extend(f"{filename}: {w}" for w in warnings)
        attrs = {**b.fields, "filename": filename, "tags": list(dict.fromkeys([*tags, *fmt.TAGS]))}
        docs, _, _, events, dropped = _documents(records, 0, cfg.keep_debug)
        summary.files += 1
        summary.bytes += len(data)
        summary.lines += (records[-1].line + records[-1].nlines) if records else 0
        summary.events += events
        summary.dropped_debug += dropped
        uuid = str(b.fields.get("build_uuid", ""))
        for day_docs in docs.values():
            for raw in day_docs:
                d = orjson.loads(raw)
                d.update(d.pop(schema.KW, ()))
                ev = {"@timestamp": iso(d.pop("ts")), **{k: v for k, v in d.items() if k not in ("file_id", "line")}}
                ev.update(attrs)
                ev["line"] = d["line"] + 1
                ev["_id"] = doc_id(uuid, filename, d["line"])
                yield ev


def ingest_remote(cfg: Config, plan: list[Build], writer: RemoteWriter | None = None) -> Summary:
    """:func:`appliance.ingest.ingest`'s twin for a cluster: the same summary, nothing
    written to the data dir."""
    t0 = time.perf_counter()
    summary = Summary(builds=len(plan))
    filelist = FileList.load(cfg.file_list, cfg.index_unlisted)
    w = writer or writer_for(cfg)
    res = w.write(ev for b in plan for ev in build_events(cfg, b, filelist, summary))
    summary.errors.extend(("bulk", e) for e in res.errors)
    if res.failed > len(res.errors):
        summary.errors.append(("bulk", f"... {res.failed} events refused in all"))
    summary.seconds = time.perf_counter() - t0
    return summary


_writers: dict[tuple[str, str, str], RemoteWriter] = {}
_lock = threading.Lock()


def writer_for(cfg: Config) -> RemoteWriter:
    """One writer (one connection pool) per cluster and index per process."""
    key = (cfg.opensearch_url, cfg.opensearch_index, cfg.opensearch_user)
    with _lock:
        w = _writers.get(key)
        if w is None:
            w = _writers[key] = RemoteWriter.from_config(cfg)
        return w


__all__ = ["RemoteWriter", "WriteResult", "build_events", "doc_id", "ingest_remote", "writer_for"]
