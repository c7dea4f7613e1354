"""Light, static deobfuscation of code segments — nothing is ever executed.

Skimmers hide their strings (``\\x68\\x74\\x74\\x70``), build them at run time
(``String.fromCharCode(...)``, ``atob('...')``), or feed them to ``eval``; PHP backdoors wrap their
payload in ``eval(gzinflate(base64_decode('...')))``. Rules and structure checks see through that
only if someone undoes it first. :func:`normalize` does so in bounded *rounds*: each round runs a
fixed list of cheap passes over the tokens of the text and joins them again (JavaScript is
tokenized once: the passes return token lists that join to the new text, and the next round goes
on with them); it stops when a round changes nothing (or after ``max_rounds``); a round only
re-runs the passes that what changed in the previous round can give work to (:data:`_ENABLES`). An ``eval`` payload is
normalized itself before it is spliced, so nested layers (``eval(atob(... eval(atob(...)) ...))``)
come off in one round, up to :data:`MAX_PEEL_DEPTH`. ``Normalized.steps`` names every pass that
changed something, in order (each name at most once per round).

JavaScript passes (tokenizer below understands strings, comments, regex literals and templates):

``hex-escape`` / ``unicode-escape`` / ``octal-escape``
    ``'\\x41'``, ``'\\u0041'``, ``'\\u{41}'``, ``'\\101'`` inside string literals become the
    character, in place (the quote and the backslash are re-escaped, control characters stay).
``fromCharCode``
    ``String.fromCharCode(104, 0x74, 115-1)`` (and ``.apply(null, [...])``) of numeric literals or
    tiny arithmetic on them becomes a string literal.
``atob`` / ``unescape`` / ``uri-decode``
    ``atob('...')`` (also ``window.atob``, ``this.atob`` and through brackets, ``this['atob']``,
    ``self["atob"]``) whose result is printable ASCII, ``unescape('%61')``,
    ``decodeURIComponent('%61')`` and ``decodeURI`` of a literal become a literal.
``concat``
    ``'a' + "b"`` becomes ``'ab'`` when operator precedence makes that exact.
``string-array``
    obfuscator.io string arrays: the array (``var _0x..=[...]`` or the newer
    ``function _0x..(){var a=[...];...}``), its accessor (index offset, optional ``base64`` and
    ``rc4`` string encodings with the alphabet read from the accessor), aliases
    (``var _0x1=_0xacc``), function wrappers (``function w(a,b){return _0xacc(b- -0x1,a)}``) and the
    rotation IIFE — either the old ``push(shift())`` count or the newer ``parseInt`` checksum loop,
    found by trying at most ``len(array)`` rotations with a tiny safe arithmetic evaluator. Calls
    whose arguments are literal arithmetic become the string. Plain arrays indexed only by literals
    (``_0xc188[12]``) are resolved too when the array is declared once and never written.
``constant-object``
    (with string arrays only) ``o.k`` / ``o['k']`` of an object declared once as ``o = {k: 0x1a2}``
    and only ever read member by member (obfuscator.io's call and control-flow storage) becomes the
    literal; such objects also feed the arguments of accessor calls.
``eval-literal`` / ``packer``
    ``eval('code')`` is replaced by the code (and Dean Edwards' ``eval(function(p,a,c,k,e,d)…)``
    by the code its word substitution gives), ``new Function('a', 'code')`` by
    ``(function(a){code})`` and ``setTimeout('code', n)`` by ``setTimeout(function(){code}, n)``,
    when the code tokenizes cleanly (balanced, no unterminated string or comment).
``bracket-member``
    ``window['location']`` becomes ``window.location`` (identifier-like names only).
``control-flow``
    javascript-obfuscator's control-flow flattening — ``while (!![]) { switch (o[i++]) { case '1':
    …; continue; … } break; }`` over ``o = '2|0|1'.split('|')`` — becomes a block of the case
    bodies in the order of the split string, when that string and the labels are literals and the
    loop has exactly that shape (see :func:`_pass_control_flow`). Otherwise the loop stays; the
    rules and the structure layer still see every statement in it, only not in running order.

PHP passes: calls of pure decoding functions on literals are folded — ``base64_decode``,
``gzinflate`` / ``gzuncompress`` / ``gzdecode`` (bounded with ``decompressobj(max_length)``),
``str_rot13``, ``strrev``, ``hex2bin``, ``pack('H*', ...)``, ``urldecode``, ``rawurldecode``,
``str_replace`` and ``chr`` — together with ``.`` concatenation (``concat``) and ``\\x41``/``\\101``/
``\\u{41}`` escapes in double-quoted strings (``php-escape``), when the result is printable text.
``eval(...)``/``assert(...)`` of such an expression is replaced by the payload
(``php-eval-literal``). Only statements where a pass can change something that matters are
tokenized (an escape that spells printable ASCII, ``.`` between literals, a call of a decoding
function or of ``eval``/``assert`` whose argument may fold); the code between them stays one
opaque token, so a web shell of thousands of statements costs what its few literal expressions
cost. A lone literal whose escapes spell nothing printable (``"\\n"``, ``"\\x00"``) is not rewritten.
HTML and TEXT segments are returned unchanged. A round after one that spliced ``eval`` payloads
runs only when a payload was not peeled to the end or sits inside an expression (``'a' .
eval(…)``): a payload spliced as a statement was folded, unescaped and peeled whole already.

Bounds: the output never grows past ``max(4 * len(input), 1 MiB)`` characters (a transformation
that would cross it is skipped), every pass is linear in the tokens, regular expressions have no
nested quantifiers over the same characters, and a wall-clock budget
(:data:`TIME_BUDGET_SECONDS`, or the caller's ``deadline`` when earlier) stops the tokenizers
(keeping the rest of the text as it is), long ``.`` chains, further rounds and the rotation
search. The tokenizers (:func:`tokenize_js`, :func:`php_tokens`) are public for tests and tools;
:func:`php_string_value` and :func:`php_heredoc_end` because the segment extractor uses them.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import enum
import functools
import math
import re
import time
import urllib.parse
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from skimguard.analyze.model import Language, Normalized, Segment

OUTPUT_FACTOR = 4
OUTPUT_FLOOR = 1024 * 1024
TIME_BUDGET_SECONDS = 0.8
MAX_EVAL_DEPTH = 48  # nesting depth of the tiny evaluators
MAX_PEEL_DEPTH = 32  # eval payloads inside eval payloads handled in one round
MAX_INFLATE = 4 * 1024 * 1024  # bytes one zlib call may produce


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# ---------------------------------------------------------------------------------------------
# shared context
# ---------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Budget and bookkeeping of one :func:`normalize` call."""

    limit: int
    length: int
    deadline: float
    steps: list[str] = field(default_factory=list)
    depth: int = 0  # eval payloads being peeled inside this round
    # PHP: a payload spliced in this round may give the next round work (it was not peeled to the
    # end, or it sits inside an expression: see _php_eval_pass)
    eval_open: bool = False
    # PHP: literals the fold pass wrote, by the id of their text: (text, value, value as text), so
    # that the eval pass takes a folded payload back without unescaping and decoding it again
    literals: dict[int, tuple[str, bytes, str]] = field(default_factory=dict)
    brackets: tuple[list[JsTok], list[int]] | None = None  # the last bracket pairing computed

    def pairs(self, toks: list[JsTok]) -> list[int]:
        """:func:`_match_brackets` of a JavaScript token list, kept for the next pass when that pass
        gets the same list (passes never change a list in place: they return a new one)."""
        if self.brackets is None or self.brackets[0] is not toks:
            self.brackets = (toks, _match_brackets(toks, J_PUNCT))
        return self.brackets[1]

    def grow(self, delta: int) -> bool:
        """Reserve ``delta`` more characters of output; False when that would cross the limit."""
        if delta > 0 and self.length + delta > self.limit:
            return False
        self.length += delta
        return True

    def step(self, name: str) -> None:
        if name not in self.steps:
            self.steps.append(name)

    def expired(self) -> bool:
        return time.monotonic() > self.deadline


def normalize(segment: Segment, *, max_rounds: int = 4, deadline: float | None = None) -> Normalized:
    """Undo cheap obfuscation of ``segment`` without running it (see the module docstring).

    ``deadline`` (``time.monotonic()``) stops the work earlier than :data:`TIME_BUDGET_SECONDS`
    would: the caller's budget for the whole file."""
    if segment.language not in (Language.JS, Language.PHP) or max_rounds <= 0:
        return Normalized(segment=segment, text=segment.text)
    text = segment.text
    limit = max(OUTPUT_FACTOR * len(text), OUTPUT_FLOOR)
    own_deadline = time.monotonic() + TIME_BUDGET_SECONDS
    deadline = own_deadline if deadline is None else min(deadline, own_deadline)
    steps: list[str] = []
    allowed: frozenset[str] | None = None  # passes worth running again (None: all)
    toks: list[JsTok] | None = None  # JavaScript: the tokens of ``text`` when a round left them
    for _ in range(max_rounds):
        ctx = _Ctx(limit=limit, length=len(text), deadline=deadline)
        if segment.language is Language.JS:
            new_text, changed_by, toks = _js_round(text, ctx, allowed, toks)
        else:
            new_text, changed_by = _php_round(text, ctx, allowed)
        if not ctx.steps or new_text == text or len(new_text) > limit:
            break
        text = new_text
        steps.extend(ctx.steps)
        if not ctx.eval_open:
            # every PHP payload spliced in was peeled whole in this round (fold, escapes, nested
            # eval, in that order): another round over the same code would find nothing new
            changed_by = [name for name in changed_by if name != "php-eval"]
        allowed = frozenset().union(*(_ENABLES.get(name, _ALL) for name in changed_by))
        if ctx.expired() or not allowed:
            break
    return Normalized(segment=segment, text=text, steps=tuple(steps))


# ---------------------------------------------------------------------------------------------
# JavaScript values and literals
# ---------------------------------------------------------------------------------------------

JsVal = float | str

_JS_ESC = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,8})\}|u([0-9a-fA-F]{4})"
    r"|([0-3][0-7]{0,2}|[4-7][0-7]?)|(\r\n|[\s\S]))"
)
_JS_SIMPLE_ESC = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_LINE_CONT = {"\n", "\r", "\r\n", "\u2028", "\u2029"}


def _js_escape_char(m: re.Match[str]) -> tuple[str | None, str]:
    """Decode one escape match: (character or None when not decodable, kind)."""
    if m.group(1) is not None:
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)), "unicode-escape"
    if m.group(3) is not None:
        return chr(int(m.group(3), 16)), "hex-escape"
    if m.group(4) is not None:
        cp = int(m.group(4), 16)
        return (chr(cp) if cp <= 0x10FFFF else None), "unicode-escape"
    if m.group(5) is not None:
        return chr(int(m.group(5), 16)), "unicode-escape"
    if m.group(6) is not None:
        digits = m.group(6)
        if digits == "0":
            return "\0", "octal-escape"
        return chr(int(digits, 8)), "octal-escape"
    other = m.group(7)
    if other in _LINE_CONT:
        return "", "other"
    return _JS_SIMPLE_ESC.get(other, other), "other"


def js_string_value(raw: str) -> str | None:
    """The value of a JavaScript string literal (``raw`` includes its quotes), or None."""
    if len(raw) < 2 or raw[0] not in "'\"" or raw[-1] != raw[0]:
        return None
    inner = raw[1:-1]
    if "\\" not in inner:
        return inner
    failed = False

    def sub(m: re.Match[str]) -> str:
        nonlocal failed
        ch, _ = _js_escape_char(m)
        if ch is None:
            failed = True
            return ""
        return ch

    value = _JS_ESC.sub(sub, inner)
    return None if failed else value


_JS_LIT_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff]")
_JS_LIT_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def _js_special(m: re.Match[str]) -> str:
    ch = m.group()
    named = _JS_LIT_NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def js_literal(value: str, quote: str = "'") -> str:
    """A JavaScript string literal for ``value`` (printable characters kept as they are)."""
    body = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    body = _JS_LIT_SPECIAL.sub(_js_special, body)
    return quote + body + quote


def _safe_char(ch: str) -> bool:
    return ch.isprintable() and ch != "\ufeff"


def _js_unescape_in_place(raw: str) -> tuple[str, list[str]]:
    """Replace ``\\x``/``\\u``/octal escapes of a literal by their printable character."""
    quote = raw[0]
    inner = raw[1:-1]
    kinds: list[str] = []

    def sub(m: re.Match[str]) -> str:
        ch, kind = _js_escape_char(m)
        if kind == "other" or ch is None or len(ch) != 1:
            return m.group()
        if ch == quote or ch == "\\":
            out = "\\" + ch
        elif _safe_char(ch):
            out = ch
        else:
            return m.group()
        if kind not in kinds:
            kinds.append(kind)
        return out

    new_inner = _JS_ESC.sub(sub, inner)
    return quote + new_inner + quote, kinds


_JS_DEC_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)\Z")


@functools.lru_cache(maxsize=4096)
def _js_num(text: str) -> float | None:
    """Value of a JavaScript numeric literal token (None for BigInt or nonsense)."""
    t = text.replace("_", "")
    if not t or t.endswith("n"):
        return None
    try:
        prefix = t[:2].lower()
        if prefix == "0x":
            return float(int(t[2:], 16))
        if prefix == "0o":
            return float(int(t[2:], 8))
        if prefix == "0b":
            return float(int(t[2:], 2))
        if len(t) > 1 and t[0] == "0" and t.isdigit():
            return float(int(t, 8)) if all(c in "01234567" for c in t) else float(int(t))
        if not _JS_DEC_NUMBER.match(t):
            return None
        return float(t)
    except (ValueError, OverflowError):
        return None


def _to_number(v: JsVal) -> float:
    """JavaScript ToNumber for our two value kinds."""
    if isinstance(v, float):
        return v
    s = v.strip()
    if not s:
        return 0.0
    low = s.lower()
    try:
        if low.startswith("0x"):
            return float(int(s[2:], 16))
        if low.startswith("0o"):
            return float(int(s[2:], 8))
        if low.startswith("0b"):
            return float(int(s[2:], 2))
        if s in ("Infinity", "+Infinity"):
            return math.inf
        if s == "-Infinity":
            return -math.inf
        if _JS_DEC_NUMBER.match(s):
            return float(s)
    except (ValueError, OverflowError):
        pass
    return math.nan


def _js_to_string(v: JsVal) -> str:
    if isinstance(v, str):
        return v
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


_PARSE_INT = re.compile(r"[\s\ufeff]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)")


def _parse_int(v: JsVal) -> float:
    """JavaScript ``parseInt`` with the default radix."""
    m = _PARSE_INT.match(_js_to_string(v))
    if not m:
        return math.nan
    sign = -1.0 if m.group(1) == "-" else 1.0
    digits = m.group(2)
    try:
        if digits[:2].lower() == "0x":
            return sign * float(int(digits[2:], 16))
        return sign * float(int(digits))
    except (ValueError, OverflowError):
        return math.nan


# ---------------------------------------------------------------------------------------------
# JavaScript tokenizer
# ---------------------------------------------------------------------------------------------

J_ID, J_NUM, J_STR, J_TPL, J_REGEX, J_PUNCT, J_BAD, J_EOF = range(8)
JsTok = tuple[int, str, str]  # (kind, text, leading trivia: whitespace and comments)

# (possessive trivia, white space first and comments each followed by their white space — the
# same pieces as ``(?:white|comment)*+``, but a token without a comment in front costs one
# character-class run instead of a loop over the alternatives; and the one-character punctuators
# that never start a longer one first: the most frequent tokens are tried with the fewest steps)
_JS_TOKEN = re.compile(
    r"(?P<tv>[\s\ufeff]*+(?:(?://[^\n\r\u2028\u2029]*+|/\*[\s\S]*?(?:\*/|\Z))[\s\ufeff]*+)*+)"
    r"(?:(?P<p1>[()\[\];,~@#])"
    r"|(?P<id>(?:[^\W\d]|\$)[\w$]*+)"
    r"|(?P<num>0[xXoObB][0-9a-fA-F_]+n?|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?n?)"
    r"|(?P<str>'[^'\\\n\r]*(?:\\(?:\r\n|[\s\S])[^'\\\n\r]*)*'|\"[^\"\\\n\r]*(?:\\(?:\r\n|[\s\S])[^\"\\\n\r]*)*\")"
    r"|(?P<p>>>>=|\.\.\.|===|!==|\*\*=|<<=|>>=|>>>|&&=|\|\|=|\?\?=|=>|==|!=|<=|>=|&&|\|\||\?\?|\?\.(?![0-9])"
    r"|\+\+|--|\+=|-=|\*=|%=|&=|\|=|\^=|\*\*|<<|>>|[()\[\];,<>+\-*%&|^!~?:=.@#])"
    r"|(?P<lb>\{)|(?P<rb>\})"
    r"|(?P<other>[\s\S])"
    r"|(?P<eof>\Z))"
)
_JS_REGEX = re.compile(r"/(?:[^/\\\[\n\r]|\\[^\n\r]|\[(?:[^\]\\\n\r]|\\[^\n\r])*\])+/[A-Za-z]*")
_JS_TPL_CHUNK = re.compile(r"[^`\\$]*(?:(?:\\[\s\S]|\$(?!\{))[^`\\$]*)*")
_TO_EOL = re.compile(r"[^\n\r\u2028\u2029]*")
_REGEX_AFTER_KW = _words("return typeof instanceof in of new delete void throw case do else yield await")
_JS_GROUPS = _JS_TOKEN.groupindex
_JS_G_PUNCT, _JS_G_OTHER, _JS_G_EOF = _JS_GROUPS["p"], _JS_GROUPS["other"], _JS_GROUPS["eof"]
_JS_G_LB, _JS_G_RB = _JS_GROUPS["lb"], _JS_GROUPS["rb"]
_JS_KIND_BY_GROUP = [J_BAD] * (len(_JS_GROUPS) + 1)
for _name, _jkind in (
    ("p1", J_PUNCT),
    ("id", J_ID),
    ("num", J_NUM),
    ("str", J_STR),
    ("p", J_PUNCT),
    ("lb", J_PUNCT),
    ("rb", J_PUNCT),
):
    _JS_KIND_BY_GROUP[_JS_GROUPS[_name]] = _jkind
