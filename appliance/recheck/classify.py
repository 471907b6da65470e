"""Classifying one build: which known bugs its logs show, with the lines that say so.

Every active signature runs restricted to the build's own files, on the days those
files cover only. A build with no match is *uncategorized* — if it failed and its
logs are all in (classifying a half-ingested build would call it uncategorized too
early; :attr:`Classification.indexed` says which).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from index.query import QueryError

from ..events import to_event
from .buildindex import BuildInfo
from .runner import Runner
from .signatures import Signature

FAIL_WORDS = "(message:FAILED OR message:FAIL OR message:ERROR)"
"""With ``test_ids``: the test must show up failing in the build's logs. elastic-recheck
asked its subunit2sql database; the appliance has the logs themselves."""


@dataclass(slots=True)
class MatchedEvent:
    """One event a signature matched, with links to it."""

    timestamp: str
    ts_us: int
    filename: str
    line: int
    """1-based first line in its file."""
    nlines: int
    message: str
    loglevel: str | None
    file_id: int
    link: str
    """The appliance's log viewer at these lines (``/logs/{build}/{file}#L12-L14``)."""
    log_url: str | None
    """The file where the CI published it (``log_url`` + filename), if known."""


@dataclass(slots=True)
class Match:
    bug: str
    query: str
    url: str
    """The bug's page (Launchpad for numeric bugs)."""
    count: int
    """Matching events in the build."""
    events: list[MatchedEvent]
    """The earliest few of them."""
    suppress_notification: bool = False


@dataclass(slots=True)
class Classification:
    build_uuid: str
    build: dict[str, Any]
    """The build's fields (``build_name``, ``build_status``, ``log_url``...)."""
    found: bool
    """The build is known to the index at all."""
    indexed: bool
    """All of its files are acknowledged (the answer is final)."""
    failed: bool
    matches: list[Match] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Signatures that could not run, with why."""
    waited_s: float = 0.0
    took_ms: float = 0.0

    @property
    def bugs(self) -> list[str]:
        return [m.bug for m in self.matches]

    @property
    def uncategorized(self) -> bool:
        """A failed, fully indexed build that no signature matched."""
        return self.found and self.indexed and self.failed and not self.matches

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bugs"] = self.bugs
        d["uncategorized"] = self.uncategorized
        d["waited_s"] = round(self.waited_s, 3)
        d["took_ms"] = round(self.took_ms, 2)
        return d


def log_link(build_uuid: str, filename: str, line: int, nlines: int = 1, base_url: str = "") -> str:
    anchor = f"#L{line}" if nlines <= 1 else f"#L{line}-L{line + nlines - 1}"
    return f"{base_url}/logs/{quote(build_uuid)}/{quote(filename)}{anchor}"


def published_url(log_url: str | None, filename: str) -> str | None:
    if not log_url:
        return None
    return log_url if log_url.endswith(filename) else log_url.rstrip("/") + "/" + filename


def _event(ev: dict[str, Any], ts_us: int, build: BuildInfo, base_url: str) -> MatchedEvent:
    filename = str(ev.get("filename", ""))
    return MatchedEvent(
        timestamp=ev["@timestamp"],
        ts_us=ts_us,
        filename=filename,
        line=ev["line"],
        nlines=ev["nlines"],
        message=ev["message"],
        loglevel=ev.get("loglevel"),
        file_id=ev["file_id"],
        link=log_link(build.uuid, filename, ev["line"], ev["nlines"], base_url),
        log_url=published_url(build.attrs.get("log_url"), filename),
    )


def failed_test_query(test_ids: tuple[str, ...]) -> str:
    ids = " OR ".join(
        'message:"{}"'.format(t.replace("\\", "\\\\").replace('"', '\\"')) for t in test_ids
    )
    return f"({ids}) AND {FAIL_WORDS}"


def match_one(
    sig: Signature,
    build: BuildInfo,
    runner: Runner,
    searchers: list[Any],
    *,
    max_events: int,
    base_url: str = "",
) -> Match | None:
    """The signature's match in this build, or None. Raises QueryError if it cannot run."""
    q = runner.for_files(sig, build.file_ids)
    if q is None:
        return None
    res = runner.first_hits(q, searchers, max_events)
    if res.count == 0:
        return None
    if sig.test_ids:
        tq = runner.translate(failed_test_query(sig.test_ids), build.file_ids)
        if runner.first_hits(runner.in_file_set(tq, build.file_ids), searchers, 0).count == 0:
            return None
    events = [
        _event(to_event(f), f.hit.ts_us, build, base_url) for f in runner.searcher.fetch(res.hits)
    ]
    return Match(sig.bug, sig.query, sig.url, res.count, events, sig.suppress_notification)


def classify_build(
    build: BuildInfo,
    signatures: list[Signature],
    runner: Runner,
    *,
    max_events: int = 5,
    base_url: str = "",
    map_fn: Callable[..., Any] = map,
) -> tuple[list[Match], list[str]]:
    """Run every signature on one build; (matches in signature order, errors)."""
    if not build.file_ids:
        return [], []
    sources = runner.store.catalog.many(build.file_ids)
    days = {d for s in sources.values() for d in s.days}
    searchers = runner.searchers(days)

    def one(sig: Signature) -> Match | str | None:
        try:
            return match_one(
                sig, build, runner, searchers, max_events=max_events, base_url=base_url
            )
        except QueryError as e:
            return f"{sig.bug}: {e.message}"
        except ValueError as e:  # tantivy refusing a query at search time
            return f"{sig.bug}: {e}"

    matches: list[Match] = []
    errors: list[str] = []
    for r in map_fn(one, signatures):
        if isinstance(r, Match):
            matches.append(r)
        elif isinstance(r, str):
            errors.append(r)
    return matches, errors


def wait_complete(
    get: Callable[[], BuildInfo | None], wait_s: float, poll_s: float = 0.25
) -> tuple[BuildInfo | None, float]:
    """Poll until the build is known and complete, or ``wait_s`` passed: (build, waited).

    elastic-recheck retried for 20 minutes on end markers in the console log; the
    ingest knows when a build's last file is acknowledged, so this ends as soon as it is."""
    t0 = time.monotonic()
    while True:
        b = get()
        waited = time.monotonic() - t0
        if (b is not None and b.complete) or waited >= wait_s:
            return b, waited
        time.sleep(min(poll_s, max(0.0, wait_s - waited)))
        poll_s = min(poll_s * 1.5, 2.0)


def empty(build_ref: str) -> Classification:
    return Classification(build_ref, {}, found=False, indexed=False, failed=False)
