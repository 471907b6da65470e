"""Small stacked bar charts for the recheck pages (builds hit per time bin, by series).

Hourly series over ten days are 240 points: binned to :data:`BINS` bars so each is a few
pixels wide. Geometry only; the template draws ``<rect>`` elements with a class per series.
"""

from __future__ import annotations

from dataclasses import dataclass

from .render import ts

BINS = 40
W, H = 260, 48


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str


def series_class(name: str) -> str:
    n = name.upper()
    if n in ("FAILURE", "POST_FAILURE", "TIMED_OUT", "RETRY_LIMIT", "NODE_FAILURE", "ERROR", "ABORTED"):
        return "fail"
    if n == "SUCCESS":
        return "ok"
    if n in ("CHECK", "GATE"):
        return n.lower()
    return "other"


def stacked(series: dict[str, list[int]], starts: list[int], bins: int = BINS) -> list[Rect]:
    """Rects for ``series`` (name -> counts aligned with ``starts``, the bucket times)."""
    n = len(starts)
    if not n or not series:
        return []
    per = max(1, -(-n // bins))
    nb = -(-n // per)
    binned = {k: [sum(v[i * per : (i + 1) * per]) for i in range(nb)] for k, v in series.items()}
    totals = [sum(b[i] for b in binned.values()) for i in range(nb)]
    top = max(totals) or 1
    bw = W / nb
    out: list[Rect] = []
    for i in range(nb):
        y = float(H)
        for name in sorted(binned):
            c = binned[name][i]
            if not c:
                continue
            h = max(1.5, c / top * (H - 2))
            y -= h
            out.append(Rect(round(i * bw, 2), round(y, 2), round(max(1.0, bw - 1), 2), round(h, 2),
                            series_class(name), f"{ts(starts[i * per], ms=False)}: {c} {name}"))
    return out
