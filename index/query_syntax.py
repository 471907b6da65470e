"""Parsing Lucene ``query_string`` text with luqum, the way Lucene's classic parser lexes it.

luqum is the maintained Lucene grammar we build on; its lexer differs from Lucene's in a
few places real users hit, so its token stream is adjusted (never the text, so error
columns stay those of what the user typed):

* ``&&`` and ``||`` standing alone are AND and OR, and a ``!`` starting a term is NOT;
  inside a term they stay text (``a&&b``, ``UNREACHABLE!``), as in Lucene.
* ``"a b"~2.5`` is slop 2 (Lucene truncates; luqum crashes on it).
* A term starting with ``'`` is a term (luqum refuses it).

Errors become :class:`QueryError` with the 1-based column of the offending token. The
term helpers below read Lucene escapes (``\\:``, ``\\(``) and wildcards (``*``, ``?``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from luqum import tree as T
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.head_tail import TokenValue
from luqum.parser import lexer as _luqum_lexer
from luqum.parser import parser as _luqum_parser
from ply.lex import LexToken


class QueryError(ValueError):
    """A query that cannot run: says what, and where (1-based column) when known."""

    def __init__(self, message: str, column: int | None = None, query: str = "") -> None:
        self.message = message
        self.column = column
        self.query = query
        super().__init__(f"{message} at column {column}" if column else message)


_local = threading.local()
"""PLY's lexer keeps its state on the object: one clone per thread (luqum issue #72)."""

_TERM_REST = re.compile(r"(?:[^\s:^\\~(){}\[\]]|\\.)+", re.S)
_DEGREE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_OPEN = {"LPAREN": ")", "LBRACKET": "]"}
_CLOSE = {"RPAREN", "RBRACKET"}


def parse(text: str) -> T.Item | None:
    """The luqum tree of ``text``; None for an empty query (which matches everything)."""
    if not text or not text.strip():
        return None
    lex = _Tokens(text)
    try:
        return _luqum_parser.parse(text, lexer=lex.lexer, tokenfunc=lex.token)
    except QueryError:
        raise
    except ParseError:
        raise lex.syntax_error() from None
    except (ValueError, ArithmeticError, RecursionError) as e:
        raise QueryError(f"Cannot parse query ({e})", None, text) from None


class _Tokens:
    """luqum's tokens with Lucene's operators restored; remembers where parsing stopped."""

    def __init__(self, text: str) -> None:
        if not hasattr(_local, "lexer"):
            _local.lexer = _luqum_lexer.clone()
        self.lexer = _local.lexer
        self.text = text
        self.last: LexToken | None = None
        self.last_end = 0
        self.prev_type = ""
        self.open: list[tuple[str, int]] = []

    def token(self) -> LexToken | None:
        tok = self._next()
        self.last = tok
        if tok is not None:
            self.prev_type = tok.type
            if tok.type in _OPEN:
                self.open.append((_OPEN[tok.type], tok.lexpos))
            elif tok.type in _CLOSE and self.open:
                self.open.pop()
        return tok

    def _next(self) -> LexToken | None:
        try:
            tok = self.lexer.token()
        except IllegalCharacterError:  # PLY leaves lexpos on the offending character
            return self._illegal(self.lexer.lexpos)
        if tok is None:
            return None
        self.last_end = self.lexer.lexpos
        if tok.type == "TERM":
            word = tok.value.value
            if word in ("&&", "||"):
                return _retype(tok, "AND_OP" if word == "&&" else "OR_OP")
            if word.startswith("!"):
                self.lexer.lexpos = tok.lexpos + 1  # lex the rest of the term again
                self.last_end = tok.lexpos + 1
                return _retype(tok, "NOT", size=1)
        elif tok.type in ("APPROX", "BOOST"):
            degree = tok.value.value
            if degree is not None and not _DEGREE.fullmatch(degree):
                raise QueryError(f"Not a number: {degree!r}", tok.lexpos + 2, self.text)
            if tok.type == "APPROX" and self.prev_type == "PHRASE" and degree and "." in degree:
                tok.value.value = str(int(float(degree)))
        return tok

    def _illegal(self, pos: int) -> LexToken:
        c = self.text[pos : pos + 1]
        if c == "'":  # Lucene's term characters include the quote luqum refuses
            m = _TERM_REST.match(self.text, pos)
            assert m is not None
            tok = LexToken()
            tok.type, tok.lexpos, tok.lineno, tok.lexer = "TERM", pos, 1, self.lexer
            tok.value = T.Word(m.group())
            tok.value.pos, tok.value.size = pos, len(m.group())
            self.lexer.lexpos = self.last_end = m.end()
            return tok
        what = {
            '"': "Unterminated phrase: missing closing '\"'",
            "/": "Unterminated regular expression: missing closing '/' (write \\/ for a slash in a term)",
            "\\": "Nothing to escape after '\\'",
        }.get(c, f"Illegal character {c!r}")
        raise QueryError(what, pos + 1, self.text)

    def syntax_error(self) -> QueryError:
        tok, text = self.last, self.text
        if tok is None:
            if self.open:
                closer, _ = self.open[-1]
                return QueryError(f"Expected '{closer}'", len(text.rstrip()) + 1, text)
            return QueryError("Unexpected end of query", len(text.rstrip()) + 1, text)
        shown = text[tok.lexpos : max(self.last_end, tok.lexpos + 1)]
        return QueryError(f"Unexpected '{shown}'", tok.lexpos + 1, text)


def _retype(tok: LexToken, kind: str, size: int | None = None) -> LexToken:
    """``tok`` as an operator token, keeping its position for luqum's bookkeeping."""
    old = tok.value
    value = TokenValue({"AND_OP": "AND", "OR_OP": "OR"}.get(kind, kind))
    value.pos, value.size = old.pos, size if size is not None else old.size
    value.head, value.tail = old.head, "" if size is not None else old.tail
    tok.type, tok.value = kind, value
    return tok


# -- Lucene terms: escapes and wildcards -----------------------------------------------------------


def unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s, flags=re.S)


def unquote(value: str) -> str:
    return unescape(value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value)


def plain(node: T.Item) -> str:
    return (
        unquote(node.value)
        if isinstance(node, T.Phrase)
        else unescape(str(getattr(node, "value", node)))
    )


def bound(node: T.Item) -> str | None:
    """A range bound; ``*`` is an open end."""
    if isinstance(node, T.Word) and node.value == "*":
        return None
    return plain(node)


def has_wildcard(raw: str) -> bool:
    return any(wild for _, wild in units(raw))


def units(raw: str) -> list[tuple[str, bool]]:
    """A Lucene term as (character, is an unescaped wildcard) pairs."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append((raw[i + 1], False))
            i += 2
        else:
            out.append((raw[i], raw[i] in "*?"))
            i += 1
    return out


def rust_escape(c: str) -> str:
    return "\\" + c if c in "\\.+*?()|[]{}^$#&-~" else c


def wildcard_regex(raw: str, escape: Callable[[str], str]) -> str:
    return "".join((".*" if c == "*" else ".") if wild else escape(c) for c, wild in units(raw))


_TOKEN_CHAR = re.compile(r"[^\W_]")


def wildcard_pieces(raw: str) -> list[str]:
    """A message wildcard split where the tokenizer splits: token characters and wildcards."""
    pieces, cur = [], []
    for c, wild in units(raw):
        if wild or _TOKEN_CHAR.fullmatch(c):
            cur.append(c)
        elif cur:
            pieces.append("".join(cur))
            cur = []
    if cur:
        pieces.append("".join(cur))
    return pieces
