"""Times as users type them, read the way Elasticsearch reads a date field.

Used by ``@timestamp`` ranges in queries, ``--from/--to``, bulk ingest and the UI's time
picker; returns integer microseconds since the epoch (UTC). Accepted:

* ISO 8601 and any prefix of it (``2014``, ``2014-11``, ``2014-11-25``,
  ``2014-11-25T00:49``, ``2014-11-25 00:49:21.685+01:00``); no zone means UTC;
* epoch milliseconds (``1416876561685``; four digits are a year, as in ES);
* date math on ``now`` or on ``<date>||``: ``now-24h``, ``now-7d/d``, ``2014-11-25||+1M/M``,
  units ``y M w d h H m s``; ``y`` and ``M`` are calendar years and months, ``/w`` starts
  on Monday.

``round_up`` is Elasticsearch's rounding for inclusive upper (and exclusive lower) bounds:
the missing parts of a partial date, and a ``/unit`` rounding, go to the *last*
microsecond of the period, so ``lte 2014-11-25`` covers the whole day.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ISO = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{1,2})(?:-(?P<d>\d{1,2})"
    r"(?:[Tt ](?P<h>\d{1,2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?)?)?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_EPOCH_MS = re.compile(r"-?\d+(?:\.\d+)?")
_OP = re.compile(r"\s*(?:([+-])\s*(\d*)\s*([yMwdhHms])|/\s*([yMwdhHms]))")
_FIXED = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "H": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_HELP = "use ISO 8601 like 2024-02-13T23:17:30Z, epoch milliseconds, or now-24h"


def parse(text: str, *, now_us: int | None = None, round_up: bool = False) -> int:
    """Microseconds since the epoch; ValueError with a readable message otherwise."""
    s = str(text).strip()
    try:
        if s.startswith("now"):
            if now_us is None:
                now_us = time.time_ns() // 1000
            return _us(_math(_EPOCH + now_us * _US, s[3:], text, round_up))
        if "||" in s:
            anchor, math = s.split("||", 1)
            return _us(_math(_absolute(anchor.strip(), text, False)[0], math, text, round_up))
        start, end = _absolute(s, text, round_up)
        return _us(end if round_up else start)
    except OverflowError:
        raise ValueError(f"not a time: {text!r} (out of range)") from None
    except ValueError as e:
        if str(e).startswith("not a time"):
            raise
        raise ValueError(f"not a time: {text!r} ({e})") from None


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def _absolute(s: str, text: str, round_up: bool) -> tuple[datetime, datetime]:
    """The first and (when rounding up) the last microsecond that ``s`` designates."""
    m = _ISO.fullmatch(s)
    if m:
        return _iso(m, round_up)
    if _EPOCH_MS.fullmatch(s):
        ms = Decimal(s)
        start = _EPOCH + int((ms * 1000).to_integral_value(ROUND_FLOOR)) * _US
        return start, start + (999 * _US if "." not in s else timedelta(0))
    try:  # whatever else Python reads as ISO 8601 (week dates, compact forms)
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"not a time: {text!r} ({_HELP})") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt, dt


def _iso(m: re.Match[str], round_up: bool) -> tuple[datetime, datetime]:
    g = m.groupdict()
    frac = g["f"] or ""
    tz = UTC
    if g["tz"] and g["tz"] not in "Zz":
        digits = g["tz"][1:].replace(":", "")
        off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = timezone(off if g["tz"][0] == "+" else -off)
    start = datetime(
        int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), int(g["h"] or 0), int(g["mi"] or 0),
        int(g["s"] or 0), int((frac + "000000")[:6]), tzinfo=tz,
    )  # fmt: skip
    if not round_up:
        return start, start
    if frac:
        period = timedelta(microseconds=10 ** max(0, 6 - len(frac)))
    elif g["s"]:
        period = timedelta(seconds=1)
    elif g["mi"]:
        period = timedelta(minutes=1)
    elif g["h"]:
        period = timedelta(hours=1)
    elif g["d"]:
        period = timedelta(days=1)
    else:
        return start, _add_months(start, 1 if g["mo"] else 12) - _US
    return start, start + period - _US


def _math(dt: datetime, math: str, text: str, round_up: bool) -> datetime:
    pos = 0
    while pos < len(math.rstrip()):
        m = _OP.match(math, pos)
        if not m:
            raise ValueError(f"not a time: {text!r} (date math like now-1d or now-7d/d expected)")
        pos = m.end()
        if m.group(4):
            dt = _round(dt, m.group(4), round_up)
            continue
        n = int(m.group(2) or 1) * (1 if m.group(1) == "+" else -1)
        unit = m.group(3)
        if unit in "yM":
            dt = _add_months(dt, n * (12 if unit == "y" else 1))
        else:
            dt = dt + n * _FIXED[unit]
    return dt


def _add_months(dt: datetime, n: int) -> datetime:
    y, mo = divmod(dt.month - 1 + n, 12)
    year, month = dt.year + y, mo + 1
    return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))


def _round(dt: datetime, unit: str, up: bool) -> datetime:
    """The start of ``dt``'s period in ``unit``; its last microsecond when ``up``."""
    dt = dt.astimezone(UTC)
    if unit == "y":
        start, nxt = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0), 12
    elif unit == "M":
        start, nxt = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0), 1
    else:
        day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        start = {
            "w": day - timedelta(days=dt.weekday()),
            "d": day,
            "h": dt.replace(minute=0, second=0, microsecond=0),
            "H": dt.replace(minute=0, second=0, microsecond=0),
            "m": dt.replace(second=0, microsecond=0),
            "s": dt.replace(microsecond=0),
        }[unit]
        return start + _FIXED[unit] - _US if up else start
    return _add_months(start, nxt) - _US if up else start
