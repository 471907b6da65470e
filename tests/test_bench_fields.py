"""``appliance.bench_fields``: the schema variants are what they claim to drop.

Timings are not asserted (shared machines); what is checked is that each variant
indexes every event and that dropping fields shrinks the index, so the CPU column
compares like with like.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tantivy

from appliance import bench_fields
from index import schema
from tests.conftest import write_build


@pytest.fixture
def docs(corpus: Path, tmp_path: Path) -> list[str]:
    write_build(
        tmp_path / "spool",
        {
            "logs/screen-c-api.txt.gz": corpus / "screen-c-api.txt.gz",
            "logs/syslog.txt.gz": corpus / "syslog.txt.gz",
        },
    )
    return bench_fields.events(tmp_path / "spool", limit=20_000)


def test_events_are_the_writers_json(docs: list[str]) -> None:
    assert len(docs) == 20_000
    assert all(d.startswith("{") and '"message"' in d and '"file_id"' in d for d in docs)


def _fields(sch: tantivy.Schema, path: Path) -> list[dict]:
    path.mkdir()
    tantivy.Index(sch, path=str(path))
    return json.loads((path / "meta.json").read_text())["schema"]


def test_real_variant_is_the_real_schema(tmp_path: Path) -> None:
    make, drop = bench_fields.VARIANTS["real schema"]
    assert drop == ()
    assert _fields(make(), tmp_path / "bench") == _fields(schema.build_schema(), tmp_path / "real")
    message_only = _fields(bench_fields.VARIANTS["message only"][0](), tmp_path / "msg")
    assert [f["name"] for f in message_only] == [schema.MESSAGE]


def test_every_variant_indexes_every_event_and_smaller_schemas_are_smaller(docs: list[str]) -> None:
    sizes = {}
    for name, (make, drop) in bench_fields.VARIANTS.items():
        variant_docs = bench_fields.without(docs, drop)
        assert len(variant_docs) == len(docs)
        assert not any(f'"{f}":' in d for f in drop for d in variant_docs[:500])
        cpu, sizes[name] = bench_fields.index_cpu(make(), variant_docs, 15_000_000)
        assert cpu > 0
    assert sizes["message only"] < sizes["no keyword fields"] < sizes["real schema"]
    assert sizes["no integer fields"] < sizes["real schema"]