# identifiers, numbers, strings and punctuators other than braces need no more than the match
assert _JS_G_PUNCT == max(_JS_GROUPS[n] for n in ("p1", "id", "num", "str", "p")) == _JS_G_LB - 1


def _scan_template(text: str, pos: int) -> tuple[int, str]:
    """Scan a template chunk starting at ``pos`` (just after ````` or ``}``).

    Returns (end, how) with how one of ``close`` (ends with `````), ``open`` (ends with ``${``)
    or ``eof`` (unterminated)."""
    m = _JS_TPL_CHUNK.match(text, pos)
    end = m.end() if m else pos
    if text.startswith("`", end):
        return end + 1, "close"
    if text.startswith("${", end):
        return end + 2, "open"
    return len(text), "eof"


def tokenize_js(text: str, deadline: float | None = None) -> list[JsTok]:
    """Split JavaScript into tokens ``(kind, text, trivia)``; the last one is ``J_EOF``.

    ``''.join(trivia + text)`` gives the input back exactly. Unterminated strings and regular
    expressions become ``J_BAD`` tokens up to the end of the line, unterminated templates up to the
    end of the text; the tokenizer never fails and is linear in the input. Past ``deadline``
    (``time.monotonic()``), the rest of the text becomes one ``J_BAD`` token.

    One ``finditer`` runs over the text and is started again only where the token is not what the
    pattern matched (a regular expression literal, ``/=``, a template, an unterminated string)."""
    toks: list[JsTok] = []
    append = toks.append
    finditer = _JS_TOKEN.finditer
    kinds = _JS_KIND_BY_GROUP
    plain, lb, rb, other, eof = _JS_G_PUNCT, _JS_G_LB, _JS_G_RB, _JS_G_OTHER, _JS_G_EOF
    pos = 0
    stack: list[bool] = []  # open braces: True for a template substitution
    check = 8192  # tokens until the next look at the clock
    while True:
        for m in finditer(text, pos):
            check -= 1
            if not check:
                check = 8192
                if deadline is not None and time.monotonic() > deadline:
                    at = m.start()
                    append((J_BAD, text[at:], ""))
                    append((J_EOF, "", ""))
                    return toks
            g = m.lastindex or other
            if g <= plain:
                tok, tv = m.group(g, 1)
                append((kinds[g], tok, tv))
                continue
            start, end = m.span(g)
            tv = m.group(1)
            if g == eof:
                append((J_EOF, "", tv))
                return toks
            kind = kinds[g]
            jump = False  # the token does not end where the match did
            if g == lb:
                stack.append(False)
            elif g == rb:
                if stack and stack.pop():
                    end, how = _scan_template(text, end)
                    if how == "open":
                        stack.append(True)
                    kind = J_BAD if how == "eof" else J_TPL
                    jump = True
            else:  # other
                ch = text[start]
                if ch == "/":
                    pk, pt = (toks[-1][0], toks[-1][1]) if toks else (-1, "")
                    regex_ok = (
                        pk == -1 or (pk == J_PUNCT and pt not in (")", "]")) or (pk == J_ID and pt in _REGEX_AFTER_KW)
                    )
                    if regex_ok:
                        rm = _JS_REGEX.match(text, start)
                        if rm:
                            end, kind = rm.end(), J_REGEX
                        else:
                            em = _TO_EOL.match(text, start)
                            end = em.end() if em else len(text)
                        jump = True
                    else:
                        kind = J_PUNCT
                        if text.startswith("/=", start):
                            end = start + 2
                            jump = True
                elif ch == "`":
                    end, how = _scan_template(text, start + 1)
                    if how == "open":
                        stack.append(True)
                    kind = J_BAD if how == "eof" else J_TPL
                    jump = True
                elif ch in "'\"":
                    em = _TO_EOL.match(text, start)
                    end = em.end() if em else len(text)
                    jump = True
            append((kind, text[start:end], tv))
            if jump:
                pos = end
                break
        else:  # pragma: no cover - the pattern matches the end of the text, which returns
            append((J_EOF, "", ""))
            return toks


def _join(toks: Sequence[tuple[int, str, str]]) -> str:
    return "".join([t[2] + t[1] for t in toks])


_BRACKET_TEXTS = frozenset("()[]{}")


def _match_brackets(toks: Sequence[tuple[int, str, str]], punct: int) -> list[int]:
    """Partner index of every ``( [ {`` and ``) ] }`` punctuator token, -1 when unbalanced."""
    partner = [-1] * len(toks)
    stack: list[int] = []
    closers = {")": "(", "]": "[", "}": "{"}
    for i in [i for i, t in enumerate(toks) if t[0] == punct and t[1] in _BRACKET_TEXTS]:
        s = toks[i][1]
        if s in ("(", "[", "{"):
            stack.append(i)
        elif s in closers:
            if stack and toks[stack[-1]][1] == closers[s]:
                j = stack.pop()
                partner[i] = j
                partner[j] = i
            else:
                stack.clear()  # badly broken: stop pairing what came before
    return partner


def _js_clean(toks: Sequence[JsTok]) -> bool:
    """True when tokens have no error, balanced brackets, no unterminated block comment."""
    depth = 0
    for kind, text, _ in toks:
        if kind == J_BAD:
            return False
        if kind == J_PUNCT:
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}"):
                depth -= 1
                if depth < 0:
                    return False
    if depth:
        return False
    tail = toks[-1][2] if toks else ""
    return not _unterminated_comment(tail)


_TRIVIA_PIECE = re.compile(r"[\s\ufeff]+|//[^\n\r\u2028\u2029]*|/\*[\s\S]*?\*/|/\*[\s\S]*")


def _unterminated_comment(trivia: str) -> bool:
    if "/*" not in trivia:
        return False
    last = ""
    for m in _TRIVIA_PIECE.finditer(trivia):
        last = m.group()
    return last.startswith("/*") and (len(last) < 4 or not last.endswith("*/"))


def _ends_with_line_comment(trivia: str) -> bool:
    if "//" not in trivia:
        return False
    last = ""
    for m in _TRIVIA_PIECE.finditer(trivia):
        last = m.group()
    return last.startswith("//")


# ---------------------------------------------------------------------------------------------
# tiny safe evaluator (numbers, strings, + - * / %, unary +/-, parentheses, parseInt, calls)
# ---------------------------------------------------------------------------------------------


class _EvalError(Exception):
    pass


CallFn = Callable[[str, list[JsVal]], "str | None"]


class _Arith:
    """Evaluate a token slice of JavaScript arithmetic. Anything else raises :class:`_EvalError`.

    ``env`` binds identifiers to values; ``call`` resolves ``name(args)`` (string-array accessors);
    ``objects`` gives constant objects for ``obj.key`` / ``obj['key']``; ``parseInt(x)`` is
    supported. No other name, member access or operator is accepted."""

    def __init__(
        self,
        toks: Sequence[JsTok],
        env: Mapping[str, JsVal] | None = None,
        call: CallFn | None = None,
        objects: Mapping[str, Mapping[str, JsVal]] | None = None,
    ):
        self.toks = toks
        self.i = 0
        self.env = env or {}
        self.call = call
        self.objects = objects or {}
        self.depth = 0

    def value(self) -> JsVal:
        v = self._expr()
        if self.i != len(self.toks):
            raise _EvalError("trailing tokens")
        return v

    def _peek(self) -> str:
        if self.i < len(self.toks):
            t = self.toks[self.i]
            return t[1] if t[0] == J_PUNCT else ""
        return ""

    def _expr(self) -> JsVal:
        self.depth += 1
        if self.depth > MAX_EVAL_DEPTH:
            raise _EvalError("too deep")
        v = self._term()
        while True:
            op = self._peek()
            if op == "+":
                self.i += 1
                w = self._term()
                both_numbers = isinstance(v, float) and isinstance(w, float)
                v = v + w if both_numbers else _js_to_string(v) + _js_to_string(w)  # type: ignore[operator]
            elif op == "-":
                self.i += 1
                v = _to_number(v) - _to_number(self._term())
            else:
                self.depth -= 1
                return v

    def _term(self) -> JsVal:
        v = self._unary()
        while True:
            op = self._peek()
            if op not in ("*", "/", "%"):
                return v
            self.i += 1
            a, b = _to_number(v), _to_number(self._unary())
            if op == "*":
                v = a * b
            elif op == "/":
                v = _js_div(a, b)
            elif b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
                v = math.nan
            elif math.isinf(b):
                v = a
            else:
                v = math.fmod(a, b)

    def _unary(self) -> JsVal:
        op = self._peek()
        if op in ("-", "+"):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_EVAL_DEPTH:
                raise _EvalError("too deep")
            v = _to_number(self._unary())
            self.depth -= 1
            return -v if op == "-" else v
        return self._primary()

    def _primary(self) -> JsVal:
        if self.i >= len(self.toks):
            raise _EvalError("unexpected end")
        kind, text, _ = self.toks[self.i]
        self.i += 1
        if kind == J_NUM:
            n = _js_num(text)
            if n is None:
                raise _EvalError("bad number")
            return n
        if kind == J_STR:
            s = js_string_value(text)
            if s is None:
                raise _EvalError("bad string")
            return s
        if kind == J_PUNCT and text == "(":
            v = self._expr()
            self._expect(")")
            return v
        if kind == J_ID:
            if self._peek() == "(":
                self.i += 1
                args = self._args()
                if text == "parseInt" and args:
                    return _parse_int(args[0])
                if self.call is not None:
                    r = self.call(text, args)
                    if r is not None:
                        return r
                raise _EvalError("unknown call")
            if text in self.env:
                return self.env[text]
            if text in self.objects:
                return self._member(self.objects[text])
            if text == "NaN":
                return math.nan
            if text == "Infinity":
                return math.inf
        raise _EvalError("unsupported token")

    def _member(self, obj: Mapping[str, JsVal]) -> JsVal:
        toks, i = self.toks, self.i
        if i + 1 < len(toks) and _is_punct(toks[i], ".") and toks[i + 1][0] == J_ID:
            key: str | None = toks[i + 1][1]
            self.i += 2
        elif i + 2 < len(toks) and _is_punct(toks[i], "[") and toks[i + 1][0] == J_STR and _is_punct(toks[i + 2], "]"):
            key = js_string_value(toks[i + 1][1])
            self.i += 3
        else:
            raise _EvalError("not a member access")
        if key is None or key not in obj:
            raise _EvalError("unknown key")
        return obj[key]

    def _args(self) -> list[JsVal]:
        args: list[JsVal] = []
        if self._peek() == ")":
            self.i += 1
            return args
        while True:
            args.append(self._expr())
            p = self._peek()
            self.i += 1
            if p == ")":
                return args
            if p != ",":
                raise _EvalError("bad argument list")

    def _expect(self, s: str) -> None:
        if self._peek() != s:
            raise _EvalError("expected " + s)
        self.i += 1


def _js_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _eval_tokens(
    toks: Sequence[JsTok],
    env: Mapping[str, JsVal] | None = None,
    call: CallFn | None = None,
    objects: Mapping[str, Mapping[str, JsVal]] | None = None,
) -> JsVal:
    return _Arith(toks, env, call, objects).value()


# ---------------------------------------------------------------------------------------------
# JavaScript passes: each finds candidate tokens cheaply and returns edits
# ---------------------------------------------------------------------------------------------

_GLOBAL_OBJECTS = frozenset({"window", "self", "globalThis", "top", "parent", "frames"})
# what a page's globals (atob, eval …) are reached through: a global object, or ``this`` (the window
# at the top level, where loaders write ``this['eval'](this['atob']('…'))``)
_RECEIVERS = _GLOBAL_OBJECTS | {"this"}
_OPERAND_END_KW = _words(
    "return typeof instanceof in of new delete void throw case do else yield await export default extends"
)


class _Edit(NamedTuple):
    """Replace ``toks[start:end]`` by ``new``; ``tail`` is trivia put before what follows. (A named
    tuple, not a frozen dataclass: the passes make one per literal they fold, tens of thousands in
    a large file, and a tuple is built several times faster.)"""

    start: int
    end: int
    new: tuple[JsTok, ...]
    tail: str = ""


def _apply_edits(toks: list[JsTok], edits: Sequence[_Edit]) -> list[JsTok] | None:
    if not edits:
        return None
    out: list[JsTok] = []
    pos = 0
    carry = ""

    def extend(seq: Sequence[JsTok]) -> None:
        nonlocal carry
        if not seq:
            return
        if carry:
            first = seq[0]
            out.append((first[0], first[1], carry + first[2]))
            out.extend(seq[1:])
            carry = ""
        else:
            out.extend(seq)

    for e in sorted(edits, key=lambda e: e.start):
        if e.start < pos:
            continue  # overlapping edits: the first one wins
        extend(toks[pos : e.start])
        extend(e.new)
        carry += e.tail
        pos = e.end
    extend(toks[pos:])
    if carry and out:  # pragma: no cover - the EOF token always follows an edit
        last = out[-1]
        out[-1] = (last[0], last[1], last[2] + carry)
    return out


def _is_punct(t: JsTok, s: str) -> bool:
    return t[0] == J_PUNCT and t[1] == s


def _is_member_dot(t: JsTok) -> bool:
    return t[0] == J_PUNCT and t[1] in (".", "?.")


def _call_start(toks: Sequence[JsTok], i: int) -> int:
    """Index where the callee at ``i`` starts: ``i``, or ``i-2`` for ``window.name`` or
    ``this.name``; -1 when the name is a member of something else (``foo.atob``)."""
    if i >= 1 and _is_member_dot(toks[i - 1]):
        if _is_punct(toks[i - 1], ".") and i >= 2 and toks[i - 2][0] == J_ID and toks[i - 2][1] in _RECEIVERS:
            if i >= 3 and _is_member_dot(toks[i - 3]):
                return -1
            return i - 2
        return -1
    return i


def _literal_edit(toks: Sequence[JsTok], start: int, end: int, raw: str, ctx: _Ctx) -> _Edit | None:
    """An edit putting the literal ``raw`` in place of ``toks[start:end]`` (None: over budget)."""
    old = sum(len(t[1]) for t in toks[start:end])
    if not ctx.grow(len(raw) - old):
        return None
    return _Edit(start, end, ((J_STR, raw, toks[start][2]),))


def _pass_escapes(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    edits: list[_Edit] = []
    for i in [i for i, t in enumerate(toks) if t[0] == J_STR and "\\" in t[1]]:
        t = toks[i]
        new_raw, kinds = _js_unescape_in_place(t[1])
        if not kinds or new_raw == t[1]:
            continue
        ctx.grow(len(new_raw) - len(t[1]))
        edits.append(_Edit(i, i + 1, ((J_STR, new_raw, t[2]),)))
        for k in kinds:
            ctx.step(k)
    return _apply_edits(toks, edits)


def _code_units_to_str(codes: Sequence[int]) -> str:
    units = "".join(chr(c) for c in codes)
    try:
        return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return units  # lone surrogates: js_literal escapes them


def _num_list(toks: Sequence[JsTok], start: int, close: int) -> list[float] | None:
    """Numbers of the comma separated arithmetic expressions in ``toks[start:close]``."""
    plain = (close - start) % 2 == 1 and all(t[0] == J_NUM for t in toks[start:close:2])
    if plain and all(t[1] == "," for t in toks[start + 1 : close : 2]):  # plain numbers: the common case
        nums = [_js_num(t[1]) for t in toks[start:close:2]]
        return None if any(v is None for v in nums) else [v for v in nums if v is not None]
    values: list[float] = []
    chunk_start = start
    for j in range(start, close + 1):
        t = toks[j]
        if j == close or _is_punct(t, ","):
            chunk = toks[chunk_start:j]
            if not chunk:
                if j == close and not values:
                    return values
                return None
            if len(chunk) == 1 and chunk[0][0] == J_NUM:
                num = _js_num(chunk[0][1])
                if num is None:
                    return None
                values.append(num)
            else:
                try:
                    values.append(_to_number(_eval_tokens(chunk)))
                except _EvalError:
                    return None
            chunk_start = j + 1
            continue
        if t[0] != J_NUM and not (t[0] == J_PUNCT and t[1] in ("+", "-", "*", "/", "%", "(", ")")):
            return None
    return values


def _to_uint16(v: float) -> int:
    if math.isnan(v) or math.isinf(v):
        return 0
    return int(v) % 65536


def _pass_from_char_code(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    n = len(toks)
    cands = [
        i
        for i, t in enumerate(toks)
        if t[1] == "fromCharCode" and 2 <= i < n - 1 and toks[i - 2][1] == "String" and _is_punct(toks[i - 1], ".")
    ]
    if not cands:
        return None
    match = ctx.pairs(toks)
    edits: list[_Edit] = []
    for i in cands:
        if i >= 3 and _is_member_dot(toks[i - 3]):
            continue
        start = i - 2
        values: list[float] | None = None
        end = -1
        j = i + 1
        if _is_punct(toks[j], "(") and match[j] > j:
            values = _num_list(toks, j + 1, match[j])
            end = match[j] + 1
        elif (
            _is_punct(toks[j], ".")
            and j + 5 < n
            and toks[j + 1][1] in ("apply", "call")
            and _is_punct(toks[j + 2], "(")
            and toks[j + 3][1] in ("null", "this", "String", "undefined", "window")
            and _is_punct(toks[j + 4], ",")
            and match[j + 2] > j
        ):
            close = match[j + 2]
            if toks[j + 1][1] == "apply":
                if _is_punct(toks[j + 5], "[") and match[j + 5] == close - 1:
                    values = _num_list(toks, j + 6, close - 1)
            else:
                values = _num_list(toks, j + 5, close)
            end = close + 1
        if values is None:
            continue
        lit = js_literal(_code_units_to_str([_to_uint16(v) for v in values]), '"')
        edit = _literal_edit(toks, start, end, lit, ctx)
        if edit is not None:
            edits.append(edit)
            ctx.step("fromCharCode")
    return _apply_edits(toks, edits)


_B64_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_SET = frozenset(_B64_STD)
_ASCII_WS = re.compile(r"[\t\n\f\r ]+")
_PRINTABLE_ASCII = re.compile(r"[\t\n\r\x20-\x7e]*\Z")


def _atob(s: str) -> str | None:
    """WHATWG forgiving-base64 decode to a (latin-1) string, or None."""
    s = _ASCII_WS.sub("", s)
    if len(s) % 4 == 0 and s.endswith("="):
        s = s[:-2] if s.endswith("==") else s[:-1]
    if len(s) % 4 == 1 or not _B64_SET.issuperset(s):
        return None
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4)).decode("latin-1")
    except (binascii.Error, ValueError):
        return None


