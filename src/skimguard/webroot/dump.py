"""Read a SQL dump as a stream of table rows, without a database.

``skimguard db scan DUMPFILE`` must work on what a shop owner or a hosting company hands over after a
breach: a ``mysqldump`` / ``mariadb-dump`` file or a ``pg_dump`` plain-format file, often gzip'ed,
often gigabytes, sometimes truncated or corrupt, always hostile. :func:`read_dump` streams it once
and yields events:

* :class:`TableSchema` for each ``CREATE TABLE`` of a wanted table (column order and primary key:
  mysqldump's ``INSERT`` statements carry no column names);
* :class:`DumpRow` for each row of a wanted table, from ``INSERT``/``REPLACE`` statements (single- or
  multi-row, with or without a column list) and from pg_dump ``COPY ... FROM stdin`` blocks;
* :class:`DumpProblem` for what could not be read: an unterminated string, a value cut at
  :data:`MAX_VALUE_BYTES`, an over-long ``COPY`` line, a malformed row, a read error, the time
  limit. The rows before a problem are kept: a partial result with a clear reason, never a hang.

The tokenizer works on bytes in chunks of :data:`CHUNK_BYTES`, not on lines, so a 50 MB extended
``INSERT`` line costs no more memory than a chunk plus the kept value prefix. It knows the quoting
of both dialects: MySQL strings with backslash escapes and doubled quotes, back-quoted identifiers,
``#`` comments; PostgreSQL standard strings (``''`` only, or backslashes after
``SET standard_conforming_strings = off``), ``E''`` strings, ``"identifiers"``, ``$tag$`` bodies;
both: ``--`` and ``/* */`` comments (``/*!40101 ... */`` included), ``X''`` and ``0x`` hex.
Statements of tables nobody asked for are skipped with one possessive regular expression per run of
plain bytes, without decoding their values. Pure apart from the file read; no SQL is executed.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, cast

from skimguard.errors import SkimguardError

__all__ = [
    "CHUNK_BYTES",
    "MAX_VALUE_BYTES",
    "DumpDialect",
    "DumpError",
    "DumpEvent",
    "DumpProblem",
    "DumpRow",
    "TableSchema",
    "detect_dialect",
    "open_dump",
    "read_dump",
    "read_head",
]

CHUNK_BYTES = 1024 * 1024
MAX_VALUE_BYTES = 2 * 1024 * 1024  # per value kept (the engine looks at 2 Mi characters at most)
MAX_COPY_LINE = 4 * MAX_VALUE_BYTES  # a COPY line longer than this keeps its head only
MAX_WORD_BYTES = 4096
MAX_VALUE_TOKENS = 256  # tokens in one non-string value (a cast, a function call)
MAX_COLUMNS = 4096
MAX_PROBLEMS_PER_CODE = 20  # a hostile dump must not flood the report
SNIFF_BYTES = 64 * 1024


class DumpError(SkimguardError):
    hint = "give a mysqldump/mariadb-dump or pg_dump plain-format file (optionally .gz, .bz2 or .xz)"


class DumpDialect(StrEnum):
    MYSQL = "mysql"
    POSTGRES = "postgresql"


@dataclass(frozen=True)
class TableSchema:
    """A ``CREATE TABLE`` of a wanted table: its columns in order and its primary key (if inline)."""

    table: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    offset: int


@dataclass(frozen=True)
class DumpRow:
    """One row of a wanted table. ``columns`` is ``None`` when neither the statement nor an earlier
    ``CREATE TABLE`` named them; ``truncated`` when a value was cut at :data:`MAX_VALUE_BYTES`.
    ``offset`` is the byte offset (in the decompressed dump) of the statement or COPY line."""

    table: str
    columns: tuple[str, ...] | None
    values: tuple[str | None, ...]
    offset: int
    truncated: bool = False


@dataclass(frozen=True)
class DumpProblem:
    """Something that could not be read. ``code``: ``unterminated-string``, ``unterminated-copy``,
    ``truncated-value``, ``long-line``, ``malformed-row``, ``read-error``, ``time-limit``."""

    code: str
    message: str
    offset: int
    table: str | None = None


DumpEvent = TableSchema | DumpRow | DumpProblem


# ---------------------------------------------------------------------------------------------
# opening
# ---------------------------------------------------------------------------------------------


def open_dump(path: Path) -> BinaryIO:
    """The dump's bytes, decompressed when it is gzip, bzip2 or xz (by magic, not by name)."""
    try:
        with path.open("rb") as f:
            magic = f.read(6)
        if magic[:2] == b"\x1f\x8b":
            return cast(BinaryIO, gzip.open(path, "rb"))
        if magic[:3] == b"BZh":
            return cast(BinaryIO, bz2.open(path, "rb"))
        if magic == b"\xfd7zXZ\x00":
            return cast(BinaryIO, lzma.open(path, "rb"))
        return path.open("rb")
    except OSError as exc:
        raise DumpError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_head(stream: BinaryIO, size: int = SNIFF_BYTES) -> bytes:
    """Up to ``size`` first bytes of a dump (fewer when it is short, cut or corrupt)."""
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    parts: list[bytes] = []
    got = 0
    try:
        while got < size:
            data = read(size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
        pass
    return b"".join(parts)


def detect_dialect(head: bytes) -> DumpDialect:
    """The dump's dialect from its first bytes: pg_dump's header and settings, else MySQL (whose
    backslash escapes are the safer guess: they never end a string earlier than it ends)."""
    if b"PostgreSQL database dump" in head or b"SET standard_conforming_strings" in head:
        return DumpDialect.POSTGRES
    if re.search(rb"^COPY [^\n]{1,400} FROM stdin;", head, re.M):
        return DumpDialect.POSTGRES
    return DumpDialect.MYSQL


# ---------------------------------------------------------------------------------------------
# the lexer
# ---------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Reading cannot go on: a read error, the time limit, or the end inside a string."""

    def __init__(self, code: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


_EOF, _WORD, _IDENT, _STRING, _PUNCT = range(5)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: int
    value: bytes
    offset: int
    truncated: bool = False


_SPACE = re.compile(rb"[ \t\r\n\f\v]*+")
_WORD_RE = re.compile(rb"[^\s'\"`(),;.][^\s'\"`(),;]{0,%d}" % (MAX_WORD_BYTES - 1))
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]{0,62})?\$")
# Plain bytes of a statement being skipped, complete quoted strings included (a doubled quote reads
# as two strings side by side, the same for skipping): everything up to a `;`, a comment start, or
# a string that goes on past the buffer (or, in PostgreSQL, a `$` that may open a dollar quote).
_ESCAPED = rb"'(?:[^'\\]++|\\[\s\S])*+'"
_SKIP = {
    (DumpDialect.MYSQL, True): re.compile(
        rb"(?:[^'\"`;\-/#]++|" + _ESCAPED + rb"|\"(?:[^\"\\]++|\\[\s\S])*+\"|`[^`]*+`|-(?!-)|/(?!\*))*+"
    ),
    # standard strings: only '' escapes; E'...' strings always take backslashes
    (DumpDialect.POSTGRES, False): re.compile(
        rb"(?:[^'\"`;\-/$Ee]++|'[^']*+'|\"[^\"]*+\"|[Ee]" + _ESCAPED + rb"|[Ee](?!')|-(?!-)|/(?!\*)"
        rb"|\$(?![A-Za-z_\x80-\xff$]))*+"
    ),
    (DumpDialect.POSTGRES, True): re.compile(
        rb"(?:[^'\"`;\-/$]++|" + _ESCAPED + rb"|\"[^\"]*+\"|-(?!-)|/(?!\*)|\$(?![A-Za-z_\x80-\xff$]))*+"
    ),
}
_WAIT = {DumpDialect.MYSQL: b"-/", DumpDialect.POSTGRES: b"-/$Ee"}  # may start something with the next byte
# String bodies: backslash escapes or not, for each quote character.
_BODY = {(q, True): re.compile(rb"(?:[^%s\\]++|\\[\s\S])*+" % re.escape(bytes([q]))) for q in b"'\"`"} | {
    (q, False): re.compile(rb"[^%s]*+" % re.escape(bytes([q]))) for q in b"'\"`"
}
# A whole string in the buffer (the fast path): its body, doubled quotes included.
_WHOLE = {
    (q, True): re.compile(rb"%s((?:[^%s\\]|\\[\s\S]|%s%s)*)%s" % ((re.escape(bytes([q])),) * 5)) for q in b"'\"`"
} | {(q, False): re.compile(rb"%s((?:[^%s]|%s%s)*)%s" % ((re.escape(bytes([q])),) * 5)) for q in b"'\"`"}
_PUNCT_BYTES = frozenset(b"(),;.")
# The fast path of a row: (row, value) patterns by (MySQL, backslash escapes). A value is a
# string, a hex literal, a number or a keyword (NULL, true, false); anything else (casts,
# introducers, function calls) leaves the row to the token path.
_FAST_ROW_BYTES = 256 * 1024


