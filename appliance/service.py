"""The ingest service: the one writer of a serving process, in one thread.

Everything that writes while the appliance serves (the ``_bulk`` API, the spool
directory, the Zuul poller) hands a job to this thread. Jobs queue in a bounded queue —
a full queue is refused at once (:class:`Busy`, the API's 429 + Retry-After) instead of
growing memory — and the thread runs every queued job, commits once (group commit),
then resolves their futures: a resolved future means durable.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from index.store import Store
from index.writer import Writer

log = logging.getLogger("appliance.ingest")

Job = Callable[[Writer], Any]


class Busy(Exception):
    """The writer is behind; retry after :attr:`retry_after` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(f"the writer is behind; retry in {retry_after} s")
        self.retry_after = retry_after


class IngestService:
    def __init__(
        self,
        store: Store,
        *,
        heap_bytes: int = 128_000_000,
        max_jobs: int = 64,
        after_commit: Callable[[Writer], Any] | None = None,
    ) -> None:
        self.store = store
        self.after_commit = after_commit
        """Runs in the writer thread after each commit (retention: the disk budget holds
        while live sources write)."""
        self.heap_bytes = heap_bytes
        self._jobs: queue.Queue[tuple[Job, Future[Any]] | None] = queue.Queue(maxsize=max_jobs)
        self._thread: threading.Thread | None = None
        self._writer: Writer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.commits = 0
        self.jobs_done = 0
        self.last_commit_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 60.0) -> None:
        """Finish queued jobs, commit, release the write lock."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout)
        self._thread = None

    @property
    def queue_depth(self) -> int:
        return self._jobs.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def died(self) -> bool:
        """Started and not stopped, yet its thread is gone: nothing would be committed."""
        return self._thread is not None and not self._thread.is_alive()

    # -- submitting ------------------------------------------------------------------------

    def submit(self, job: Job) -> Future[Any]:
        """Queue a job; its future resolves after the commit that made it durable."""
        if not self.running:
            self.start()
        fut: Future[Any] = Future()
        try:
            self._jobs.put_nowait((job, fut))
        except queue.Full:
            raise Busy(retry_after=max(1, self.queue_depth // 8)) from None
        return fut

    def run(self, job: Job, timeout: float | None = None) -> Any:
        """Submit and wait (for synchronous callers)."""
        return self.submit(job).result(timeout)

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._writer = self.store.writer(heap_bytes=self.heap_bytes)
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            item = self._jobs.get()
            batch: list[tuple[Job, Future[Any]]] = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while True:  # group commit: take everything already queued
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._run_batch(batch)
        self._writer.close()
        self._writer = None

    def _run_batch(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        if not batch:
            return
        assert self._writer is not None
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        for job, fut in batch:
            try:
                results.append((fut, job(self._writer), None))
            except Exception as e:  # noqa: BLE001 - one bad job fails alone
                results.append((fut, None, e))
        try:
            self._writer.commit()
            self.commits += 1
            self.last_commit_at = time.time()
        except Exception as e:  # noqa: BLE001
            log.error("commit failed: %s; rolling back the batch", e)
            self._writer.abandon()
            self._writer = self.store.writer(heap_bytes=self.heap_bytes)
            for fut, _, _ in results:
                fut.set_exception(e)
            return
        if self.after_commit is not None:
            try:
                self.after_commit(self._writer)
            except Exception as e:  # noqa: BLE001 - never fails the acknowledged batch
                log.error("after-commit hook failed: %s", e)
        for fut, value, err in results:
            self.jobs_done += 1
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(value)