_UNESCAPE = re.compile(r"%u([0-9a-fA-F]{4})|%([0-9a-fA-F]{2})")
_URI_RESERVED = frozenset(";/?:@&=+$,#")
_PCT_RUN = re.compile(r"(?:%[0-9a-fA-F]{2})+")


def _unescape(s: str) -> str:
    return _UNESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), s)


def _decode_uri(s: str, component: bool) -> str | None:
    """``decodeURIComponent`` / ``decodeURI``; None where JavaScript throws a URIError."""
    out: list[str] = []
    pos = 0
    for m in _PCT_RUN.finditer(s):
        if "%" in s[pos : m.start()]:
            return None  # a lone % that is not an escape
        out.append(s[pos : m.start()])
        run = m.group()
        try:
            text = bytes.fromhex(run.replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if component:
            out.append(text)
        else:
            k = 0
            for ch in text:
                width = len(ch.encode("utf-8")) * 3
                out.append(run[k : k + width] if ch in _URI_RESERVED else ch)
                k += width
        pos = m.end()
    if "%" in s[pos:]:
        return None
    out.append(s[pos:])
    return "".join(out)


_DECODE_CALLS = {"atob": "atob", "unescape": "unescape", "decodeURIComponent": "uri-decode", "decodeURI": "uri-decode"}


_DECODE_CALLS_QUOTED = {q + name + q: name for name in _DECODE_CALLS for q in "'\""}


def _bracket_call_start(toks: Sequence[JsTok], i: int) -> int:
    """Index where ``this['atob']`` starts when ``toks[i]`` is the quoted name in it (the receiver
    is ``this`` or a global object, and is not itself a member); -1 otherwise."""
    if not (i >= 2 and _is_punct(toks[i - 1], "[") and _is_punct(toks[i + 1], "]")):
        return -1
    receiver = toks[i - 2]
    if receiver[0] != J_ID or receiver[1] not in _RECEIVERS or (i >= 3 and _is_member_dot(toks[i - 3])):
        return -1
    return i - 2


def _pass_decode_calls(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    n = len(toks)
    edits: list[_Edit] = []
    for i in [i for i, t in enumerate(toks) if t[1] in _DECODE_CALLS or t[1] in _DECODE_CALLS_QUOTED]:
        t = toks[i]
        if t[0] == J_ID:  # atob('...'), window.atob('...'), this.atob('...')
            start, name, paren = _call_start(toks, i), t[1], i + 1
        elif t[0] == J_STR and i + 1 < n:  # this['atob']('...'), window["atob"]('...')
            start, name, paren = _bracket_call_start(toks, i), _DECODE_CALLS_QUOTED[t[1]], i + 2
        else:
            continue
        if start < 0 or not (
            paren + 2 < n
            and _is_punct(toks[paren], "(")
            and toks[paren + 1][0] == J_STR
            and _is_punct(toks[paren + 2], ")")
        ):
            continue
        quoted = toks[paren + 1][1]
        arg = js_string_value(quoted)
        if arg is None:
            continue
        value: str | None
        if name == "atob":
            value = _atob(arg)
            if value is not None and not _PRINTABLE_ASCII.match(value):
                value = None
        elif name == "unescape":
            value = _unescape(arg)
        else:
            value = _decode_uri(arg, name == "decodeURIComponent")
        if value is None:
            continue
        edit = _literal_edit(toks, start, paren + 3, js_literal(value, quoted[0]), ctx)
        if edit is not None:
            edits.append(edit)
            ctx.step(_DECODE_CALLS[name])
    return _apply_edits(toks, edits)


_CONCAT_PREV_OK = _words(
    "( [ , = { } ; : ? => && || ?? == != === !== < > <= >= += -= *= /= %= &= |= ^= <<= >>= >>>= **= &&= ||= ??= "
    "& | ^ << >> >>> ..."
)
_CONCAT_PREV_KW = frozenset({"return", "case", "throw", "yield", "in", "of", "else", "do"})
_CONCAT_NEXT_BAD = frozenset({".", "?.", "[", "(", "*", "/", "%", "**", "++", "--", "/="})


def _is_operand_end(t: JsTok) -> bool:
    kind = t[0]
    if kind in (J_NUM, J_STR, J_REGEX):
        return True
    if kind == J_TPL:
        return t[1].endswith("`")
    if kind == J_ID:
        return t[1] not in _OPERAND_END_KW
    return kind == J_PUNCT and t[1] in (")", "]", "}")


def _concat_prev_ok(toks: Sequence[JsTok], i: int) -> bool:
    """May the string at ``i`` be folded with what follows it, given what precedes it?"""
    if i == 0:
        return True
    p = toks[i - 1]
    if p[0] == J_TPL:
        return p[1].endswith("${")
    if p[0] == J_PUNCT:
        if p[1] in _CONCAT_PREV_OK:
            return True
        if p[1] == "+":  # binary plus: ``x + 'a' + 'b'`` is string concatenation either way
            return i >= 2 and _is_operand_end(toks[i - 2])
        return False
    return p[0] == J_ID and p[1] in _CONCAT_PREV_KW


def _concat_next_ok(t: JsTok) -> bool:
    if t[0] == J_TPL:
        return t[1].startswith("}")
    return not (t[0] == J_PUNCT and t[1] in _CONCAT_NEXT_BAD)


def _pass_concat(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    # (written out without helpers: a file of string-splitting obfuscation has tens of thousands
    # of chains, and this loop is most of what normalizing it costs)
    # Chains start at a string followed by ``+`` and a string: found from the ``+`` tokens, which
    # are far fewer than the strings in the code this pass is for.
    n = len(toks)
    edits: list[_Edit] = []
    done = 0
    for p in [p for p, t in enumerate(toks) if t[1] == "+" and t[0] == J_PUNCT]:
        i = p - 1
        if i < done or i < 0 or p + 1 >= n or toks[i][0] != J_STR or toks[p + 1][0] != J_STR:
            continue
        j = i + 2
        while j + 2 < n:
            plus = toks[j + 1]
            if plus[1] != "+" or plus[0] != J_PUNCT or toks[j + 2][0] != J_STR:
                break
            j += 2
        done = j + 1
        if not _concat_next_ok(toks[j + 1]):
            j -= 2
        if j <= i or not _concat_prev_ok(toks, i):
            continue
        chain = toks[i : j + 1]  # string, +, string, …
        values = [raw[1:-1] if "\\" not in raw else js_string_value(raw) for raw in [t[1] for t in chain[::2]]]
        if None in values:
            continue
        literal = js_literal("".join(values), toks[i][1][0])  # type: ignore[arg-type]
        if ctx.grow(len(literal) - sum([len(t[1]) for t in chain])):
            edits.append(_Edit(i, j + 1, ((J_STR, literal, toks[i][2]),)))
    if edits:
        ctx.step("concat")
    return _apply_edits(toks, edits)


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def _pass_bracket_member(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    n = len(toks)
    edits: list[_Edit] = []
    for i in [i for i, t in enumerate(toks) if t[1] == "[" and t[0] == J_PUNCT]:
        if i == 0 or i + 2 >= n or toks[i + 1][0] != J_STR or not _is_punct(toks[i + 2], "]"):
            continue
        prev = toks[i - 1]
        optional = _is_punct(prev, "?.")
        if not optional and (not _is_operand_end(prev) or prev[0] == J_NUM):
            continue
        name = js_string_value(toks[i + 1][1])
        if name is None or not _IDENT.match(name):
            continue
        if optional:
            new: tuple[JsTok, ...] = ((J_ID, name, toks[i][2]),)
        else:
            new = ((J_PUNCT, ".", toks[i][2]), (J_ID, name, toks[i + 1][2]))
        ctx.grow(-3)
        edits.append(_Edit(i, i + 3, new, toks[i + 2][2]))
        ctx.step("bracket-member")
    return _apply_edits(toks, edits)


def _statement_position(toks: Sequence[JsTok], start: int) -> bool:
    if start == 0:
        return True
    p = toks[start - 1]
    if p[0] == J_PUNCT:
        return p[1] in (";", "{", "}", ")")
    return p[0] == J_ID and p[1] in ("else", "do")


def _payload_tokens(code: str, deadline: float | None = None) -> list[JsTok] | None:
    ptoks = tokenize_js(code, deadline)
    return ptoks if _js_clean(ptoks) and len(ptoks) > 1 else None


def _with_lead(toks: list[JsTok], lead: str) -> tuple[JsTok, ...]:
    first = toks[0]
    return ((first[0], first[1], lead + first[2]), *toks[1:])


_EVAL_NAMES = frozenset({"eval", "Function", "setTimeout", "setInterval"})


def _pass_eval(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    cands = [i for i, t in enumerate(toks) if t[0] == J_ID and t[1] in _EVAL_NAMES]  # (the kind first: no hashing)
    if not cands:
        return None
    match: list[int] | None = None  # the bracket pairs, once a call needs them (eval('…') does not)
    n = len(toks)
    edits: list[_Edit] = []
    for i in cands:
        if i + 3 >= n or not _is_punct(toks[i + 1], "("):
            continue
        name = toks[i][1]
        edit: _Edit | None = None
        if name == "eval" and toks[i + 2][0] == J_STR and _is_punct(toks[i + 3], ")"):
            edit = _splice_eval(toks, i, ctx)
        elif name == "eval" and toks[i + 2][1] == "function":
            match = ctx.pairs(toks) if match is None else match
            edit = _unpack_packer(toks, i, match, ctx)
        elif name == "Function":
            match = ctx.pairs(toks) if match is None else match
            edit = _splice_function(toks, i, match, ctx)
        elif name != "eval" and name != "Function" and toks[i + 2][0] == J_STR:
            edit = _splice_timer(toks, i, ctx)
        if edit is not None:
            edits.append(edit)
    return _apply_edits(toks, edits)


def _accept_payload(code: str, old: Sequence[JsTok], ctx: _Ctx, step: str) -> list[JsTok] | None:
    """Tokens of code about to replace ``old`` (ending with EOF), already normalized themselves;
    None when the code is not clean or does not fit the budget."""
    ptoks = _payload_tokens(code, ctx.deadline)
    if ptoks is None or not ctx.grow(len(code) - sum(len(t[1]) for t in old)):
        return None
    ctx.step(step)
    if ctx.depth >= MAX_PEEL_DEPTH or ctx.expired():
        return ptoks
    ctx.depth += 1
    try:
        for _, pass_fn, _ in _JS_PASSES:
            new = pass_fn(ptoks, ctx)
            if new is not None:
                ptoks = new
    finally:
        ctx.depth -= 1
    return ptoks


def _splice_eval(toks: list[JsTok], i: int, ctx: _Ctx) -> _Edit | None:
    start = _call_start(toks, i)
    code = js_string_value(toks[i + 2][1])
    if start < 0 or code is None or not code.strip():
        return None
    ptoks = _accept_payload(code, toks[start : i + 4], ctx, "eval-literal")
    if ptoks is None:
        return None
    body, tail = ptoks[:-1], ptoks[-1][2]
    nxt = toks[i + 4] if i + 4 < len(toks) else (J_EOF, "", "")
    at_statement = _statement_position(toks, start) and (
        nxt[0] == J_EOF or _is_punct(nxt, ";") or _is_punct(nxt, "}") or "\n" in nxt[2]
    )
    if _ends_with_line_comment(tail):
        tail += "\n"
    if at_statement:
        return _Edit(start, i + 4, _with_lead(body, toks[start][2]), tail)
    return _Edit(start, i + 4, ((J_PUNCT, "(", toks[start][2]), *body, (J_PUNCT, ")", tail)))


_PACKER_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PACKER_WORD = re.compile(r"\b\w+\b", re.ASCII)


def _packer_index(word: str, radix: int) -> int:
    value = 0
    for ch in word:
        digit = _PACKER_DIGITS.find(ch)
        if digit < 0 or digit >= radix:
            return -1
        value = value * radix + digit
    return value


def _unpack_packer(toks: list[JsTok], i: int, match: list[int], ctx: _Ctx) -> _Edit | None:
    """Dean Edwards' packer: ``eval(function(p,a,c,k,e,d){…}('payload',62,99,'w|o|r|d|s'.split('|'),0,{}))``.

    Its decoder only substitutes words of the payload by entries of the word list, so this does the
    same substitution statically and splices the result like ``eval('…')``."""
    params_open = i + 3
    if params_open >= len(toks) or not _is_punct(toks[params_open], "(") or match[params_open] != params_open + 12:
        return None
    body_open = params_open + 13
    if body_open >= len(toks) or not _is_punct(toks[body_open], "{") or match[body_open] < 0:
        return None
    args_open = match[body_open] + 1
    eval_close = match[i + 1]
    if args_open >= len(toks) or not _is_punct(toks[args_open], "(") or eval_close != match[args_open] + 1:
        return None
    a = toks[args_open + 1 : match[args_open]]
    shape = [t[0] for t in a[:13]]
    if shape[:12] != [J_STR, J_PUNCT, J_NUM, J_PUNCT, J_NUM, J_PUNCT, J_STR, J_PUNCT, J_ID, J_PUNCT, J_STR, J_PUNCT]:
        return None
    if a[8][1] != "split" or a[7][1] != ".":
        return None
    payload, separator, words_raw = js_string_value(a[0][1]), js_string_value(a[10][1]), js_string_value(a[6][1])
    radix = _js_num(a[2][1])
    if payload is None or separator is None or words_raw is None or radix is None or not 2 <= radix <= 62:
        return None
    words = words_raw.split(separator) if separator else list(words_raw)
    base = int(radix)

    def substitute(m: re.Match[str]) -> str:
        idx = _packer_index(m.group(), base)
        return words[idx] if 0 <= idx < len(words) and words[idx] else m.group()

    code = _PACKER_WORD.sub(substitute, payload)
    ptoks = _accept_payload(code, toks[i : eval_close + 1], ctx, "packer")
    if ptoks is None:
        return None
    tail = ptoks[-1][2] + ("\n" if _ends_with_line_comment(ptoks[-1][2]) else "")
    return _Edit(i, eval_close + 1, _with_lead(ptoks[:-1], toks[i][2]), tail)


def _splice_function(toks: list[JsTok], i: int, match: list[int], ctx: _Ctx) -> _Edit | None:
    if i >= 1 and _is_member_dot(toks[i - 1]):
        return None
    close = match[i + 1]
    if close < 0:
        return None
    args: list[str] = []
    for j in range(i + 2, close):
        tok = toks[j]
        if (j - i) % 2 == 0:
            v = js_string_value(tok[1]) if tok[0] == J_STR else None
            if v is None:
                return None
            args.append(v)
        elif not _is_punct(tok, ","):
            return None
    if not args:
        return None
    code = "(function(" + ",".join(args[:-1]) + "){\n" + args[-1] + "\n})"
    start = i - 1 if i >= 1 and toks[i - 1][0] == J_ID and toks[i - 1][1] == "new" else i
    ptoks = _accept_payload(code, toks[start : close + 1], ctx, "eval-literal")
    if ptoks is None:
        return None
    return _Edit(start, close + 1, _with_lead(ptoks[:-1], toks[start][2]), ptoks[-1][2])


def _splice_timer(toks: list[JsTok], i: int, ctx: _Ctx) -> _Edit | None:
    if _call_start(toks, i) < 0 or not (_is_punct(toks[i + 3], ",") or _is_punct(toks[i + 3], ")")):
        return None
    body = js_string_value(toks[i + 2][1])
    if body is None:
        return None
    code = "function(){\n" + body + "\n}"
    ptoks = _accept_payload(code, toks[i + 2 : i + 3], ctx, "eval-literal")
    if ptoks is None:
        return None
    return _Edit(i + 2, i + 3, _with_lead(ptoks[:-1], toks[i + 2][2]), ptoks[-1][2])


# --- obfuscator.io string arrays ---------------------------------------------------------------


@dataclass(frozen=True)
class _Fn:
    name: str
    params: tuple[str, ...]
    keyword: int  # index of the ``function`` token
    body_open: int
    body_close: int


@dataclass(frozen=True)
class _Accessor:
    array: str
    delta: float
    encoding: str  # "none" | "base64" | "rc4"
    alphabet: str


@dataclass(frozen=True)
class _Wrapper:
    params: tuple[str, ...]
    target: str
    args: tuple[tuple[JsTok, ...], ...]


def _find_functions(toks: Sequence[JsTok], match: Sequence[int]) -> list[_Fn]:
    """``function NAME(a, b) {…}`` and ``NAME = function(a, b) {…}`` (simple parameters only)."""
    fns: list[_Fn] = []
    n = len(toks)
    for i in [i for i, t in enumerate(toks) if t[1] == "function" and t[0] == J_ID]:
        if i + 3 >= n:
            continue
        j = i + 1
        name = ""
        if toks[j][0] == J_ID:
            name = toks[j][1]
            j += 1
        if (
            i >= 2
            and _is_punct(toks[i - 1], "=")
            and toks[i - 2][0] == J_ID
            and (i < 3 or not _is_member_dot(toks[i - 3]))
        ):
            name = toks[i - 2][1]
        if not _is_punct(toks[j], "(") or match[j] < 0:
            continue
        close = match[j]
        params = [toks[k][1] for k in range(j + 1, close, 2)]
        if any(toks[k][0] != J_ID for k in range(j + 1, close, 2)) or any(
            not _is_punct(toks[k], ",") for k in range(j + 2, close, 2)
        ):
            continue
        body_open = close + 1
        if body_open >= n or not _is_punct(toks[body_open], "{") or match[body_open] < 0:
            continue
        fns.append(_Fn(name, tuple(params), i, body_open, match[body_open]))
    return fns


def _string_elements(toks: Sequence[JsTok], open_i: int, close_i: int) -> list[str] | None:
    values: list[str] = []
    for k in range(open_i + 1, close_i):
        tok = toks[k]
        if (k - open_i) % 2 == 1:
            v = js_string_value(tok[1]) if tok[0] == J_STR else None
            if v is None:
                return None
            values.append(v)
        elif not _is_punct(tok, ","):
            return None
    return values


_DECL = frozenset({"var", "let", "const"})


def _array_starts(toks: Sequence[JsTok]) -> list[int]:
    """The ``[`` of every ``NAME = ['...'`` (not ``x.NAME = [``): where a string array may start."""
    n = len(toks)
    return [
        i
        for i in [i for i, t in enumerate(toks) if t[1] == "[" and t[0] == J_PUNCT]
        if 2 <= i < n - 1
        and _is_punct(toks[i - 1], "=")
        and toks[i - 2][0] == J_ID
        and not (i >= 3 and _is_member_dot(toks[i - 3]))
        and toks[i + 1][0] == J_STR
    ]


def _find_arrays(
    toks: Sequence[JsTok], match: Sequence[int], starts: Sequence[int]
) -> tuple[dict[str, list[str]], dict[str, int], set[str]]:
    """String arrays: name -> values; declaration index of each; names of array functions.
    ``starts`` is :func:`_array_starts` of the tokens."""
    arrays: dict[str, list[str]] = {}
    decl: dict[str, int] = {}
    fn_style: set[str] = set()
    ambiguous: set[str] = set()
    for i in starts:
        close = match[i]
        if close < 0 or close == i + 1:
            continue
        values = _string_elements(toks, i, close)
        if not values:
            continue
        name = toks[i - 2][1]
        if name in arrays:
            ambiguous.add(name)
        arrays[name] = values
        decl[name] = i - 2
        # newer obfuscator.io: function NAME(){var X=[...]; NAME=function(){return X;}; return NAME();}
        if (
            i >= 8
            and toks[i - 3][1] in _DECL
            and _is_punct(toks[i - 4], "{")
            and _is_punct(toks[i - 5], ")")
            and _is_punct(toks[i - 6], "(")
            and toks[i - 7][0] == J_ID
            and toks[i - 8][1] == "function"
        ):
            fname = toks[i - 7][1]
            if fname in arrays:
                ambiguous.add(fname)
            arrays[fname] = values
            fn_style.add(fname)
    for name in ambiguous:
        arrays.pop(name, None)
        decl.pop(name, None)
        fn_style.discard(name)
    return arrays, decl, fn_style


def _is_alphabet(s: str) -> bool:
    return len(s) in (64, 65) and set(s[:64]) == _B64_SET


def _accessor_for(toks: Sequence[JsTok], fn: _Fn, array: str, rotated: bool) -> _Accessor | None:
    """Describe the accessor ``fn`` of ``array`` (its body was seen reading the array).

    It must look like one: an index shift ``p = p - 0x1a0`` whose variable then indexes an array
    (``x[p]``), unless the array has a rotation IIFE (then the shift is optional)."""
    if not fn.name or not 1 <= len(fn.params) <= 2 or fn.body_close - fn.body_open > 4000:
        return None
    offset = _find_offset(toks, fn)
    if offset is None and not rotated:
        return None
    alphabet = ""
    has_xor = False  # rc4 decoders xor; the plain base64 one does not
    indexed = offset is None
    for k in range(fn.body_open + 1, fn.body_close):
        tok = toks[k]
        if tok[0] == J_STR and not alphabet and len(tok[1]) >= 66:
            v = js_string_value(tok[1])
            if v is not None and _is_alphabet(v):
                alphabet = v[:64]
        elif tok[0] == J_PUNCT and tok[1] in ("^", "^="):
            has_xor = True
        elif (
            offset is not None
            and tok[0] == J_ID
            and tok[1] == offset[1]
            and _is_punct(toks[k - 1], "[")
            and _is_punct(toks[k + 1], "]")
        ):
            indexed = True
    if not indexed:
        return None
    encoding = "none"
    if alphabet:
        encoding = "rc4" if has_xor else "base64"
    return _Accessor(array, 0.0 if offset is None else offset[0], encoding, alphabet)


def _find_offset(toks: Sequence[JsTok], fn: _Fn) -> tuple[float, str] | None:
    """``p = p - 0x1a0`` / ``p -= 0x1a0`` inside the accessor: (delta added to the index, ``p``)."""
    for k in range(fn.body_open + 1, fn.body_close - 3):
        tok = toks[k]
        if tok[0] != J_ID or _is_member_dot(toks[k - 1]):
            continue
        op = toks[k + 1]
        if (
            _is_punct(op, "=")
            and toks[k + 2][0] == J_ID
            and toks[k + 2][1] == tok[1]
            and toks[k + 3][0] == J_PUNCT
            and toks[k + 3][1] in ("-", "+")
        ):
            sign, start = toks[k + 3][1], k + 4
        elif _is_punct(op, "-=") or _is_punct(op, "+="):
            sign, start = op[1][0], k + 2
        else:
            continue
        end = _expression_end(toks, start, fn.body_close)
        expr: list[JsTok] = [(J_NUM, "0", ""), (J_PUNCT, sign, ""), *toks[start:end]]
        try:
            v = _to_number(_eval_tokens(expr))
        except _EvalError:
            continue
        if math.isfinite(v):
            return v, tok[1]
    return None


def _expression_end(toks: Sequence[JsTok], start: int, limit: int) -> int:
    """End of the expression at ``start``: the first ``; , }`` or unmatched ``) ]``."""
    end = start
    depth = 0
    while end < limit:
        e = toks[end]
        if e[0] == J_PUNCT:
            if e[1] in ("(", "["):
                depth += 1
            elif e[1] in (")", "]"):
                if depth == 0:
                    break
                depth -= 1
            elif e[1] in (";", ",", "}") and depth == 0:
                break
        end += 1
    return end


def _wrapper_for(toks: Sequence[JsTok], fn: _Fn, match: Sequence[int]) -> _Wrapper | None:
    """``function w(a, b) { return target(b - -0x1, a); }``"""
    o, c = fn.body_open, fn.body_close
    if not fn.name or c - o > 200 or c - o < 5 or toks[o + 1][1] != "return" or toks[o + 2][0] != J_ID:
        return None
    call = o + 3
    if not _is_punct(toks[call], "(") or match[call] < 0:
        return None
    end = match[call]
    rest = c - end
    if not (rest == 1 or (rest == 2 and _is_punct(toks[end + 1], ";"))):
        return None
    args: list[tuple[JsTok, ...]] = []
    start = call + 1
    depth = 0
    for k in range(call + 1, end + 1):
        tok = toks[k]
        if k == end or (depth == 0 and _is_punct(tok, ",")):
            if k > start:
                args.append(tuple(toks[start:k]))
            start = k + 1
        elif tok[0] == J_PUNCT and tok[1] in ("(", "["):
            depth += 1
        elif tok[0] == J_PUNCT and tok[1] in (")", "]"):
            depth -= 1
    return _Wrapper(fn.params, toks[o + 2][1], tuple(args))


def _b64_custom(s: str, alphabet: str) -> str | None:
    """obfuscator.io's atob: custom alphabet, then ``decodeURIComponent`` of the bytes."""
    t = s.replace("=", "").translate(str.maketrans(alphabet, _B64_STD))
    if len(t) % 4 == 1 or not _B64_SET.issuperset(t):
        return None
    try:
        return base64.b64decode(t + "=" * (-len(t) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _rc4(data: str, key: str) -> str:
    s = list(range(256))
    j = 0
    klen = len(key)
    for i in range(256):
        j = (j + s[i] + ord(key[i % klen])) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = []
    for ch in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(chr(ord(ch) ^ s[(s[i] + s[j]) % 256]))
    return "".join(out)


class _ArrayResolver:
    """Resolves accessor/alias/wrapper calls with literal arguments to strings."""

    def __init__(
        self,
        arrays: Mapping[str, list[str]],
        accessors: Mapping[str, _Accessor],
        wrappers: Mapping[str, _Wrapper],
        aliases: Mapping[str, str],
    ) -> None:
        self.arrays = arrays
        self.accessors = accessors
        self.wrappers = wrappers
        self.aliases = aliases
        self.rotation: dict[str, int] = {}
        self.decoded: dict[tuple[str, int, str], str | None] = {}
        self.objects: Mapping[str, Mapping[str, JsVal]] = {}

    def target(self, name: str) -> _Accessor | None:
        """The accessor a name finally calls (through aliases and wrappers)."""
        for _ in range(24):
            if name in self.aliases:
                name = self.aliases[name]
            elif name in self.wrappers:
                name = self.wrappers[name].target
            else:
                break
        return self.accessors.get(name)

    def call(self, name: str, args: list[JsVal], depth: int = 0) -> str | None:
        if depth > 12:
            return None
        for _ in range(12):
            if name not in self.aliases:
                break
            name = self.aliases[name]
        acc = self.accessors.get(name)
        if acc is not None:
            return self._access(acc, args)
        wrapper = self.wrappers.get(name)
        if wrapper is None:
            return None
        env: dict[str, JsVal] = {p: (args[k] if k < len(args) else math.nan) for k, p in enumerate(wrapper.params)}
        try:
            new_args = [_eval_tokens(a, env, objects=self.objects) for a in wrapper.args]
        except _EvalError:
            return None
        return self.call(wrapper.target, new_args, depth + 1)

    def _access(self, acc: _Accessor, args: list[JsVal]) -> str | None:
        values = self.arrays[acc.array]
        if not args:
            return None
        idx = _to_number(args[0]) + acc.delta
        if not math.isfinite(idx) or idx != int(idx) or not 0 <= idx < len(values):
            return None
        k = (int(idx) + self.rotation.get(acc.array, 0)) % len(values)
        if acc.encoding == "none":
            return values[k]
        key = ""
        if acc.encoding == "rc4":
            if len(args) < 2 or not isinstance(args[1], str) or not args[1]:
                return None
            key = args[1]
        ck = (acc.array, k, key)
        if ck not in self.decoded:
            value = _b64_custom(values[k], acc.alphabet)
            if value is not None and acc.encoding == "rc4":
                value = _rc4(value, key)
            self.decoded[ck] = value
        return self.decoded[ck]


def _call_args(
    toks: Sequence[JsTok], open_i: int, close_i: int, objects: Mapping[str, Mapping[str, JsVal]]
) -> list[JsVal] | None:
    """Values of the arguments of a call, when each is literal arithmetic (or a constant-object
    member); None otherwise."""
    args: list[JsVal] = []
    start = open_i + 1
    depth = 0
    for k in range(open_i + 1, close_i + 1):
        tok = toks[k]
        if k == close_i or (depth == 0 and _is_punct(tok, ",")):
            chunk = toks[start:k]
            if not chunk:
                return args if k == close_i and not args else None
            if len(chunk) == 1 and chunk[0][0] in (J_NUM, J_STR):
                v: JsVal | None = _js_num(chunk[0][1]) if chunk[0][0] == J_NUM else js_string_value(chunk[0][1])
                if v is None:
                    return None
                args.append(v)
            else:
                try:
                    args.append(_eval_tokens(chunk, objects=objects))
                except _EvalError:
                    return None
            start = k + 1
        elif tok[0] == J_PUNCT and tok[1] in ("(", "["):
            depth += 1
        elif tok[0] == J_PUNCT and tok[1] in (")", "]"):
            depth -= 1
    return args


def _find_objects(toks: Sequence[JsTok], match: Sequence[int]) -> dict[str, dict[str, JsVal]]:
    """Objects declared once as ``name = {key: literal, ...}`` and otherwise only read through
    ``name.key`` / ``name['key']`` (never written or passed around): name -> literal-valued keys."""
    found: dict[str, dict[str, JsVal]] = {}
    decl: dict[str, int] = {}
    bad: set[str] = set()
    n = len(toks)
    for i in [i for i, t in enumerate(toks) if t[1] == "{" and t[0] == J_PUNCT]:
        if i < 2 or not _is_punct(toks[i - 1], "=") or toks[i - 2][0] != J_ID or match[i] < 0:
            continue
        if i >= 3 and _is_member_dot(toks[i - 3]):
            continue
        name = toks[i - 2][1]
        values: dict[str, JsVal] = {}
        k = i + 1
        close = match[i]
        while k < close:
            key_tok = toks[k]
            if key_tok[0] not in (J_ID, J_STR, J_NUM) or k + 2 > close or not _is_punct(toks[k + 1], ":"):
                break
            key = js_string_value(key_tok[1]) if key_tok[0] == J_STR else key_tok[1]
            end = _expression_end(toks, k + 2, close)
            value = toks[k + 2 : end]
            if key is not None and len(value) <= 2:
                with contextlib.suppress(_EvalError):
                    values[key] = _eval_tokens(value)
            k = end + 1 if end < close and _is_punct(toks[end], ",") else end
            if k != close and not _is_punct(toks[k - 1], ","):
                break
        if name in decl:
            bad.add(name)
        decl[name] = i - 2
        if values:
            found[name] = values
    if not found:
        return {}  # (no scan of the tokens for the uses of nothing)
    for k in [k for k, t in enumerate(toks) if t[0] == J_ID and t[1] in found]:
        name = toks[k][1]
        if k == decl.get(name) or (k and _is_member_dot(toks[k - 1])):
            continue
        if k + 2 < n and _is_punct(toks[k + 1], ".") and toks[k + 2][0] == J_ID:
            after = k + 3
        elif k + 3 < n and _is_punct(toks[k + 1], "[") and toks[k + 2][0] == J_STR and _is_punct(toks[k + 3], "]"):
            after = k + 4
        else:
            bad.add(name)
            continue
        prev = toks[k - 1] if k else (J_EOF, "", "")
        if (after < n and toks[after][0] == J_PUNCT and toks[after][1] in _ASSIGN_OPS) or prev[1] in (
            "++",
            "--",
            "delete",
        ):
            bad.add(name)
    return {name: values for name, values in found.items() if name not in bad}


_Site = tuple[int, int, int, int]  # rotation body open/close, start/end of its count argument


def _rotation_sites(toks: Sequence[JsTok], match: Sequence[int], refs: Sequence[int]) -> dict[str, _Site]:
    """``(function(a, n){…push…shift…})(ARRAY, N)``: array -> :data:`_Site`."""
    sites: dict[str, _Site] = {}
    n = len(toks)
    for k in refs:
        if k < 2 or k + 2 >= n or not _is_punct(toks[k - 1], "(") or not _is_punct(toks[k + 1], ","):
            continue
        close_fn = k - 2
        if _is_punct(toks[close_fn], ")") and close_fn >= 1:
            close_fn -= 1
        if not _is_punct(toks[close_fn], "}") or match[close_fn] < 0:
            continue
        body_open = match[close_fn]
        if close_fn - body_open > 4000:
            continue
        body = toks[body_open:close_fn]
        words = {x[1] for x in body if x[0] == J_ID} | {js_string_value(x[1]) for x in body if x[0] == J_STR}
        name = toks[k][1]
        if "push" in words and "shift" in words and name not in sites and match[k - 1] > k:
            sites[name] = (body_open, close_fn, k + 2, match[k - 1])
    return sites


def _checksum_expr(toks: Sequence[JsTok], body_open: int, body_close: int) -> list[JsTok] | None:
    """The ``parseInt(...)/0x1 + ...`` expression of a checksum rotation loop."""
    first = next((k for k in range(body_open, body_close) if toks[k][1] == "parseInt"), -1)
    if first < 0:
        return None
    start = first
    while start > body_open and toks[start - 1][0] == J_PUNCT and toks[start - 1][1] in ("(", "-", "+"):
        start -= 1
    if not _is_punct(toks[start - 1], "="):
        return None
    return list(toks[start : _expression_end(toks, start, body_close)])


def _innermost_named(fns: Sequence[_Fn], refs: Sequence[int]) -> dict[int, _Fn]:
    """For each token index in ``refs`` (sorted), the innermost named function around it."""
    found: dict[int, _Fn] = {}
    stack: list[_Fn] = []
    fi = 0
    for k in refs:
        while fi < len(fns) and fns[fi].body_open < k:
            while stack and stack[-1].body_close < fns[fi].body_open:
                stack.pop()
            stack.append(fns[fi])
            fi += 1
        while stack and stack[-1].body_close < k:
            stack.pop()
        for fn in reversed(stack[-3:]):
            if fn.name:
                found[k] = fn
                break
    return found


def _collect_names(
    toks: Sequence[JsTok], match: Sequence[int], fns: Sequence[_Fn], accessors: dict[str, _Accessor], arrays: set[str]
) -> tuple[dict[str, _Wrapper], dict[str, str]]:
    """Wrappers and aliases that lead to an accessor; names defined in two different ways."""
    bad: set[str] = set()
    candidates: dict[str, _Wrapper] = {}
    for fn in fns:
        if fn.name in accessors:
            continue
        w = _wrapper_for(toks, fn, match)
        if w is not None:
            if fn.name in candidates and candidates[fn.name] != w:
                bad.add(fn.name)
            candidates[fn.name] = w
    alias_pairs: dict[str, str] = {}
    n = len(toks)
    for k in [k for k, t in enumerate(toks) if t[1] == "=" and t[0] == J_PUNCT]:
        if k < 1 or k + 2 >= n or toks[k - 1][0] != J_ID or toks[k + 1][0] != J_ID:
            continue
        after = toks[k + 2]
        if after[0] != J_PUNCT or after[1] not in (",", ";", ")", "}") or (k >= 2 and _is_member_dot(toks[k - 2])):
            continue
        name, src = toks[k - 1][1], toks[k + 1][1]
        if name in alias_pairs and alias_pairs[name] != src:
            bad.add(name)
        alias_pairs[name] = src
    resolvable = {name for name in accessors if name not in bad}
    wrappers: dict[str, _Wrapper] = {}
    aliases: dict[str, str] = {}
    for _ in range(12):
        grew = False
        for name, w in candidates.items():
            if name not in resolvable and name not in bad and w.target in resolvable:
                wrappers[name] = w
                resolvable.add(name)
                grew = True
        for name, src in alias_pairs.items():
            if name not in resolvable and name not in bad and src in resolvable and name not in arrays:
                aliases[name] = src
                resolvable.add(name)
                grew = True
        if not grew:
            break
    return wrappers, aliases


def _find_rotation(
    toks: Sequence[JsTok], site: _Site, size: int, resolver: _ArrayResolver, array: str, ctx: _Ctx
) -> int | None:
    """How many ``push(shift())`` the rotation IIFE at ``site`` performs, or None if unknown."""
    body_open, body_close, n_start, n_end = site
    try:
        target = _to_number(_eval_tokens(toks[n_start:n_end], objects=resolver.objects))
    except _EvalError:
        return None
    expr = _checksum_expr(toks, body_open, body_close)
    if expr is None:  # old style: ``while(--n) push(shift())`` called with ``++count``
        return int(target) % size if math.isfinite(target) and target >= 0 else None
    for r in range(size):
        if r % 64 == 0 and ctx.expired():
            return None
        resolver.rotation[array] = r
        try:
            value = _eval_tokens(expr, call=resolver.call, objects=resolver.objects)
        except _EvalError:
            continue
        if isinstance(value, float) and value == target:
            return r
    return None


def _pass_string_array(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    starts = _array_starts(toks)
    if not starts:  # (before pairing the brackets: most code the trigger lets in has no string array)
        return None
    match = ctx.pairs(toks)
    arrays, decl, fn_style = _find_arrays(toks, match, starts)
    if not arrays:
        return None
    refs = [k for k, t in enumerate(toks) if t[0] == J_ID and t[1] in arrays]
    # accessors: the innermost named function reading ``ARRAY[i]`` or calling ``ARRAYFN()``
    readers: list[tuple[int, str]] = []
    n = len(toks)
    for k in refs:
        name = toks[k][1]
        if k + 2 >= n or (k and _is_member_dot(toks[k - 1])):
            continue
        if name in fn_style:
            if _is_punct(toks[k + 1], "(") and _is_punct(toks[k + 2], ")"):
                readers.append((k, name))
        elif _is_punct(toks[k + 1], "[") and toks[k + 2][0] == J_ID:
            readers.append((k, name))
    fns = _find_functions(toks, match) if readers else []
    around = _innermost_named(fns, [k for k, _ in readers])
    accessors: dict[str, _Accessor] = {}
    conflicting: set[str] = set()
    sites = _rotation_sites(toks, match, refs)
    for k, array in readers:
        fn = around.get(k)
        if fn is None or fn.name in arrays:
            continue
        acc = _accessor_for(toks, fn, array, array in sites)
        if acc is None:
            continue
        if fn.name in accessors and accessors[fn.name] != acc:
            conflicting.add(fn.name)
        accessors[fn.name] = acc
    for name in conflicting:
        accessors.pop(name)
    wrappers, aliases = ({}, {}) if not accessors else _collect_names(toks, match, fns, accessors, set(arrays))
    resolver = _ArrayResolver(arrays, accessors, wrappers, aliases)
    resolver.objects = objects = _find_objects(toks, match)
    resolvable = set(accessors) | set(wrappers) | set(aliases)
    used_arrays = {a.array for a in accessors.values()}
    unresolved: set[str] = set()
    for array in used_arrays:
        site = sites.get(array)
        if site is None:
            continue
        rotation = _find_rotation(toks, site, len(arrays[array]), resolver, array, ctx)
        if rotation is None:
            unresolved.add(array)
            resolver.rotation.pop(array, None)
        else:
            resolver.rotation[array] = rotation
    direct = _direct_arrays(toks, refs, arrays, decl, fn_style, used_arrays | set(sites))
    protected = [False] * n  # rotation bodies keep their checksum calls for later rounds
    for body_open, body_close, _, _ in sites.values():
        protected[body_open : body_close + 1] = [True] * (body_close + 1 - body_open)
    edits = _object_edits(toks, objects, protected, ctx)
    names = resolvable | direct
    calls = [i for i, t in enumerate(toks) if t[0] == J_ID and t[1] in names] if names else []
    for i in calls:
        if protected[i] or i + 1 >= n:
            continue
        t = toks[i]
        if i and (_is_member_dot(toks[i - 1]) or toks[i - 1][1] == "function"):
            continue
        edit: _Edit | None = None
        if t[1] in resolvable and _is_punct(toks[i + 1], "(") and match[i + 1] > i:
            close = match[i + 1]
            args = _call_args(toks, i + 1, close, objects)
            acc = resolver.target(t[1])
            if args is None or acc is None or acc.array in unresolved:
                continue
            value = resolver.call(t[1], args)
            if value is not None:
                edit = _literal_edit(toks, i, close + 1, js_literal(value), ctx)
        elif (
            t[1] in direct
            and i + 3 < n
            and _is_punct(toks[i + 1], "[")
            and toks[i + 2][0] == J_NUM
            and _is_punct(toks[i + 3], "]")
        ):
            idx = _js_num(toks[i + 2][1])
            values = arrays[t[1]]
            if idx is not None and idx == int(idx) and 0 <= idx < len(values):
                edit = _literal_edit(toks, i, i + 4, js_literal(values[int(idx)], '"'), ctx)
        if edit is not None:
            edits.append(edit)
            ctx.step("string-array")
    return _apply_edits(toks, edits)


def _object_edits(
    toks: Sequence[JsTok], objects: Mapping[str, Mapping[str, JsVal]], protected: Sequence[bool], ctx: _Ctx
) -> list[_Edit]:
    """``obj.key`` / ``obj['key']`` of constant objects (obfuscator.io's call and control-flow
    storage) replaced by the literal value."""
    edits: list[_Edit] = []
    if not objects:
        return edits
    n = len(toks)
    for k in [k for k, t in enumerate(toks) if t[0] == J_ID and t[1] in objects]:
        if protected[k] or (k and _is_member_dot(toks[k - 1])) or k + 2 >= n:
            continue
        if _is_punct(toks[k + 1], ".") and toks[k + 2][0] == J_ID:
            key: str | None = toks[k + 2][1]
            end = k + 3
        elif k + 3 < n and _is_punct(toks[k + 1], "[") and toks[k + 2][0] == J_STR and _is_punct(toks[k + 3], "]"):
            key = js_string_value(toks[k + 2][1])
            end = k + 4
        else:
            continue
        value = objects[toks[k][1]].get(key) if key is not None else None
        if value is None:
            continue
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value) or value < 0:
                continue
            raw = str(int(value))
            kind = J_NUM
        else:
            raw = js_literal(value)
            kind = J_STR
        if ctx.grow(len(raw) - sum(len(t[1]) for t in toks[k:end])):
            edits.append(_Edit(k, end, ((kind, raw, toks[k][2]),)))
            ctx.step("constant-object")
    return edits


_ASSIGN_OPS = _words("= += -= *= /= %= &= |= ^= <<= >>= >>>= **= &&= ||= ??= ++ --")


def _direct_arrays(
    toks: Sequence[JsTok],
    refs: Sequence[int],
    arrays: Mapping[str, list[str]],
    decl: Mapping[str, int],
    fn_style: set[str],
    skip: set[str],
) -> set[str]:
    """Arrays declared once and otherwise only read as ``NAME[number]`` (never written)."""
    ok = {name for name in arrays if name not in fn_style and name not in skip and len(arrays[name]) >= 2}
    if not ok:
        return set()
    declared: dict[str, int] = {}
    n = len(toks)
    for i in refs:
        name = toks[i][1]
        if name not in ok or (i and _is_member_dot(toks[i - 1])):
            continue
        if decl.get(name) == i:
            declared[name] = declared.get(name, 0) + 1
            continue
        if i and (_is_punct(toks[i - 1], "++") or _is_punct(toks[i - 1], "--")):
            ok.discard(name)
            continue
        if (
            i + 4 < n
            and _is_punct(toks[i + 1], "[")
            and toks[i + 2][0] == J_NUM
            and _is_punct(toks[i + 3], "]")
            and not (toks[i + 4][0] == J_PUNCT and toks[i + 4][1] in _ASSIGN_OPS)
        ):
            continue
        ok.discard(name)
    return {name for name in ok if declared.get(name) == 1}


# --- control-flow flattening ---------------------------------------------------------------------
#
# javascript-obfuscator's "control-flow flattening" cuts a block into numbered cases and runs them
# in the order of a split string:
#
#     var o = '2|0|1'.split('|'), i = 0;
#     while (!![]) { switch (o[i++]) { case '0': b(); continue; case '1': c(); continue;
#                                      case '2': a(); continue; } break; }
#
# When the order string and the labels are literals, the loop is replaced by a block of the case
# bodies in that order (``{ a(); b(); c(); }``); the declaration of ``o`` and ``i`` stays. Only a
# loop of exactly that shape is touched: every case ends with ``continue;`` (or holds a ``return``
# as its last statement), no other ``break``/``continue`` is in it, the two names are used nowhere
# else, the order names each label once, and at most :data:`MAX_FLAT_CASES` cases.

MAX_FLAT_CASES = 256
_LOOP_FOREVER = (("!", "!", "[", "]"), ("true",), ("!", "0"), ("1",))
_NAME = (J_ID,)


def _loop_body_open(toks: Sequence[JsTok], i: int, match: Sequence[int]) -> int:
    """Index of the ``{`` of ``while (!![]) {`` / ``for (;;) {`` at ``i``; -1 for any other loop."""
    if not (i + 1 < len(toks) and _is_punct(toks[i + 1], "(")):
        return -1
    close = match[i + 1]
    if close < 0:
        return -1
    cond = tuple(t[1] for t in toks[i + 2 : close])
    if toks[i][1] == "while" and cond not in _LOOP_FOREVER:
        return -1
    if toks[i][1] == "for" and cond != (";", ";"):
        return -1
    return close + 1 if close + 1 < len(toks) and _is_punct(toks[close + 1], "{") else -1


def _split_order(toks: Sequence[JsTok], name_at: int) -> list[str] | None:
    """The elements of ``NAME = 'a|b'.split('|')`` (or ``['split']``) when ``toks[name_at]`` is the
    NAME of that declaration or assignment; None otherwise."""
    j = name_at
    if not (j + 6 < len(toks) and _is_punct(toks[j + 1], "=") and toks[j + 2][0] == J_STR):
        return None
    k = j + 3
    if _is_punct(toks[k], ".") and toks[k + 1][1] == "split":
        k += 2
    elif (
        _is_punct(toks[k], "[")
        and toks[k + 1][0] == J_STR
        and js_string_value(toks[k + 1][1]) == "split"
        and k + 2 < len(toks)
        and _is_punct(toks[k + 2], "]")
    ):
        k += 3
    else:
        return None
    if not (k + 3 < len(toks) and _is_punct(toks[k], "(") and toks[k + 1][0] == J_STR and _is_punct(toks[k + 2], ")")):
        return None
    text, sep = js_string_value(toks[j + 2][1]), js_string_value(toks[k + 1][1])
    if text is None or not sep:
        return None
    return text.split(sep)


def _case_label(t: JsTok) -> str | None:
    if t[0] == J_STR:
        return js_string_value(t[1])
    if t[0] == J_NUM:
        value = _js_num(t[1])
        return None if value is None else _js_to_string(value)
    return None


def _flattened_cases(
    toks: Sequence[JsTok], open_i: int, close_i: int, match: Sequence[int]
) -> dict[str, tuple[int, int]] | None:
    """Case label -> (start, end) of its body without the trailing ``continue;``, for the switch
    body ``toks[open_i + 1 : close_i]``; None when the switch is not a flattened block."""
    cases: dict[str, tuple[int, int]] = {}
    bounds: list[tuple[str, int]] = []  # (label, index after the colon)
    k = open_i + 1
    while k < close_i:
        t = toks[k]
        if t[0] == J_PUNCT and t[1] in ("(", "[", "{") and match[k] > k:
            k = match[k] + 1
            continue
        if t[0] == J_ID and t[1] == "case":
            label = _case_label(toks[k + 1]) if k + 2 < close_i else None
            if label is None or not _is_punct(toks[k + 2], ":") or len(bounds) >= MAX_FLAT_CASES:
                return None
            bounds.append((label, k + 3))
            k += 3
            continue
        if t[0] == J_ID and t[1] in ("default", "break", "continue") and not bounds:
            return None
        k += 1
    if not bounds or toks[open_i + 1][1] != "case":
        return None
    for n, (label, start) in enumerate(bounds):
        end = bounds[n + 1][1] - 3 if n + 1 < len(bounds) else close_i
        if label in cases:
            return None
        if end - start >= 2 and toks[end - 2][1] == "continue" and _is_punct(toks[end - 1], ";"):
            body_end = end - 2
        elif end - start >= 1 and toks[end - 1][1] == "continue" and toks[end - 1][0] == J_ID:
            body_end = end - 1
        elif any(t[0] == J_ID and t[1] == "return" for t in toks[start:end]):
            body_end = end
        else:
            return None  # would fall through to the next case
        if any(t[0] == J_ID and t[1] in ("break", "continue", "default", "case") for t in toks[start:body_end]):
            return None
        cases[label] = (start, body_end)
    return cases


def _pass_control_flow(toks: list[JsTok], ctx: _Ctx) -> list[JsTok] | None:
    n = len(toks)
    loops = [i for i, t in enumerate(toks) if t[0] == J_ID and t[1] in ("while", "for")]
    if not loops:
        return None
    match = ctx.pairs(toks)
    uses: dict[str, list[int]] | None = None
    edits: list[_Edit] = []
    for i in loops:
        body = _loop_body_open(toks, i, match)
        # { switch ( NAME [ NAME2 ++ ] ) { ... } break ; }
        if body < 0 or body + 10 >= n or toks[body + 1][1] != "switch" or not _is_punct(toks[body + 2], "("):
            continue
        head = toks[body + 3 : body + 10]
        if not (
            head[0][0] == J_ID
            and _is_punct(head[1], "[")
            and head[2][0] == J_ID
            and _is_punct(head[3], "++")
            and _is_punct(head[4], "]")
            and _is_punct(head[5], ")")
            and _is_punct(head[6], "{")
        ):
            continue
        switch_open = body + 9
        switch_close = match[switch_open]
        loop_close = match[body]
        if switch_close < 0 or loop_close < 0:
            continue
        after = [t[1] for t in toks[switch_close + 1 : loop_close]]
        if after not in (["break", ";"], ["break"]):
            continue
        if uses is None:
            uses = {}
            for k, t in enumerate(toks):
                if t[0] == J_ID:
                    uses.setdefault(t[1], []).append(k)
        order_name, counter = head[0][1], head[2][1]
        order_uses, counter_uses = uses.get(order_name, []), uses.get(counter, [])
        if len(order_uses) != 2 or len(counter_uses) != 2 or order_uses[1] != body + 3 or counter_uses[1] != body + 5:
            continue
        c = counter_uses[0]
        if not (c + 2 < n and _is_punct(toks[c + 1], "=") and _js_num(toks[c + 2][1]) == 0.0):
            continue
        order = _split_order(toks, order_uses[0])
        cases = _flattened_cases(toks, switch_open, switch_close, match)
        if order is None or cases is None or len(order) != len(set(order)) or not set(order) <= set(cases):
            continue
        new: list[JsTok] = [(J_PUNCT, "{", toks[i][2])]
        for label in order:
            start, end = cases[label]
            new.extend(toks[start:end])
        new.append((J_PUNCT, "}", toks[loop_close][2]))
        old_len = sum(len(t[1]) for t in toks[i : loop_close + 1])
        if not ctx.grow(sum(len(t[1]) for t in new) - old_len):
            continue
        edits.append(_Edit(i, loop_close + 1, tuple(new)))
        ctx.step("control-flow")
    return _apply_edits(toks, edits)


_JsPass = Callable[[list[JsTok], _Ctx], "list[JsTok] | None"]


# Each pass has a trigger: a pattern that must occur in the text for the pass to have work (a
# superset of what the pass folds, checked exactly on the tokens). Triggers start with a literal or
# a small set of characters and not with ``\b``, so that the search skips ahead instead of trying
# every position.
def _trigger(*pairs: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(needle, pattern) pairs: the pattern is searched only when its needle (a plain substring,
    found fast) occurs."""
    return tuple((needle, re.compile(pattern)) for needle, pattern in pairs)


_BEFORE_NAME = r"(?<![\w$]{})"  # after a literal name: no identifier character before it
_JS_PASSES: tuple[tuple[str, _JsPass, tuple[tuple[str, re.Pattern[str]], ...]], ...] = (
    ("escapes", _pass_escapes, _trigger(("\\", r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F{]|[0-7])"))),
    ("fromCharCode", _pass_from_char_code, _trigger(("fromCharCode", "fromCharCode"))),
    (
        "decode",
        _pass_decode_calls,
        _trigger(
            *(
                (name, name + r"(?:Component)?(?:['\"]\s*\])?\s*\(\s*['\"]")
                for name in ("atob", "unescape", "decodeURI")
            )
        ),
    ),
    # (one pattern per opening quote: one that starts with a literal is searched for much faster)
    ("concat", _pass_concat, _trigger(("+", r"'\s*\+\s*['\"]"), ("+", r"\"\s*\+\s*['\"]"))),
    ("string-array", _pass_string_array, _trigger(("[", r"=\s*\[\s*['\"]"))),
    (
        "eval",
        _pass_eval,
        _trigger(
            ("eval", "eval" + _BEFORE_NAME.format("eval") + r"\s*\("),
            ("Function", "Function" + _BEFORE_NAME.format("Function") + r"\s*\("),
            ("setTimeout", r"setTimeout\s*\(\s*['\"]"),
            ("setInterval", r"setInterval\s*\(\s*['\"]"),
        ),
    ),
    ("bracket", _pass_bracket_member, _trigger(("[", r"\[\s*['\"][\w$\\]"))),
    (
        "control-flow",
        _pass_control_flow,
        _trigger(("switch", r"switch\s*\(\s*[\w$]+\s*\[\s*[\w$]+\s*\+\+\s*\]\s*\)")),
    ),
)
_ALL = frozenset(name for name, _, _ in _JS_PASSES) | {"php-fold", "php-eval", "php-escape"}
# which passes a change by a pass can give new work to (literal *values* are always decoded, so
# rewriting escapes enables nothing; new code from eval enables everything)
_ENABLES: dict[str, frozenset[str]] = {
    "escapes": frozenset(),
    "fromCharCode": frozenset({"concat", "bracket", "decode", "eval"}),
    "decode": frozenset({"concat", "bracket", "decode", "eval"}),
    "concat": frozenset({"concat", "bracket", "decode", "eval", "control-flow"}),
    # arrays of arrays, objects
    "string-array": frozenset({"concat", "bracket", "decode", "eval", "string-array", "control-flow"}),
    "bracket": frozenset({"fromCharCode", "decode", "eval", "control-flow"}),
    # a flattened block inside another one: the outer loop holds the inner one's break/continue
    "control-flow": frozenset({"control-flow"}),
    # PHP: a fold folds whole expressions and ``eval`` folds its argument itself, so only new code
    # (an ``eval`` payload spliced in) can give another round work
    "php-fold": frozenset(),
    "php-escape": frozenset({"php-escape"}),
    "php-eval": frozenset({"php-fold", "php-eval", "php-escape"}),
}


def _js_round(
    text: str, ctx: _Ctx, allowed: frozenset[str] | None, toks: list[JsTok] | None = None
) -> tuple[str, list[str], list[JsTok] | None]:
    """One round: run the (allowed) passes whose trigger occurs in ``text`` over its tokens (``toks``
    when the previous round left them: the passes keep a token list that joins to the new text, so
    it is not tokenized again). Returns the new text, the passes that changed it, and its tokens."""
    active = [
        (name, fn)
        for name, fn, trigger in _JS_PASSES
        if (allowed is None or name in allowed)
        and any(needle in text and pattern.search(text) for needle, pattern in trigger)
    ]
    if not active:
        return text, [], toks
    if toks is None:
        toks = tokenize_js(text, ctx.deadline)
    changed_by: list[str] = []
    for name, pass_fn in active:
        if ctx.expired():
            break
        new = pass_fn(toks, ctx)
        if new is not None:
            toks = new
            changed_by.append(name)
    return (_join(toks) if changed_by else text), changed_by, toks


# ---------------------------------------------------------------------------------------------
# PHP tokenizer and values
# ---------------------------------------------------------------------------------------------


class PhpKind(enum.IntEnum):
    OPEN = 0  # <?php, <?= or <?
    CLOSE = 1  # ?> (with one following newline)
    HTML = 2  # text outside PHP tags
    ID = 3
    VAR = 4
    NUM = 5
    STR = 6  # '...', "...", heredoc, nowdoc (see php_string_value)
    SHELL = 7  # `...`
    PUNCT = 8
    BAD = 9  # unterminated string/comment, stray character
    EOF = 10
    CODE = 11  # coarse mode only: a run of anything else


# The members under plain module names, for the hot loops: ``PhpKind.STR`` goes through the enum
# class's attribute lookup (~80 ns), a module global costs a few.
_K_OPEN, _K_CLOSE, _K_HTML, _K_ID, _K_VAR, _K_NUM, _K_STR, _K_SHELL, _K_PUNCT, _K_BAD, _K_EOF, _K_CODE = PhpKind
assert all(globals()[f"_K_{kind.name}"] is kind for kind in PhpKind) and len(PhpKind) == 12


class PhpToken(NamedTuple):
    kind: PhpKind
    text: str
    trivia: str  # whitespace and comments before the token
    offset: int  # where ``text`` starts in the tokenized string (-1 for generated tokens)


_PHP_OPEN = re.compile(r"<\?(?:[pP][hH][pP](?=\s|\Z)|=|(?=\s))")
_PHP_NAME = r"[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*"
# (trivia: white space first, then comments each followed by their white space, possessive: the
# same pieces as ``(?:white|comment)*``, which never backtracks since the token alternatives end
# with two that always match, but a token without a comment in front costs one run of ``\s``)
_PHP_TOKEN = re.compile(
    r"(?P<tv>\s*+(?:(?:(?://|#(?!\[))[^\n\r?]*+(?:\?(?!>)[^\n\r?]*+)*+|/\*[\s\S]*?(?:\*/|\Z))\s*+)*+)"
    r"(?:(?P<close>\?>(?:\r?\n)?)"
    r"|(?P<var>\$+" + _PHP_NAME + r")"
    r"|(?P<id>" + _PHP_NAME + r")"
    r"|(?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<sq>'[^'\\]*(?:\\[\s\S][^'\\]*)*')"
    r"|(?P<dq>\"[^\"\\]*(?:\\[\s\S][^\"\\]*)*\")"
    r"|(?P<bt>`[^`\\]*(?:\\[\s\S][^`\\]*)*`)"
    r"|(?P<hd><<<[ \t]*(?:\"" + _PHP_NAME + r"\"|'" + _PHP_NAME + r"'|" + _PHP_NAME + r")\r?\n)"
    r"|(?P<p><=>|\*\*=|\.\.\.|<<=|>>=|===|!==|\?\?=|\?->|<<|>>|<=|>=|==|!=|<>|&&|\|\||\?\?|\+\+|--|\+=|-="
    r"|\*=|/=|\.=|%=|&=|\|=|\^=|->|=>|::|\*\*|[{}()\[\];,<>+\-*/%&|^!~?:=.@$\\#])"
    r"|(?P<other>[\s\S])"
    r"|(?P<eof>\Z))"
)
_PHP_SQ = r"'[^'\\]*(?:\\[\s\S][^'\\]*)*'"
_PHP_DQ = r'"[^"\\]*(?:\\[\s\S][^"\\]*)*"'
_PHP_COARSE = re.compile(
    _PHP_TOKEN.pattern[: _PHP_TOKEN.pattern.index("|(?P<sq>")]
    + rf"|(?P<sq>(?:{_PHP_SQ}|{_PHP_DQ})(?:\s*\.\s*(?:{_PHP_SQ}|{_PHP_DQ}))*)|(?P<dq>(?!))"
    + _PHP_TOKEN.pattern[_PHP_TOKEN.pattern.index("|(?P<bt>") : _PHP_TOKEN.pattern.index("|(?P<p>")]
    + r"|(?P<p>(?:[^'\"`#/?<]|\?(?!>)|<(?!<<)|/(?![/*]))+|[#/?<])"
    + r"|(?P<other>[\s\S])"
    + r"|(?P<eof>\Z))"
)
PHP_QUOTED_STRING = re.compile(_PHP_SQ + "|" + _PHP_DQ)
_PHP_GROUPS = _PHP_TOKEN.groupindex
_PHP_G_CLOSE, _PHP_G_HEREDOC = _PHP_GROUPS["close"], _PHP_GROUPS["hd"]
_PHP_G_OTHER, _PHP_G_EOF = _PHP_GROUPS["other"], _PHP_GROUPS["eof"]
_PHP_KIND_BY_GROUP = [_K_BAD] * (len(_PHP_GROUPS) + 1)
for _name, _kind in (
    ("close", _K_CLOSE),
    ("var", _K_VAR),
    ("id", _K_ID),
    ("num", _K_NUM),
    ("sq", _K_STR),
    ("dq", _K_STR),
    ("bt", _K_SHELL),
    ("hd", _K_STR),
    ("p", _K_PUNCT),
):
    _PHP_KIND_BY_GROUP[_PHP_GROUPS[_name]] = _kind
_PHP_KIND_BY_GROUP_COARSE = list(_PHP_KIND_BY_GROUP)
_PHP_KIND_BY_GROUP_COARSE[_PHP_GROUPS["p"]] = _K_CODE
assert _PHP_COARSE.groupindex == _PHP_GROUPS
_HEREDOC_LABEL = re.compile(r"<<<[ \t]*[\"']?(" + _PHP_NAME + r")")


# The pattern php_tokens iterates with: _PHP_TOKEN, except that a quote matches alone (same groups):
# the string is then found with str.find (a packed payload is one of a few megabytes, which the
# pattern would match character by character) or, when it holds a backslash, with PHP_QUOTED_STRING
_PHP_TOKEN_QUOTE = re.compile(
    _PHP_TOKEN.pattern[: _PHP_TOKEN.pattern.index("|(?P<sq>")]
    + r"|(?P<sq>')|(?P<dq>\")"
    + _PHP_TOKEN.pattern[_PHP_TOKEN.pattern.index("|(?P<bt>") :]
)
assert _PHP_TOKEN_QUOTE.groupindex == _PHP_GROUPS
_PHP_G_SQ, _PHP_G_DQ = _PHP_GROUPS["sq"], _PHP_GROUPS["dq"]
# groups whose match is the whole token (anything else needs a look at the text after it)
_PHP_PLAIN_GROUPS = frozenset(_PHP_GROUPS[name] for name in ("var", "id", "num", "bt", "p"))
_PHP_PLAIN_GROUPS_COARSE = _PHP_PLAIN_GROUPS | {_PHP_G_SQ}


def php_tokens(
    text: str,
    *,
    start_in_code: bool = False,
    coarse: bool = False,
    max_blocks: int = 0,
    deadline: float | None = None,
    start: int = 0,
    end: int | None = None,
) -> list[PhpToken]:
    """Split PHP source (with its inline HTML) into tokens; the last one is ``EOF``.

    ``''.join(trivia + text)`` gives the input back exactly. ``start_in_code`` is for code
    without an opening tag (what ``eval`` runs). ``coarse`` keeps only tags, strings, comments and
    heredocs apart and lumps everything else into ``CODE`` runs (enough to find PHP blocks and
    their literals, and much faster); there a ``.``-joined run of quoted strings is one ``STR``.
    With ``max_blocks``, the text after that many opening tags becomes one ``BAD`` token, and so
    does the text left when ``deadline`` (``time.monotonic()``) passes. ``start``/``end`` tokenize
    ``text[start:end]`` as if it were the whole text, with offsets into ``text`` (no copy is made).
    Linear; never fails.

    In code, one ``finditer`` runs over the text and is started again only after a token that does
    not end where its match did (a quoted string, a heredoc, an unterminated string) or a closing
    tag: most tokens cost one match and no method call of the loop's own."""
    toks: list[PhpToken] = []
    append = toks.append
    pos = start
    n = len(text) if end is None else end
    code = start_in_code
    blocks = 0
    finditer = (_PHP_COARSE if coarse else _PHP_TOKEN_QUOTE).finditer
    kinds = _PHP_KIND_BY_GROUP_COARSE if coarse else _PHP_KIND_BY_GROUP
    plain = _PHP_PLAIN_GROUPS_COARSE if coarse else _PHP_PLAIN_GROUPS
    new_token = tuple.__new__
    check = 8192  # tokens until the next look at the clock
    while True:
        if deadline is not None and not len(toks) & 8191 and toks and time.monotonic() > deadline:
            append(PhpToken(_K_BAD, text[pos:n], "", pos))
            append(PhpToken(_K_EOF, "", "", n))
            break
        if not code:
            m = _PHP_OPEN.search(text, pos, n)
            if m is None:
                if pos < n:
                    append(PhpToken(_K_HTML, text[pos:n], "", pos))
                append(PhpToken(_K_EOF, "", "", n))
                break
            if m.start() > pos:
                append(PhpToken(_K_HTML, text[pos : m.start()], "", pos))
            blocks += 1
            if max_blocks and blocks > max_blocks:
                append(PhpToken(_K_BAD, text[m.start() : n], "", m.start()))
                append(PhpToken(_K_EOF, "", "", n))
                break
            append(PhpToken(_K_OPEN, m.group(), "", m.start()))
            pos = m.end()
            code = True
            continue
        for m in finditer(text, pos, n):
            check -= 1
            if not check:
                check = 8192
                if deadline is not None and time.monotonic() > deadline:
                    pos = m.start()
                    append(PhpToken(_K_BAD, text[pos:n], "", pos))
                    append(PhpToken(_K_EOF, "", "", n))
                    return toks
            g = m.lastindex or _PHP_G_OTHER
            if g in plain:
                tok, tv = m.group(g, 1)
                append(new_token(PhpToken, (kinds[g], tok, tv, m.start(g))))
                continue
            at, after = m.span(g)
            tv = text[m.start() : at]
            if g == _PHP_G_EOF:
                append(PhpToken(_K_EOF, "", tv, n))
                return toks
            kind = kinds[g]
            if g in (_PHP_G_SQ, _PHP_G_DQ):
                close = text.find(text[at], at + 1, n)
                if close > 0 and text.find("\\", at + 1, close) < 0:
                    after = close + 1
                else:
                    qm = PHP_QUOTED_STRING.match(text, at, n)
                    after, kind = (qm.end(), kind) if qm else (n, _K_BAD)  # unterminated: PHP fails
            elif g == _PHP_G_CLOSE:
                code = False
            elif g == _PHP_G_HEREDOC:
                label_m = _HEREDOC_LABEL.match(text, at, n)
                label = label_m.group(1) if label_m else ""
                closing = re.compile(r"^[ \t]*" + re.escape(label) + r"(?![A-Za-z0-9_\x80-\uffff])", re.M)
                cm = closing.search(text, after, n)
                if cm is None:
                    after, kind = n, _K_BAD
                else:
                    after = cm.end()
            elif g == _PHP_G_OTHER and text[at] in "'\"`":
                after = n  # unterminated string: PHP would fail to parse the rest
            append(new_token(PhpToken, (kind, text[at:after], tv, at)))
            pos = after
            if after != m.end() or not code:
                break
        else:  # pragma: no cover - the pattern matches the end of the text, which returns
            append(PhpToken(_K_EOF, "", "", n))
            break
    return toks


def php_heredoc_end(text: str, start: int) -> int:
    """End of the heredoc or nowdoc whose ``<<<`` is at ``start``: -1 when there is none,
    ``len(text)`` when it is never closed (the tokenizer's rules)."""
    m = _PHP_HEREDOC_START.match(text, start)
    if m is None:
        return -1
    label = m.group(1) or m.group(2) or m.group(3)
    closing = re.compile(r"^[ \t]*" + re.escape(label) + r"(?![A-Za-z0-9_\x80-\uffff])", re.M)
    cm = closing.search(text, m.end())
    return len(text) if cm is None else cm.end()


_PHP_HEREDOC_START = re.compile(rf"<<<[ \t]*(?:\"({_PHP_NAME})\"|'({_PHP_NAME})'|({_PHP_NAME}))\r?\n")
# The body of a PHP statement, all in C: code, strings, shell strings, comments. It stops at the
# statement's end (`;`, `{` or `}` in code), at `?>`, `<<<`, an unterminated string, or the end.
_PHP_BODY = (
    r"(?:[^'\"`#/;{}?<]++|'(?:[^'\\]++|\\[\s\S])*+'|\"(?:[^\"\\]++|\\[\s\S])*+\"|`(?:[^`\\]++|\\[\s\S])*+`"
    r"|(?://|#(?!\[))[^\n\r?]*+(?:\?(?!>)[^\n\r?]*+)*+|/\*[\s\S]*?(?:\*/|\Z)|#|/(?![/*])|\?(?!>)|<(?!<<))*+"
)
_PHP_STATEMENT = re.compile(_PHP_BODY)
_PHP_STATEMENTS = re.compile(rf"(?:{_PHP_BODY}[;{{}}])*+")  # as many whole statements as there are
_PHP_GAP = r"(?:\s++|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/|(?://|#)[^\n\r]*+)*+"  # white space and comments
# Where a PHP pass may change something that matters: an escape that spells a printable ASCII
# character, a `.` between two literals, a call of a decoding function or of eval/assert whose
# first argument may fold. Other statements are left whole (so `"\n"` is not rewritten, nor
# `'a' . ('b')` folded).
_PHP_HOT_ESCAPE = re.compile(r"\\(?:x[2-7][0-9A-Fa-f]|[1-3][0-7][0-7]|[4-7][0-7]|u\{0*[2-7][0-9A-Fa-f]\})")
_PHP_HOT_CONCAT = re.compile(rf"['\"]{_PHP_GAP}\.{_PHP_GAP}['\"]")
# the same, one per opening quote: a pattern that starts with a literal is searched for much faster
# than one that starts with a character class (see _php_concat_positions)
_PHP_HOT_CONCAT_SQ = re.compile(rf"'{_PHP_GAP}\.{_PHP_GAP}['\"]")
_PHP_HOT_CONCAT_DQ = re.compile(rf"\"{_PHP_GAP}\.{_PHP_GAP}['\"]")
_PHP_HOT_NAMES = (
    "base64_decode", "gzinflate", "gzuncompress", "gzdecode", "str_rot13", "strrev", "hex2bin", "urldecode",
    "rawurldecode", "chr", "str_replace", "pack", "eval", "assert",
)  # fmt: skip
# the call's first argument may fold: a literal, a number, a parenthesis or another call
_PHP_CALL_PAREN = re.compile(_PHP_GAP + r"\(" + _PHP_GAP + r"(?:['\"(\d\-]|[A-Za-z_][\w]*" + _PHP_GAP + r"\()")
_PHP_HOT_CALL = re.compile(rf"(?:{'|'.join(_PHP_HOT_NAMES)})(?={_PHP_CALL_PAREN.pattern})", re.I)
# The names, grouped by a part they share, which is searched for once per group (each search reads
# the whole text): (part, ((name, where the part starts in the name), ...)). No part overlaps itself.
_PHP_HOT_NAME_PARTS: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("decode", (("base64_decode", 7), ("gzdecode", 2), ("urldecode", 3), ("rawurldecode", 6))),
    ("str_r", (("str_rot13", 0), ("str_replace", 0))),
    *((name, ((name, 0),)) for name in _PHP_HOT_NAMES if not name.endswith("decode") and not name.startswith("str_r")),
)
assert sorted(name for _, names in _PHP_HOT_NAME_PARTS for name, _ in names) == sorted(_PHP_HOT_NAMES)
assert all(name[offset:].startswith(part) for part, names in _PHP_HOT_NAME_PARTS for name, offset in names)


def _php_concat_positions(text: str, start: int) -> list[int]:
    """``[m.start() for m in _PHP_HOT_CONCAT.finditer(text, start)]``, found with two searches (one
    per quote) that run ahead of each other: the next match of the single pattern is the earlier of
    the next match of each at or after where its last match ended."""
    out: list[int] = []
    search_sq, search_dq = _PHP_HOT_CONCAT_SQ.search, _PHP_HOT_CONCAT_DQ.search
    sq, dq = search_sq(text, start), search_dq(text, start)
    while sq is not None or dq is not None:
        m = min((x for x in (sq, dq) if x is not None), key=lambda x: x.start())
        out.append(m.start())
        pos = m.end()
        if sq is not None and sq.start() < pos:
            sq = search_sq(text, pos)
        if dq is not None and dq.start() < pos:
            dq = search_dq(text, pos)
    return out


def _php_hot_positions(text: str, start: int, low: str | None = None) -> list[int]:
    """Sorted offsets (from ``start``) where a PHP pass may have work (see :data:`_PHP_HOT_ESCAPE`);
    ``low`` is ``text.lower()`` when the caller has it."""
    hot = [m.start() for m in _PHP_HOT_ESCAPE.finditer(text, start)]
    hot += _php_concat_positions(text, start)
    low = text.lower() if low is None else low
    if len(low) != len(text):  # lower() changed the length (rare letters): the slow way
        hot += [m.start() for m in _PHP_HOT_CALL.finditer(text, start)]
        return sorted(hot)
    for part, names in _PHP_HOT_NAME_PARTS:
        j = low.find(part, start)
        while j >= 0:
            for name, offset in names:
                i = j - offset
                if i >= start and low.startswith(name, i):
                    before = low[i - 1] if i else " "
                    if not (before.isalnum() or before == "_") and _PHP_CALL_PAREN.match(low, i + len(name)):
                        hot.append(i)
            j = low.find(part, j + len(part))
    return sorted(hot)


def _php_statement_end(text: str, pos: int) -> tuple[int, bool]:
    """Where the statement starting at ``pos`` ends: (end, False) after its ``;``, ``{`` or ``}``;
    (the offset of a closing ``?>``, True); or (-1, False) when the rest of the text must be
    tokenized as a whole: the last statement, an unterminated string or heredoc."""
    n = len(text)
    while True:
        pos = _PHP_STATEMENT.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return -1, False
        c = text[pos]
        if c in ";{}":
            return pos + 1, False
        if c == "?":
            return pos, True
        if c == "<" and text.startswith("<<<", pos):
            heredoc_end = php_heredoc_end(text, pos)
            if heredoc_end < 0:
                pos += 1
                continue
            if heredoc_end < n:
                pos = heredoc_end
                continue
        return -1, False


_PHP_FEW_STATEMENTS = 32
_PHP_FEW_STATEMENTS_WINDOW = 1 << 20


def _php_pass_tokens(
    text: str, *, start_in_code: bool, deadline: float | None, low: str | None = None
) -> list[PhpToken]:
    """:func:`php_tokens` for the PHP passes: the same tokens, except that runs of whole statements
    in which no pass can change anything that matters (:func:`_php_hot_positions`) stay one opaque
    ``CODE`` token. A statement ends at ``;``, ``{`` or ``}`` in code, so no foldable expression
    crosses one; a closing tag and the markup up to the next opening tag are tokenized as usual,
    and so is the text from an unterminated string or heredoc, or the last statement, on."""
    if text.count(";", 0, _PHP_FEW_STATEMENTS_WINDOW) <= _PHP_FEW_STATEMENTS:
        # few statements (an eval payload: one call around a big literal): plain tokens are cheap
        return php_tokens(text, start_in_code=start_in_code, deadline=deadline)
    out: list[PhpToken] = []
    pos = 0
    if not start_in_code:
        m = _PHP_OPEN.search(text)
        if m is None:
            return php_tokens(text, deadline=deadline)
        if m.start():
            out.append(PhpToken(_K_HTML, text[: m.start()], "", 0))
        out.append(PhpToken(_K_OPEN, m.group(), "", m.start()))
        pos = m.end()
    cold_from = pos
    hot = _php_hot_positions(text, pos, low)
    k = 0
    n = len(text)
    while True:
        k = bisect.bisect_left(hot, pos, k)  # the first hot spot not behind us
        h = hot[k] if k < len(hot) else n
        start = _PHP_STATEMENTS.match(text, pos, h).end()  # type: ignore[union-attr]
        end, closing = _php_statement_end(text, start)
        reopen = _PHP_OPEN.search(text, end + 2) if closing else None
        expired = deadline is not None and time.monotonic() > deadline
        if end < 0 or expired or (closing and reopen is None):
            if start > cold_from:
                out.append(PhpToken(_K_CODE, text[cold_from:start], "", cold_from))
            out.extend(php_tokens(text, start_in_code=True, deadline=deadline, start=start))
            return out
        if reopen is not None:  # the statement, `?>`, markup and the next opening tag, as usual
            if start > cold_from:
                out.append(PhpToken(_K_CODE, text[cold_from:start], "", cold_from))
            out.extend(php_tokens(text, start_in_code=True, start=start, end=reopen.start())[:-1])
            out.append(PhpToken(_K_OPEN, reopen.group(), "", reopen.start()))
            cold_from = pos = reopen.end()
            continue
        if h < end:  # the statement holds a hot spot
            if start > cold_from:
                out.append(PhpToken(_K_CODE, text[cold_from:start], "", cold_from))
            out.extend(php_tokens(text, start_in_code=True, start=start, end=end)[:-1])
            cold_from = end
        pos = end


_PHP_DQ_ESC = re.compile(
    r"\\(?:([nrtvef\\$\"])|([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]{1,8})\})"
    r"|(\{\$|\$[A-Za-z_\x80-\uffff{])"
)
_PHP_SIMPLE = {
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\x0b",
    "e": b"\x1b",
    "f": b"\x0c",
    "\\": b"\\",
    "$": b"$",
    '"': b'"',
}


def _u8(s: str) -> bytes:
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace")


# the longest start of a double-quoted body without interpolation (escapes taken as the lexer does)
_PHP_DQ_PLAIN = re.compile(
    r"(?:[^\\${]++|\\(?:[nrtvef\\$\"]|[0-7]{1,3}|x[0-9A-Fa-f]{1,2}|u\{[0-9A-Fa-f]{1,8}\})|\\|\{(?!\$)"
    r"|\$(?![A-Za-z_\x80-\uffff{]))*+"
)
_PHP_DQ_NUMERIC = re.compile(r"\\[0-7xu]")
_PHP_SIMPLE_TEXT = {"\\" + k: v.decode() for k, v in _PHP_SIMPLE.items() if k != "\\"}


def _php_simple_unescape(part: str) -> str:
    """Simple escapes (``\\n``, ``\\$`` …) of a piece of a double-quoted body without ``\\\\``."""
    if "\\" in part:
        for escape, char in _PHP_SIMPLE_TEXT.items():
            part = part.replace(escape, char)
    return part


_SURROGATE = re.compile(r"[\ud800-\udfff]")
# runs of escapes that give one byte each, in one match (groups 1 and 2), then _PHP_DQ_ESC (groups
# 3 to 7): the same escapes, taken from the left in the same way
_PHP_DQ_ESC_RUNS = re.compile(r"((?:\\x[0-9A-Fa-f]{2}){2,})|((?:\\[0-7]{3}){2,})|" + _PHP_DQ_ESC.pattern)
_PHP_SIMPLE_CHAR = {k: v.decode() for k, v in _PHP_SIMPLE.items()}


def _php_dq_escapes(inner: str) -> tuple[str, bool] | None:
    """The value of a double-quoted body that does not interpolate, holds a hexadecimal, octal or
    ``\\u{…}`` escape and no surrogate, decoded in one ``re.sub``: an escaped byte of 0x80 or
    more becomes the lone surrogate that ``surrogateescape`` encodes back to that byte, so one
    ``encode`` gives the bytes :func:`_php_dq` builds piece by piece. None when that does not
    hold (``\\u{d800}``: a surrogate code point, which only the slow path encodes). The flag is
    that of :func:`_php_dq`: a numeric escape was decoded."""
    failed = False
    numeric = False

    def sub(m: re.Match[str]) -> str:
        nonlocal failed, numeric
        group = m.lastindex
        if group == 1:  # a run of \\xHH escapes (obfuscated code writes whole words that way)
            numeric = True
            return bytes.fromhex(m.group(1).replace("\\x", "")).decode("ascii", "surrogateescape")
        if group == 2:  # a run of three-digit octal escapes
            numeric = True
            run = m.group(2)
            return bytes(int(run[i + 1 : i + 4], 8) & 0xFF for i in range(0, len(run), 4)).decode(
                "ascii", "surrogateescape"
            )
        if group == 3:
            return _PHP_SIMPLE_CHAR[m.group(3)]
        if group == 4 or group == 5:
            numeric = True
            byte = int(m.group(4), 8) & 0xFF if group == 4 else int(m.group(5), 16)
            return chr(byte) if byte < 0x80 else chr(0xDC00 | byte)
        if group == 6:
            cp = int(m.group(6), 16)
            if cp > 0x10FFFF:
                return m.group()
            numeric = True
            failed = failed or 0xD800 <= cp <= 0xDFFF
            return chr(cp)
        failed = True  # interpolation (excluded by the caller)
        return ""

    text = _PHP_DQ_ESC_RUNS.sub(sub, inner)
    return None if failed else (text, numeric)


def _php_dq(inner: str) -> tuple[bytes, bool] | None:
    """Value of a double-quoted body; None when it interpolates variables. The flag says whether
    hex/octal/unicode escapes were used."""
    if "\\" not in inner and "$" not in inner:
        return _u8(inner), False
    if _PHP_DQ_PLAIN.match(inner).end() < len(inner):  # type: ignore[union-attr]
        return None  # interpolates a variable
    if not _PHP_DQ_NUMERIC.search(inner):  # simple escapes only: decode them pair by pair, in C
        return _u8("\\".join(_php_simple_unescape(part) for part in inner.split("\\\\"))), False
    if not _SURROGATE.search(inner):
        decoded = _php_dq_escapes(inner)
        if decoded is not None:
            return decoded[0].encode("utf-8", "surrogateescape"), decoded[1]
    out = bytearray()
    pos = 0
    obf = False
    for m in _PHP_DQ_ESC.finditer(inner):
        if m.group(5) is not None:
            return None
        out += _u8(inner[pos : m.start()])
        pos = m.end()
        if m.group(1) is not None:
            out += _PHP_SIMPLE[m.group(1)]
        elif m.group(2) is not None:
            out.append(int(m.group(2), 8) & 0xFF)
            obf = True
        elif m.group(3) is not None:
            out.append(int(m.group(3), 16))
            obf = True
        else:
            cp = int(m.group(4), 16)
            if cp > 0x10FFFF:
                out += _u8(m.group())
            else:
                out += chr(cp).encode("utf-8", "surrogatepass")
                obf = True
    out += _u8(inner[pos:])
    return bytes(out), obf


def _heredoc_body(raw: str) -> tuple[str, str, bool] | None:
    """(body, label, is_nowdoc) of a heredoc/nowdoc token, indentation of the closing line removed."""
    nl = raw.find("\n")
    m = _HEREDOC_LABEL.match(raw)
    if nl < 0 or m is None:
        return None
    label = m.group(1)
    nowdoc = raw[3:nl].strip().startswith("'")
    body_and_close = raw[nl + 1 :]
    last_nl = body_and_close.rfind("\n")
    if last_nl < 0:
        body, closing = "", body_and_close
    else:
        body, closing = body_and_close[:last_nl], body_and_close[last_nl + 1 :]
    body = body.removesuffix("\r")
    indent = closing[: len(closing) - len(closing.lstrip(" \t"))]
    if indent:
        body = "\n".join(line.removeprefix(indent) for line in body.split("\n"))
    return body, label, nowdoc


def _php_sq_unescape(inner: str) -> str:
    """The value of a single-quoted body: ``\\\\`` and ``\\'`` lose their backslash (pairs taken
    from the left, as the lexer does), any other backslash stays."""
    if "\\" not in inner:
        return inner
    return "\\".join(part.replace("\\'", "'") for part in inner.split("\\\\"))


def _php_str(raw: str) -> tuple[bytes, bool] | None:
    if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'":
        return _u8(_php_sq_unescape(raw[1:-1])), False
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        return _php_dq(raw[1:-1])
    if raw.startswith("<<<"):
        parsed = _heredoc_body(raw)
        if parsed is None:
            return None
        body, _, nowdoc = parsed
        return (_u8(body), False) if nowdoc else _php_dq(body)
    return None


def php_string_value(raw: str) -> bytes | None:
    """The bytes of a PHP string literal token (quoted, heredoc or nowdoc); None when it
    interpolates variables or is not a literal."""
    r = _php_str(raw)
    return None if r is None else r[0]


def php_string_text(raw: str) -> str | None:
    """:func:`php_string_value` decoded as UTF-8 (invalid bytes replaced), without encoding and
    decoding again when the literal holds no escape that gives raw bytes (the common case)."""
    quote = raw[:1]
    inner = raw[1:-1]
    if len(raw) < 2 or raw[-1] != quote or quote not in ("'", '"') or _SURROGATE.search(inner):
        value = php_string_value(raw)  # a heredoc, not a literal, or lone surrogates to encode
        return None if value is None else value.decode("utf-8", "replace")
    if quote == "'":
        return _php_sq_unescape(inner)
    if "\\" not in inner and "$" not in inner:
        return inner
    if _PHP_DQ_PLAIN.match(inner).end() < len(inner):  # type: ignore[union-attr]
        return None  # interpolates a variable
    if not _PHP_DQ_NUMERIC.search(inner):
        return "\\".join(_php_simple_unescape(part) for part in inner.split("\\\\"))
    decoded = _php_dq_escapes(inner)
    if decoded is not None:
        return decoded[0].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    slow = _php_dq(inner)
    return None if slow is None else slow[0].decode("utf-8", "replace")


def php_literal(value: str) -> str:
    """A single-quoted PHP literal for ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_BINARY_NOISE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


# the ASCII bytes _BINARY_NOISE lets through: tab, line feed, carriage return, space to tilde
_ASCII_CLEAN = bytes([9, 10, 13, *range(0x20, 0x7F)])


def _printable_text(value: bytes) -> str | None:
    """The text of ``value`` when it is UTF-8 without control characters (tabs and newlines aside)."""
    if value.isascii():  # the common case, in C: delete the clean bytes, see whether any is left
        return None if value.translate(None, _ASCII_CLEAN) else value.decode("ascii")
    try:
        s = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY_NOISE.search(s) else s


def _codeish_text(value: bytes) -> str | None:
    """Decoded payload text, when at most 2% of it is binary noise."""
    s = value.decode("utf-8", "replace")
    if not s.strip():
        return None
    if value.isascii() and not value.translate(None, _ASCII_CLEAN):  # the common case, in C
        return s
    if _BINARY_NOISE.search(s) is None:
        return s
    noise = len(s) - len(_BINARY_NOISE.sub("", s))
    return s if noise * 50 <= len(s) else None


# ---------------------------------------------------------------------------------------------
# PHP folding
# ---------------------------------------------------------------------------------------------


_NOT_BASE64 = bytes(sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")))


def _php_b64(s: bytes) -> bytes:
    keep = s.translate(None, _NOT_BASE64)
    if len(keep) % 4 == 1:
        keep = keep[:-1]
    return base64.b64decode(keep + b"=" * (-len(keep) % 4))


def _inflate(data: bytes, wbits: int, max_bytes: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, max_bytes)
    if d.unconsumed_tail:
        raise ValueError("too large")
    return out


def _rot13(s: bytes) -> bytes:
    return s.translate(_ROT13)


_ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"
)


def _hex2bin(s: bytes) -> bytes:
    return bytes.fromhex(s.decode("ascii"))


def _php_call(name: str, args: list[bytes | float], max_bytes: int = MAX_INFLATE) -> bytes:
    """Apply one of the supported pure functions; raises on anything unexpected."""
    strs = [a for a in args if isinstance(a, bytes)]
    if name == "chr":
        if len(args) != 1 or isinstance(args[0], bytes):
            raise ValueError("chr")
        return bytes([int(args[0]) % 256])
    if name == "str_replace":
        if len(args) != 3 or len(strs) != 3 or not strs[0]:
            raise ValueError("str_replace")
        return strs[2].replace(strs[0], strs[1])
    if name == "pack":
        if len(strs) != 2 or len(args) != 2 or strs[0] != b"H*":
            raise ValueError("pack")
        return _hex2bin(strs[1])
    if not strs or not isinstance(args[0], bytes):
        raise ValueError(name)
    s = args[0]
    if name == "base64_decode":
        return _php_b64(s)
    if name == "gzinflate":
        return _inflate(s, -15, max_bytes)
    if name == "gzuncompress":
        return _inflate(s, 15, max_bytes)
    if name == "gzdecode":
        return _inflate(s, 31, max_bytes)
    if name == "str_rot13":
        return _rot13(s)
    if name == "strrev":
        return s[::-1]
    if name == "hex2bin":
        return _hex2bin(s)
    if name == "urldecode":
        return urllib.parse.unquote_to_bytes(s.replace(b"+", b" "))
    if name == "rawurldecode":
        return urllib.parse.unquote_to_bytes(s)
    raise ValueError(name)


_PHP_FUNCS = _words(
    "base64_decode gzinflate gzuncompress gzdecode str_rot13 strrev hex2bin urldecode rawurldecode chr str_replace pack"
)
_PHP_HIGH_PREV = frozenset({"*", "/", "%", "**", "+", "-", "!", "~", "->", "?->", "::", "<<", ">>", "$", "\\", "@"})
_PHP_HIGH_NEXT = frozenset({"[", "{", "->", "?->", "::", "(", "*", "/", "%", "**", "+", "-", "<<", ">>", "++", "--"})
_PHP_MEMBER_PREV = frozenset({"->", "?->", "::", "function", "new", "fn"})


@dataclass
class _PhpValue:
    value: bytes
    end: int
    used: list[str]
    terms: int = 1


def _php_is(t: PhpToken, s: str) -> bool:
    return t.kind == _K_PUNCT and t.text == s


def _php_number(t: PhpToken) -> float | None:
    s = t.text.replace("_", "")
    try:
        low = s.lower()
        if low.startswith("0x"):
            return float(int(s[2:], 16))
        if low.startswith("0b"):
            return float(int(s[2:], 2))
        if low.startswith("0o"):
            return float(int(s[2:], 8))
        if len(s) > 1 and s[0] == "0" and s.isdigit():
            return float(int(s, 8))
        return float(s)
    except (ValueError, OverflowError):
        return None


class _PhpFolder:
    """Evaluates PHP literal expressions made of strings, ``.`` and the pure functions."""

    def __init__(
        self,
        toks: Sequence[PhpToken],
        max_bytes: int,
        deadline: float,
        known: Mapping[int, tuple[str, bytes, str]] | None = None,
    ) -> None:
        self.toks = toks
        self.n = len(toks)
        self.deadline = deadline
        self.max_bytes = max(1, min(max_bytes, MAX_INFLATE))
        self.known = known or {}

    def prev_text(self, i: int) -> str:
        if i == 0:
            return ""
        p = self.toks[i - 1]
        return p.text if p.kind in (_K_PUNCT, _K_ID) else ""

    def term(self, i: int, depth: int) -> _PhpValue | None:
        if depth > MAX_EVAL_DEPTH or i >= self.n:
            return None
        t = self.toks[i]
        if t.kind == _K_STR:
            known = self.known.get(id(t.text))
            if known is not None and known[0] is t.text:  # a literal the fold pass wrote
                return _PhpValue(known[1], i + 1, [])
            r = _php_str(t.text)
            if r is None:
                return None
            return _PhpValue(r[0], i + 1, ["php-escape"] if r[1] else [])
        if t.kind == _K_ID:
            name = t.text.lower()
            if name not in _PHP_FUNCS or i + 1 >= self.n or not _php_is(self.toks[i + 1], "("):
                return None
            prev = self.prev_text(i)
            if prev.lower() in _PHP_MEMBER_PREV:
                return None
            if prev == "\\" and i >= 2 and self.toks[i - 2].kind == _K_ID:
                return None
            args: list[bytes | float] = []
            used: list[str] = []
            j = i + 2
            if j < self.n and _php_is(self.toks[j], ")"):
                return None
            while j < self.n:
                num = self.number_arg(j)
                if num is not None:
                    args.append(num[0])
                    j = num[1]
                else:
                    sub = self.expr(j, depth + 1)
                    if sub is None:
                        return None
                    args.append(sub.value)
                    used.extend(sub.used)
                    if sub.terms > 1:
                        used.append("concat")
                    j = sub.end
                if j < self.n and _php_is(self.toks[j], ","):
                    j += 1
                    continue
                if j < self.n and _php_is(self.toks[j], ")"):
                    break
                return None
            if len(args) > 3:
                return None
            try:
                value = _php_call(name, args, self.max_bytes)
            except (ValueError, binascii.Error, zlib.error, UnicodeDecodeError, OverflowError):
                return None
            return _PhpValue(value, j + 1, [*used, name])
        if t.kind == _K_PUNCT and t.text == "(":
            sub = self.expr(i + 1, depth + 1)
            if sub is None or sub.end >= self.n or not _php_is(self.toks[sub.end], ")"):
                return None
            return _PhpValue(sub.value, sub.end + 1, sub.used + (["concat"] if sub.terms > 1 else []))
        return None

    def number_arg(self, j: int) -> tuple[float, int] | None:
        neg = False
        k = j
        if k < self.n and _php_is(self.toks[k], "-"):
            neg = True
            k += 1
        if k < self.n and self.toks[k].kind == _K_NUM:
            nxt = self.toks[k + 1] if k + 1 < self.n else None
            if nxt is not None and (_php_is(nxt, ",") or _php_is(nxt, ")")):
                v = _php_number(self.toks[k])
                if v is not None and math.isfinite(v):
                    return (-v if neg else v), k + 1
        return None

    def expr(self, i: int, depth: int, *, concat: bool = True) -> _PhpValue | None:
        first = self.term(i, depth)
        if first is None or not concat:
            return first
        parts = [first.value]
        used = list(first.used)
        end = first.end
        terms = 1
        total = len(first.value)
        while end + 1 < self.n and _php_is(self.toks[end], "."):
            nxt = self.term(end + 1, depth + 1)
            if nxt is None:
                break
            after = self.toks[nxt.end] if nxt.end < self.n else None
            if after is not None and after.kind == _K_PUNCT and after.text in _PHP_HIGH_NEXT:
                break
            total += len(nxt.value)
            if total > self.max_bytes or (terms & 4095 == 0 and time.monotonic() > self.deadline):
                break  # fold the prefix: ('a' . 'b') . 'c' is left-associative
            parts.append(nxt.value)
            used.extend(nxt.used)
            end = nxt.end
            terms += 1
        return _PhpValue(b"".join(parts), end, used, terms)


_KNOWN_LITERAL_CHARS = 4096  # folded literals at least this long are remembered (see _Ctx.literals)


def _php_fold_pass(toks: list[PhpToken], ctx: _Ctx) -> list[PhpToken] | None:
    folder = _PhpFolder(toks, ctx.limit - ctx.length + 1024, ctx.deadline)
    out: list[PhpToken] = []
    changed = False
    n = len(toks)
    # Only a literal or a call of a decoding function starts a fold: the tokens between them are
    # copied a slice at a time.
    starts = [k for k, t in enumerate(toks) if t[0] == _K_STR or (t[0] == _K_ID and t[1].lower() in _PHP_FUNCS)]
    i = 0
    for count, k in enumerate(starts):
        if k < i:
            continue  # inside a chain folded or skipped whole
        if (count & 255) == 0 and ctx.expired():
            break
        out.extend(toks[i:k])
        i = k
        t = toks[i]
        if (
            t.kind == _K_STR
            and not (i + 1 < n and _php_is(toks[i + 1], "."))
            and not (t.text[:1] in '"<' and _PHP_HOT_ESCAPE.search(t.text))
        ):  # a lone literal without an escape that spells printable ASCII: nothing worth folding
            out.append(t)
            i += 1
            continue
        prev = folder.prev_text(i)
        allow_concat = prev not in _PHP_HIGH_PREV
        r = folder.expr(i, 0, concat=allow_concat)
        if r is not None:
            used = list(r.used)
            if r.terms > 1:
                used.append("concat")
            text = _printable_text(r.value) if used else None
            if text is not None:
                lit = php_literal(text)
                old = sum(len(x.text) for x in toks[i : r.end])
                if ctx.grow(len(lit) - old):
                    out.append(PhpToken(_K_STR, lit, t.trivia, -1))
                    if len(lit) >= _KNOWN_LITERAL_CHARS:
                        ctx.literals[id(lit)] = (lit, r.value, text)
                    for name in used:
                        ctx.step(name)
                    changed = True
                    i = r.end
                    continue
            if r.terms > 1:  # a chain that cannot be folded: skip it whole (linear time)
                out.extend(toks[i : r.end])
                i = r.end
                continue
        out.append(t)
        i += 1
    out.extend(toks[i:])
    return out if changed else None


_PHP_TRIVIA_PIECE = re.compile(r"\s+|(?://|#)[^\n\r]*|/\*[\s\S]*?\*/|/\*[\s\S]*")


def _php_clean(toks: Sequence[PhpToken]) -> bool:
    """No unterminated string, heredoc or trailing block comment."""
    if any(t.kind == _K_BAD for t in toks):
        return False
    tail = toks[-1].trivia if toks else ""
    if "/*" not in tail:
        return True
    last = ""
    for m in _PHP_TRIVIA_PIECE.finditer(tail):
        last = m.group()
    return not (last.startswith("/*") and (len(last) < 4 or not last.endswith("*/")))


def _php_punct_in(t: PhpToken | None, chars: str) -> bool:
    """Is ``t`` a one-character punctuator among ``chars``?"""
    return t is not None and t.kind == _K_PUNCT and len(t.text) == 1 and t.text in chars


def _php_eval_pass(toks: list[PhpToken], ctx: _Ctx) -> list[PhpToken] | None:
    folder = _PhpFolder(toks, ctx.limit - ctx.length + 1024, ctx.deadline, ctx.literals)
    out: list[PhpToken] = []
    changed = False
    i = 0
    n = len(toks)
    while i < n:
        t = toks[i]
        if (
            t.kind == _K_ID
            and t.text.lower() in ("eval", "assert")
            and i + 2 < n
            and _php_is(toks[i + 1], "(")
            and folder.prev_text(i).lower() not in _PHP_MEMBER_PREV
        ):
            r = folder.expr(i + 2, 0)
            if r is not None and r.end < n and _php_is(toks[r.end], ")"):
                known = ctx.literals.get(id(toks[i + 2].text)) if r.end == i + 3 else None
                if known is not None and known[0] is toks[i + 2].text:
                    # folded in this round from printable UTF-8: _codeish_text would give it back
                    code: str | None = known[2] if known[2].strip() else None
                else:
                    code = _codeish_text(r.value)
                ptoks = _php_pass_tokens(code, start_in_code=True, deadline=ctx.deadline) if code is not None else None
                old = sum(len(x.text) for x in toks[i : r.end + 1])
                if (
                    code is not None
                    and ptoks is not None
                    and len(ptoks) > 1
                    and _php_clean(ptoks)
                    and ctx.grow(len(code) - old)
                ):
                    ctx.step("php-eval-literal")
                    ptoks = _peel_php(ptoks, ctx)
                    body = ptoks[:-1]
                    tail = ptoks[-1].trivia
                    if body and body[-1].kind in (_K_HTML, _K_CLOSE):
                        body.append(PhpToken(_K_OPEN, "<?php", "", -1))
                        tail = " " + tail
                    if body:
                        lead = t.trivia
                        if out and _php_is(out[-1], "@"):
                            lead = out.pop().trivia + lead
                        body[0] = body[0]._replace(trivia=lead + body[0].trivia)
                        # where the payload meets what surrounds it with ``.`` or inside a call,
                        # the two may fold together, which the next round must see
                        before = out[-1] if out else None
                        after = toks[r.end + 1] if r.end + 1 < n else None
                        ctx.eval_open = ctx.eval_open or (
                            _php_punct_in(before, ".(,")
                            or _php_punct_in(body[0], ".,)")
                            or _php_punct_in(after, ".),")
                            or _php_punct_in(body[-1], ".(,")
                        )
                        out.extend(body)
                        if ("//" in tail or "#" in tail) and not tail.endswith("\n"):
                            tail += "\n"  # a trailing line comment must not swallow what follows
                        if r.end + 1 < n:
                            toks[r.end + 1] = toks[r.end + 1]._replace(trivia=tail + toks[r.end + 1].trivia)
                        changed = True
                        i = r.end + 1
                        continue
        out.append(t)
        i += 1
    return out if changed else None


def _peel_php(ptoks: list[PhpToken], ctx: _Ctx) -> list[PhpToken]:
    """Normalize an ``eval`` payload before splicing it (nested layers in the same round). Escapes
    are decoded before the nested payloads are spliced: those are decoded already (the escape
    pass only touches interpolating strings, which never fold, so the order does not matter), and
    an onion of many layers would otherwise be scanned once per layer."""
    if ctx.depth >= MAX_PEEL_DEPTH or ctx.expired():
        ctx.eval_open = True
        return ptoks
    ctx.depth += 1
    try:
        for pass_fn in (_php_fold_pass, _php_escape_pass, _php_eval_pass):
            new = pass_fn(ptoks, ctx)
            if new is not None:
                ptoks = new
    finally:
        ctx.depth -= 1
    return ptoks


_PHP_ESC_INPLACE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]{1,6})\}|[\s\S])")


def _php_escape_pass(toks: list[PhpToken], ctx: _Ctx) -> list[PhpToken] | None:
    """In-place decoding of escapes in double-quoted strings that interpolate (not foldable)."""
    out: list[PhpToken] | None = None
    for i, t in enumerate(toks):
        if t.kind != _K_STR or not t.text.startswith('"') or "\\" not in t.text:
            continue
        found = False

        def sub(m: re.Match[str]) -> str:
            nonlocal found
            digits = m.group(1) or m.group(2) or m.group(3)
            if digits is None:
                return m.group()
            base = 8 if m.group(1) else 16
            cp = int(digits, base) & (0xFF if base == 8 else 0x10FFFF)
            if m.group(1) is None and m.group(2) is None and cp > 0x7F:
                return m.group()
            if 0x20 <= cp < 0x7F and chr(cp) not in '"\\${':
                found = True
                return chr(cp)
            return m.group()

        new_text = '"' + _PHP_ESC_INPLACE.sub(sub, t.text[1:-1]) + '"'
        if found and new_text != t.text:
            if out is None:
                out = list(toks)
            out[i] = t._replace(text=new_text)
            ctx.grow(len(new_text) - len(t.text))
            ctx.step("php-escape")
    return out


def _php_round(text: str, ctx: _Ctx, allowed: frozenset[str] | None) -> tuple[str, list[str]]:
    """One round: fold literal expressions, splice ``eval`` payloads, decode escapes in place."""
    low = text.lower()
    # (the one-character test first: a backslash is in most PHP, and each name test reads the text)
    hints = "\\" in text or "eval" in low or "assert" in low or any(f in low for f in _PHP_FUNCS)
    if not hints and not re.search(r"['\"]\s*\.\s*['\"]", text):
        return text, []
    start_in_code = not text.lstrip().startswith("<?")
    toks = _php_pass_tokens(text, start_in_code=start_in_code, deadline=ctx.deadline, low=low)
    changed_by: list[str] = []
    passes = (("php-fold", _php_fold_pass), ("php-eval", _php_eval_pass), ("php-escape", _php_escape_pass))
    for name, pass_fn in passes:
        if ctx.expired():
            break
        if allowed is not None and name not in allowed:
            continue
        new = pass_fn(toks, ctx)
        if new is not None:
            toks = new
            changed_by.append(name)
    if not changed_by:
        return text, []
    return "".join(t.trivia + t.text for t in toks), changed_by
