"""Propose a signature for a failure, show what it would match, save it.

From the diff's best units, candidate queries are built the way elastic-recheck's
signatures are written — one or two quoted phrases of constant text plus the file's tag
(``message:"..." AND tags:"screen-n-cpu.txt"``) — and each is counted over the window
(:mod:`.evaluate`). The proposal is the candidate that matches this build and no passing
build, from the worst unit, hitting the most failed builds (a phrase that recurs in other
failures is a bug's fingerprint; one that only this build has may hold a variable
word). Nothing is saved until someone gives the bug number: :func:`save` writes
``<bug>.yaml`` atomically into the signature directory, which then reloads.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from index import schema

from .diff import Diff, unit_query
from .evaluate import Evaluation
from .signatures import DEFAULT_DIR, SignatureError, parse, translate_check

CANDIDATE_UNITS = 6
"""Units of the diff that candidates are drawn from (best first)."""
LINES_PER_UNIT = 5
MAX_QUERY = 4096
BUG = re.compile(r"[0-9]{1,12}")
"""Launchpad bug numbers: digits only (also what keeps a file name inside the directory)."""


@dataclass(slots=True)
class Candidate:
    query: str
    phrases: list[str]
    tag: str
    unit: int
    """Index of its unit in the diff."""
    severity: int
    evaluation: Evaluation

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "phrases": self.phrases, "tag": self.tag, "unit": self.unit,
                "severity": self.severity, "evaluation": self.evaluation.as_dict()}  # fmt: skip


@dataclass(slots=True)
class Proposal:
    build_uuid: str
    query: str | None
    allow_nonvoting: bool = False
    evaluation: Evaluation | None = None
    candidates: list[Candidate] = field(default_factory=list)
    yaml: str = ""
    custom: bool = False
    """The query was given (to check an edited one), not proposed."""
    warnings: list[str] = field(default_factory=list)
    took_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "build_uuid": self.build_uuid, "query": self.query, "allow_nonvoting": self.allow_nonvoting,
            "evaluation": self.evaluation.as_dict() if self.evaluation else None,
            "candidates": [c.as_dict() for c in self.candidates], "yaml": self.yaml, "custom": self.custom,
            "warnings": self.warnings, "took_ms": round(self.took_ms, 1),
        }  # fmt: skip


def candidates(d: Diff) -> list[tuple[str, list[str], str, int, int]]:
    """(query, phrases, tag, unit index, severity) to try: each good line's phrases alone,
    then pairs (two lines of a unit, or two phrases of one line) for when one phrase
    alone also matches passing builds."""
    out: dict[str, tuple[str, list[str], str, int, int]] = {}
    for k, u in enumerate(d.units[:CANDIDATE_UNITS]):
        lines = [nl for nl in u.lines[:LINES_PER_UNIT] if nl.phrases]
        singles = [(p, nl.severity) for nl in lines for p in nl.phrases[:2]]
        pairs = []
        if len(lines) >= 2 and lines[0].phrases[0] != lines[1].phrases[0]:
            pairs.append(
                (
                    [lines[0].phrases[0], lines[1].phrases[0]],
                    max(lines[0].severity, lines[1].severity),
                )
            )
        if lines and len(lines[0].phrases) >= 2:
            pairs.append((lines[0].phrases[:2], lines[0].severity))
        for ps, sev in [([p], s) for p, s in singles] + pairs:
            q = unit_query(ps[0], u.tag, *ps[1:])
            out.setdefault(q, (q, ps, u.tag, k, sev))
    return list(out.values())


def _tokens(c: Candidate) -> int:
    return sum(len(schema.tokenize(p)) for p in c.phrases)


def choose(d: Diff, cands: list[Candidate]) -> Candidate | None:
    """The clean candidate to propose. Per unit, the phrases that describe the same
    failure hit the same builds; a generic phrase (``Traceback (most recent call last)``)
    hits more, one holding a variable word fewer. So the unit's answer is the build set
    most of its candidates agree on, said with the longest single phrase of its worst
    line (a unit can hold unrelated new lines next to the failure). Units compete
    by severity, then by how many failed builds that set holds (a recurring failure)."""
    by_unit: dict[int, list[Candidate]] = {}
    for c in cands:
        if c.evaluation.clean:
            by_unit.setdefault(c.unit, []).append(c)
    picks = []
    for cs in by_unit.values():
        groups: dict[frozenset[str], list[Candidate]] = {}
        for c in cs:
            groups.setdefault(c.evaluation.hit_uuids, []).append(c)
        group = max(groups.values(), key=lambda g: (len(g), g[0].evaluation.failed))
        picks.append(min(group, key=lambda c: (-c.severity, len(c.phrases), -_tokens(c))))
    return min(
        picks, key=lambda c: (-d.units[c.unit].severity, -c.evaluation.failed, c.unit), default=None
    )


def propose(d: Diff, *, query: str | None = None) -> Proposal:
    """The best candidate of the diff (or the evaluation of ``query``, an edited one)."""
    t0 = time.perf_counter()
    p = Proposal(d.build_uuid, None)
    ev_of = d.evaluator
    if not d.found or ev_of is None:
        p.warnings.append("build not found")
        return p
    if query is not None:
        query = query.strip()
        if not query or len(query) > MAX_QUERY:
            p.warnings.append(f"a query of 1 to {MAX_QUERY} characters, please")
            return p
        p.custom, p.query, p.evaluation = True, query, ev_of(query)
    else:
        for q, phrases, tag, unit, sev in candidates(d):
            p.candidates.append(Candidate(q, phrases, tag, unit, sev, ev_of(q)))
        best = choose(d, p.candidates)
        if best is None:
            usable = [
                c for c in p.candidates if c.evaluation.hits_build and c.evaluation.error is None
            ]
            best = min(
                usable, key=lambda c: (c.evaluation.passing, c.unit, -_tokens(c)), default=None
            )
            if best is not None:
                p.warnings.append(
                    "every candidate also matches passing builds: this one matches the fewest"
                )
        if best is None:
            p.warnings.append("no line of this build is new enough to make a signature from")
        else:
            p.query, p.evaluation = best.query, best.evaluation
            p.candidates.sort(
                key=lambda c: (c is not best, not c.evaluation.clean, c.evaluation.passing, c.unit)
            )
    ev = p.evaluation
    if ev is not None and ev.error:
        p.warnings.append(f"the query does not run: {ev.error}")
    elif ev is not None:
        if not ev.hits_build:
            p.warnings.append("the query does not match this build")
        if ev.passing:
            p.warnings.append(f"the query matches {ev.passing} passing build(s)")
        p.allow_nonvoting = not d.voting or ev.nonvoting_failed > 0
        p.yaml = signature_yaml(p.query or "", allow_nonvoting=p.allow_nonvoting, d=d, ev=ev)
    p.took_ms = (time.perf_counter() - t0) * 1000
    return p


# -- the file ----------------------------------------------------------------------------------


def _comment(text: object) -> str:
    return "".join(ch for ch in str(text) if ch.isprintable())[:200]


def signature_yaml(
    query: str, *, allow_nonvoting: bool, d: Diff | None = None, ev: Evaluation | None = None
) -> str:
    """elastic-recheck's file: a comment saying where it came from, ``query: >-`` folded at
    its ANDs, ``allow-nonvoting`` when needed. Checked to read back as the same query."""
    head = [f"# proposed by the appliance on {datetime.now(UTC):%Y-%m-%d}"]
    if d is not None:
        head[0] += f" from build {_comment(d.build_uuid)} ({_comment(d.job)})"
    if d is not None and ev is not None:
        head.append(
            f"# over {d.days} days: {ev.builds} builds matched, {ev.failed} failed, {ev.passing} passing"
        )
    parts = [x.strip() for x in query.split(" AND ")]
    body = "query: >-\n" + " AND\n".join(f"  {x}" for x in parts) + "\n"
    try:
        folded_ok = all(x and "\n" not in x for x in parts) and yaml.safe_load(body) == {
            "query": query
        }
    except yaml.YAMLError:
        folded_ok = False
    if not folded_ok:
        body = yaml.safe_dump({"query": query}, sort_keys=False, allow_unicode=True, width=100)
    if allow_nonvoting:
        body += "allow-nonvoting: true\n"
    return "\n".join(head) + "\n" + body


class SaveError(Exception):
    """Why a signature was not saved, with the HTTP status that says it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_bug(bug: object) -> str:
    b = str(bug or "").strip()
    if not BUG.fullmatch(b):
        raise SaveError(400, "bug: the bug number, digits only (1 to 12 of them)")
    return b


