"""Paging deep: ``search_after`` cursors and ``scroll`` ids.

Hits are ordered by ``@timestamp`` (microseconds), ties in index order. A hit's ``sort``
is ``[epoch_ms, "<ts_us>:<n>"]``: the time ES clients expect, then a tiebreaker — the hit
is the n-th of its exact microsecond in this order (ES adds such a tiebreaker to
point-in-time searches too). Given back as ``search_after``, the next page is "time up to
ts_us, skipping n": exact even when many events share a timestamp. A hand-made
``search_after: [ms]`` means strictly after that millisecond, ties skipped, as in ES.
Limit: the order of events of the same microsecond is the index's; a merge of segments
between two pages can reorder such ties.

A scroll id is the search itself plus its cursor, compressed, signed by nothing and
stored nowhere: any web worker can continue it, a restart loses nothing, memory does not
grow with abandoned scrolls. It expires after its keep-alive (renewed by each call);
clearing one only reports it (there is nothing to free).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import EsError, bad_request
from .params import duration_us

_TIE = re.compile(r"(-?\d+):(\d+)")
MAX_KEEP_ALIVE_S = 24 * 3600
MAX_STATE_BYTES = 4 << 20
_PREFIX = "ap1"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: strictly after ``ms`` (no tiebreak), or at ``ts_us``
    after the first ``skip`` events of that microsecond."""

    ms: int
    ts_us: int | None = None
    skip: int = 0

    @classmethod
    def parse(cls, after: Any) -> Cursor:
        if not isinstance(after, list) or not 1 <= len(after) <= 2:
            raise bad_request("[search_after] takes the sort values of the last hit ([ms] or [ms, tiebreak])")
        first = after[0]
        if isinstance(first, str) and re.fullmatch(r"-?\d+", first):
            first = int(first)
        if isinstance(first, bool) or not isinstance(first, int | float):
            raise bad_request(f"[search_after] {first!r} is not a time in epoch milliseconds")
        if len(after) == 2:
            m = _TIE.fullmatch(str(after[1]))
            if not m:
                raise bad_request(f"[search_after] tiebreak {after[1]!r} was not made by the appliance")
            return cls(int(first), int(m[1]), int(m[2]))
        return cls(int(first))

    def bounds(self, start: int | None, end: int | None, newest: bool) -> tuple[int | None, int | None, int]:
        """(start_us, end_us, events to skip) of the page after this cursor."""
        if self.ts_us is None:
            if newest:
                return start, _min(end, self.ms * 1000 - 1), 0
            return _max(start, self.ms * 1000 + 1000), end, 0
        if newest:
            return start, _min(end, self.ts_us), self.skip
        return _max(start, self.ts_us), end, self.skip


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _max(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def sort_values(stamps: list[int], carry: Cursor | None, before: int = 0) -> list[list[Any]]:
    """The ``sort`` of each hit of a page, from their microsecond times in page order.

    ``carry``: the cursor this page continues (its ties were skipped); ``before``: events
    of the first hit's microsecond that precede the page (a page reached with ``from``)."""
    out: list[list[Any]] = []
    prev, n = None, 0
    for i, ts in enumerate(stamps):
        if ts != prev:
            n = before if i == 0 else 0
            if i == 0 and carry is not None and carry.ts_us == ts:
                n = carry.skip
            prev = ts
        n += 1
        out.append([ts // 1000, f"{ts}:{n}"])
    return out


# -- scroll ids --------------------------------------------------------------------------------


def keep_alive_s(raw: Any) -> float:
    s = duration_us(raw, "[scroll] keep alive") / 1e6
    if not 0 < s <= MAX_KEEP_ALIVE_S:
        raise bad_request(f"[scroll] keep alive [{raw}] must be positive and at most 24h")
    return s


def encode(state: dict[str, Any], keep_alive: float) -> str:
    raw = orjson.dumps({**state, "x": time.time() + keep_alive})
    return _PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 6)).decode().rstrip("=")


def decode(scroll_id: Any) -> dict[str, Any]:
    """The state of a live scroll; a 404 ``search_context_missing_exception`` otherwise."""
    missing = EsError(404, "search_context_missing_exception", f"No search context found for id [{str(scroll_id)[:80]}]")
    if not isinstance(scroll_id, str) or not scroll_id.startswith(_PREFIX):
        raise missing
    try:
        body = scroll_id[len(_PREFIX) :]
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        d = zlib.decompressobj()
        raw = d.decompress(packed, MAX_STATE_BYTES)
        state = orjson.loads(raw)
    except (binascii.Error, ValueError, zlib.error, orjson.JSONDecodeError):
        raise missing from None
    if not isinstance(state, dict) or not isinstance(state.get("x"), float | int) or state["x"] < time.time():
        raise missing
    return state
