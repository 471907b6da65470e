"""What is new in this failure: the lines of a failed build that no passing build of the
same job showed over the last days.

Signatures only recognize what someone already wrote one for; the appliance holds every
build's logs, so it can point at the lines that set a failure apart. Lines are compared
as templates (:mod:`.templates`: numbers, UUIDs, request ids, timestamps, IPs, ids in
paths masked), per record — an oslo traceback is one record, so one unit. New records
close together in one file (console tracebacks, multi-line failures) are grouped into
one *unit*. Units are ranked errors and tracebacks first, then the rarest first (how many
builds of the window, of any job, show the unit's most distinctive phrase), then the
least repeated.

Templates come from :class:`.tplstore.TemplateStore` (computed once per stored file), so
a diff costs one read of the failed build plus set lookups.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from index.archive import ArchiveError
from index.catalog import Source

from . import templates as T
from .buildindex import BuildInfo
from .classify import log_link
from .evaluate import Evaluation, Evaluator
from .tplstore import FileTemplates, TemplateStore, parse

DAY_US = 86_400 * 1_000_000
GAP = 3
"""New records at most this many lines apart in one file make one unit."""
MAX_UNITS = 100
"""Units described (read from the archive); the rest are only counted."""
MAX_LINES_PER_UNIT = 12
SPAN_LINES = 60
"""Raw lines of a unit shown at most."""
RARITY_UNITS = 30
"""Units whose phrase is counted over the window (a few ms each)."""
MAX_PASSING = 40
"""Passing builds compared at most (the newest)."""


@dataclass(slots=True)
class NewLine:
    id: str
    """The template's id (hex)."""
    template: str
    message: str
    """Its first occurrence in the build."""
    loglevel: str | None
    severity: int
    count: int
    """Occurrences in the build."""
    filename: str
    line: int
    """1-based."""
    nlines: int
    link: str
    phrases: list[str]


@dataclass(slots=True)
class Unit:
    filename: str
    tag: str
    """The file's first tag (its base name), what a signature restricts to."""
    line: int
    nlines: int
    severity: int
    count: int
    lines: list[NewLine]
    """Its new records, worst first (at most :data:`MAX_LINES_PER_UNIT`)."""
    more: int
    """New records of the unit not listed."""
    text: str
    """The raw lines of the span (capped at :data:`SPAN_LINES`)."""
    link: str
    phrase: str | None
    """Its most distinctive constant phrase."""
    rarity: Evaluation | None = None
    """Builds of the window showing that phrase in such a file (None: not counted)."""

    @property
    def severity_name(self) -> str:
        return T.SEVERITY_NAMES[self.severity]


@dataclass(slots=True)
class Diff:
    build_uuid: str
    build: dict[str, Any]
    found: bool
    job: str = ""
    failed: bool = False
    voting: bool = True
    days: int = 10
    start_us: int = 0
    end_us: int = 0
    compared: list[str] = field(default_factory=list)
    """Passing builds of the job it was compared with."""
    templates: int = 0
    """Distinct templates in the build."""
    new: int = 0
    """Distinct templates no compared build has."""
    units: list[Unit] = field(default_factory=list)
    more_units: int = 0
    warnings: list[str] = field(default_factory=list)
    computed: int = 0
    """Files whose templates were computed for this diff (0 when all were cached)."""
    took_ms: float = 0.0
    evaluator: Evaluator | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        d = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("evaluator", "units")
        }
        d["units"] = [_unit_dict(u) for u in self.units]
        d["took_ms"] = round(self.took_ms, 1)
        return d


def _unit_dict(u: Unit) -> dict[str, Any]:
    d = {k: v for k, v in asdict(u).items() if k != "rarity"}
    d["severity_name"] = u.severity_name
    d["rarity"] = u.rarity.as_dict() if u.rarity is not None else None
    return d


def window(info: BuildInfo, days: int, now_us: int) -> tuple[int, int]:
    """The last ``days`` up to now, stretched back to the build if it is older."""
    end = max(now_us, (info.time_us or 0) + 1)
    start = end - days * DAY_US
    if info.time_us is not None:
        start = min(start, info.time_us)
    return start, end


def tag_of(src: Source) -> str:
    tags = src.attrs.get("tags") or []
    if isinstance(tags, list) and tags:
        return str(tags[0])
    return str(src.attrs.get("filename", "")).rsplit("/", 1)[-1]


def done_sources(engine: Any, file_ids: frozenset[int]) -> list[Source]:
    """A build's files that are fully ingested."""
    return [s for s in engine.store.catalog.many(file_ids).values() if s.state == "done"]


@dataclass(slots=True)
class _Entry:
    src: Source
    ft: FileTemplates
    i: int
    count: int

    @property
    def line(self) -> int:
        return int(self.ft.lines[self.i])

    @property
    def end(self) -> int:
        return self.line + int(self.ft.nlines[self.i])

    @property
    def severity(self) -> int:
        return int(self.ft.severity[self.i])