def _fast_patterns(string: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    value = rb"'(" + string + rb")'|0x([0-9A-Fa-f]*+)|([A-Za-z]++|[-+]?[0-9][0-9.eE+\-]*+)"
    plain = rb"(?:'" + string + rb"'(?!')|0x[0-9A-Fa-f]*+|NULL|null|true|false|TRUE|FALSE|[-+]?[0-9][0-9.eE+\-]*+)"
    row = rb"\(\s*+" + plain + rb"(?:\s*+,\s*+" + plain + rb")*+\s*+\)"
    return re.compile(row), re.compile(value)


_FAST_ROW = {
    (True, True): _fast_patterns(rb"(?:[^'\\]++|\\[\s\S]|'')*+"),
    (False, True): _fast_patterns(rb"(?:[^'\\]++|\\[\s\S]|'')*+"),
    (False, False): _fast_patterns(rb"(?:[^']++|'')*+"),
}


class _Lexer:
    """Tokens of a dump, read chunk by chunk. The buffer holds only what is not consumed yet, so
    memory stays at about two chunks plus the value being kept."""

    def __init__(self, stream: BinaryIO, dialect: DumpDialect, *, chunk: int, deadline: float | None) -> None:
        self.stream = stream
        # read1: a decompressor hands over what it has before it meets a corrupt or cut block
        self.read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        self.chunk = max(1, chunk)
        self.deadline = deadline
        self.buf = b""
        self.pos = 0
        self.base = 0  # offset of buf[0] in the dump
        self.eof = False
        self.dialect = dialect
        self.mysql = dialect is DumpDialect.MYSQL
        self.backslash = self.mysql  # backslash escapes in '...' strings
        self.peeked: _Tok | None = None

    # ---- buffer ------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def more(self) -> bool:
        """Append one chunk (dropping what is consumed); False at the end of the dump."""
        if self.eof:
            return False
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("time-limit", "the time limit was reached before the end of the dump", self.offset)
        try:
            data = self.read(self.chunk)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise _Stop("read-error", f"the dump cannot be read further: {exc}", self.offset) from None
        if not data:
            self.eof = True
            return False
        self.base += self.pos
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def have(self, n: int) -> bool:
        """At least ``n`` unconsumed bytes are buffered (reading more if needed)."""
        while len(self.buf) - self.pos < n:
            if not self.more():
                return False
        return True

    def sniff(self) -> bytes:
        while len(self.buf) < SNIFF_BYTES and self.more():
            pass
        return self.buf[:SNIFF_BYTES]

    def skip_past(self, terminator: bytes) -> None:
        """Consume up to and including ``terminator`` (or everything, at the end of the dump)."""
        while True:
            at = self.buf.find(terminator, self.pos)
            if at >= 0:
                self.pos = at + len(terminator)
                return
            self.pos = max(self.pos, len(self.buf) - len(terminator) + 1)
            if not self.more():
                self.pos = len(self.buf)
                return

    # ---- white space and comments ------------------------------------------------------------

    def skip_trivia(self) -> None:
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos >= len(self.buf):
                if not self.more():
                    return
                continue
            c = self.buf[self.pos]
            if c in b"-/" and not self.have(2):
                return
            two = self.buf[self.pos : self.pos + 2]
            if two == b"--" or (c == 0x23 and self.mysql):  # `#`
                self.skip_past(b"\n")
            elif two == b"/*":
                self.pos += 2
                self.skip_past(b"*/")
            else:
                return

    # ---- tokens ------------------------------------------------------------------------------

    def peek(self) -> _Tok:
        if self.peeked is None:
            self.peeked = self._next()
        return self.peeked

    def next(self) -> _Tok:
        tok = self.peek()
        self.peeked = None
        return tok

    def _next(self) -> _Tok:
        self.skip_trivia()
        if self.pos >= len(self.buf):
            return _Tok(_EOF, b"", self.offset)
        start = self.offset
        c = self.buf[self.pos]
        if c in _PUNCT_BYTES:
            self.pos += 1
            return _Tok(_PUNCT, bytes([c]), start)
        if c == 0x27:  # '
            value, cut = self.string(0x27, self.backslash, keep=True)
            return _Tok(_STRING, value, start, cut)
        if c == 0x22:  # "
            value, cut = self.string(0x22, self.mysql, keep=True)
            return _Tok(_STRING if self.mysql else _IDENT, value, start, cut)
        if c == 0x60:  # `
            value, cut = self.string(0x60, False, keep=True)
            return _Tok(_IDENT, value, start, cut)
        return self._word(start)

    def _word(self, start: int) -> _Tok:
        while True:
            m = _WORD_RE.match(self.buf, self.pos)
            if m is None:  # pragma: no cover - any other byte starts a word
                self.pos += 1
                return _Tok(_WORD, b"", start)
            if m.end() < len(self.buf) or self.eof or m.end() - self.pos >= MAX_WORD_BYTES:
                break
            if not self.more():
                break
        word = m.group()
        self.pos = m.end()
        nxt = self.buf[self.pos : self.pos + 1] if self.have(1) else b""
        if nxt == b"'" and word in (b"E", b"e"):  # PostgreSQL escape string
            value, cut = self.string(0x27, True, keep=True)
            return _Tok(_STRING, value, start, cut)
        if nxt == b"'" and word in (b"X", b"x"):  # hex string
            value, cut = self.string(0x27, False, keep=True)
            with contextlib.suppress(ValueError):
                value = bytes.fromhex(value.decode("ascii", "replace"))
            return _Tok(_STRING, value, start, cut)
        return _Tok(_WORD, word, start)

    def string(self, quote: int, backslash: bool, *, keep: bool) -> tuple[bytes, bool]:
        """Read a quoted string whose opening quote is at ``pos``: (its raw body, at most
        :data:`MAX_VALUE_BYTES` of it, decoded; whether it was cut). Raises :class:`_Stop` when the
        dump ends inside it."""
        whole = _WHOLE[(quote, backslash)].match(self.buf, self.pos, self.pos + MAX_VALUE_BYTES + 2)
        if (
            whole is not None
            and (whole.end() < len(self.buf) or self.eof)
            and self.buf[whole.end() : whole.end() + 1] != bytes([quote])
        ):
            self.pos = whole.end()
            if not keep:
                return b"", False
            return _unescape(whole.group(1), quote, backslash, pg=not self.mysql), False
        start = self.offset
        self.pos += 1
        body = _BODY[(quote, backslash)]
        pieces: list[bytes] = []
        kept = 0
        cut = False
        while True:
            end = body.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if keep and end > self.pos:
                room = MAX_VALUE_BYTES - kept
                if room > 0:
                    piece = self.buf[self.pos : self.pos + min(room, end - self.pos)]
                    pieces.append(piece)
                    kept += len(piece)
                cut = cut or end - self.pos > room
            self.pos = end
            if end >= len(self.buf) or self.buf[end] != quote:  # the end of the buffer, or a lone `\`
                if not self.more():
                    raise _Stop(
                        "unterminated-string", f"the dump ends inside a string that starts at byte {start}", start
                    )
                continue
            # a quote: doubled (an escaped quote) or the end of the string
            if not self.have(2):
                self.pos += 1
                break
            if self.buf[self.pos + 1] == quote:
                if keep and kept < MAX_VALUE_BYTES:
                    pieces.append(bytes([quote, quote]))
                    kept += 2
                self.pos += 2
                continue
            self.pos += 1
            break
        raw = b"".join(pieces)
        if not keep:
            return b"", False
        return _unescape(raw, quote, backslash, pg=not self.mysql), cut

    # ---- rows --------------------------------------------------------------------------------

    def fast_row(self) -> tuple[tuple[str | None, ...], int] | None:
        """The common row — ``(`` strings, numbers, NULL, hex ``)`` wholly in the buffer — read
        with two regular expressions instead of token by token: (values, offset), or None (the
        token path then reads it, with every rule of quoting and every limit)."""
        if self.peeked is not None:
            return None
        self.skip_trivia()
        if self.buf[self.pos : self.pos + 1] != b"(":
            return None
        row_re, value_re = _FAST_ROW[(self.mysql, self.backslash)]
        m = row_re.match(self.buf, self.pos, self.pos + _FAST_ROW_BYTES)
        if m is None or (m.end() >= len(self.buf) and not self.eof):
            return None
        start = self.offset
        values: list[str | None] = []
        for v in value_re.finditer(self.buf, self.pos + 1, m.end() - 1):
            quoted, hexa, word = v.group(1), v.group(2), v.group(3)
            if quoted is not None:
                values.append(_text(_unescape(quoted, 0x27, self.backslash, pg=not self.mysql)))
            elif hexa is not None:
                values.append(_text(bytes.fromhex(hexa.decode("ascii"))) if len(hexa) % 2 == 0 else _text(v.group()))
            elif word is not None and word.upper() == b"NULL":
                values.append(None)
            else:
                values.append(_text(v.group()))
        self.pos = m.end()
        return tuple(values), start

    # ---- skipping ----------------------------------------------------------------------------

    def skip_statement(self) -> None:
        """Consume the rest of the statement, up to and including its `;` (outside strings)."""
        if self.peeked is not None:  # a token already read: it is consumed, go on after it
            tok, self.peeked = self.peeked, None
            if tok.kind == _EOF or (tok.kind == _PUNCT and tok.value == b";"):
                return
        dialect = DumpDialect.MYSQL if self.mysql else DumpDialect.POSTGRES
        plain = _SKIP[(dialect, self.backslash or self.mysql)]
        wait = _WAIT[dialect]
        while True:
            end = plain.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if end >= len(self.buf):
                # a trailing `-`, `/`, `$` or `E` waits for the next chunk to show what follows it
                if end > self.pos and self.buf[end - 1] in wait:
                    end -= 1
                self.pos = end
                if not self.more():
                    self.pos = len(self.buf)
                    return
                continue
            self.pos = end
            c = self.buf[end]
            if c == 0x3B:  # ;
                self.pos += 1
                return
            if c in b"Ee":  # an E'...' string that goes on past the buffer
                self.pos += 1
                self.string(0x27, True, keep=False)
            elif c in b"'\"`":  # a string that goes on past the buffer
                self.string(c, c != 0x60 and (self.backslash if c == 0x27 else self.mysql), keep=False)
            elif c == 0x24:  # $ in PostgreSQL: a dollar-quoted body?
                m = _DOLLAR_TAG.match(self.buf, self.pos)
                if m is None and len(self.buf) - self.pos < 66 and self.more():
                    continue
                if m is None:
                    self.pos += 1
                    continue
                self.pos = m.end()
                self.skip_past(m.group())
            else:  # a comment start
                before = self.pos
                self.skip_trivia()
                if self.pos == before:
                    self.pos += 1

    def read_line(self, *, keep: bool) -> tuple[bytes, bool] | None:
        """The next line without its newline, and whether it was longer than what is kept:
        :data:`MAX_COPY_LINE` bytes, or 4 when ``keep`` is false (enough to see the end of a COPY
        block). None at the end of the dump."""
        limit = MAX_COPY_LINE if keep else 4
        pieces: list[bytes] = []
        kept = 0
        long = False
        started = False
        while True:
            nl = self.buf.find(b"\n", self.pos)
            end = nl if nl >= 0 else len(self.buf)
            if end > self.pos:
                started = True
                room = limit - kept
                if room > 0:
                    piece = self.buf[self.pos : self.pos + min(room, end - self.pos)]
                    pieces.append(piece)
                    kept += len(piece)
                long = long or end - self.pos > room
            if nl >= 0:
                self.pos = nl + 1
                return b"".join(pieces), long
            self.pos = end
            if not self.more():
                return (b"".join(pieces), long) if started else None


# ---------------------------------------------------------------------------------------------
# escapes
# ---------------------------------------------------------------------------------------------

_MYSQL_ESC = {b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
_C_ESC = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_MYSQL_ESC_RE = re.compile(rb"\\([\s\S])|''|\"\"")
_PG_ESC_RE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([\s\S]))|''")
_COPY_ESC_RE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|([\s\S]))")


