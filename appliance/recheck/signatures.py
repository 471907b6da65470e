"""Recheck signatures: elastic-recheck's ``queries/*.yaml`` files, loaded unchanged.

One file is one known CI bug: the file stem is the bug number, ``query`` a Lucene query
over the Logstash fields. A bad file (YAML error, no query, a query that does not
translate) is reported with its reason and skipped — one typo must not blind the bot to
the other hundred bugs. A :class:`SignatureSet` reloads on demand (:meth:`reload`) and,
once started, live from a ``watchfiles`` watcher thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import yaml

from ..background import Background

log = logging.getLogger("appliance.recheck")

DEFAULT_DIR = Path(__file__).parent / "signatures"
"""The signatures shipped with the demo data (used when ``signatures_dir`` is not set)."""

KNOWN_KEYS = frozenset(
    {
        "query",
        "suppress-graph",
        "suppress-notification",
        "allow-nonvoting",
        "test_ids",
        "resolved_at",
    }
)
VOTING_FILTER = "voting:1"
LAUNCHPAD = "https://bugs.launchpad.net/bugs/"

Validator = Callable[[str], None]
"""Raises (e.g. :class:`index.query.QueryError`) when a query does not translate."""


@dataclass(frozen=True)
class Signature:
    bug: str
    query: str
    path: Path
    suppress_graph: bool = False
    suppress_notification: bool = False
    allow_nonvoting: bool = False
    test_ids: tuple[str, ...] = ()
    resolved_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Keys elastic-recheck did not define, kept as they were (a warning names them)."""

    @property
    def url(self) -> str:
        return LAUNCHPAD + self.bug if self.bug.isdigit() else ""

    @property
    def resolved(self) -> bool:
        """elastic-recheck skipped resolved bugs; so do classify and graph."""
        return self.resolved_at is not None

    @property
    def effective_query(self) -> str:
        """The query as it runs: ``(q) AND (voting:1)`` unless ``allow-nonvoting``.

        Combined on the parsed level, not by appending text, so a top-level OR keeps
        the filter on every branch (elastic-recheck's ``+ " AND voting:1"`` did not)."""
        if self.allow_nonvoting:
            return self.query
        from index.query import combine_and

        return combine_and(self.query, VOTING_FILTER)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bug": self.bug, "query": self.query, "url": self.url, "file": self.path.name,
            "suppress_graph": self.suppress_graph, "suppress_notification": self.suppress_notification,
            "allow_nonvoting": self.allow_nonvoting, "test_ids": list(self.test_ids),
            "resolved_at": self.resolved_at, "extra": orjson.loads(orjson.dumps(dict(self.extra), default=str)),
        }  # fmt: skip


@dataclass(frozen=True)
class BadSignature:
    path: Path
    reason: str

    @property
    def bug(self) -> str:
        return self.path.stem

    def as_dict(self) -> dict[str, str]:
        return {"bug": self.bug, "file": self.path.name, "reason": self.reason}


class SignatureError(ValueError):
    pass


