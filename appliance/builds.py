"""Build fields: what logstash.openstack.org attached to every event of a job's logs.

They come from a Zuul build record (``build.json`` beside a log tree, the spool source,
or the Zuul builds API — both the flat shape up to Zuul 9 and the ``ref`` object of
Zuul >= 10), from ``zuul-info/inventory.yaml`` inside the tree, and from ``--field``
flags, in that order of increasing precedence.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

BUILD_FIELDS = (
    "build_uuid",
    "build_short_uuid",
    "build_name",
    "build_change",
    "build_patchset",
    "build_queue",
    "build_branch",
    "build_ref",
    "build_status",
    "build_node",
    "voting",
    "project",
    "node_provider",
    "tenant",
    "log_url",
)


class BuildError(ValueError):
    pass


def _s(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def from_zuul(rec: dict[str, Any]) -> dict[str, str]:
    """Fields from one Zuul build record (either API shape)."""
    ref = rec.get("ref") if isinstance(rec.get("ref"), dict) else rec
    out = {
        "build_uuid": _s(rec.get("uuid")),
        "build_name": _s(rec.get("job_name")),
        "build_change": _s(ref.get("change")),
        "build_patchset": _s(ref.get("patchset")),
        "build_queue": _s(rec.get("pipeline")),
        "build_branch": _s(ref.get("branch")),
        "build_ref": _s(ref.get("ref")),
        "build_status": _s(rec.get("result")),
        "build_node": _s(rec.get("nodeset")),
        "voting": _s(rec.get("voting")),
        "project": _s(ref.get("project")),
        "log_url": _s(rec.get("log_url")),
        "tenant": _s(rec.get("tenant")),
    }
    return {k: v for k, v in out.items() if v is not None}


def from_inventory(inv: dict[str, Any]) -> dict[str, str]:
    """Fields from ``zuul-info/inventory.yaml`` (node and provider, and the zuul vars)."""
    out: dict[str, str | None] = {}
    alls = inv.get("all") or {}
    hosts = alls.get("hosts") or {}
    if hosts:
        name, host = next(iter(hosts.items()))
        np = (host or {}).get("nodepool") or {}
        out["node_provider"] = _s(np.get("provider"))
        out["build_node"] = _s(np.get("label")) or _s(name)
    z = (alls.get("vars") or {}).get("zuul") or {}
    proj = z.get("project") or {}
    out.update(
        build_uuid=_s(z.get("build")),
        build_name=_s(z.get("job")),
        build_queue=_s(z.get("pipeline")),
        tenant=_s(z.get("tenant")),
        voting=_s(z.get("voting")),
        build_branch=_s(z.get("branch")),
        build_change=_s(z.get("change")),
        build_patchset=_s(z.get("patchset")),
        build_ref=_s(z.get("ref")),
        project=_s(proj.get("name") if isinstance(proj, dict) else proj),
    )
    return {k: v for k, v in out.items() if v is not None}


def parse_time(value: Any) -> int | None:
    """ISO 8601 (Zuul writes naive UTC) -> microseconds, or None."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000)


def load_record(path: Path) -> dict[str, Any]:
    try:
        rec = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise BuildError(f"{path}: not a Zuul build record: {e}") from None
    if isinstance(rec, list) and len(rec) == 1:
        rec = rec[0]
    if not isinstance(rec, dict):
        raise BuildError(f"{path}: expected one Zuul build record (a JSON object)")
    return rec


def fields_for_tree(
    root: Path, record: dict[str, Any] | None, flags: dict[str, str], default_tenant: str = ""
) -> tuple[dict[str, str], int | None]:
    """All build fields for a log tree, and the build's start time (µs) if known."""
    fields: dict[str, str] = {}
    inv = root / "zuul-info" / "inventory.yaml"
    if inv.is_file():
        with contextlib.suppress(yaml.YAMLError):
            fields.update(from_inventory(yaml.safe_load(inv.read_text(errors="replace")) or {}))
    start = None
    if record:
        fields.update(from_zuul(record))
        start = parse_time(record.get("start_time")) or parse_time(record.get("end_time"))
    fields.update({k: v for k, v in flags.items() if v != ""})
    if "build_uuid" not in fields:
        # Stable for the same tree, so ingesting it twice stays idempotent.
        fields["build_uuid"] = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:32]
    fields.setdefault("build_short_uuid", fields["build_uuid"][:7])
    if default_tenant:
        fields.setdefault("tenant", default_tenant)
    return fields, start
