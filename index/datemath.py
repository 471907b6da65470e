"""Times as users type them: ISO 8601, epoch milliseconds, and Kibana's ``now-24h``.

Used by range queries on ``@timestamp``, ``--from/--to`` and the UI's time picker;
returns microseconds since the epoch.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNITS_US = {
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
    "M": 30 * 86_400_000_000,
    "y": 365 * 86_400_000_000,
}
_REL = re.compile(r"^now(?:\s*([+-])\s*(\d+)\s*([smhdwMy]))?(?:/([smhdwMy]))?$")


def parse(text: str, *, now_us: int | None = None, round_up: bool = False) -> int:
    """Microseconds since the epoch; ValueError with a readable message otherwise."""
    s = text.strip()
    now_us = int(time.time() * 1_000_000) if now_us is None else now_us
    m = _REL.match(s)
    if m:
        t = now_us
        if m.group(1):
            delta = int(m.group(2)) * _UNITS_US[m.group(3)]
            t = t + delta if m.group(1) == "+" else t - delta
        if m.group(4):
            unit = _UNITS_US[m.group(4)]
            t = t - t % unit + (unit - 1 if round_up else 0)
        return t
    if s.isdigit():
        return int(s) * 1000  # epoch milliseconds, as Elasticsearch takes them
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 like 2024-02-13T23:17:30Z, or now-24h)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    us = int(dt.timestamp()) * 1_000_000 + dt.microsecond
    if round_up and len(s) == 10:  # a bare date: the whole day
        us += 86_400_000_000 - 1
    return us