def _mysql_esc(m: re.Match[bytes]) -> bytes:
    c = m.group(1)
    if c is None:
        return m.group()[:1]
    if c in b"%_":  # LIKE escapes keep their backslash
        return b"\\" + c
    return _MYSQL_ESC.get(c, c)


def _unicode(code: int) -> bytes:
    try:
        return chr(code).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"\xef\xbf\xbd"


def _pg_esc(m: re.Match[bytes]) -> bytes:
    octal, hx, u4, u8, other = m.groups()
    if m.group() == b"''":
        return b"'"
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hx is not None:
        return bytes([int(hx, 16)])
    if u4 is not None or u8 is not None:
        return _unicode(int(u4 or u8, 16))
    return _C_ESC.get(other, other)


def _copy_esc(m: re.Match[bytes]) -> bytes:
    octal, hx, other = m.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hx is not None:
        return bytes([int(hx, 16)])
    return _C_ESC.get(other, other)


def _unescape(raw: bytes, quote: int, backslash: bool, *, pg: bool) -> bytes:
    if quote == 0x60 or not backslash:
        doubled = bytes([quote, quote])
        return raw.replace(doubled, doubled[:1]) if doubled in raw else raw
    if b"\\" not in raw and b"''" not in raw and b'""' not in raw:
        return raw
    if pg:
        return _PG_ESC_RE.sub(_pg_esc, raw)
    return _MYSQL_ESC_RE.sub(_mysql_esc, raw)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# statements
