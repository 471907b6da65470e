"""``highlight`` on ``message``: Elasticsearch's fragments with ``<em>`` tags.

As in ES, the text is returned raw around the tags (``encoder: html`` escapes it); matches
are the query's message terms found with the indexing tokenizer, so a highlight is exactly
a token the query matched. Other fields are never highlighted (they match whole).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from ..highlight import spans, terms_from
from .dsl import check_keys, field_name
from .errors import bad_request, unsupported

_OPTIONS = {"pre_tags", "post_tags", "encoder", "number_of_fragments", "fragment_size", "require_field_match",
            "type", "order", "no_match_size", "tags_schema", "fragmenter", "boundary_scanner", "boundary_chars",
            "boundary_max_scan", "max_analyzed_offset", "phrase_limit", "fragment_offset"}  # fmt: skip
_STYLED = [f'<em class="hlt{i}">' for i in range(1, 11)]

Highlighter = Callable[[str], list[str] | None]


def highlighter(spec: Any, query_terms: list[str | list[str]]) -> Highlighter | None:
    """A function from a message to its fragments (None: nothing matched), or None when
    ``message`` is not among the fields to highlight."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise bad_request("[highlight] must be an object", "parsing_exception")
    check_keys(spec, {"fields", *_OPTIONS}, "highlight")
    fields = spec.get("fields") or {}
    if isinstance(fields, list):
        merged: dict[str, Any] = {}
        for f in fields:
            if not isinstance(f, dict):
                raise bad_request("[highlight] fields must be objects", "parsing_exception")
            merged.update(f)
        fields = merged
    if not isinstance(fields, dict):
        raise bad_request("[highlight] fields must be an object", "parsing_exception")
    opts = dict(spec)
    for name, fopts in fields.items():
        if not isinstance(fopts, dict):
            raise bad_request(f"[highlight] options of [{name}] must be an object", "parsing_exception")
        check_keys(fopts, _OPTIONS | {"matched_fields", "highlight_query"}, "highlight")
        if "highlight_query" in fopts or "matched_fields" in fopts:
            raise unsupported("[highlight] highlight_query and matched_fields")
        if name in ("*", "message*", "message.*") or field_name(name) == "message":
            opts.update(fopts)
            break
    else:
        return None
    terms = terms_from(query_terms)
    if not terms:
        return None
    styled = opts.get("tags_schema") == "styled"
    pre = opts.get("pre_tags") or (_STYLED if styled else ["<em>"])
    post = opts.get("post_tags") or ["</em>"]
    if not isinstance(pre, list) or not isinstance(post, list) or not pre or not post:
        raise bad_request("[highlight] pre_tags and post_tags are lists of strings", "parsing_exception")
    if opts.get("encoder", "default") not in ("default", "html"):
        raise bad_request(f"[highlight] encoder [{opts['encoder']}] is neither default nor html", "parsing_exception")
    escape: Callable[[str], str] = html.escape if opts.get("encoder") == "html" else str
    count = int(opts.get("number_of_fragments", 5))
    size = int(opts.get("fragment_size", 100))

    def run(text: str) -> list[str] | None:
        found = spans(text, terms)
        if not found:
            return None
        windows = [(0, len(text))] if count == 0 or len(text) <= size else _windows(text, found, size)[:count]
        out = []
        for lo, hi in windows:
            parts, pos = [], lo
            for i, (s, e) in enumerate(x for x in found if x[0] >= lo and x[1] <= hi):
                parts += [escape(text[pos:s]), str(pre[i % len(pre)]), escape(text[s:e]), str(post[i % len(post)])]
                pos = e
            parts.append(escape(text[pos:hi]))
            out.append("".join(parts))
        return out

    return run


def _windows(text: str, found: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Fragments of about ``size`` characters centred on the matches, cut at spaces."""
    out: list[tuple[int, int]] = []
    for s, e in found:
        if out and e <= out[-1][1]:
            continue
        pad = max(0, (size - (e - s)) // 2)
        lo = max(0, s - pad)
        hi = min(len(text), max(e, lo + size))
        sp = text.rfind(" ", 0, lo + 1) if lo else -1
        lo = sp + 1 if sp >= 0 and lo - sp < 20 else lo
        if out and lo < out[-1][1]:
            lo = out[-1][1]
        out.append((lo, hi))
    return out