def save(directory: Path, bug: object, text: str, *, overwrite: bool = False) -> Path:
    """Write ``<bug>.yaml`` atomically (a temporary file, fsynced, then linked or renamed
    in place), after checking that it is a signature whose query translates. Refuses the
    shipped signatures' directory and, unless ``overwrite``, an existing bug."""
    b = check_bug(bug)
    directory = Path(directory)
    if directory.resolve() == DEFAULT_DIR.resolve():
        raise SaveError(409, "signatures_dir is not set: the shipped signatures are read-only "
                             "(set signatures_dir or APPLIANCE_SIGNATURES_DIR to a directory)")  # fmt: skip
    if not directory.is_dir():
        raise SaveError(409, f"the signature directory {directory} does not exist")
    path = directory / f"{b}.yaml"
    if path.resolve().parent != directory.resolve():
        raise SaveError(400, "bug: not a plain file name")
    try:
        parse(path, text, translate_check)
    except SignatureError as e:
        raise SaveError(400, f"not a valid signature: {e}") from None
    if path.exists() and not overwrite:
        raise SaveError(409, f"bug {b} already has a signature ({path.name})")
    tmp = directory / f".{b}.yaml.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if someone saved the same bug meanwhile
            except FileExistsError:
                raise SaveError(409, f"bug {b} already has a signature ({path.name})") from None
    except OSError as e:
        raise SaveError(
            409, f"cannot write {path.name} in the signature directory: {e.strerror or e}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
