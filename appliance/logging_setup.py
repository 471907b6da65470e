"""Structured logs: one JSON object per line on stderr, for ``appliance serve``.

Why: a deployer runs the appliance in a container for months and reads its logs with
``journalctl``/``podman logs`` piped into ``jq`` or a log shipper; one JSON object per line
keeps every record (and a traceback, as one string field) in one parseable line. The
format is chosen by ``$APPLIANCE_LOG_FORMAT`` (``json``, the default, or ``text``) and the
level by ``$APPLIANCE_LOG_LEVEL`` (default ``INFO``).

Use :func:`log_config` as uvicorn's ``log_config`` (it covers uvicorn's own loggers and
the appliance's), or :func:`configure` for other commands.
"""

from __future__ import annotations

import logging
import logging.config
import os
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}
"""LogRecord attributes that are not ``extra=`` fields."""

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
"""The positional arguments of a ``uvicorn.access`` record, by name."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ``ts``, ``level``, ``logger``, ``msg``, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _message(record),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            out.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        for k, v in vars(record).items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return orjson.dumps(out, default=str).decode()


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):  # a bad %-format in a library's log call: keep the raw text
        return f"{record.msg} {record.args!r}"


def log_config(fmt: str | None = None, level: str | None = None) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict; pass it to ``uvicorn.run(log_config=...)``."""
    fmt = (fmt or os.environ.get("APPLIANCE_LOG_FORMAT") or "json").lower()
    level = (level or os.environ.get("APPLIANCE_LOG_LEVEL") or "INFO").upper()
    if fmt not in ("json", "text"):
        raise ValueError(f"APPLIANCE_LOG_FORMAT: {fmt!r} is not json or text")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    loggers = {name: {"handlers": ["stderr"], "level": level, "propagate": False}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "appliance", "index", "web")}  # fmt: skip
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"stderr": handler},
        "loggers": loggers,
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure(fmt: str | None = None, level: str | None = None) -> None:
    """Apply :func:`log_config` to this process (for commands that do not run uvicorn)."""
    logging.config.dictConfig(log_config(fmt, level))
