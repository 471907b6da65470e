"""Reading compressed logs: whatever decompresses is kept, exactly, and the damage named.

The content is checked against the original bytes (a truncated file gives a true prefix
of them; a concatenated file every member), on inputs big enough to take many
decompression steps.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest
import zstandard

from appliance.reader import read_log


def _text(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(b"2024-02-13 10:00:%02d.%03d | request %d took %d ms\n" % (i % 60, i % 1000, rng.getrandbits(40), rng.randrange(10**4))
                    for i in range(n))  # fmt: skip


A, B = _text(60_000, 1), _text(60_000, 2)


def _read(tmp_path: Path, data: bytes) -> tuple[bytes, str | None]:
    p = tmp_path / "log"
    p.write_bytes(data)
    content, warning = read_log(p)
    return bytes(content), warning


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_whole_file_and_members_concatenated(tmp_path: Path, compress) -> None:  # noqa: ANN001
    assert _read(tmp_path, compress(A)) == (A, None)
    assert _read(tmp_path, compress(A) + compress(B)) == (A + B, None)  # two members / frames
    assert _read(tmp_path, A) == (A, None)


def test_gzip_damaged_in_its_second_member_keeps_the_first_whole(tmp_path: Path) -> None:
    """What follows the damage in the second member may inflate to wrong bytes (deflate
    only notices at the member's checksum): kept and warned about, the first member exact."""
    second = bytearray(gzip.compress(B))
    second[len(second) // 2 : len(second) // 2 + 32] = b"\xff" * 32
    content, warning = _read(tmp_path, gzip.compress(A) + bytes(second))
    assert content.startswith(A) and content[len(A) : len(A) + 100_000] == B[:100_000]
    assert warning is not None and warning.startswith("corrupt gzip near compressed byte ")
    assert f"kept the {len(content)} bytes" in warning


def test_gzip_truncated_and_with_trailing_garbage(tmp_path: Path) -> None:
    content, warning = _read(tmp_path, gzip.compress(A)[:-1000])
    assert A.startswith(content) and 0 < len(content) < len(A)
    assert warning == f"truncated gzip: the stream ends early; kept {len(content)} bytes"
    content, warning = _read(tmp_path, gzip.compress(A) + b"not gzip at all")
    assert content == A and warning is not None and "15 bytes of trailing garbage" in warning
    assert _read(tmp_path, gzip.compress(A) + b"\0" * 512) == (A, None)  # tar-style padding


def test_zstd_damaged_keeps_a_prefix(tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(A) + zstandard.ZstdCompressor().compress(B)
    broken = data[: len(data) - 2000] + b"\xff" * 2000
    content, warning = _read(tmp_path, broken)
    assert (A + B).startswith(content) and len(content) >= len(A)
    assert warning is not None and warning.startswith("corrupt zstd: ")