# ---------------------------------------------------------------------------------------------

_INSERT_MODIFIERS = frozenset({b"IGNORE", b"LOW_PRIORITY", b"DELAYED", b"HIGH_PRIORITY", b"INTO"})
_CREATE_MODIFIERS = frozenset({b"OR", b"REPLACE", b"TEMPORARY", b"TEMP", b"UNLOGGED", b"GLOBAL", b"LOCAL"})
_NOT_COLUMN = frozenset(
    {
        b"PRIMARY",
        b"KEY",
        b"UNIQUE",
        b"INDEX",
        b"CONSTRAINT",
        b"FULLTEXT",
        b"SPATIAL",
        b"FOREIGN",
        b"CHECK",
        b"EXCLUDE",
        b"LIKE",
        b"PERIOD",
    }
)


class _Reader:
    """Statement-level parsing over a :class:`_Lexer`; see :func:`read_dump`."""

    def __init__(self, lex: _Lexer, wanted: Callable[[str], bool]) -> None:
        self.lex = lex
        self.wanted = wanted
        self.schemas: dict[str, tuple[str, ...]] = {}
        self.problem_counts: dict[str, int] = {}

    def problem(self, code: str, message: str, offset: int, table: str | None) -> Iterator[DumpProblem]:
        count = self.problem_counts.get(code, 0) + 1
        self.problem_counts[code] = count
        if count <= MAX_PROBLEMS_PER_CODE:
            yield DumpProblem(code, message, offset, table)

    def events(self) -> Iterator[DumpEvent]:
        lex = self.lex
        while True:
            tok = lex.next()
            if tok.kind == _EOF:
                return
            if tok.kind == _PUNCT and tok.value == b";":
                continue
            if tok.kind == _WORD and tok.value.startswith(b"\\"):  # a psql meta-command: one line
                lex.skip_past(b"\n")
                continue
            word = tok.value.upper() if tok.kind == _WORD else b""
            if word in (b"INSERT", b"REPLACE"):
                yield from self.insert()
            elif word == b"CREATE":
                yield from self.create()
            elif word == b"COPY":
                yield from self.copy(tok.offset)
            elif word == b"SET":
                self.set()
            else:
                lex.skip_statement()

    # ---- names -------------------------------------------------------------------------------

    def name(self, tok: _Tok) -> str | None:
        """A possibly qualified name starting at ``tok``; its last part (the table name)."""
        parts: list[bytes] = []
        lex = self.lex
        while True:
            if tok.kind == _IDENT:
                parts.append(tok.value)
                more = False
            elif tok.kind == _WORD:
                parts.extend(tok.value.split(b"."))
                more = tok.value.endswith(b".")
            else:
                return None
            nxt = lex.peek()
            if nxt.kind == _PUNCT and nxt.value == b".":
                lex.next()
                tok = lex.next()
                continue
            if more:
                tok = lex.next()
                continue
            break
        names = [p for p in parts if p]
        return _text(names[-1]) if names else None

    def name_list(self) -> tuple[str, ...] | None:
        """``a, b, c)`` after an opening parenthesis: the names, or None when malformed."""
        names: list[str] = []
        lex = self.lex
        while len(names) < MAX_COLUMNS:
            tok = lex.next()
            if tok.kind not in (_IDENT, _WORD):
                return None
            names.append(_text(tok.value))
            tok = lex.next()
            if tok.kind == _PUNCT and tok.value == b")":
                return tuple(names)
            if not (tok.kind == _PUNCT and tok.value == b","):
                return None
        return None

    # ---- INSERT ------------------------------------------------------------------------------

    def insert(self) -> Iterator[DumpEvent]:
        lex = self.lex
        tok = lex.next()
        while tok.kind == _WORD and tok.value.upper() in _INSERT_MODIFIERS:
            tok = lex.next()
        table = self.name(tok)
        if table is None or not self.wanted(table):
            lex.skip_statement()
            return
        columns: tuple[str, ...] | None = None
        tok = lex.next()
        if tok.kind == _PUNCT and tok.value == b"(":
            columns = self.name_list()
            if columns is None:
                lex.skip_statement()
                return
            tok = lex.next()
        if tok.kind == _WORD and tok.value.upper() == b"OVERRIDING":  # OVERRIDING SYSTEM|USER VALUE
            lex.next()
            lex.next()
            tok = lex.next()
        if not (tok.kind == _WORD and tok.value.upper() in (b"VALUES", b"VALUE")):
            lex.skip_statement()
            return
        columns = columns or self.schemas.get(table)
        while True:
            fast = lex.fast_row()
            if fast is not None:
                yield DumpRow(table, columns, fast[0], fast[1])
                tok = lex.next()
                if tok.kind == _PUNCT and tok.value == b",":
                    continue
                if tok.kind == _EOF or (tok.kind == _PUNCT and tok.value == b";"):
                    return
                lex.skip_statement()
                return
            tok = lex.next()
            if not (tok.kind == _PUNCT and tok.value == b"("):
                yield from self.problem("malformed-row", f"a row of {table} does not start with '('", tok.offset, table)
                lex.skip_statement()
                return
            row = self.row(table, tok.offset)
            if isinstance(row, DumpProblem):
                yield from self.problem(row.code, row.message, row.offset, table)
                lex.skip_statement()
                return
            values, cut = row
            if cut:
                yield from self.problem(
                    "truncated-value",
                    f"a value of {table} is longer than "
                    f"{MAX_VALUE_BYTES // (1024 * 1024)} MiB: its head only is analysed",
                    tok.offset,
                    table,
                )
            yield DumpRow(table, columns, values, tok.offset, cut)
            tok = lex.next()
            if tok.kind == _PUNCT and tok.value == b",":
                continue
            if tok.kind == _EOF or (tok.kind == _PUNCT and tok.value == b";"):
                return
            lex.skip_statement()  # ON DUPLICATE KEY UPDATE ..., RETURNING ...
            return

    def row(self, table: str, offset: int) -> tuple[tuple[str | None, ...], bool] | DumpProblem:
        """The values of one ``( ... )`` row (its `(` consumed)."""
        lex = self.lex
        values: list[str | None] = []
        cut = False
        while len(values) < MAX_COLUMNS:
            depth = 0
            string: bytes | None = None
            words: list[bytes] = []
            tokens = 0
            while True:
                tok = lex.next()
                tokens += 1
                if tokens > MAX_VALUE_TOKENS:
                    return DumpProblem(
                        "malformed-row", f"a value of {table} has more than {MAX_VALUE_TOKENS} tokens", offset, table
                    )
                if tok.kind == _EOF or (tok.kind == _PUNCT and tok.value == b";"):
                    return DumpProblem("malformed-row", f"a row of {table} is not closed", offset, table)
                if tok.kind == _PUNCT:
                    if tok.value == b"(":
                        depth += 1
                    elif tok.value == b")":
                        if depth == 0:
                            values.append(_value(string, words))
                            return tuple(values), cut
                        depth -= 1
                    elif tok.value == b"," and depth == 0:
                        break
                elif tok.kind == _STRING:
                    string = tok.value
                    cut = cut or tok.truncated
                else:
                    words.append(tok.value)
            values.append(_value(string, words))
        return DumpProblem("malformed-row", f"a row of {table} has more than {MAX_COLUMNS} values", offset, table)

    # ---- CREATE TABLE ------------------------------------------------------------------------

    def create(self) -> Iterator[DumpEvent]:
        lex = self.lex
        tok = lex.next()
        while tok.kind == _WORD and tok.value.upper() in _CREATE_MODIFIERS:
            tok = lex.next()
        if not (tok.kind == _WORD and tok.value.upper() == b"TABLE"):
            lex.peeked = tok
            lex.skip_statement()
            return
        start = tok.offset
        tok = lex.next()
        if tok.kind == _WORD and tok.value.upper() == b"IF":  # IF NOT EXISTS
            lex.next()
            lex.next()
            tok = lex.next()
        table = self.name(tok)
        if table is None or not self.wanted(table) or not _is(lex.next(), b"("):
            lex.skip_statement()
            return
        columns: list[str] = []
        primary: tuple[str, ...] = ()
        while len(columns) < MAX_COLUMNS:
            tok = lex.next()
            if tok.kind == _IDENT or (tok.kind == _WORD and tok.value.upper() not in _NOT_COLUMN):
                columns.append(_text(tok.value))
            elif (
                tok.kind == _WORD
                and tok.value.upper() == b"PRIMARY"
                and _is(lex.next(), b"KEY", word=True)
                and _is(lex.peek(), b"(")
            ):
                lex.next()
                primary = self.group_names()
            end = self.skip_item()
            if end != b",":
                break
        lex.skip_statement()
        self.schemas[table] = tuple(columns)
        yield TableSchema(table, tuple(columns), primary, start)

    def group_names(self) -> tuple[str, ...]:
        """The first name of each element of a parenthesized list (its `(` consumed), consumed to
        its `)`: ``(`a`, `b`(10))`` gives ``a, b``."""
        names: list[str] = []
        depth = 0
        first = True
        lex = self.lex
        for _ in range(100_000):
            tok = lex.peek()
            if tok.kind == _EOF or _is(tok, b";"):
                break
            lex.next()
            if tok.kind == _PUNCT:
                if tok.value == b"(":
                    depth += 1
                elif tok.value == b")":
                    if depth == 0:
                        break
                    depth -= 1
                elif tok.value == b"," and depth == 0:
                    first = True
                continue
            if first and depth == 0 and tok.kind in (_IDENT, _WORD):
                names.append(_text(tok.value))
            first = False
        return tuple(names[:MAX_COLUMNS])

    def skip_item(self) -> bytes:
        """Skip to the `,` that ends a table element or the `)` that ends the list (returned)."""
        depth = 0
        lex = self.lex
        for _ in range(100_000):
            tok = lex.peek()
            if tok.kind == _EOF or _is(tok, b";"):
                return b";"
            lex.next()
            if tok.kind == _PUNCT:
                if tok.value == b"(":
                    depth += 1
                elif tok.value == b")":
                    if depth == 0:
                        return b")"
                    depth -= 1
                elif tok.value == b"," and depth == 0:
                    return b","
        return b";"

    # ---- COPY (pg_dump) ----------------------------------------------------------------------

    def copy(self, offset: int) -> Iterator[DumpEvent]:
        lex = self.lex
        table = self.name(lex.next())
        columns: tuple[str, ...] | None = None
        if _is(lex.peek(), b"("):
            lex.next()
            columns = self.name_list()
        words = []
        for _ in range(8):
            tok = lex.next()
            if tok.kind == _EOF or _is(tok, b";"):
                break
            words.append(tok.value.upper())
        if words[:2] != [b"FROM", b"STDIN"] or not _is(tok, b";"):
            if not (_is(tok, b";") or tok.kind == _EOF):
                lex.skip_statement()
            return
        lex.read_line(keep=False)  # the rest of the COPY line
        keep = table is not None and self.wanted(table)
        name = table or "?"
        columns = columns or self.schemas.get(name)
        while True:
            at = lex.offset
            line = lex.read_line(keep=keep)
            if line is None:
                yield from self.problem("unterminated-copy", f"the dump ends inside the COPY data of {name}", at, name)
                return
            text, long = line
            if text.rstrip(b"\r") == b"\\.":
                return
            if not keep:
                continue
            if long:
                yield from self.problem(
                    "long-line",
                    f"a COPY line of {name} is longer than "
                    f"{MAX_COPY_LINE // (1024 * 1024)} MiB: its head only is analysed",
                    at,
                    name,
                )
            values: list[str | None] = []
            cut = long
            for field in text.rstrip(b"\r").split(b"\t")[:MAX_COLUMNS]:
                if field == b"\\N":
                    values.append(None)
                    continue
                raw = _COPY_ESC_RE.sub(_copy_esc, field) if b"\\" in field else field
                if len(raw) > MAX_VALUE_BYTES:
                    raw, cut = raw[:MAX_VALUE_BYTES], True
                values.append(_text(raw))
            yield DumpRow(name, columns, tuple(values), at, cut)

    # ---- SET ---------------------------------------------------------------------------------

    def set(self) -> None:
        """``SET standard_conforming_strings = off`` turns backslash escapes on in pg strings."""
        lex = self.lex
        words: list[bytes] = []
        for _ in range(8):
            tok = lex.peek()
            if tok.kind == _EOF or _is(tok, b";"):
                break
            lex.next()
            words.append(tok.value.lower())
        if not lex.mysql and words and words[0] == b"standard_conforming_strings":
            lex.backslash = words[-1] in (b"off", b"false")
        lex.skip_statement()


