"""Triage: which of the expensive layers a segment is worth, decided by cheap text checks.

The engine scans every segment with the yara-x rules (C, one pass). The deep layers are Python and
cost far more per byte — normalization tokenizes the text, the structure layer parses it with
tree-sitter and walks the tree, threat-intel looks up every dotted name — and on most code they
find nothing: a bundled library is neither obfuscated nor a skimmer. Triage looks first:

* :func:`obfuscation_markers` — whether normalization has something to undo. It runs only when a
  segment shows a *hiding* marker, not merely something a pass could touch (every minified bundle
  has a ``'a' + b`` or a ``"\\u00a0"``):

  - JavaScript: three escapes in a row that spell printable ASCII (``\\x68\\x74\\x74``);
    ``String.fromCharCode`` of numbers (three arguments, ``.apply`` of an array, or three calls);
    ``atob``/``unescape``/``decodeURI(Component)`` of a literal (also ``this['atob']('…')``);
    ``eval`` of a literal, a call, a function (Dean Edwards' packer) or a parenthesis;
    ``Function`` of literal code (not a short ``"return …"``) or of a call; a timer given a
    string (these names as whole words: jQuery's ``isFunction(`` or ``DOMEval(`` is no marker);
    obfuscator.io string arrays (``_0x12ab`` names, the ``push(shift())`` rotation, the
    ``parseInt`` checksum, twenty calls with a hexadecimal index); javascript-obfuscator's
    control-flow flattening (``switch (o[i++])`` over a string split at ``|``); short literals
    glued with ``+`` (``'chec' + 'kout'``); a page API reached through brackets after a name
    (``document['cookie']``).
  - PHP: a decoding function (``base64_decode``, ``gzinflate``, ``str_rot13``, ``strrev``,
    ``hex2bin``, ``urldecode``, ``chr``, ``pack``, ``str_replace`` …) or ``eval``/``assert`` called
    with a first argument that may fold (a literal, a number, a parenthesis or a call — not a
    variable); two escapes in a row that spell printable ASCII; short literals glued with ``.``.

* :func:`structure_candidate` — whether the structure layer could find anything: its rules need a
  card, checkout, personal-data or anti-analysis word *and* a sink (a request, a script or image
  URL, storage, markup written into the page), or text dense with escapes and obfuscated names,
  which can hide both. The engine asks it of the text as written and as normalized.

* :func:`structure_needs_evidence` — a text larger than :data:`STRUCTURE_FREE_BYTES` (one
  structure window) is parsed only with evidence: a rule of medium or higher severity fired on the
  segment, or normalization revealed card, checkout or login words that the text as written hides
  (:func:`revealed_vocabulary`). A library bundle names card fields and sends requests for good
  reasons, and parsing it costs a second; a skimmer appended to it shows in the rules. The engine
  records such a skip as a problem of the file.

* :func:`intel_prefilter` — a text that does not contain (ASCII case-insensitively) any
  indicator's domain, URL host or path cannot match one; one yara-x scan for all of them (compiled
  once per index, kept with a scanner per thread) spares the Python look-up of every dotted name.

The markers and the structure prefilter first ask which of their plain substrings (needles) occur:
one yara-x scan per text answers for all of them (:class:`_NeedleSet`, one rule per needle), instead
of a pass over the text per needle; the engine asks both questions of a JavaScript segment, and the
answer for the last text is kept, so the segment is scanned once.

Pure apart from the compiled index and needle rules (cached per process). Patterns are linear (no
nested quantifiers over the same characters), start with a literal where they can (so the search
skips ahead: a word boundary is checked behind the word, ``eval(?<![\\w$]eval)``, not before it),
and run only when a plain substring they need occurs; counting loops stop at their threshold.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import yara_x

from skimguard.analyze.model import Language
from skimguard.intel import IntelIndex

STRUCTURE_FREE_BYTES: Final = 16 * 1024
"""Above this many characters, the structure layer needs evidence (see the module docstring)."""

# --- JavaScript obfuscation markers ----------------------------------------------------------------
# Each marker is (name, needles, pattern): the pattern is only searched when one of the needles (plain
# substrings, found fast) occurs, and every pattern starts with a literal so the search skips ahead.

# an escape that spells a printable ASCII character: \x41, \u0041, \u{41}, \101 (octal 040-177); the
# backslash is outside the group so that the search can skip to the next backslash
_ESCAPE_TAIL: Final = r"(?:x[2-7][0-9a-fA-F]|u00[2-7][0-9a-fA-F]|u\{0*[2-7][0-9a-fA-F]\}|1[0-7]{2}|[4-7][0-7])"
# what an escape of _ESCAPE_TAIL starts with: a text without any of these has no escape run
_ESCAPE_NEEDLES: Final = ("\\x", "\\u", "\\1", "\\4", "\\5", "\\6", "\\7")
_JS_LITERAL: Final = r"(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")"
_JS_API_NAMES: Final = (
    "cookie|location|src|action|value|querySelector(?:All)?|getElementById|getElementsBy\\w+|sendBeacon|fetch"
    "|XMLHttpRequest|open|send|atob|btoa|addEventListener|createElement|appendChild|innerHTML|eval|localStorage"
    "|sessionStorage|setItem|getItem|href|submit|forms|elements|webdriver|navigator|document|window"
)
_API_BRACKET: Final = re.compile(rf"\[\s*(['\"])(?:{_JS_API_NAMES})\1\s*\]")
_GLUED_RIGHT: Final = {op: re.compile(rf"\{op}\s*(['\"])[\w$.\-/:]{{1,12}}\1") for op in "+."}
_GLUED_LEFT: Final = re.compile(r"(['\"])[\w$.\-/:]{1,12}\1\s*\Z")


def _glued(text: str, op: str) -> bool:
    """Short literals glued with ``op`` (``'chec' + 'kout'``): string splitting."""
    return any(_GLUED_LEFT.search(text, max(0, m.start() - 40), m.start()) for m in _GLUED_RIGHT[op].finditer(text))


def _api_brackets(text: str) -> bool:
    """A page API reached through brackets after a name, call or index: ``document['cookie']``."""
    for m in _API_BRACKET.finditer(text):
        i = m.start() - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        if i >= 0 and (text[i].isalnum() or text[i] in "_$)]"):
            return True
    return False


# the rest of a call of a literal, also through brackets: ``atob('…')``, ``this['atob']('…')``
_BRACKETED_CALL: Final = r"(?:['\"]\s*\])?\s*\(\s*['\"]"


_FLATTENED_SWITCH: Final = re.compile(r"switch\s*\(\s*[\w$]+\s*\[\s*[\w$]+\s*\+\+\s*\]\s*\)")


def _control_flow(text: str) -> bool:
    """javascript-obfuscator's control-flow flattening: ``switch (order[i++])`` over a string split
    at ``|`` (``'2|0|1'.split('|')``; the marker's needles)."""
    return _FLATTENED_SWITCH.search(text) is not None


def _searcher(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text) is not None


_JS_MARKERS: Final[tuple[tuple[str, tuple[str, ...], Callable[[str], bool]], ...]] = (
    ("escape-run", _ESCAPE_NEEDLES, _searcher(rf"\\{_ESCAPE_TAIL}\\{_ESCAPE_TAIL}\\{_ESCAPE_TAIL}")),
    (
        "char-codes",
        ("fromCharCode",),
        _searcher(
            r"fromCharCode\s*(?:\(\s*[\d(+\-][^(),]{0,24},\s*[\d(+\-][^(),]{0,24},\s*[\d(+\-]"
            r"|\.\s*apply\s*\([^,()]{0,40},\s*\[\s*[\d(+\-])"
        ),
    ),
    ("decode-literal", ("atob",), _searcher(rf"atob(?<![\w$]atob){_BRACKETED_CALL}")),
    ("decode-literal", ("unescape",), _searcher(rf"unescape(?<![\w$]unescape){_BRACKETED_CALL}")),
    ("decode-literal", ("decodeURI",), _searcher(rf"decodeURI(?<![\w$]decodeURI)(?:Component)?{_BRACKETED_CALL}")),
    ("eval", ("eval",), _searcher(r"eval(?<![\w$]eval)\s*\(\s*(?:['\"(]|function\b|[\w$.]+\s*\()")),
    (
        "eval",
        ("Function",),
        _searcher(
            rf"Function(?<![\w$]Function)\s*\(\s*(?!(['\"])return\b[^'\"\n]{{0,40}}\1\s*\))"
            rf"(?:(?:{_JS_LITERAL}\s*,\s*)*{_JS_LITERAL}(?:\s*\+\s*{_JS_LITERAL})*\s*\)|[\w$.]+\s*\()"
        ),
    ),
    ("eval", ("setTimeout", "setInterval"), _searcher(r"set(?<![\w$]set)(?:Timeout|Interval)\s*\(\s*['\"]")),
    ("string-array", ("_0x",), _searcher(r"_0x[0-9a-fA-F]{3}")),
    ("string-array", ("shift",), _searcher(r"push\s*\(\s*[\w$]+\s*\.\s*shift\s*\(\s*\)\s*\)")),
    ("string-array", ("shift",), _searcher(r"push['\"]\s*\]\s*\(\s*[\w$]+\s*\[\s*['\"]shift['\"]\s*\]\s*\(\s*\)")),
    ("string-array", ("parseInt",), _searcher(r"parseInt\s*\(\s*[\w$]+\s*\(\s*['\"]?0x[0-9a-fA-F]+")),
    ("control-flow", ("'|'", '"|"'), _control_flow),
    ("split-literals", ("+",), lambda text: _glued(text, "+")),
    ("api-brackets", ("['", '["'), _api_brackets),
)
# many calls with a hexadecimal index (``b(0x1a)``, ``b('0x1a')``, ``b(0x1a, 'key')``): obfuscator.io
# string-array accessors with mangled names
_JS_HEX_CALL: Final = re.compile(
    r"\((?<=[\w$]\()\s*(?:'0x[0-9a-fA-F]+'|\"0x[0-9a-fA-F]+\"|0x[0-9a-fA-F]+\s*(?:,\s*'[^'\n]{1,8}')?\))"
)
_JS_HEX_CALL_MIN: Final = 20
_JS_CHAR_CODE_CALL: Final = re.compile(r"fromCharCode\s*\(\s*[\d(+\-]")
_JS_CHAR_CODE_CALL_MIN: Final = 3

# --- PHP obfuscation markers -----------------------------------------------------------------------

_PHP_GAP: Final = r"(?:\s++|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/|(?://|#)[^\n\r]*+)*+"  # white space, comments
_PHP_DECODERS: Final = (
    "base64_decode", "gzinflate", "gzuncompress", "gzdecode", "str_rot13", "strrev", "hex2bin", "urldecode",
    "rawurldecode", "convert_uudecode", "chr", "pack", "str_replace",
)  # fmt: skip
# a call whose first argument may fold: a literal, a number, a parenthesis or another call
_PHP_FOLDABLE_CALL: Final = re.compile(
    _PHP_GAP + r"\(" + _PHP_GAP + r"(?:@" + _PHP_GAP + r")?(?:['\"(\d\-]|[A-Za-z_]\w*" + _PHP_GAP + r"\()"
)
_PHP_MARKERS: Final[tuple[tuple[str, tuple[str, ...], Callable[[str], bool]], ...]] = (
    ("escape-run", _ESCAPE_NEEDLES, _searcher(rf"\\{_ESCAPE_TAIL}\\{_ESCAPE_TAIL}")),
    ("split-literals", (".",), lambda text: _glued(text, ".")),
)


def _php_calls(text: str, low: str, names: tuple[str, ...]) -> bool:
    """Does ``text`` (``low``: its lower-case form, same length) call one of ``names`` (PHP function
    names are case-insensitive) with a first argument that may fold?"""
    for name in names:
        i = low.find(name)
        while i >= 0:
            before = low[i - 1] if i else " "
            if not (before.isalnum() or before in "_$>:") and _PHP_FOLDABLE_CALL.match(text, i + len(name)):
                return True
            i = low.find(name, i + len(name))
    return False


# --- structure prefilter ---------------------------------------------------------------------------

# Words the structure rules need one of (lower case): card data (also as a bare quoted word or an
# attribute selector: [name*=cc], "cvv"), checkout and payment pages, personal and login data,
# anti-analysis. Plain substrings, a superset of the rules' word lists.
_SEMANTIC_WORDS: Final = (
    "name", "check", "order", "mail", "pay", "cart", "tel", "zip", "city", "address", "card", "cvv", "cvc", "cvn",
    "csc", "cc_", "cc-", "ccnum", "ccno", "'cc", '"cc', "=cc", "cid", "expir", "'exp", '"exp', "exp_", "exp-", "'pan",
    '"pan', "secur", "verif", "credit", "debit", "account", "kartennummer", "carte", "tarjeta", "onestep",
    "one-step", "onepage", "one-page", "one_page", "payment", "basket", "kasse", "paiement", "pago", "bestell",
    "zahlung", "shopping", "billing", "purchase", "cashier", "opc", "phone", "mobile", "street", "postcode",
    "post_code", "passw", "pwd", "birth", "ssn", "webdriver", "outerwidth", "outerheight", "debugger", "headless",
    "phantom", "nightmare", "domautomation", "selenium", "$cdc_",
    "カード", "ｶｰﾄﾞ", "セキュリティ", "有効期限", "名義", "クレジット", "決済", "注文", "購入", "お支払", "カート",
    "メール", "電話", "住所", "パスワード", "郵便番号", "氏名",
)  # fmt: skip
# Sinks the structure rules look for (case-sensitive substrings).
_SINK_WORDS: Final = (
    "src", "location", "open", "post", "href", "append", "write", "submit", "action", "Image", "cookie", "fetch",
    "XMLHttpRequest", "sendBeacon", "WebSocket", "RTCPeerConnection", "ajax", "createElement", "innerHTML",
    "outerHTML", "insertAdjacentHTML", "getScript", "get(", "setItem", "Storage", "html(", "import(", "EventSource",
    "setAttribute", "send(",
)  # fmt: skip
# Card, checkout and login vocabulary (lower case): evidence that decoded text is worth parsing.
_SKIMMING_WORDS: Final = (
    "card", "cvv", "cvc", "ccnum", "cc_num", "cc-num", "cc_cid", "cc_exp", "cc-exp", "expir", "checkout", "onestep",
    "onepage", "one-page", "payment", "billing", "password", "passwd", "webdriver",
    "カード", "ｶｰﾄﾞ", "セキュリティ", "有効期限", "決済", "お支払", "パスワード",
)  # fmt: skip
_DENSE_TOKENS: Final = ("\\x", "\\u0", "_0x", "fromCharCode", "atob")
_DENSE_MIN: Final = 24
_DENSE_WINDOW: Final = 1 << 20


def _at_least(pattern: re.Pattern[str], text: str, count: int) -> bool:
    return any(seen >= count for seen, _ in enumerate(pattern.finditer(text), start=1))


# --- needle presence -------------------------------------------------------------------------------
# The markers and the structure prefilter first ask which of their needles occur in a text. Asked one
# by one (``needle in text``), that is a pass over the text per needle, well over a hundred for a
# JavaScript segment; one yara-x scan (fast-scan mode: a rule per needle, each only needs its first
# match) answers for all of them at once.

# the only characters whose ``str.lower`` holds an ASCII letter although they are not ASCII (İ gives
# "i̇", the Kelvin sign "k"): a yara-x ``nocase`` needle does not match them, ``needle in
# text.lower()`` may, so a text holding one is answered in Python
_LOWER_INTO_ASCII: Final = ("\u0130", "\u212a")
_NEEDLE_SCAN_TIMEOUT_SECONDS: Final = 10


@dataclass(frozen=True)
class _Present:
    """The needles of a :class:`_NeedleSet` that occur in a text: ``exact`` as written, ``folded``
    in the text's ``str.lower()``."""

    exact: frozenset[str]
    folded: frozenset[str]


def _thread_scanner(
    local: threading.local, rules: Callable[[], yara_x.Rules], timeout: int, *, fast: bool = False
) -> yara_x.Scanner:
    """The scanner kept in ``local`` for this thread, built from ``rules()`` on first use: a
    ``yara_x.Scanner`` is not shared between threads, and building one costs more than a short scan."""
    scanner: yara_x.Scanner | None = getattr(local, "scanner", None)
    if scanner is None:
        scanner = yara_x.Scanner(rules())
        scanner.fast_scan(fast)
        scanner.set_timeout(timeout)
        local.scanner = scanner
    return scanner


@functools.cache
def _needle_rules(exact: tuple[str, ...], folded: tuple[str, ...]) -> yara_x.Rules:
    """One rule per needle, compiled once per process: ``e<i>`` is ``exact[i]`` (needles of two
    characters or more), ``f<i>`` is ``folded[i]`` (``nocase``), ``x<i>`` a character of
    :data:`_LOWER_INTO_ASCII`."""
    strings = [(f"e{i}", n, "") for i, n in enumerate(exact) if len(n) > 1]
    strings += [(f"f{i}", n, " nocase") for i, n in enumerate(folded)]
    strings += [(f"x{i}", c, "") for i, c in enumerate(_LOWER_INTO_ASCII)]
    rules = [f'rule {name} {{ strings: $a = "{_yara_literal(n)}"{flag} condition: $a }}' for name, n, flag in strings]
    compiler = yara_x.Compiler()
    compiler.add_source("\n".join(rules))
    return compiler.build()


@dataclass(frozen=True, eq=False)
class _NeedleSet:
    """Needles whose presence in a text one yara-x scan tells (:meth:`present`). ``exact`` are
    matched as written; ``folded`` (lower-case ASCII, two characters or more) as in the text's
    ``str.lower()``. A needle of one character is looked for in Python: ``str.__contains__``
    finds it with ``memchr``, usually near the start, where yara-x would verify its every
    occurrence."""

    exact: tuple[str, ...]
    folded: tuple[str, ...]
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _chars: tuple[str, ...] = field(init=False, repr=False)  # the needles of one character

    def __post_init__(self) -> None:
        if not all(n == n.lower() and n.isascii() and len(n) > 1 for n in self.folded):
            raise ValueError("folded needles are lower-case ASCII of two characters or more")
        object.__setattr__(self, "_chars", tuple(n for n in self.exact if len(n) == 1))

    def _scanner(self) -> yara_x.Scanner:
        # fast scan: presence is all a rule asks, its first match is enough
        return _thread_scanner(
            self._local, lambda: _needle_rules(self.exact, self.folded), _NEEDLE_SCAN_TIMEOUT_SECONDS, fast=True
        )

    def _in_python(self, text: str) -> _Present:
        low = text.lower()
        return _Present(frozenset(n for n in self.exact if n in text), frozenset(n for n in self.folded if n in low))

    def present(self, text: str) -> _Present:
        """The needles that occur in ``text``: the same sets as ``n in text`` and ``n in
        text.lower()`` would give."""
        try:
            matched = self._scanner().scan(text.encode("utf-8", "surrogatepass")).matching_rules
        except yara_x.TimeoutError:
            return self._in_python(text)
        exact = [n for n in self._chars if n in text]
        folded = []
        for rule in matched:
            kind, index = rule.identifier[0], int(rule.identifier[1:])
            if kind == "e":
                exact.append(self.exact[index])
            elif kind == "f":
                folded.append(self.folded[index])
            else:  # a character that lowers into ASCII
                return self._in_python(text)
        return _Present(frozenset(exact), frozenset(folded))


# one set per language, so that one scan answers both questions the engine asks of a JavaScript
# segment (its markers and whether it is a structure candidate)
_JS_NEEDLES: Final = _NeedleSet(
    exact=tuple(
        dict.fromkeys(
            [n for _, needles, _ in _JS_MARKERS for n in needles]
            + ["0x", "fromCharCode", *_SINK_WORDS, *_DENSE_TOKENS]
            + [w for w in _SEMANTIC_WORDS if not w.isascii()]  # no case: as written is as lowered
        )
    ),
    folded=tuple(w for w in _SEMANTIC_WORDS if w.isascii()),
)
_PHP_NEEDLES: Final = _NeedleSet(
    exact=tuple(dict.fromkeys(n for _, needles, _ in _PHP_MARKERS for n in needles)),
    folded=(*_PHP_DECODERS, "eval", "assert"),
)
# the engine asks for the markers and then the structure prefilter of the same text: the answer for
# the last text is kept (by identity; a tuple, replaced whole, so threads see one or the other)
_last_present: tuple[str, _NeedleSet, _Present] | None = None


def _present(text: str, needles: _NeedleSet) -> _Present:
    global _last_present
    last = _last_present
    if last is not None and last[0] is text and last[1] is needles:
        return last[2]
    present = needles.present(text)
    _last_present = (text, needles, present)
    return present


def obfuscation_markers(text: str, language: Language) -> tuple[str, ...]:
    """Names of the obfuscation markers in ``text`` (empty: nothing worth normalizing). Only
    JavaScript and PHP have markers; other languages are never normalized."""
    found: list[str] = []
    if language is Language.JS:
        present = _present(text, _JS_NEEDLES).exact
        for name, needles, check in _JS_MARKERS:
            if name not in found and not present.isdisjoint(needles) and check(text):
                found.append(name)
        if "string-array" not in found and "0x" in present and _at_least(_JS_HEX_CALL, text, _JS_HEX_CALL_MIN):
            found.append("string-array")
        many_codes = "fromCharCode" in present and _at_least(_JS_CHAR_CODE_CALL, text, _JS_CHAR_CODE_CALL_MIN)
        if "char-codes" not in found and many_codes:
            found.append("char-codes")
    elif language is Language.PHP:
        php = _present(text, _PHP_NEEDLES)
        if php.folded:
            low = text.lower()
            if len(low) != len(text):  # lower() changed the length (rare letters): keep offsets exact
                low = text.encode("ascii", "replace").decode("ascii").lower()
            if _php_calls(text, low, tuple(n for n in _PHP_DECODERS if n in php.folded)):
                found.append("decode-call")
            if _php_calls(text, low, tuple(n for n in ("eval", "assert") if n in php.folded)):
                found.append("eval")
        found += [name for name, needles, check in _PHP_MARKERS if not php.exact.isdisjoint(needles) and check(text)]
    return tuple(found)


def dense_obfuscation(text: str) -> bool:
    """Escapes, ``_0x`` names, ``fromCharCode`` and ``atob`` occur often enough (24 times in the
    first MiB) to hide card words and sinks from the word checks of :func:`structure_candidate`."""
    total = 0
    for token in _DENSE_TOKENS:
        total += text.count(token, 0, _DENSE_WINDOW)
        if total >= _DENSE_MIN:
            return True
    return False


def structure_candidate(text: str) -> bool:
    """Could the structure layer find a combination in ``text``? True when it names card, checkout,
    personal or anti-analysis data and has a sink, or is densely obfuscated."""
    present = _present(text, _JS_NEEDLES)
    if not present.exact.isdisjoint(_DENSE_TOKENS) and dense_obfuscation(text):
        return True
    if present.exact.isdisjoint(_SINK_WORDS):
        return False
    # the ASCII words are looked for in the lowered text (folded), the others as written: no other
    # character lowers into theirs
    return bool(present.folded) or not present.exact.isdisjoint(_SEMANTIC_WORDS)


def revealed_vocabulary(text: str, decoded: str) -> bool:
    """Did decoding reveal card, checkout or login words: does ``decoded`` name such data more often
    than ``text`` (case-insensitive)?"""
    low, decoded_low = text.lower(), decoded.lower()
    return any(decoded_low.count(word) > low.count(word) for word in _SKIMMING_WORDS if word in decoded_low)


def structure_needs_evidence(text: str) -> bool:
    """True when ``text`` is too large to parse without rule evidence (:data:`STRUCTURE_FREE_BYTES`)."""
    return len(text) > STRUCTURE_FREE_BYTES


# --- threat-intel prefilter ------------------------------------------------------------------------

# characters that Python's case-insensitive [a-z] accepts beyond ASCII: the intel host patterns may
# match them, a yara-x nocase literal does not
_CASEFOLD_INTO_ASCII: Final = ("\u0130", "\u0131", "\u017f", "\u212a")
_MIN_NEEDLE: Final = 3
_INTEL_SCAN_TIMEOUT_SECONDS: Final = 10
_intel_lock = threading.Lock()
_intel_cache: dict[int, tuple[IntelIndex, int, IntelPrefilter]] = {}


def _yara_literal(value: str) -> str:
    """``value`` as a yara text string, every byte that is not a letter or digit escaped."""
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\x{b:02x}" for b in value.encode("utf-8"))


def _intel_needles(intel: IntelIndex) -> set[str]:
    return set(intel.domains) | set(intel.urls) | {ind.value for ind in intel.paths}


def _intel_rules(intel: IntelIndex) -> yara_x.Rules | None:
    """One yara-x rule holding every indicator's domain, URL host and path (None: an indicator is
    too short to filter on, so every text must be looked up)."""
    needles = _intel_needles(intel)
    if not needles or min(len(n) for n in needles) < _MIN_NEEDLE:
        return None
    strings = "\n".join(f'    $n{i} = "{_yara_literal(n)}" nocase' for i, n in enumerate(sorted(needles)))
    compiler = yara_x.Compiler()
    compiler.add_source(f"rule intel_needles {{\n  strings:\n{strings}\n  condition:\n    any of them\n}}\n")
    return compiler.build()


@dataclass(frozen=True, eq=False)
class IntelPrefilter:
    """The test :func:`intel_prefilter` returns: called with a text, False only when
    ``intel.scan_text`` cannot find anything in it. ``spaceless`` says that no needle holds a space
    or a line break, so a text that is another one with stretches turned into blanks (a PHP file's
    markup with its code blanked out) can only match where that other text does. ``longest`` is
    the length of the longest needle in UTF-8 bytes (so a match spans that many characters at
    most)."""

    rules: yara_x.Rules | None
    spaceless: bool
    longest: int
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __call__(self, text: str) -> bool:
        if self.rules is None:
            return True
        if any(char in text for char in _CASEFOLD_INTO_ASCII):
            return True
        rules = self.rules
        scanner = _thread_scanner(self._local, lambda: rules, _INTEL_SCAN_TIMEOUT_SECONDS)
        try:
            return bool(scanner.scan(text.encode("utf-8", "surrogatepass")).matching_rules)
        except yara_x.TimeoutError:
            return True


def intel_prefilter(intel: IntelIndex) -> IntelPrefilter:
    """A test that is False only for texts in which ``intel.scan_text`` cannot find anything
    (compiled once per index and size, and kept with it; thread-safe)."""
    key = id(intel)
    with _intel_lock:
        cached = _intel_cache.get(key)
        if cached is None or cached[0] is not intel or cached[1] != len(intel):
            _intel_cache.clear()  # one index at a time: a feed is loaded once per run
            needles = _intel_needles(intel)
            spaceless = not any(" " in n or "\n" in n for n in needles)
            longest = max((len(n.encode("utf-8", "surrogatepass")) for n in needles), default=0)
            cached = (intel, len(intel), IntelPrefilter(_intel_rules(intel), spaceless, longest))
            _intel_cache[key] = cached
    return cached[2]
