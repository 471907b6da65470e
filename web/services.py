"""What every route needs, built once per process: config, store, searcher, recheck.

Routes reach it as ``request.app.state.services``; nothing else is global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from appliance.backend import Backend, is_remote, open_backend
from appliance.config import Config
from appliance.service import IngestService
from index import retention
from index.search import Searcher
from index.store import Store
from index.writer import Writer


@dataclass
class Services:
    config: Config
    store: Store
    searcher: Searcher
    extras: dict[str, Any] = field(default_factory=dict)
    """Feature objects (the recheck engine, the ingest service...) keyed by name."""

    @classmethod
    def open(cls, config: Config) -> Services:
        store = Store(config.data_dir)
        svc = cls(config, store, Searcher(store, timeout_s=config.query_timeout_s))
        if svc.remote:  # the recheck pages, API and poller ask the cluster, not the empty local index
            from appliance.backend.recheck import RemoteRecheckEngine

            engine = RemoteRecheckEngine.from_config(config, svc.backend)
            engine.start()
            svc.extras["recheck"] = engine
        return svc

    @property
    def remote(self) -> bool:
        """Searches go to a cluster (``backend = "opensearch"``), not this data dir."""
        return is_remote(self.config)

    @property
    def backend(self) -> Backend:
        """The configured search backend, opened on first use (with the local backend,
        routes keep calling :attr:`searcher` directly: same answers, fewer layers)."""
        b = self.extras.get("backend")
        if b is None:
            b = self.extras["backend"] = open_backend(self.config, self.store, self.searcher)
        return b  # type: ignore[no-any-return]

    @property
    def ingest(self) -> IngestService:
        """The process's one writer, started on first use (reads never need it)."""
        svc = self.extras.get("ingest")
        if svc is None:
            svc = self.extras["ingest"] = IngestService(
                self.store, heap_bytes=self.config.writer_heap_mb * 1_000_000, after_commit=self._retention
            )
        return svc

    def _retention(self, writer: Writer) -> None:
        """After every commit: drop the oldest days if over a limit (a walk of the data
        dir's files; cheap next to a commit)."""
        c = self.config
        retention.enforce(self.store, retention_days=c.retention_days,
                          min_free_fraction=c.min_free_fraction, disk_budget_bytes=c.disk_budget_bytes,
                          writer=writer)  # fmt: skip

    def close(self) -> None:
        """Stop every feature object that runs (sources, then the writer: it commits)."""
        for name, obj in reversed(list(self.extras.items())):
            stop = getattr(obj, "stop", None)
            if callable(stop) and name != "ingest":
                stop()
        if "ingest" in self.extras:
            self.extras["ingest"].stop()


def services(request: Request) -> Services:
    return request.app.state.services