def _is(tok: _Tok, value: bytes, *, word: bool = False) -> bool:
    if word:
        return tok.kind == _WORD and tok.value.upper() == value
    return tok.kind == _PUNCT and tok.value == value


def _value(string: bytes | None, words: list[bytes]) -> str | None:
    """A SQL value from its tokens: the string literal if any (``_binary 'x'``, ``'x'::text``),
    NULL, a ``0x`` hex literal decoded, else the words (numbers, keywords) joined."""
    if string is not None:
        return _text(string)
    if len(words) == 1:
        word = words[0]
        if word.upper() == b"NULL":
            return None
        if word[:2] in (b"0x", b"0X") and len(word) > 2:
            try:
                return _text(bytes.fromhex(word[2:].decode("ascii")))
            except (ValueError, UnicodeDecodeError):
                return _text(word)
    return _text(b" ".join(words))


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def read_dump(
    stream: BinaryIO,
    *,
    wanted: Callable[[str], bool],
    dialect: DumpDialect | None = None,
    deadline: float | None = None,
    chunk: int = CHUNK_BYTES,
) -> Iterator[DumpEvent]:
    """The events of a dump (see the module docstring). ``wanted(table)`` says whether a table's
    rows are read (others are skipped without decoding); it is asked again for each statement, so
    a caller may stop reading a table (a row limit). ``deadline`` is a ``time.monotonic()`` value;
    ``dialect`` is detected from the first 64 KiB when not given."""
    lex = _Lexer(stream, dialect or DumpDialect.MYSQL, chunk=chunk, deadline=deadline)
    reader = _Reader(lex, wanted)
    try:
        if dialect is None:
            lex.dialect = detect_dialect(lex.sniff())
            lex.mysql = lex.dialect is DumpDialect.MYSQL
            lex.backslash = lex.mysql
        yield from reader.events()
    except _Stop as stop:
        yield DumpProblem(stop.code, stop.message, stop.offset)
    for code, count in sorted(reader.problem_counts.items()):
        if count > MAX_PROBLEMS_PER_CODE:
            yield DumpProblem(code, f"{count - MAX_PROBLEMS_PER_CODE} more problem(s) of this kind", lex.offset)
