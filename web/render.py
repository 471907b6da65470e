"""One Jinja2 environment for every page: autoescape always on, UTC times, no inline code.

Templates never see raw log text unescaped: values are escaped by Jinja, and the few
pre-built fragments (highlighted messages) are :class:`markupsafe.Markup` made by
:mod:`web.highlight`, which escapes before it marks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def ts(us: int | None, ms: bool = True) -> str:
    """Microseconds since the epoch -> ``2024-02-13 23:17:30.123`` (UTC)."""
    if us is None:
        return ""
    try:
        dt = datetime.fromtimestamp(us / 1e6, UTC)
    except (ValueError, OverflowError, OSError):
        return str(us)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ms else dt.strftime("%Y-%m-%d %H:%M")


def iso(us: int) -> str:
    """For URLs: ``2024-02-13T23:17:30.123Z`` (what ``from``/``to`` take back)."""
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def num(n: int | float) -> str:
    return f"{n:,}"


def logs_url(build_uuid: str, filename: str, line: int | None = None) -> str:
    url = f"/logs/{quote(build_uuid, safe='')}/{quote(filename)}"
    return f"{url}#L{line}" if line else url


def safe_url(url: object) -> str:
    """Links from data (``log_url``...) only when http(s) or site-relative: never
    ``javascript:`` or ``data:``, whatever a build record says."""
    u = str(url or "").strip()
    if u.startswith("/") and not u.startswith("//"):
        return u
    return u if u.lower().startswith(("https://", "http://")) else "#"


env.filters.update(ts=ts, iso=iso, num=num, safe_url=safe_url)
env.globals.update(logs_url=logs_url)


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**ctx), status_code=status, headers=headers)


def render_text(name: str, **ctx: Any) -> str:
    return env.get_template(name).render(**ctx)
