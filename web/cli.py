"""``appliance serve``: registered by the web package, the one layer that knows HTTP."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    sp = add("serve", cmd_serve, "run the web UI and APIs")
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--demo", action="store_true", help="ingest the built-in demo data first if the index is empty")


def cmd_serve(args: argparse.Namespace, cfg: Any) -> int:
    from dataclasses import replace

    import uvicorn

    from appliance import demo_setup

    if args.host or args.port:
        cfg = replace(cfg, **{k: v for k, v in (("host", args.host), ("port", args.port)) if v})
    if args.demo:
        demo_setup.ensure_demo(cfg, quiet=False)
    from appliance.logging_setup import log_config

    from .app import create_app

    signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises SIGTERM after its graceful shutdown: exit 0
    # JSON lines for containers and log shippers; plain text on a terminal unless asked.
    fmt = os.environ.get("APPLIANCE_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    # h11 (not httptools, if installed): it refuses oversized request heads; httptools
    # buffers any size. Measured: the same _bulk rate with either.
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, log_config=log_config(fmt), http="h11")
    return 0
