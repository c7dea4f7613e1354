"""Cut a file into the code segments the static analysis engine looks at.

A skimmer rarely sits alone in a ``.js`` file: it hides in an inline ``<script>`` of a CMS
template, in an ``onload=`` attribute, in a ``javascript:`` link, or in a PHP file that prints it
(``echo '<script>...'``). :func:`extract_segments` finds those pieces and returns them as
:class:`~skimguard.analyze.model.Segment` objects that remember where they start (1-based line and
column, in characters, lines split at ``\\n``), so a hit at offset ``n`` of a segment maps back to
the file with :func:`segment_position`.

What comes out, per language:

* **JS** — the whole text, one segment (origin ``file``).
* **HTML** (and templates: Twig, Smarty, Liquid, Handlebars, Mustache) — the page itself as one
  HTML segment (origin ``file``, so markup rules can look at forms), then each inline script whose
  type is JavaScript (origin ``script``), each ``on*`` attribute (``handler:onclick``) and each
  ``javascript:`` URL in ``href``/``src``/``action``/``formaction`` (``javascript-url``). Attribute
  values are HTML-unescaped (and ``javascript:`` URLs percent-decoded) only when they need it; such
  segments start at the value and their inner positions are approximate.
* **PHP** — every PHP block (``<?php … ?>``, ``<?= … ?>``, short ``<? … ?>``, or to the end of the
  file when unclosed), origin ``php``; the text outside the blocks is scanned as HTML (PHP blocks
  are blanked with spaces so every offset stays exact) and also given whole as one HTML segment;
  string literals in PHP code (or ``.``-joined runs of them) that contain markup (``<script``,
  ``<iframe``, ``<form``, ``<input``) or a JavaScript function become ``php-echo`` segments (the
  literal's value, so positions inside are approximate).
* **TEXT** — the text, one segment.

Segments come in file order (ties: the whole-file segment first). ``script`` segments of an HTML
file and ``php`` segments are verbatim slices of the file (the engine's intel prefilter relies on
it). The HTML scanner is a small hand-written one (the standard library's ``html.parser`` does not
give attribute positions), which lets one regular expression skip, in C, the markup that holds no
code (:data:`_HTML_SKIP`); PHP is
split without building tokens: possessive regular expressions with the lexical rules of the
normalizer's tokenizer skip code, strings and comments in C and stop only at a closing tag, a
heredoc, or a literal that may print markup or JavaScript. Both are linear in the input: every
search either advances or ends the scan. At most :data:`MAX_ANALYZE_CHARS`
characters are looked at and at most :data:`MAX_SEGMENTS` segments returned.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse
from dataclasses import dataclass

from skimguard.analyze.model import Language, Segment
from skimguard.analyze.normalize import PHP_QUOTED_STRING, php_heredoc_end, php_string_text
from skimguard.analyze.polyglot import image_kind

MAX_ANALYZE_CHARS = 2 * 1024 * 1024
MAX_SEGMENTS = 5000
SNIFF_BYTES = 4096

_JS_EXT = frozenset({".js", ".mjs", ".cjs"})
_HTML_EXT = frozenset(
    {".html", ".htm", ".xhtml", ".shtml", ".svg", ".twig", ".tpl", ".liquid", ".hbs", ".handlebars", ".mustache"}
)
_PHP_EXT = frozenset({".php", ".php3", ".php4", ".php5", ".php6", ".php7", ".php8", ".phtml", ".pht"})
_TEXT_NAMES = frozenset({".htaccess", ".user.ini"})
_TEXT_EXT = frozenset({".css", ".json", ".map", ".ini"})

_SNIFF_PHP = re.compile(r"<\?php\b|<\?=", re.I)
_SNIFF_HTML = re.compile(r"<(?:!doctype\b|html\b|script\b|head\b|body\b|iframe\b|form\b)", re.I)
_SNIFF_JS = re.compile(
    r"\bfunction\s*[\w$]*\s*\(|\b(?:var|let|const)\s+[\w$]+\s*[=;,]|\bdocument\.[A-Za-z]|\bwindow\.[A-Za-z]"
    r"|\beval\s*\(|=>|\brequire\s*\(|\bmodule\.exports\b|\bnew\s+[A-Z][\w$]*\s*\("
)


def detect_language(path: str, head: bytes) -> Language:
    """Language of a file from its name and its first bytes (``head``, about 4 KiB).

    The extension decides when it is known (``.js`` → JS; ``.php``/``.phtml`` … → PHP; HTML and
    template extensions → HTML, or PHP when they hold ``<?php``; ``.inc`` → PHP when it holds
    ``<?php``; ``.htaccess``/``.user.ini``/``.css``/``.json`` → TEXT). Otherwise (and for ``-``,
    standard input) the content is sniffed (:func:`_sniff`): ``<?php`` → PHP, markup at the start
    or a document's structure → HTML, code-looking text → JS, other markup → HTML, anything else →
    TEXT. A file that starts with image magic is TEXT whatever its
    name: a polyglot (``GIF89a;<?php ...``) is analysed whole, so rule SG475 sees both parts."""
    if image_kind(head) is not None:
        return Language.TEXT
    sniff = head[:SNIFF_BYTES].decode("utf-8", "replace").lstrip("\ufeff")
    name = "" if path in ("-", "") else path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if name in _TEXT_NAMES or name.endswith(".user.ini"):
        return Language.TEXT
    if ext in _PHP_EXT:
        return Language.PHP
    if ext in _JS_EXT:
        return Language.JS
    if ext in _HTML_EXT:
        return Language.PHP if _SNIFF_PHP.search(sniff) else Language.HTML
    if ext in _TEXT_EXT:
        return Language.TEXT
    if ext == ".inc" and _SNIFF_PHP.search(sniff):
        return Language.PHP
    return _sniff(sniff)


# an HTML element at the start of the text, after white space and HTML comments (a byte order mark
# is gone already); other markup (``<?xml``, ``<Files …>`` of a server configuration) is not HTML
_MARKUP_START = re.compile(
    r"(?:\s++|<!--.*?-->)*+<(?:!doctype|html|head|body|script|noscript|style|link|meta|title|base|div|span|p|a|img"
    r"|form|input|button|select|textarea|label|iframe|frameset|frame|object|embed|svg|table|center|font|b|i|u|br"
    r"|hr|h[1-6]|ul|ol|li|pre|section|article|header|footer|nav|main|template)(?=[\s/>])",
    re.I | re.S,
)
# the tags of a whole document: a doctype, or html with head or body, or one of them opening a line
_DOCTYPE = re.compile(r"<!doctype\s+html\b", re.I)
_DOCUMENT_TAG = re.compile(r"<(?:html|head|body)\b", re.I)
_DOCUMENT_TAG_AT_LINE_START = re.compile(r"^[ \t]*<(?:html|head|body)\b", re.I | re.M)


def _sniff(text: str) -> Language:
    """Language of a text without a known extension. HTML only when it starts like markup or has
    the structure of a document: JavaScript that merely names a tag in a string
    (``el.innerHTML = '<script src=…>'``) stays JavaScript; markup without any code cue (a
    fragment such as ``<script>…</script>`` alone) is HTML."""
    if _SNIFF_PHP.search(text) or text.lstrip().startswith("<?\n") or text.startswith("<? "):
        return Language.PHP
    if _MARKUP_START.match(text) or _DOCTYPE.search(text) or _DOCUMENT_TAG_AT_LINE_START.search(text):
        return Language.HTML
    if len({m.group().lower() for m in _DOCUMENT_TAG.finditer(text)}) >= 2:
        return Language.HTML
    if _SNIFF_JS.search(text):
        return Language.JS
    if _SNIFF_HTML.search(text):
        return Language.HTML
    return Language.TEXT


# ---------------------------------------------------------------------------------------------
# positions
# ---------------------------------------------------------------------------------------------


def offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character ``offset`` in ``text`` (lines end at ``\\n``)."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    last_nl = text.rfind("\n", 0, offset)
    return line, offset - last_nl


def segment_position(segment: Segment, offset: int) -> tuple[int, int]:
    """1-based (line, column) in the original file of character ``offset`` of ``segment.text``.

    Exact for segments cut verbatim from the file; for decoded ones (``php-echo``, unescaped
    attribute values) it is where the decoded text would be if it were verbatim."""
    offset = max(0, min(offset, len(segment.text)))
    newlines = segment.text.count("\n", 0, offset)
    if newlines == 0:
        return segment.line, segment.column + offset
    last_nl = segment.text.rfind("\n", 0, offset)
    return segment.line + newlines, offset - last_nl


# ---------------------------------------------------------------------------------------------
# HTML scanning
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    language: Language
    text: str
    offset: int  # in the scanned text
    origin: str


_JS_TYPES = frozenset(
    {
        "",
        "module",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/x-ecmascript",
        "text/ecmascript",
        "text/x-ecmascript",
        "text/x-javascript",
        "text/jscript",
        "text/livescript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
    }
)
_RAW_TEXT = frozenset({"style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href"})
_TAG_NAME = re.compile(r"[A-Za-z][^\s/>]*")
_SPACE_SLASH = re.compile(r"[\s/]*")
_SPACES = re.compile(r"\s*")
_ATTR_NAME = re.compile(r"[^\s/>][^\s/>=]*")
_UNQUOTED = re.compile(r"[^\s>]*")
_EVENT_ATTR = re.compile(r"on[a-z]+\Z")
_URL_STRIP = re.compile(r"[\t\n\r]")
_END_TAG: dict[str, re.Pattern[str]] = {}


def _end_tag(name: str) -> re.Pattern[str]:
    pattern = _END_TAG.get(name)
    if pattern is None:
        pattern = re.compile(r"</" + re.escape(name) + r"[\s/>]", re.I)
        _END_TAG[name] = pattern
    return pattern


# A whole start tag as :func:`_parse_tag` reads it (same names, values and end), in C: most tags
# hold no code, and for those the attributes need not be taken apart. An unterminated quote or a
# tag cut by the end of the text does not match (``_parse_tag`` then decides).
_TAG_FAST = re.compile(
    r"<([A-Za-z][^\s/>]*+)"
    r"(?:[\s/]*+[^\s/>][^\s/>=]*+\s*+(?:=\s*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\s>]*+)|(?!=)))*+"
    r"[\s/]*+>"
)
# an attribute name that may start with "on" (attribute names start after white space, "/" or a
# closing quote)
_MAYBE_EVENT_ATTR = re.compile(r"[\s/\"']on[a-z]", re.I)


def _no_code_attrs(raw: str) -> bool:
    """True when the start tag ``raw`` can give no piece: no ``on*`` attribute, no
    ``javascript:`` URL (even with tabs or new lines inside it), no character reference that
    could spell one, only ASCII (``str.lower`` maps a few other letters to ASCII ones)."""
    if not raw.isascii() or "&" in raw or _MAYBE_EVENT_ATTR.search(raw):
        return False
    low = raw.lower()
    if "\t" in low or "\n" in low or "\r" in low:
        low = _URL_STRIP.sub("", low)
    return "javascript:" not in low


def _parse_tag(text: str, pos: int) -> tuple[str, list[tuple[str, str, int]], int] | None:
    """Parse a start tag at ``pos`` (the ``<``): (name, [(attr, value, value offset)], end) or
    None when the text ends inside the tag (a browser drops such a tag)."""
    n = len(text)
    m = _TAG_NAME.match(text, pos + 1)
    if m is None:  # pragma: no cover - caller checked for a letter
        return None
    name = m.group().lower()
    p = m.end()
    attrs: list[tuple[str, str, int]] = []
    while True:
        p = _SPACE_SLASH.match(text, p).end()  # type: ignore[union-attr]
        if p >= n:
            return None
        if text[p] == ">":
            return name, attrs, p + 1
        am = _ATTR_NAME.match(text, p)
        if am is None:  # pragma: no cover - any other character starts a name
            return None
        attr = am.group().lower()
        p = _SPACES.match(text, am.end()).end()  # type: ignore[union-attr]
        if p < n and text[p] == "=":
            p = _SPACES.match(text, p + 1).end()  # type: ignore[union-attr]
            if p >= n:
                return None
            q = text[p]
            if q in "\"'":
                close = text.find(q, p + 1)
                if close < 0:
                    return None
                attrs.append((attr, text[p + 1 : close], p + 1))
                p = close + 1
            else:
                um = _UNQUOTED.match(text, p)
                end = um.end() if um else p
                attrs.append((attr, text[p:end], p))
                p = end
        else:
            attrs.append((attr, "", p))


def _attr_pieces(attrs: list[tuple[str, str, int]], origin_override: str | None) -> list[_Piece]:
    pieces: list[_Piece] = []
    for attr, raw, offset in attrs:
        if _EVENT_ATTR.match(attr):
            code = html.unescape(raw) if "&" in raw else raw
            if code.strip():
                pieces.append(_Piece(Language.JS, code, offset, origin_override or "handler:" + attr))
        elif attr in _URL_ATTRS and raw:
            piece = _javascript_url(raw, offset)
            if piece is not None:
                pieces.append(
                    piece if origin_override is None else _Piece(piece.language, piece.text, offset, origin_override)
                )
    return pieces


def _javascript_url(raw: str, offset: int) -> _Piece | None:
    if raw[:11].lower() == "javascript:" and "&" not in raw and "%" not in raw:
        code = raw[11:]
        return _Piece(Language.JS, code, offset + 11, "javascript-url") if code.strip() else None
    value = html.unescape(raw) if "&" in raw else raw
    value = _URL_STRIP.sub("", value).lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10 ")
    if value[:11].lower() != "javascript:":
        return None
    code = urllib.parse.unquote(value[11:]) if "%" in value else value[11:]
    return _Piece(Language.JS, code, offset, "javascript-url") if code.strip() else None


def _script_is_js(attrs: list[tuple[str, str, int]]) -> bool:
    for attr, value, _ in attrs:
        if attr == "type":
            return value.split(";", 1)[0].strip().lower() in _JS_TYPES
    return True


# Markup that gives no piece, skipped in C before the scanner looks at the next ``<`` itself: text,
# complete comments, ``<!…>``/``</…>``/``<?…>``, a ``<`` that starts nothing, and start tags of
# elements other than script and raw text whose attributes hold no handler, no ``javascript:`` and
# no ``&`` (ASCII only, quoted values without ``<`` or ``>``: for those the tag ends at its first
# ``>``, as :func:`_parse_tag` reads it). Every branch stops at the next ``<``, ``>`` or a closing
# ``-->``, so a branch that fails has looked at little; the scanner decides everything else.
_HTML_SKIP = re.compile(
    r"(?:[^<]++"
    r"|<!--.*?-->"
    r"|<(?!!--)[!?/][^>]*+>"
    r"|<(?![A-Za-z!?/]|\Z)"
    r"|<(?!(?i:script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)[\s/>])"
    r"(?![^<>]*?(?i:[\s/\"']on[a-z]))"
    r"(?![^<>]*?(?i:j[\t\n\r]*a[\t\n\r]*v[\t\n\r]*a[\t\n\r]*s[\t\n\r]*c[\t\n\r]*r[\t\n\r]*i[\t\n\r]*p[\t\n\r]*t[\t\n\r]*:))"
    r"[A-Za-z](?:[^<>\"'&\x80-\U0010ffff]|\"[^\"<>&\x80-\U0010ffff]*+\"|'[^'<>&\x80-\U0010ffff]*+')*+>"
    r")*+",
    re.S,
)


def _scan_html(text: str, origin_override: str | None = None) -> list[_Piece]:
    """Inline scripts, event handlers and ``javascript:`` URLs of an HTML text (offsets into it)."""
    pieces: list[_Piece] = []
    n = len(text)
    pos = 0
    skip = _HTML_SKIP.match
    while len(pieces) < MAX_SEGMENTS:
        pos = skip(text, pos).end()  # type: ignore[union-attr]
        lt = text.find("<", pos)
        if lt < 0 or lt + 1 >= n:
            break
        c = text[lt + 1]
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                break
            pos = end + 3
        elif c in "!?" or c == "/":
            end = text.find(">", lt + 2)
            if end < 0:
                break
            pos = end + 1
        elif c.isascii() and c.isalpha():
            fast = _TAG_FAST.match(text, lt)
            attrs: list[tuple[str, str, int]] = []
            if fast is not None and _no_code_attrs(fast.group()) and fast.group(1).lower() != "script":
                name, pos = fast.group(1).lower(), fast.end()
            else:
                tag = _parse_tag(text, lt)
                if tag is None:
                    break
                name, attrs, pos = tag
                pieces.extend(_attr_pieces(attrs, origin_override))
            if name == "script":
                m = _end_tag("script").search(text, pos)
                body_end = m.start() if m else n
                body = text[pos:body_end]
                if body.strip() and _script_is_js(attrs):
                    pieces.append(_Piece(Language.JS, body, pos, origin_override or "script"))
                pos = body_end
            elif name in _RAW_TEXT:
                m = _end_tag(name).search(text, pos)
                pos = m.start() if m else n
            elif name == "plaintext":
                break
        else:
            pos = lt + 1
    return pieces


# ---------------------------------------------------------------------------------------------
# PHP splitting
# ---------------------------------------------------------------------------------------------
#
# PHP code is not tokenized here: one possessive regular expression skips code, quoted strings and
# comments (all in C) up to the next place that needs a decision — a closing ``?>``, a heredoc, a
# literal that may print markup or JavaScript (a ``.``-joined run, or one with a word or escape of
# _ECHO_MAYBE), an unterminated string, the end of the text. Only those literals are decoded. The
# lexical rules are those of the normalizer's tokenizer (php_tokens): ``?>`` ends a ``//`` or
# ``#`` comment (``#[`` is an attribute), not a string or a ``/* */`` comment; an unterminated
# string or heredoc runs to the end of the text.

_ECHO_MARKUP = re.compile(r"<(?:script|iframe|form|input)\b", re.I)
# (word boundaries are checked behind the words, so that the search can skip to their first letters)
_ECHO_JS = re.compile(
    r"function(?<!\wfunction)\s*[\w$]*\s*\(|=>\s*\{|addEventListener(?<!\waddEventListener)\s*\("
    r"|XMLHttpRequest(?<!\wXMLHttpRequest)\b"
)
# What a single literal must contain, as written, for its value to match one of the two above: the
# words themselves, or an escape that can spell anything (simple escapes only give white space,
# quotes, ``\\`` and ``$``, which the two patterns only accept as white space between words).
_ECHO_MAYBE = re.compile(
    r"<(?:script|iframe|form|input)|\\(?:x[0-9A-Fa-f]|[0-7]|u\{)|function|=>|addEventListener|XMLHttpRequest", re.I
)
_SQ = r"'(?:[^'\\]++|\\[\s\S])*+'"
_DQ = r'"(?:[^"\\]++|\\[\s\S])*+"'
# the body of a quoted string in which _ECHO_MAYBE cannot match (a superset of those that can stop)
_DULL = (
    r"(?:[^{q}\\<fF=aAxX]++|\\[^xu0-7]|=(?!>)"
    r"|(?i:<(?!script|iframe|form|input)|f(?!unction)|a(?!ddeventlistener)|x(?!mlhttprequest)))*+"
)
_NOT_JOINED = r"(?!\s*+\.\s*+['\"])"
# Everything a PHP block may hold before its end or a literal that may print code: code, dull
# strings, shell strings, comments. It stops at `?>`, `<<<`, a string worth a look, an
# unterminated string, or the end of the text.
_PHP_SKIP = re.compile(
    r"(?:[^'\"`#/?<]++"
    rf"|'{_DULL.format(q=chr(39))}'{_NOT_JOINED}|\"{_DULL.format(q=chr(34))}\"{_NOT_JOINED}"
    r"|`(?:[^`\\]++|\\[\s\S])*+`"
    r"|(?://|#(?!\[))[^\n\r?]*+(?:\?(?!>)[^\n\r?]*+)*+"
    r"|/\*[^*]*+(?:\*(?!/)[^*]*+)*+(?:\*/|\Z)"  # to the first */ (possessive: no check at every character)
    r"|#|/(?![/*])|\?(?!>)|<(?!<<))*+"
)
# a literal as the tokenizer sees it: a quoted string, or a `.`-joined run of them
_PHP_STRING_RUN = re.compile(rf"(?:{_SQ}|{_DQ})(?P<run>(?:\s*+\.\s*+(?:{_SQ}|{_DQ}))*+)")
_PHP_OPEN_TAG = re.compile(r"<\?(?:[pP][hH][pP](?=\s|\Z)|=|(?=\s))")


_BLANK_ASCII = bytes(10 if b == 10 else 32 for b in range(256))


def _blank(text: str) -> str:
    """``text`` with every character but ``\\n`` replaced by a space (offsets stay exact)."""
    if text.isascii():  # the common case, in C
        return text.encode("ascii").translate(_BLANK_ASCII).decode("ascii")
    return "\n".join(" " * len(line) for line in text.split("\n"))


def _php_block(text: str, pos: int, pieces: list[_Piece]) -> int:
    """Scan the PHP code that starts at ``pos``, add the ``php-echo`` pieces of its literals to
    ``pieces``, and return where the block ends: at its closing ``?>`` (not included) or at the
    end of the text (also after an unterminated string or heredoc, as the tokenizer does)."""
    n = len(text)
    skip = _PHP_SKIP.match
    while True:
        pos = skip(text, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return n
        c = text[pos]
        if c == "?":  # ?>
            return pos
        if c == "<":  # <<<
            end = php_heredoc_end(text, pos)
            if end < 0:
                pos += 1  # a plain `<`
                continue
            if end >= n:
                return n
            raw = text[pos:end]
            if _ECHO_MAYBE.search(raw) and len(pieces) < MAX_SEGMENTS:
                pieces.extend(_echo_pieces(raw, pos))
            pos = end
            continue
        m = _PHP_STRING_RUN.match(text, pos) if c != "`" else None
        if m is None:
            return n  # an unterminated string
        if (m.end("run") > m.start("run") or _ECHO_MAYBE.search(m.group())) and len(pieces) < MAX_SEGMENTS:
            pieces.extend(_echo_pieces(m.group(), pos, single=m.end("run") == m.start("run")))
        pos = m.end()


def _php_pieces(text: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    blanked: list[str] = []
    html_from = 0
    pos = 0
    blocks = 0
    n = len(text)
    while len(pieces) < MAX_SEGMENTS:
        m = _PHP_OPEN_TAG.search(text, pos)
        if m is None:
            break
        blocks += 1
        if blocks > MAX_SEGMENTS:
            break
        block_start = m.start()
        blanked.append(text[html_from:block_start])
        block_end = _php_block(text, m.end(), pieces)
        if block_end < n:  # a closing tag: `?>` and the newline it swallows
            newline = 2 if text.startswith("\r\n", block_end + 2) else 1 if text.startswith("\n", block_end + 2) else 0
            pos = block_end + 2 + newline
            block_end += 2
        else:
            pos = n
        pieces.append(_Piece(Language.PHP, text[block_start:block_end], block_start, "php"))
        blanked.append(_blank(text[block_start:block_end]))
        html_from = block_end
    blanked.append(text[html_from:])
    outside = "".join(blanked)
    if outside.strip():
        pieces.append(_Piece(Language.HTML, outside, 0, "file"))
        pieces.extend(_scan_html(outside))
    return pieces


def _echo_pieces(raw: str, tok_offset: int, *, single: bool = False) -> list[_Piece]:
    """Markup or JavaScript in a PHP string literal ``raw`` (maybe a ``.``-joined run, unless
    ``single`` says it is one literal) found at ``tok_offset``; all of them start where the
    literal's value does."""
    if "\\" not in raw and not _ECHO_MARKUP.search(raw) and not _ECHO_JS.search(raw):
        return []
    values = (_remembered_echo_values if len(raw) <= _ECHO_REMEMBERED_CHARS else _echo_values)(raw, single)
    offset = tok_offset + (1 if raw[:1] in "\"'" else 0)
    return [_Piece(language, text, offset, "php-echo") for language, text in values]


