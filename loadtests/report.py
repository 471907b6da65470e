"""The load-test report: locust's CSV files in, a markdown summary and SVG plots out.

Why hand-written SVG: the appliance has no plotting dependency (matplotlib is not
installed) and the report must be readable offline in any browser or code review tool.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

TARGETS: dict[str, tuple[str, float]] = {
    "/discover": ("99%", 200.0),
    "/discover.json": ("99%", 200.0),
    "/logs [first bytes]": ("99%", 100.0),
}
"""Issue 5's targets: Discover p99 <= 200 ms, log viewer first bytes p99 <= 100 ms."""
COLORS = ("#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#B279A2", "#9D755D", "#EECA3B")


@dataclass
class Row:
    type: str
    name: str
    requests: int
    failures: int
    rps: float
    pct: dict[str, float]
    avg: float
    max: float

    @property
    def is_request(self) -> bool:
        """False for derived timings (``FULL``) and the ``Aggregated`` line."""
        return self.type not in ("FULL", "") and self.name != "Aggregated"


def _f(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def read_stats(path: Path) -> list[Row]:
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            pct = {k: _f(v) for k, v in r.items() if k and k.endswith("%")}
            rows.append(Row(r["Type"], r["Name"], int(r["Request Count"]), int(r["Failure Count"]),
                            _f(r["Requests/s"]), pct, _f(r["Average Response Time"]), _f(r["Max Response Time"])))  # fmt: skip
    return rows


def read_failures(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_history(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- markdown ---------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:,.0f}"


def verdicts(rows: list[Row]) -> list[tuple[str, str, float, float, bool]]:
    """(endpoint, percentile, measured, target, met) for every target present."""
    out = []
    by_name = {r.name: r for r in rows}
    for name, (p, limit) in TARGETS.items():
        r = by_name.get(name)
        if r is not None and r.requests:
            out.append((name, p, r.pct.get(p, math.nan), limit, r.pct.get(p, math.nan) <= limit))
    return out


def markdown(rows: list[Row], failures: list[dict[str, str]], meta: dict[str, Any]) -> str:
    reqs = [r for r in rows if r.is_request]
    total = sum(r.requests for r in reqs)
    failed = sum(r.failures for r in reqs)
    rps = sum(r.rps for r in reqs if not math.isnan(r.rps))
    lines = [f"# Load test — {meta.get('title', 'appliance')}", ""]
    for k, v in meta.items():
        if k != "title":
            lines.append(f"- **{k}**: {v}")
    lines += ["", f"**{total:,} requests, {failed:,} failed, {rps:,.1f} requests/s**", "", "## Targets (issue 5)", ""]
    lines += ["| endpoint | percentile | measured ms | target ms | met |", "| --- | --- | ---: | ---: | --- |"]
    for name, p, got, limit, ok in verdicts(rows):
        lines.append(f"| `{name}` | {p} | {_ms(got)} | {limit:,.0f} | {'yes' if ok else '**NO**'} |")
    lines.append(f"| all requests | errors | {failed} | 0 | {'yes' if failed == 0 else '**NO**'} |")
    lines += ["", "## Per endpoint (ms)", "",
              "| type | endpoint | requests | failures | req/s | p50 | p95 | p99 | max |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        if r.name == "Aggregated":
            continue
        lines.append(f"| {r.type} | `{r.name}` | {r.requests:,} | {r.failures:,} | {r.rps:,.2f} | {_ms(r.pct.get('50%', math.nan))}"
                     f" | {_ms(r.pct.get('95%', math.nan))} | {_ms(r.pct.get('99%', math.nan))} | {_ms(r.max)} |")  # fmt: skip
    if failures:
        lines += ["", "## Failures", "", "| method | endpoint | error | count |", "| --- | --- | --- | ---: |"]
        for f in failures:
            err = f.get("Error", "").replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {f.get('Method', '')} | `{f.get('Name', '')}` | {err} | {f.get('Occurrences', '')} |")
    lines += ["", "![latency per endpoint](latency.svg)", "", "![latency over time](timeline.svg)", "",
              "Percentiles are locust's (rounded to 2 significant digits above 100 ms). `FULL` rows time a",
              "whole log page (same request as `/logs [first bytes]`, not counted in requests/s)."]  # fmt: skip
    return "\n".join(lines) + "\n"


# -- SVG --------------------------------------------------------------------------------------


def _svg(width: int, height: int, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")  # fmt: skip


def latency_svg(rows: list[Row]) -> str:
    """Horizontal bars per endpoint: p50, p95, p99 on a log scale, target lines."""
    rows = [r for r in rows if r.name != "Aggregated" and r.requests]
    keys = (("50%", "#9ecae1"), ("95%", "#4292c6"), ("99%", "#08519c"))
    left, right, top, bar, gap = 230, 40, 40, 7, 10
    width = 900
    height = top + len(rows) * (3 * bar + gap) + 50
    vmax = max([r.pct.get("99%", 1) for r in rows if not math.isnan(r.pct.get("99%", math.nan))] + [1000])
    lo, hi = 0.0, math.log10(vmax) + 0.1

    def x(v: float) -> float:
        v = max(v, 1.0)
        return left + (math.log10(v) - lo) / (hi - lo) * (width - left - right)

    body = [f'<text x="{left}" y="18" font-size="14" font-weight="bold">Latency per endpoint (ms, log scale)</text>']
    for i, (k, c) in enumerate(keys):
        body.append(f'<rect x="{width - 230 + i * 70}" y="8" width="12" height="12" fill="{c}"/>'
                    f'<text x="{width - 214 + i * 70}" y="18">p{k[:-1]}</text>')  # fmt: skip
    decade = 1.0
    while decade <= 10**hi:
        body.append(f'<line x1="{x(decade):.1f}" y1="{top - 5}" x2="{x(decade):.1f}" y2="{height - 40}" stroke="#ddd"/>'
                    f'<text x="{x(decade):.1f}" y="{height - 25}" text-anchor="middle">{decade:g}</text>')  # fmt: skip
        decade *= 10
    for limit, label in ((100, "100 ms"), (200, "200 ms")):
        body.append(f'<line x1="{x(limit):.1f}" y1="{top - 5}" x2="{x(limit):.1f}" y2="{height - 40}" '
                    f'stroke="#d62728" stroke-dasharray="4 3"/><text x="{x(limit) + 3:.1f}" y="{top - 8}" fill="#d62728">{label}</text>')  # fmt: skip
    y = top
    for r in rows:
        body.append(f'<text x="{left - 8}" y="{y + 1.5 * bar + 4}" text-anchor="end">{escape(r.name)}</text>')
        for k, c in keys:
            v = r.pct.get(k, math.nan)
            if not math.isnan(v):
                body.append(f'<rect x="{left}" y="{y}" width="{max(1.0, x(v) - left):.1f}" height="{bar}" fill="{c}">'
                            f'<title>{escape(r.name)} p{k[:-1]} = {v:g} ms</title></rect>')  # fmt: skip
            y += bar
        if not math.isnan(r.pct.get("99%", math.nan)):
            body.append(f'<text x="{x(r.pct["99%"]) + 4:.1f}" y="{y - 1}" font-size="10">{r.pct["99%"]:g}</text>')
        y += gap
    return _svg(width, height, body)


def timeline_svg(history: list[dict[str, str]], names: list[str]) -> str:
    """p95 over time (locust's sliding window) for the key endpoints, and total req/s."""
    width, height, left, right, top, bottom = 900, 360, 60, 60, 40, 40
    series: dict[str, list[tuple[float, float]]] = {}
    rps: list[tuple[float, float]] = []
    for h in history:
        t = _f(h.get("Timestamp", ""))
        name = h.get("Name", "")
        if name == "Aggregated":
            rps.append((t, _f(h.get("Requests/s", ""))))
        if name in names:
            v = _f(h.get("95%", ""))
            if not math.isnan(v) and v > 0:  # 0: no request of that name yet
                series.setdefault(name, []).append((t, v))
    body = [f'<text x="{left}" y="18" font-size="14" font-weight="bold">p95 over time (ms, left) and requests/s (grey, right)</text>']
    pts = [p for s in series.values() for p in s] + rps
    if not pts:
        return _svg(width, height, body + [f'<text x="{left}" y="80">no history</text>'])
    t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
    t1 = t1 if t1 > t0 else t0 + 1
    vmax = max([v for s in series.values() for _, v in s] + [200.0]) * 1.1
    rmax = max([v for _, v in rps if not math.isnan(v)] + [1.0]) * 1.1

    def px(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (width - left - right)

    def py(v: float, top_v: float) -> float:
        return height - bottom - v / top_v * (height - top - bottom)

    for i in range(6):
        v = vmax * i / 5
        body.append(f'<line x1="{left}" y1="{py(v, vmax):.1f}" x2="{width - right}" y2="{py(v, vmax):.1f}" stroke="#eee"/>'
                    f'<text x="{left - 6}" y="{py(v, vmax) + 4:.1f}" text-anchor="end">{v:,.0f}</text>'
                    f'<text x="{width - right + 6}" y="{py(rmax * i / 5, rmax) + 4:.1f}" fill="#888">{rmax * i / 5:,.0f}</text>')  # fmt: skip
    for i in range(6):
        t = t0 + (t1 - t0) * i / 5
        body.append(f'<text x="{px(t):.1f}" y="{height - bottom + 16}" text-anchor="middle">{t - t0:.0f} s</text>')
    if rps:
        d = " ".join(f"{px(t):.1f},{py(v, rmax):.1f}" for t, v in rps if not math.isnan(v))
        body.append(f'<polyline points="{d}" fill="none" stroke="#bbb" stroke-width="1.5"/>')
    for i, (name, s) in enumerate(sorted(series.items())):
        c = COLORS[i % len(COLORS)]
        d = " ".join(f"{px(t):.1f},{py(v, vmax):.1f}" for t, v in s)
        body.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>'
                    f'<rect x="{left + 10 + i * 190}" y="26" width="12" height="4" fill="{c}"/>'
                    f'<text x="{left + 26 + i * 190}" y="32">{escape(name)}</text>')  # fmt: skip
    return _svg(width, height, body)


def write(out: Path, csv_prefix: Path, meta: dict[str, Any]) -> tuple[list[Row], Path]:
    """Write ``report.md``, ``latency.svg`` and ``timeline.svg`` into ``out``."""
    rows = read_stats(Path(f"{csv_prefix}_stats.csv"))
    failures = read_failures(Path(f"{csv_prefix}_failures.csv"))
    history = read_history(Path(f"{csv_prefix}_stats_history.csv"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.svg").write_text(latency_svg(rows))
    key = [n for n in ("/discover", "/discover.json", "/logs [first bytes]", "/_search") if any(r.name == n for r in rows)]
    (out / "timeline.svg").write_text(timeline_svg(history, key))
    md = out / "report.md"
    md.write_text(markdown(rows, failures, meta))
    return rows, md
