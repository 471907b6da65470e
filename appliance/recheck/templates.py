"""Line templates: log text with its variable parts masked, so that the same line of two
builds compares equal.

"What is new in this failure" compares a failed build's lines with those of passing
builds; the raw text never matches (timestamps, request ids, UUIDs, pids, ports differ
on every run). A *token* here is a run of characters between separators (whitespace,
quotes, brackets, ``,``, ``;``, ``=``, ``|``); every token that carries a digit is
variable — numbers, UUIDs, request ids, hex ids, timestamps, IPs, and paths or URLs that
hold an id are all such tokens — and is masked whole. Tokens without digits (words,
module names, plain code paths) stay: they are what a signature phrase is made of.

Two forms of the same masking:

* :func:`key` (``<*>`` for every variable token) is what templates are compared by; it
  runs as one C-level ``re.sub`` over a whole file's records (:func:`keys`), ~90 MB/s.
* :func:`normalize` names what was masked (``<UUID>``, ``<REQ>``, ``<IP>``, ``<TS>``,
  ``<PATH>``, ``<URL>``, ``<HEX>``, ``<NUM>``, ``<ID>``) for people; two lines with the same
  :func:`normalize` always have the same :func:`key`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from index import schema

SEPARATORS = "\\x00\\s\"'(),\\[\\]{}<>=;|"
_VARIABLE = re.compile(rf"(?<![^{SEPARATORS}])[^{SEPARATORS}0-9]*+[0-9][^{SEPARATORS}]*+")
"""A whole token (not preceded by a token character) holding at least one ASCII digit;
possessive quantifiers keep it linear (``\\d`` would also take other scripts' digits, and
cost a quarter more)."""

MASK = "<*>"

_REQ = re.compile(r"req-[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.I)
_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.I)
_IP4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?:/\d{1,2})?")
_IP6 = re.compile(r"[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:/\d{1,3})?", re.I)
_TS = re.compile(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d")
_HEX = re.compile(r"0x[0-9a-f]+|[0-9a-f]{6,}", re.I)
_NUM = re.compile(r"[-+#]?\d+(?:[.,]\d+)*(?:[a-z%]{1,3})?", re.I)
_STRIP = ".:,!?"


def key(text: str) -> str:
    """The comparison form of one line or record: variable tokens become ``<*>`` (a NUL
    counts as a space)."""
    return _VARIABLE.sub(MASK, _nul(text))


def _nul(text: str) -> str:
    return text.replace("\x00", " ") if "\x00" in text else text


def keys(texts: Sequence[str]) -> list[str]:
    """:func:`key` of many texts in one regex pass (they are joined with NUL, a separator)."""
    if not texts:
        return []
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:  # a text carries NULs of its own
        joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    return _VARIABLE.sub(MASK, joined).split("\x00")


def template_id(k: str) -> int:
    """A stable 64-bit id of a key (Python's ``hash`` changes between processes)."""
    return int.from_bytes(
        hashlib.blake2b(k.encode("utf-8", "replace"), digest_size=8).digest(), "big"
    )


def kind(token: str) -> str:
    """What a masked token most likely is, for display."""
    t = token.strip(_STRIP)
    if "://" in t:
        return "URL"
    if _REQ.search(t):
        return "REQ"
    if _UUID.search(t):
        return "UUID"
    if _IP4.fullmatch(t) or (t.count(":") >= 2 and _IP6.fullmatch(t)):
        return "IP"
    if _TS.search(t):
        return "TS"
    if "/" in t:
        return "PATH"
    if _NUM.fullmatch(t):
        return "NUM"
    if _HEX.fullmatch(t):
        return "HEX"
    return "ID"


def normalize(text: str) -> str:
    """The template of a line for people: every variable token replaced by ``<KIND>`` (a NUL
    counts as a space)."""
    return _VARIABLE.sub(lambda m: f"<{kind(m.group())}>", _nul(text))


# -- how bad a line looks ----------------------------------------------------------------------

SEVERITY_NAMES = ("debug", "info", "warning", "error")
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL", "TRACE", "EMERG", "ALERT", "CRIT", "ERR"})
_WARNING_LEVELS = frozenset({"WARNING", "WARN"})
_STRONG = re.compile(
    r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Exception|Timeout|Failure)\b"
    r"|\b(?:ERROR|CRITICAL|FATAL|FAILED|FAIL|UNREACHABLE)\b|(?:\b|_)(?:TIMED_OUT|FAILURE)\b|^(?:E|fatal|error):"
    r"|\boom-killer\b|Out of memory|\bKilled process\b|\bsegfault\b|\bpanic\b",
    re.M,
)
_WEAK = re.compile(
    r"\b(?:error|errors|fail|failed|failing|failure|fatal|timed? out|timeout|refused|denied|unable"
    r"|cannot|could not|not found|killed|unreachable|exception|abort(?:ed|ing)?|invalid|no such)\b",
    re.I,
)


def severity(loglevel: str | None, message: str) -> int:
    """0 debug, 1 info (or no level), 2 warning-like, 3 error-like: the diff shows errors and
    tracebacks first. A line's level counts, then its words (console logs have no level)."""
    level = (loglevel or "").upper()
    if level in _ERROR_LEVELS:
        return 3
    if level == "DEBUG":
        return 1 if _STRONG.search(message) else 0
    if _STRONG.search(message):
        return 3
    if level in _WARNING_LEVELS or _WEAK.search(message):
        return 2
    return 1


# -- phrases for signatures --------------------------------------------------------------------

MIN_PHRASE_TOKENS = 2
MAX_PHRASE_TOKENS = 14
_TOKEN = re.compile(r"[^\W_]+")
_UNQUOTABLE = re.compile(r'["\\*?]+')


def phrases(message: str) -> list[str]:
    """The constant runs of a record (text between variable tokens, within one line), as
    phrases a Lucene ``message:"..."`` can quote: longest first, at most
    :data:`MAX_PHRASE_TOKENS` tokens each, split where a character a phrase cannot hold
    (quotes, backslashes, wildcards) would be."""
    out: list[tuple[int, int, str]] = []
    for line in message.split("\n"):
        for part in _VARIABLE.split(line):
            for piece in _UNQUOTABLE.split(part):
                toks = list(_TOKEN.finditer(piece))[:MAX_PHRASE_TOKENS]
                if len(toks) < MIN_PHRASE_TOKENS:
                    continue
                text = " ".join(piece[toks[0].start() : toks[-1].end()].split())
                if len(schema.tokenize(text)) >= MIN_PHRASE_TOKENS:
                    out.append((len(toks), len(out), text))
    out.sort(key=lambda x: (-x[0], x[1]))
    return list(dict.fromkeys(t for _, _, t in out))


def quote(phrase: str) -> str:
    """``message:"phrase"`` with what Lucene needs escaped."""
    return 'message:"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'
