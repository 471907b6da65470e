"""Matched terms in log text, marked with ``<mark>``: escape first, then mark.

Spans are found on the raw text with the indexing tokenizer's rule (lowercase runs of
letters and digits, :func:`index.schema.tokenize`), so a highlight is exactly a token the
query matched. Every piece of text goes through :func:`markupsafe.escape`; the only
markup added is ``<mark>`` and ``</mark>``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_TOKEN = re.compile(r"[^\W_]+")
MAX_SCAN = 200_000
"""Characters of a message scanned for highlights (the rest is shown unmarked)."""


@dataclass(frozen=True)
class Terms:
    """What to mark: single tokens (exact or as regexes) and phrases (token sequences)."""

    exact: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns or self.phrases)

    def matches(self, token: str) -> bool:
        return token in self.exact or any(p.fullmatch(token) for p in self.patterns)


def _wildcard(term: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in term.lower())
    return re.compile("".join(parts))


def terms_from(items: Iterable[object]) -> Terms:
    """Build :class:`Terms` from what :func:`index.query.query_terms` returns.

    Items may be strings (a term; ``*``/``?`` make it a wildcard), sequences of
    strings (a phrase), or objects with ``kind``/``value`` (``regex`` gives a pattern)."""
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    phrases: list[tuple[str, ...]] = []
    for it in items:
        kind = getattr(it, "kind", None)
        value = getattr(it, "value", it)
        if kind == "regex" and isinstance(value, str):
            with contextlib.suppress(re.error):
                patterns.append(re.compile(value, re.IGNORECASE))
            continue
        if kind == "phrase" and isinstance(value, str):
            value = tuple(_TOKEN.findall(value.lower()))
        if isinstance(value, str):
            toks = _TOKEN.findall(value.lower()) if not any(c in value for c in "*?") else [value.lower()]
            if len(toks) > 1:
                phrases.append(tuple(toks))
            for t in toks[:1] if len(toks) == 1 else []:
                if "*" in t or "?" in t:
                    patterns.append(_wildcard(t))
                else:
                    exact.add(t)
        elif isinstance(value, Sequence):
            toks = tuple(t for v in value for t in _TOKEN.findall(str(v).lower()))
            if len(toks) == 1:
                exact.add(toks[0])
            elif toks:
                phrases.append(toks)
    return Terms(frozenset(exact), tuple(patterns), tuple(phrases))


def spans(text: str, terms: Terms) -> list[tuple[int, int]]:
    """Character spans of ``text`` to mark, sorted and merged."""
    if not terms:
        return []
    toks = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text, 0, MAX_SCAN)]
    out: list[tuple[int, int]] = [(s, e) for s, e, t in toks if terms.matches(t)]
    for ph in terms.phrases:
        n = len(ph)
        for i in range(len(toks) - n + 1):
            if toks[i][2] == ph[0] and all(toks[i + j][2] == ph[j] for j in range(1, n)):
                out.append((toks[i][0], toks[i + n - 1][1]))
    out.sort()
    merged: list[tuple[int, int]] = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def mark(text: str, terms: Terms) -> Markup:
    """``text`` escaped, with the matched spans wrapped in ``<mark>``."""
    pos = 0
    parts: list[str] = []
    for s, e in spans(text, terms):
        parts.append(escape(text[pos:s]))
        parts.append(Markup("<mark>") + escape(text[s:e]) + Markup("</mark>"))
        pos = e
    parts.append(escape(text[pos:]))
    return Markup("").join(parts)


def highlight_text(text: str, items: Iterable[object], pre: str = "<em>", post: str = "</em>") -> str:
    """Elasticsearch's highlight: the raw text with matches between ``pre`` and ``post``
    (ES does not escape; a JSON client renders it as it chooses)."""
    terms = terms_from(items)
    pos = 0
    parts: list[str] = []
    for s, e in spans(text, terms):
        parts += [text[pos:s], pre, text[s:e], post]
        pos = e
    parts.append(text[pos:])
    return "".join(parts)
