"""Query-string numbers and build references, checked once for every page and API.

Two policies, as the routes need them: :func:`number` refuses a value out of range (a
400 naming the bounds: recheck windows, limits), :func:`clamped` pulls it into range
(context sizes, where "as much as allowed" is the useful answer). A missing or empty
parameter takes the default either way.
"""

from __future__ import annotations

from starlette.requests import Request

from .errors import HTTPError

BUILD_REF_CHARS = frozenset("0123456789abcdefABCDEF-")


def _raw(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return None if raw is None or raw == "" else raw


def number(request: Request, name: str, default: float, lo: float, hi: float, cast: type = int) -> float:
    """``?name=`` as ``cast`` (int or float) within ``lo..hi``, else a 400."""
    raw = _raw(request, name)
    if raw is None:
        return default
    try:
        v = cast(raw)
    except ValueError:
        raise HTTPError(400, f"{name}: not a number: {raw[:40]!r}") from None
    if not lo <= v <= hi:
        raise HTTPError(400, f"{name}: between {lo:g} and {hi:g}")
    return v


MAX_DAYS = 60
"""The longest recheck window a request may ask for (each day is a partition to search)."""


def days(request: Request, default: int = 10, lo: int = 1, hi: int = MAX_DAYS) -> int:
    """``?days=``, the recheck window, for every recheck page and API alike: whole days,
    ``1.5`` read as 1 (elastic-recheck's scripts pass fractions)."""
    return int(number(request, "days", default, lo, hi, cast=float))


def clamped(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    """``?name=`` as an int pulled into ``lo..hi``; a 400 only when it is not a number."""
    raw = _raw(request, name)
    if raw is None:
        return default
    try:
        return min(hi, max(lo, int(raw)))
    except ValueError:
        raise HTTPError(400, f"{name}: not a number") from None


def is_build_ref(ref: str) -> bool:
    """A build uuid (hex, dashes allowed) or its 7-character short form."""
    return 7 <= len(ref) <= 64 and all(c in BUILD_REF_CHARS for c in ref)
