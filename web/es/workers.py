"""Worker processes for ``_bulk``'s CPU work (JSON, grouping, archiving).

A serving process has one GIL: parsing bulk bodies in its threads left the writer
thread waiting for it, and ``_bulk`` ran at a third of the CLI's rate. As the CLI's
ingest does, the parsing goes to other processes; the serving process only receives
bodies and adds ready documents to Tantivy. The pool starts on the first ``_bulk``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from appliance import bulk, procs

from .errors import EsError, bad_request

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _get() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(workers(), mp_context=procs.forkserver(), initializer=procs.die_with_parent)
        return _pool


def _reset(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


async def prepare_body(data_dir: Path, body: bytes, index: str | None) -> bulk.Prepared:
    """:func:`appliance.bulk.prepare_body` in a worker process."""
    pool = _get()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, bulk.prepare_body, str(data_dir), body, index)
    except bulk.BulkError as e:
        raise bad_request(str(e)) from None
    except BrokenProcessPool:
        _reset(pool)
        raise EsError(503, "unavailable_exception", "a bulk worker process died; retrying is safe") from None


def shutdown() -> None:
    """Stop the workers (tests, and a server that stops serving)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