def compute(
    engine: Any, tstore: TemplateStore, ref: str, *, days: int = 10, now_us: int | None = None
) -> Diff:
    """The diff of build ``ref`` (uuid or short uuid) against the passing builds of its job."""
    t0 = time.perf_counter()
    info = engine.builds.resolve(ref)
    if info is None:
        return Diff(ref, {}, found=False, days=days)
    now = int(time.time() * 1e6) if now_us is None else now_us
    start, end = window(info, days, now)
    computed0 = tstore.computed
    d = Diff(
        info.uuid, dict(info.attrs), True, info.job, info.failed, info.voting, days, start, end
    )
    d.evaluator = Evaluator(engine, start, end, info.uuid)
    if not info.complete:
        d.warnings.append("this build is still being indexed: lines may be missing")
    if not info.failed:
        d.warnings.append(
            f"this build did not fail ({info.status or 'no result'}): compared all the same"
        )
    passing = _passing(engine, info, start, end)
    d.compared = [b.uuid for b in passing]
    if not passing:
        d.warnings.append(
            f"no passing build of {info.job or 'this job'} in the window: every line counts as new"
        )
    entries, distinct = _new_entries(engine, tstore, info, passing)
    d.templates, d.new = len(distinct), len(entries)
    groups = _group(entries.values())
    groups.sort(
        key=lambda g: (
            -max(e.severity for e in g),
            min(e.count for e in g),
            _path(g[0].src),
            g[0].line,
        )
    )
    d.more_units = max(0, len(groups) - MAX_UNITS)
    d.units = [u for u in (_describe(engine, info, g) for g in groups[:MAX_UNITS]) if u is not None]
    for u in d.units[:RARITY_UNITS]:
        if u.phrase:
            u.rarity = d.evaluator(unit_query(u.phrase, u.tag))
    d.units.sort(
        key=lambda u: (
            -u.severity,
            u.rarity.builds if u.rarity else 1 << 30,
            u.count,
            u.filename,
            u.line,
        )
    )
    d.computed = tstore.computed - computed0
    d.took_ms = (time.perf_counter() - t0) * 1000
    return d


def _passing(engine: Any, info: BuildInfo, start: int, end: int) -> list[BuildInfo]:
    """The job's passing builds of the window, newest first (at most :data:`MAX_PASSING`)."""
    found = [
        b for b in engine.builds.between(start, end)
        if b.job == info.job and b.status == "SUCCESS" and b.uuid != info.uuid
    ]  # fmt: skip
    return sorted(found, key=lambda b: b.time_us or 0, reverse=True)[:MAX_PASSING]


def _new_entries(
    engine: Any, tstore: TemplateStore, info: BuildInfo, passing: list[BuildInfo]
) -> tuple[dict[int, _Entry], set[int]]:
    """The build's templates that no passing build has (first occurrence, total count),
    and all its distinct templates."""
    seen: set[int] = set()
    for b in passing:
        for _, ft in tstore.of_sources(done_sources(engine, b.file_ids)):
            seen.update(ft.ids)
    entries: dict[int, _Entry] = {}
    distinct: set[int] = set()
    for src, ft in tstore.of_sources(done_sources(engine, info.file_ids)):
        distinct.update(ft.ids)
        for i, tid in enumerate(ft.ids):
            if tid in seen:
                continue
            e = entries.get(tid)
            if e is None:
                entries[tid] = _Entry(src, ft, i, int(ft.counts[i]))
            else:
                e.count += int(ft.counts[i])
    return entries, distinct


def unit_query(phrase: str, tag: str, *more: str) -> str:
    """elastic-recheck's shape: ``message:"..." AND tags:"..."``."""
    parts = [T.quote(p) for p in (phrase, *more)]
    if tag:
        parts.append('tags:"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " AND ".join(parts)


def _path(src: Source) -> str:
    return str(src.attrs.get("filename", ""))


def _group(entries: Any) -> list[list[_Entry]]:
    out: list[list[_Entry]] = []
    end = 0
    for e in sorted(entries, key=lambda e: (_path(e.src), e.src.id, e.line)):
        if out and out[-1][-1].src.id == e.src.id and e.line <= end + GAP:
            out[-1].append(e)
            end = max(end, e.end)
        else:
            out.append([e])
            end = e.end
    return out


def _describe(engine: Any, info: BuildInfo, group: list[_Entry]) -> Unit | None:
    """Read a unit's lines from the archive and describe its records."""
    src = group[0].src
    first, last = group[0].line, max(e.end for e in group)
    archive, base = engine.store.archive, engine.base_url
    try:
        span = archive.lines(src.sha256, first, min(last - first, SPAN_LINES))
    except ArchiveError:
        return None
    filename = _path(src)
    worst = sorted(group, key=lambda e: (-e.severity, e.line))
    lines: list[NewLine] = []
    for e in worst[:MAX_LINES_PER_UNIT]:
        n = int(e.ft.nlines[e.i])
        raw = span[e.line - first : e.line - first + n] if e.end - first <= len(span) else None
        try:
            raw = raw if raw else archive.lines(src.sha256, e.line, min(n, 200))
        except ArchiveError:
            continue
        records = parse(b"\n".join(raw), src)
        message = records[0].message if records else b"\n".join(raw).decode("utf-8", "replace")
        level = records[0].loglevel if records else None
        lines.append(NewLine(
            id=f"{int(e.ft.ids[e.i]):016x}", template=T.normalize(message), message=message, loglevel=level,
            severity=e.severity, count=e.count, filename=filename, line=e.line + 1, nlines=n,
            link=log_link(info.uuid, filename, e.line + 1, n, base), phrases=T.phrases(message)[:4],
        ))  # fmt: skip
    if not lines:
        return None
    phrase = next((p for nl in lines for p in nl.phrases[:1]), None)
    return Unit(
        filename=filename, tag=tag_of(src), line=first + 1, nlines=last - first, severity=lines[0].severity,
        count=sum(e.count for e in group), lines=lines, more=len(group) - len(lines),
        text="\n".join(b.decode("utf-8", "replace") for b in span), link=log_link(info.uuid, filename, first + 1, last - first, base),
        phrase=phrase,
    )  # fmt: skip
