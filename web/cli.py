"""``appliance serve``: registered by the web package, the one layer that knows HTTP."""

from __future__ import annotations

import argparse
import signal
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
    from .app import create_app

    signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises SIGTERM after its graceful shutdown: exit 0
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, log_level="info")
    return 0
