"""Settings of the recheck features that :class:`appliance.config.Config` has no field for.

They come from the TOML file (unknown keys land in ``cfg.extra``) or, as every other key,
from ``APPLIANCE_<KEY>`` in the environment — the way a container passes a Gerrit
password. The environment wins, as it does for known keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T", str, int, float, bool)

KEYS: dict[str, str] = {
    "public_url": "base URL of this appliance, for links in notifications and graph.json",
    "gerrit_url": "Gerrit to comment on (e.g. https://review.opendev.org); empty: no comments",
    "gerrit_user": "Gerrit account for REST basic auth",
    "gerrit_password": "its HTTP password",
    "notify_webhook_url": "POST a JSON message here for every classified failure; empty: none",
    "notify_dry_run": "print what would be posted instead of posting",
    "zuul_poll_interval_s": "seconds between two polls of the Zuul builds API",
    "zuul_page_size": "builds per API page",
    "zuul_max_pages": "pages read per poll at most (how far one poll catches up)",
    "zuul_backfill": "builds taken on the very first poll (older ones are skipped)",
    "zuul_concurrency": "parallel downloads of log files",
    "zuul_rate_per_s": "requests per second to Zuul and the log server, at most",
    "zuul_retries": "retries of a failed request (with exponential backoff)",
    "zuul_max_file_mb": "skip log files larger than this",
    "zuul_index_unlisted": "also download files the file list does not name (a build has thousands)",
    "zuul_overlap_h": "hours a build can run: how far before the newest seen build a poll still looks",
    "zuul_classify": "classify failed builds after ingest",
    "zuul_notify": "send notifications for classified failures (needs gerrit_url or notify_webhook_url)",
    "templates_warm": "serve computes line templates of new log files in the background (diffs, trends)",
    "templates_warm_days": "how many days of files the template warmer keeps cached",
}
"""Every key read here, with what it does (``appliance config`` and the README list them)."""


def setting(cfg: Any, key: str, default: T, env: Mapping[str, str] | None = None) -> T:
    """``key`` from the environment, else ``cfg.extra``, else ``default``, coerced to
    the default's type (ValueError names the key if it does not convert)."""
    env = os.environ if env is None else env
    raw: Any = env.get(f"APPLIANCE_{key.upper()}")
    if raw is None:
        raw = (getattr(cfg, "extra", None) or {}).get(key)
    if raw is None:
        return default
    try:
        if isinstance(default, bool):
            if isinstance(raw, str):
                low = raw.strip().lower()
                if low not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                    raise ValueError(raw)
                return low in ("1", "true", "yes", "on")  # type: ignore[return-value]
            return bool(raw)  # type: ignore[return-value]
        return type(default)(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"config key {key}: {raw!r} is not a valid {type(default).__name__}"
        ) from None
