"""Hits over time: an automatic bucket interval and the geometry of a small inline SVG.

Drawn on the server (rects with attributes, no styles, no script), so the picture is
there with the page and its height is fixed: nothing jumps while loading.
"""

from __future__ import annotations

from dataclasses import dataclass

from .render import iso, ts

S = 1_000_000
INTERVALS = (
    (S, "1s"), (5 * S, "5s"), (10 * S, "10s"), (30 * S, "30s"),
    (60 * S, "1m"), (5 * 60 * S, "5m"), (10 * 60 * S, "10m"), (30 * 60 * S, "30m"),
    (3600 * S, "1h"), (3 * 3600 * S, "3h"), (6 * 3600 * S, "6h"), (12 * 3600 * S, "12h"),
    (86400 * S, "1d"), (7 * 86400 * S, "7d"), (30 * 86400 * S, "30d"), (365 * 86400 * S, "365d"),
)  # fmt: skip
TARGET_BUCKETS = 80
WIDTH, HEIGHT, AXIS = 1000, 110, 16


def interval_for(start_us: int, end_us: int, target: int = TARGET_BUCKETS) -> tuple[int, str]:
    """The smallest round interval that gives at most ``target`` buckets."""
    span = max(1, end_us - start_us)
    for us, label in INTERVALS:
        if span / us <= target:
            return us, label
    return INTERVALS[-1]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    start_us: int
    count: int
    title: str


@dataclass(frozen=True)
class Chart:
    start_us: int
    end_us: int
    interval_us: int
    label: str
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    max_count: int
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS

    @property
    def start_iso(self) -> str:
        return iso(self.start_us)

    @property
    def end_iso(self) -> str:
        return iso(self.end_us)


def chart(buckets: list[tuple[int, int]], start_us: int, end_us: int, interval_us: int, label: str) -> Chart:
    span = max(1, end_us - start_us)
    top = max((c for _, c in buckets), default=0)
    plot_h = HEIGHT - AXIS
    bars = []
    for b, c in buckets:
        lo, hi = max(b, start_us), min(b + interval_us, end_us)
        if hi <= lo:
            continue
        x = (lo - start_us) / span * WIDTH
        w = max(1.0, (hi - lo) / span * WIDTH - 1)
        h = 0.0 if not c else max(2.0, c / top * (plot_h - 4))
        bars.append(Bar(round(x, 2), round(plot_h - h, 2), round(w, 2), round(h, 2), b, c, f"{ts(b, ms=False)}: {c:,}"))
    ticks = []
    for i in range(6):
        t = start_us + span * i // 5
        ticks.append((round(i / 5 * WIDTH, 1), ts(t, ms=False)))
    return Chart(start_us, end_us, interval_us, label, bars, ticks, top)
