"""The search side, pluggable: the embedded index or an existing OpenSearch/Elasticsearch
cluster, chosen by ``backend`` in the config (see :mod:`appliance.backend.base`)."""

from __future__ import annotations

from typing import Any

from .base import Backend, BackendError


def is_remote(cfg: Any) -> bool:
    return str(getattr(cfg, "backend", "local")) != "local"


def open_backend(cfg: Any, store: Any = None, searcher: Any = None) -> Backend:
    """The config's backend. ``local`` reads ``store`` (opened on ``cfg.data_dir`` if not
    given); ``opensearch`` needs ``opensearch_url`` and the ``opensearch-py`` package."""
    if is_remote(cfg):
        try:
            from .opensearch import OpenSearchBackend
        except ImportError as e:  # pragma: no cover - a packaging problem, said plainly
            raise BackendError(500, f"backend = opensearch needs opensearch-py ({e}):"
                                    " pip install 'ci-log-appliance[opensearch]'") from None  # fmt: skip
        return OpenSearchBackend.from_config(cfg)
    from index.store import Store

    from .local import LocalBackend

    return LocalBackend(store if store is not None else Store(cfg.data_dir), searcher)


__all__ = ["Backend", "BackendError", "is_remote", "open_backend"]