def _echo_values(raw: str, single: bool) -> tuple[tuple[Language, str], ...]:
    """The languages and texts of :func:`_echo_pieces`."""
    parts: list[str] = []
    whole = single or raw.startswith("<<<")
    pieces = [raw] if whole else [m.group() for m in PHP_QUOTED_STRING.finditer(raw)]
    for piece in pieces:
        value = php_string_text(piece)
        if value is not None:
            parts.append(value)
        else:  # interpolating string: keep its body as written
            parts.append(piece[1:-1] if piece[:1] in "\"'" else piece)
    value_text = "".join(parts)
    if _ECHO_MARKUP.search(value_text):
        inner = [(p.language, p.text) for p in _scan_html(value_text, "php-echo")]
        return ((Language.HTML, value_text), *inner)
    if _ECHO_JS.search(value_text):
        return ((Language.JS, value_text),)
    return ()


# Those of small literals are remembered: the same ``echo '<input …>'`` comes back in file after file
# of a web root (and in a file's loops), and decoding and scanning it again costs more than a look-up.
_ECHO_REMEMBERED_CHARS = 4096
_remembered_echo_values = functools.lru_cache(maxsize=2048)(_echo_values)


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def extract_segments(text: str, language: Language) -> list[Segment]:
    """The segments of a file's ``text`` (see the module docstring); at most
    :data:`MAX_ANALYZE_CHARS` characters are considered and :data:`MAX_SEGMENTS` returned."""
    text = text[:MAX_ANALYZE_CHARS]
    if language is Language.JS or language is Language.TEXT:
        return [Segment(language=language, text=text)] if text else []
    if language is Language.HTML:
        pieces = [_Piece(Language.HTML, text, 0, "file"), *_scan_html(text)]
    else:
        pieces = _php_pieces(text)
    order = sorted(range(len(pieces)), key=lambda idx: (pieces[idx].offset, pieces[idx].origin != "file", idx))
    segments: list[Segment] = []
    line, last_newline, counted_to = 1, -1, 0  # positions by counting forward (offsets ascend)
    for idx in order[:MAX_SEGMENTS]:
        piece = pieces[idx]
        newlines = text.count("\n", counted_to, piece.offset)
        if newlines:
            line += newlines
            last_newline = text.rfind("\n", counted_to, piece.offset)
        counted_to = max(counted_to, piece.offset)
        column = piece.offset - last_newline
        segments.append(
            Segment(language=piece.language, text=piece.text, line=line, column=column, origin=piece.origin)
        )
    return segments
