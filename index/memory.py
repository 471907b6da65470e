"""Giving freed memory back to the system.

glibc keeps freed blocks resident, per arena (one per thread that allocated), until
``malloc_trim`` returns them: after a big file a parser process held 300 MB while idle,
and the ingest process kept the memory of every day writer it had closed.
"""

from __future__ import annotations

import contextlib
import ctypes


def give_back() -> None:
    """``malloc_trim(0)`` on every arena; nothing where libc is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
