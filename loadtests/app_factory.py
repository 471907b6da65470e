"""An app factory for ``uvicorn --factory --workers N``: measures what more web processes
would give (``appliance serve`` runs one today). Read-only: with several processes only one
could hold the write lock, so ``loadtests.run`` refuses live ingest with ``--web-workers``.
"""

from __future__ import annotations

from starlette.applications import Starlette


def create() -> Starlette:
    from appliance import config
    from web.app import create_app

    return create_app(config.load())
