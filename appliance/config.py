"""All configuration in one place: defaults < TOML file < environment < command line.

The TOML file is ``--config FILE``, else ``$APPLIANCE_CONFIG``, else ``./appliance.toml``
if present. Every key can be set by an environment variable ``APPLIANCE_<KEY>`` (upper
case), e.g. ``APPLIANCE_DATA_DIR=/data``. The README lists every key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULTS_DIR = Path(__file__).parent / "defaults"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("./appliance-data")
    """Where the index, archive and catalog live."""
    keep_debug: bool = True
    """Logstash dropped DEBUG events to save space; we keep them unless this is false."""
    file_list: Path = DEFAULTS_DIR / "file-list.yaml"
    """Which files of a build are indexed, with which tags (OpenDev's download-list format)."""
    index_unlisted: bool = True
    """Also index text files the file list does not name (tags: base name + format)."""
    retention_days: int = 0
    """Drop day partitions older than this many days (0: keep while the disk allows)."""
    min_free_fraction: float = 0.15
    """Drop the oldest days while less than this fraction of the disk is free."""
    disk_budget_bytes: int = 0
    """If set, also drop the oldest days while index + archive exceed this many bytes."""
    workers: int = 0
    """Parser processes for ingest (0: one per core)."""
    writer_heap_mb: int = 64
    inflight_mb: int = 128
    commit_every_mb: int = 512
    """Raw megabytes between two commits of a long ingest (each commit acknowledges)."""
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = ""
    """Bearer token for write endpoints; empty: writes only from loopback."""
    public_reads: bool = True
    """False: every request but ``/healthz`` and ``/readyz`` needs the token too (or, with
    no token, comes from loopback), the UI included (the browser asks, basic auth)."""
    signatures_dir: Path | None = None
    """elastic-recheck ``queries/`` directory; empty: the signatures shipped with the demo."""
    query_timeout_s: float = 10.0
    web_workers: int = 1
    tenant: str = ""
    """Default ``tenant`` field for builds that do not name one."""
    zuul_url: str = ""
    zuul_tenant: str = ""
    spool_dir: Path | None = None
    backend: str = "local"
    """Where events are searched and written: ``local`` (this data dir's Tantivy index) or
    ``opensearch`` (an existing OpenSearch/Elasticsearch cluster, see :mod:`appliance.backend`)."""
    opensearch_url: str = ""
    opensearch_index: str = "logstash-*"
    """Index pattern searched; writes go to ``<prefix>YYYY.MM.DD`` (the pattern minus ``*``)."""
    opensearch_user: str = ""
    opensearch_password: str = ""
    opensearch_verify_tls: bool = True
    opensearch_keyword_suffix: str = ""
    """Appended to field names in aggregations (``.keyword`` on a Logstash-default mapping)."""
    opensearch_timeout_s: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)
    """Unknown keys from the file (kept, reported by ``appliance config``)."""

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)


_PATHS = {"data_dir", "file_list", "signatures_dir", "spool_dir"}


def _coerce(name: str, typ: Any, value: Any) -> Any:
    typ = str(typ)
    try:
        if name in _PATHS:
            return Path(value) if value not in (None, "") else None
        if typ.startswith("bool"):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if typ.startswith("int"):
            return int(value)
        if typ.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {name}: {value!r} is not a valid {typ}") from None


def load(path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Config:
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(Config) if f.name != "extra"}
    extra: dict[str, Any] = {}
    path = path or (Path(env["APPLIANCE_CONFIG"]) if env.get("APPLIANCE_CONFIG") else None)
    if path is None and Path("appliance.toml").exists():
        path = Path("appliance.toml")
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
        for k, v in raw.items():
            if k in known:
                values[k] = _coerce(k, known[k], v)
            else:
                extra[k] = v
    for k, typ in known.items():
        ev = env.get(f"APPLIANCE_{k.upper()}")
        if ev is not None:
            values[k] = _coerce(k, typ, ev)
    for k, v in overrides.items():
        if v is not None:
            if k not in known:
                raise ConfigError(f"unknown config key {k}")
            values[k] = _coerce(k, known[k], v)
    cfg = Config(**values)
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"config key backend: {cfg.backend!r} is not one of {', '.join(BACKENDS)}")
    if cfg.backend == "opensearch" and not cfg.opensearch_url:
        raise ConfigError("backend = opensearch needs opensearch_url")
    return replace(cfg, extra=extra) if extra else cfg


BACKENDS = ("local", "opensearch")