def _flag(data: Mapping[str, Any], key: str) -> bool:
    v = data.get(key, False)
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def parse(path: Path, text: str, validate: Validator | None = None) -> tuple[Signature, list[str]]:
    """One signature file's text -> (signature, warnings); :class:`SignatureError` if bad."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SignatureError(f"YAML error{where}: {problem}") from None
    if not isinstance(data, dict):
        raise SignatureError("expected a mapping with a 'query' key")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise SignatureError("missing or empty 'query'")
    query = query.strip()
    if validate is not None:
        try:
            validate(query)
        except Exception as e:  # noqa: BLE001 - any translator error makes the file bad, not the set
            raise SignatureError(
                f"query does not translate: {getattr(e, 'message', None) or e}"
            ) from None
    tids = data.get("test_ids") or ()
    if isinstance(tids, str):
        tids = (tids,)
    extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS}
    warnings = [f"{path.name}: unknown key {k!r} (kept)" for k in extra]
    resolved = data.get("resolved_at")
    sig = Signature(
        bug=path.stem,
        query=query,
        path=path,
        suppress_graph=_flag(data, "suppress-graph"),
        suppress_notification=_flag(data, "suppress-notification"),
        allow_nonvoting=_flag(data, "allow-nonvoting"),
        test_ids=tuple(str(t) for t in tids),
        resolved_at=None if resolved is None else str(resolved),
        extra=MappingProxyType(extra),
    )
    return sig, warnings


def translate_check(query: str) -> None:
    """The default validator: the query must translate (source fields resolve to nothing)."""
    from index import query as lucene

    lucene.translate(query, _NullResolver())


class _NullResolver:
    """Stands in for the catalog when only the syntax and fields are checked."""

    def refresh(self) -> None:
        pass

    def ids(self, field_name: str, match: Any) -> set[int]:
        return set()


@dataclass(frozen=True)
class _Snapshot:
    signatures: tuple[Signature, ...] = ()
    errors: tuple[BadSignature, ...] = ()
    warnings: tuple[str, ...] = ()


class SignatureSet:
    """The signatures of one directory, replaced as a whole on every reload (thread-safe:
    readers always see one consistent snapshot)."""

    def __init__(
        self, directory: Path | str | None = None, *, validate: Validator | None = translate_check
    ) -> None:
        self.directory = Path(directory) if directory is not None else DEFAULT_DIR
        self.validate = validate
        self._snap = _Snapshot()
        self._by_bug: dict[str, Signature] = {}
        self._lock = threading.Lock()
        self._bg = Background(self._watch, "signature-watcher")
        self._stop = self._bg.stopping
        self.version = 0
        """Bumped by every reload that changed something (caches key on it)."""
        self._fingerprint: tuple[tuple[str, float, int], ...] | None = None
        self.reload()

    @classmethod
    def for_config(cls, cfg: Any) -> SignatureSet:
        return cls(getattr(cfg, "signatures_dir", None) or DEFAULT_DIR)

    # -- reading ---------------------------------------------------------------------------

    @property
    def signatures(self) -> tuple[Signature, ...]:
        return self._snap.signatures

    @property
    def errors(self) -> tuple[BadSignature, ...]:
        return self._snap.errors

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._snap.warnings

    def active(self) -> list[Signature]:
        """Signatures that run (resolved bugs are listed but not run)."""
        return [s for s in self._snap.signatures if not s.resolved]

    def get(self, bug: str) -> Signature | None:
        return self._by_bug.get(bug)

    def __iter__(self) -> Iterator[Signature]:
        return iter(self._snap.signatures)

    def __len__(self) -> int:
        return len(self._snap.signatures)

    # -- loading ---------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
        )

    def _fingerprint_now(self, files: list[Path]) -> tuple[tuple[str, float, int], ...]:
        out = []
        for p in files:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((p.name, st.st_mtime, st.st_size))
        return tuple(out)

    def reload(self, force: bool = False) -> bool:
        """Read the directory again; True if anything changed. Never raises for bad files."""
        with self._lock:
            files = self._files()
            fp = self._fingerprint_now(files)
            if not force and fp == self._fingerprint:
                return False
            sigs: list[Signature] = []
            errors: list[BadSignature] = []
            warnings: list[str] = []
            for p in files:
                try:
                    sig, warns = parse(
                        p, p.read_text(encoding="utf-8", errors="replace"), self.validate
                    )
                except OSError as e:
                    errors.append(BadSignature(p, f"cannot read: {e.strerror or e}"))
                    continue
                except SignatureError as e:
                    errors.append(BadSignature(p, str(e)))
                    continue
                sigs.append(sig)
                warnings.extend(warns)
            sigs.sort(key=_bug_order)
            snap = _Snapshot(tuple(sigs), tuple(errors), tuple(warnings))
            changed = snap != self._snap
            self._snap = snap
            self._by_bug = {s.bug: s for s in sigs}
            self._fingerprint = fp
            if changed:
                self.version += 1
                for w in warnings:
                    log.warning("signature %s", w)
                for e in errors:
                    log.error("signature %s skipped: %s", e.path.name, e.reason)
            return changed

    # -- live reload -----------------------------------------------------------------------

    def start(self) -> None:
        """Watch the directory in a background thread and reload on every change."""
        self._bg.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._bg.stop(timeout)

    @property
    def watching(self) -> bool:
        return self._bg.alive

    def _watch(self) -> None:
        import watchfiles

        while not self._stop.is_set():
            if not self.directory.is_dir():
                self._stop.wait(2.0)  # configured but not there yet: look again soon
                continue
            self.reload()  # whatever changed while nobody watched
            try:
                for _ in watchfiles.watch(
                    self.directory,
                    stop_event=self._stop,
                    debounce=200,
                    rust_timeout=1000,
                    raise_interrupt=False,
                ):
                    self.reload(force=True)
            except (FileNotFoundError, OSError, RuntimeError) as e:
                log.warning("signature watcher on %s: %s; retrying", self.directory, e)
                self._stop.wait(2.0)


def _bug_order(s: Signature) -> tuple[int, int | str]:
    return (0, int(s.bug)) if s.bug.isdigit() else (1, s.bug)
