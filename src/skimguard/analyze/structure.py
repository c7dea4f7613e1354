"""The structure layer of the static analysis engine: behaviour traits that combine in one scope.

No single trait convicts a skimmer. Minified or obfuscated code is not malicious; payment SDKs,
card-number formatters, form validators, analytics and session-replay libraries all read fields
and send data for good reasons. What convicts is the *combination* in one scope: a function that
reads the card fields, sends them to a computed URL and does it only on the checkout page, on
submit, base64-encoded, or after hiding from devtools.

How it works, for a newcomer:

1. **Prefilter** (:func:`needs_parse`): plain substring checks. Text without a sink-ish token
   (``fetch``, ``XMLHttpRequest``, ``.src``, ``location`` ...) *and* a field-, checkout- or
   anti-analysis token (``value``, ``FormData``, ``checkout``, ``webdriver`` ...) is not parsed
   at all, so a large benign bundle costs almost nothing. Text dense with ``\\x``/``\\u`` escapes
   or ``_0x`` names counts as both (the tokens may be hidden).
2. **Parse** with tree-sitter-javascript, at most :data:`MAX_PARSE_BYTES`, under a time limit
   (the parser's progress callback). Parse errors are tolerated (tree-sitter recovers); the error
   rate is reported.
3. **One walk** with a tree cursor collects the interesting nodes (functions, calls, ``new``,
   assignments, member and subscript reads, string literals, comparisons) and their parents.
   Nothing is recursive, nothing asks ``Node.parent`` (O(depth) in tree-sitter): 20,000 nested
   functions cost what 20,000 sibling functions cost. (A tree-sitter query would be faster on
   ordinary code but is quadratic on deeply nested code.)
4. A tiny, bounded **constant resolver** sees through the common obfuscations without running
   anything: string concatenation, ``\\x`` escapes, string arrays indexed by number
   (``_0x12ab[3]``), ``atob('...')``, ``String.fromCharCode(...)``, ``'...'.split('').reverse()
   .join('')`` and string constants held in variables (scope-aware, parameters shadow).
5. **Facts → traits**: low-level facts (a card-ish selector, a ``.value`` read, an input
   collection, an HTML sink, a ``charCodeAt`` next to a ``^``) pair up inside the innermost
   function into the public :data:`TRAITS`. Reads through **helper functions** count at the call
   site: a function of this text that queries its parameter (``querySelector(q)``,
   ``getElementById``, ``getElementsByName``, ``namedItem``, ``$(q)``, ``'#' + q``) and reads the
   result's ``.value``/``.val()``, or reads its parameter's value (``el => el.value``), reads the
   card field whose selector (literal, string-array element, constant) or element it is handed.
6. **Scopes**: every function (declaration, expression, arrow, method, generator) and the program.
   A scope's trait set includes its nested functions, so a listener callback nested in a checkout
   gate counts for the gate's function.
7. **Rules** SG440-SG446 (:func:`structure_catalog`) look for their combination in the *smallest*
   scope that holds it. A scope larger than :data:`WINDOW_BYTES` only counts when the combination
   also fits in a window of that size (a skimmer appended to a large library is compact; a
   library's own unrelated traits are spread over hundreds of kilobytes).

   Tokenisers: a direct-post payment integration reads the card fields on submit,
   ``JSON.stringify``s them and posts them (fetch, XMLHttpRequest, jQuery ajax: a request whose
   answer, the token, it needs) to a *fixed* URL: a plain string literal, or a property of a
   configuration object the page provides (``(window.SHOP_CHECKOUT || {}).tokenUrl ||
   "https://psp/v1/tokens"``; not an object or property this text fills with a URL itself, not
   location, nothing decoded or concatenated). For such a request a submit listener and JSON are
   not aggravators: that is SG445 (low). It stays SG440 with a timer or URI encoding before the
   request (code in ``.then``/``success``/``onload`` handlers runs after it and does not count),
   with e-mail/phone/password reads in the same scope (a tokeniser sends the card, at most with the
   billing address), with a whole form (FormData/serialize), with an image/beacon/WebSocket sink,
   a built URL, or any strong aggravator. E-mail-only reads never make SG446: marketing and
   analytics tags collect (hashed) e-mail addresses legitimately.

Entry points: :func:`js_traits` (the report), :func:`structure_hits` (the rule hits) and
:func:`js_structure` (both from one parse). Pure: no I/O, no clock except the parse/analysis time
limits; each thread gets its own parser.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import threading
import time
import urllib.parse
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import tree_sitter
import tree_sitter_javascript

from skimguard.analyze.model import CodeHit, Layer, RuleInfo
from skimguard.models import Confidence, Severity

__all__ = [
    "MAX_PARSE_BYTES",
    "PARSE_TIMEOUT_SECONDS",
    "TRAITS",
    "WINDOW_BYTES",
    "ScopeTraits",
    "StructureReport",
    "TraitInfo",
    "TraitPosition",
    "js_structure",
    "js_traits",
    "needs_parse",
    "structure_catalog",
    "structure_hits",
]

MAX_PARSE_BYTES: Final = 2 * 1024 * 1024
"""Only the first 2 MiB (UTF-8) of a text are parsed; the report says so in ``error``."""
PARSE_TIMEOUT_SECONDS: Final = 1.5
"""Time limit of the tree-sitter parse."""
ANALYSIS_TIMEOUT_SECONDS: Final = 4.0
"""Time limit of the Python pass over the parsed tree (checked every few hundred nodes)."""
WINDOW_BYTES: Final = 16 * 1024
"""A combination in a scope larger than this must also fit in a window this large."""
EXCERPT_CHARS: Final = 120
ERROR_RATE_LIMIT: Final = 0.3
"""Above this share of bytes inside ERROR nodes the text is probably not JavaScript."""

_MAX_VALUE_CHARS = 65536
_RESOLVE_BUDGET = 600
_MAX_SCOPE_WALK = 4096
_MAX_LOOKUP_WALK = 256
_MAX_PAIRING_SCAN = 2000
_MAX_OCCURRENCES_PER_FACT = 5000
_MAX_REPORTED_SCOPES = 5000
_CHECK_EVERY = 256


# --------------------------------------------------------------------------------------------
# Traits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraitInfo:
    """A behaviour trait: its stable name and one line that explains it."""

    name: str
    description: str


TRAITS: Final[tuple[TraitInfo, ...]] = (
    TraitInfo(
        "reads-card-field",
        "Reads the value of a field whose selector/name/id looks like card data (number, CVV/CVC/CID, "
        "expiry, holder; Magento payment[cc_number], WooCommerce, EC-CUBE, カード番号/セキュリティコード/有効期限).",
    ),
    TraitInfo(
        "reads-form",
        "Reads a whole form or all inputs: new FormData(form), jQuery serialize()/serializeArray(), "
        "a loop over querySelectorAll('input, select')/getElementsByTagName('input')/form.elements reading .value.",
    ),
    TraitInfo("reads-personal-field", "Reads the value of an e-mail, phone, address, name or password field."),
    TraitInfo(
        "network-sink",
        "Sends or loads something: fetch, XMLHttpRequest.open, sendBeacon, WebSocket, RTCPeerConnection, "
        "image/script/iframe src, jQuery ajax/post/get/getScript, form action, window.open, location assignment.",
    ),
    TraitInfo(
        "computed-url",
        "A sink's URL is not a plain relative string literal: it is built by concatenation, decoded "
        "(atob, fromCharCode, reversed, string array), held in a variable, or an absolute URL literal.",
    ),
    TraitInfo(
        "encodes-data",
        "Encodes data before it leaves: btoa, a base64 alphabet, encodeURIComponent/escape, JSON.stringify, "
        "CryptoJS, split('').reverse().join(''), or a charCodeAt loop with XOR.",
    ),
    TraitInfo(
        "checkout-gate",
        "Tests location/document.URL against checkout/onestep/onepage/payment/cart/order words or a regex.",
    ),
    TraitInfo(
        "submit-trigger",
        "Listens for submit/click/mousedown/mouseup/blur/change/keyup/input events (addEventListener, "
        "on* assignment, jQuery on/bind/click/submit/blur).",
    ),
    TraitInfo("timer", "setInterval/setTimeout with a function (polling for fields, delayed sending)."),
    TraitInfo(
        "anti-analysis",
        "Checks for devtools or automation: navigator.webdriver, phantom/nightmare/selenium markers, "
        "outerWidth-innerWidth, debugger statements, an 'id' getter trap for console.",
    ),
    TraitInfo("staging", "Writes collected (non-literal) data to localStorage, sessionStorage or document.cookie."),
    TraitInfo(
        "dom-injection",
        "Writes markup with card input fields into the page (innerHTML, insertAdjacentHTML, document.write, "
        "jQuery html/append): a fake payment form.",
    ),
)
_TRAIT_ORDER: Final = {t.name: i for i, t in enumerate(TRAITS)}


@dataclass(frozen=True)
class TraitPosition:
    """Where a trait is first seen: 1-based line and column (characters) and a short excerpt."""

    trait: str
    line: int
    column: int
    excerpt: str


@dataclass(frozen=True)
class ScopeTraits:
    """The traits found in one scope, nested functions included, each at its first position.

    ``kind`` is ``program``, ``function``, ``arrow`` or ``method``; ``name`` is empty for anonymous
    functions (or the variable/property/assignment target it is bound to, when there is one).
    """

    kind: str
    name: str
    line: int
    column: int
    end_line: int
    traits: tuple[TraitPosition, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(t.trait for t in self.traits)


@dataclass(frozen=True)
class StructureReport:
    """The structure layer's view of one text.

    ``traits`` holds the first position of each trait in the whole text (the program scope).
    ``scopes`` holds the program scope first, then every function that has at least one trait, in
    source order (at most 5,000). ``parsed`` is False when the prefilter skipped the text or the
    parse failed; ``error`` explains a degradation (too large, timeout, parse error rate).
    """

    parsed: bool
    error: str | None = None
    traits: tuple[TraitPosition, ...] = ()
    scopes: tuple[ScopeTraits, ...] = ()

    @property
    def trait_names(self) -> frozenset[str]:
        return frozenset(t.trait for t in self.traits)


# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------

_CARD_RE: Final = re.compile(
    r"cc[\W_]?(?:num|number|no\b|cid|cvv|cvc|csc|exp|owner|name|type|month|year|holder|ss_)"
    r"|ccnum|ccno\b|card[\W_]?(?:num|number|no\b|holder|code|cvv|cvc|cvn|exp|verif|secur|month|year|name|owner|data)"
    r"|(?:credit|debit)[\W_]?card|\bcv[vc]2?\b|cvv|cvc|\bcsc\b|\bcvn\b|cc[\W_]cvv"
    r"|secur\w*[\W_]?code|verification[\W_]?(?:code|number|value)|expir(?:y|ation)|exp[\W_]?(?:date|month|year)"
    r"|x_card_num|account[\W_]?number|kartennummer|numero[\W_]?carte|num[eé]ro de carte|tarjeta"
    r"|カード|ｶｰﾄﾞ|セキュリティ[\s・]?コード|有効期限|名義|クレジット",
    re.IGNORECASE,
)
# Every alternative of _CARD_RE holds one of these words (same flags): a text without one cannot
# match, and this scan is several times cheaper than _CARD_RE's (it runs on every short literal).
_CARD_HINT_RE: Final = re.compile(
    r"cc|card|cv|csc|secur|verification|exp|account|kartennummer|carte|tarjeta"
    r"|カード|ｶｰﾄﾞ|セキュリティ|有効期限|名義|クレジット",
    re.IGNORECASE,
)


def _is_card(text: str) -> bool:
    """Does ``text`` name card data (:data:`_CARD_RE`)?"""
    return _CARD_HINT_RE.search(text) is not None and _CARD_RE.search(text) is not None


_PERSONAL_RE: Final = re.compile(
    r"e-?mail|phone|telephone|\btel\b|mobile|address|street|postcode|post_code|zip|password|passwd|\bpwd\b"
    r"|first[\W_]?name|last[\W_]?name|full[\W_]?name|billing|city|birth|ssn"
    r"|メール|電話|住所|パスワード|郵便番号|氏名",
    re.IGNORECASE,
)
_CHECKOUT_RE: Final = re.compile(
    r"check(?!box|ed|sum|valid)|onestep|one-?step|onepage|one-?page|one_page|firecheckout|payment|cart|order|basket|kasse"
    r"|paiement|pago|pagamento|bestell|zahlung|shopping|billing|purchase|cashier|pay\b|/pay"
    r"|決済|注文|購入|お支払|カート|shopping-cart",
    re.IGNORECASE,
)
_SELECTOR_SHAPE_RE: Final = re.compile(
    r"\s*(?:[#.\[]|(?:input|select|textarea|button|form|label)\b(?:[\[.#:,\s]|$))|.*\[(?:name|id)\s*[*^$|~]?=",
    re.IGNORECASE,
)
# In a selector, an attribute match on a card-ish fragment: input[name*="card"], [id^=cc], [autocomplete^=cc-]
_CARD_SELECTOR_RE: Final = re.compile(
    r"\[\s*(?:name|id|autocomplete|placeholder|data-[\w-]+)\s*[*^$|~]?=\s*['\"]?(?:cc|card|cvv|cvc|cid|exp)",
    re.IGNORECASE,
)
# Compared with an input's name/id: bare card words
_CARD_WORD_RE: Final = re.compile(
    r"^\W*(?:cc|card|cvv|cvc|cid|csc|exp|expiry|pan)\W*$|^[\w|()^$\\/.*+?-]*\b(?:cc|card|cvv|cvc)\b", re.IGNORECASE
)
_NAME_WORDS: Final = frozenset({"name", "id", "autocomplete"})
_PAYMENT_SELECTOR_RE: Final = re.compile(r"payment|checkout|billing|onestep|onepage|credit|\bopc\b", re.IGNORECASE)
_INPUT_COLLECTION_PART: Final = re.compile(
    r"^\s*(?:form\b[^,]*\s+)?(?:input|select|textarea|button|checkbox|submit|option|\*)"
    r"(?:\[type=[^\]]*\]|:[\w-]+(?:\([^)]*\))?|\.[\w-]+)*\s*$",
    re.IGNORECASE,
)
_MARKUP_INPUT_RE: Final = re.compile(r"<\s*(?:input|select)\b", re.IGNORECASE)
_MARKUP_LOADER_RE: Final = re.compile(r"<\s*(?:script|iframe)\b[^>]*?\bsrc\s*=\s*['\"]?([^'\"\s>]*)", re.IGNORECASE)
_RELATIVE_URL_RE: Final = re.compile(r"^\s*(?:/(?![/\\])|\.\.?/|\?)")
_ABSOLUTE_URL_RE: Final = re.compile(r"^\s*(?:(?:https?|wss?|ftp):)?//", re.IGNORECASE)
_HTTP_METHOD_RE: Final = re.compile(r"^(?:get|post|put|patch|head|options|delete)$", re.IGNORECASE)
_B64_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ANTI_STRINGS: Final = ("HeadlessChrome", "PhantomJS", "__webdriver", "$cdc_", "callSelenium", "_Selenium_IDE")
_ANTI_PROPS: Final = frozenset(
    {"webdriver", "_phantom", "callPhantom", "__nightmare", "domAutomation", "domAutomationController", "_selenium"}
)
_TRIGGER_EVENTS: Final = frozenset(
    {
        "submit", "click", "mousedown", "mouseup", "touchend", "touchstart", "blur", "change",
        "keyup", "keydown", "keypress", "input", "focusout", "pointerdown", "pointerup",
    }
)  # fmt: skip
_JQ_TRIGGER_METHODS: Final = frozenset(
    {"click", "submit", "blur", "change", "keyup", "keydown", "mousedown", "mouseup", "focusout"}
)
_PROMISE_METHODS: Final = frozenset({"then", "catch", "finally", "done", "fail", "always"})
_RESPONSE_EVENTS: Final = frozenset({"onload", "onloadend", "onreadystatechange", "onerror"})
_LISTEN_METHODS: Final = frozenset({"addEventListener", "attachEvent", "on", "bind", "live", "one", "delegate"})
_SELECTOR_METHODS: Final = frozenset(
    {
        "querySelector", "querySelectorAll", "getElementById", "getElementsByName",
        "getElementsByClassName", "getElementsByTagName", "find", "closest", "children", "filter", "namedItem",
    }
)  # fmt: skip
_HTML_METHODS: Final = frozenset({"insertAdjacentHTML", "html", "append", "prepend", "after", "before", "replaceWith"})
_WINDOWISH: Final = frozenset({"", "window", "self", "globalThis", "top", "parent", "frames"})
# Properties that hold page or field content, not configuration
_NOT_CONFIG_PROPS: Final = frozenset(
    {
        "value", "innerHTML", "outerHTML", "innerText", "textContent", "src", "action", "search", "hash",
        "referrer", "cookie", "dataset", "nodeValue", "title", "name", "content", "data", "responseText",
    }
)  # fmt: skip
_LOCATION_WORDS: Final = frozenset({"location", "URL", "documentURI", "href", "pathname", "baseURI"})
# Every method/function name :meth:`_Collector.call` turns into a fact (the names its chain of
# branches tests; a call of any other name only counts as a selector or a helper call).
_CALL_FACT_NAMES: Final = frozenset(
    {
        "val", "getAttribute", "serializeArray", "serializeObject", "serializeJSON", "serialize",
        *_LISTEN_METHODS, *_JQ_TRIGGER_METHODS, "setTimeout", "setInterval", "fetch", "sendBeacon", "open",
        "ajax", "post", "get", "getJSON", "getScript", "assign", "replace", "setAttribute", "attr",
        "createElement", "write", "writeln", *_HTML_METHODS, "btoa", "encodeURIComponent", "escape",
        "encodeURI", "stringify", "encrypt", "join", "charCodeAt", "toString", "test", "exec", "indexOf",
        "includes", "search", "match", "startsWith", "endsWith", "lastIndexOf", "setItem", "cookie", "set",
        "defineProperty",
    }
)  # fmt: skip
_MEMBER_NAMES: Final = frozenset(n.encode() for n in ("value", "elements", "outerWidth", "outerHeight", *_ANTI_PROPS))
_CARD_PROP_HINT: Final = re.compile(rb"(?i)cc|card|cv[vc]")
_LITERAL_HINT: Final = re.compile(
    rb"<|\\|ABCDEFGHIJKLMNOPQRSTUVWXYZ|HeadlessChrome|PhantomJS|__webdriver|\$cdc_|callSelenium|_Selenium_IDE"
)
# In the bytes of a literal: a card hint (_CARD_HINT_RE), or what can hide one (an escape, a
# non-ASCII character); a pure-ASCII literal without an escape or a hint cannot name card data.
_LITERAL_CARD_HINT: Final = re.compile(
    rb"cc|card|cv|csc|secur|verification|exp|account|kartennummer|carte|tarjeta|\\|[\x80-\xff]", re.IGNORECASE
)
_ALIAS_TYPES: Final = ("member_expression", "subscript_expression", "identifier", "call_expression")
_COMPARE_OPERATORS: Final = frozenset({"==", "===", "!=", "!==", "^"})
_CALLBACK_TYPES: Final = ("function_expression", "arrow_function", "identifier", "member_expression")
_FUNCTION_TYPES: Final = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "function_expression": "function",
    "generator_function": "function",
    "arrow_function": "arrow",
    "method_definition": "method",
}

# Cheap prefilter tokens (plain substring checks).
_SINK_TOKENS: Final = (
    "fetch", "XMLHttpRequest", "sendBeacon", "WebSocket", "RTCPeerConnection", "Image", ".src", "src'", 'src"',
    "ajax", "action", ".open", "open(", "location", "createElement", ".write", "innerHTML", "insertAdjacentHTML",
    "getScript", ".post", "$.get", "setItem", "cookie", "Storage", ".append", ".html(", "Beacon", "import(",
    "EventSource", ".href", "setAttribute",
)  # fmt: skip
_FIELD_TOKENS: Final = (
    "value", "val(", "FormData", "serialize", "elements", "input", "card", "Card", "CARD", "cvv", "CVV", "cvc",
    "getElementsByName", "check", "Check", "onestep", "onepage", "pay", "Pay", "order", "cart", "webdriver",
    "outerWidth", "debugger", "カード", "セキュリティ", "有効期限",
)  # fmt: skip
_OBFUSCATION_TOKENS: Final = ("\\x", "\\u0", "_0x", "fromCharCode", "atob")
_OBFUSCATION_MIN_COUNT: Final = 24


_EMAIL_RE: Final = re.compile(r"e-?mail|メール", re.IGNORECASE)
_CONTACT_RE: Final = re.compile(
    r"phone|telephone|\btel\b|mobile|password|passwd|\bpwd\b|birth|ssn|電話|パスワード", re.IGNORECASE
)


def _personal_kind(text: str) -> str:
    """``email`` for an e-mail field, ``contact`` for phone, password, birth date, SSN, ``other``
    for address and name fields (a card tokeniser may send those for address verification)."""
    if _EMAIL_RE.search(text):
        return "email"
    return "contact" if _CONTACT_RE.search(text) else "other"


def _is_jquery_name(name: str) -> bool:
    return name in ("$", "$$", "$F", "$j", "jQ", "Zepto") or name.startswith("jQuery")


def needs_parse(text: str) -> bool:
    """The cheap prefilter: True when ``text`` holds a sink-ish token and a field-, checkout- or
    anti-analysis token (or is dense with escapes/obfuscated names, which can hide both)."""
    if sum(text.count(t, 0, 1 << 20) for t in _OBFUSCATION_TOKENS) >= _OBFUSCATION_MIN_COUNT:
        return True
    return any(t in text for t in _SINK_TOKENS) and any(t in text for t in _FIELD_TOKENS)


# --------------------------------------------------------------------------------------------
# Parser (one per thread, built once)
# --------------------------------------------------------------------------------------------

# Node kinds the walk collects, by bucket. (A tree-sitter query would do the same in C, but its
# captures are ordered by position and buffered: quadratic on deeply nested code.)
_BUCKETS: Final = {
    "function_declaration": "scope",
    "generator_function_declaration": "scope",
    "function_expression": "scope",
    "generator_function": "scope",
    "arrow_function": "scope",
    "method_definition": "scope",
    "call_expression": "call",
    "new_expression": "new",
    "assignment_expression": "assign",
    "augmented_assignment_expression": "assign",
    "member_expression": "member",
    "subscript_expression": "subscript",
    "string": "str",
    "template_string": "str",
    "regex": "str",
    "debugger_statement": "debugger",
    "binary_expression": "binary",
    "variable_declarator": "declarator",
    "formal_parameters": "params",
    "arguments": "args",  # only collected so that their parents are known
}


_OPAQUE_KINDS: Final = ("string", "regex")
_ERROR_KIND_ID: Final = 0xFFFF  # tree-sitter's ts_builtin_sym_error


_LANGUAGE: Final = tree_sitter.Language(tree_sitter_javascript.language())


def _field_id(name: str) -> int:
    field = _LANGUAGE.field_id_for_name(name)
    if field is None:  # pragma: no cover - grammar drift
        raise RuntimeError(f"tree-sitter-javascript has no field {name!r}")
    return field


def _kind_id(kind: str) -> int:
    kind_id = _LANGUAGE.id_for_node_kind(kind, True)
    if kind_id is None:  # pragma: no cover - grammar drift
        raise RuntimeError(f"tree-sitter-javascript has no node kind {kind!r}")
    return kind_id


# Kind ids of the node kinds the hottest loops test (``Node.type`` builds a new string per call).
_K_IDENTIFIER: Final = _kind_id("identifier")
_K_PROPERTY_IDENTIFIER: Final = _kind_id("property_identifier")
_K_SUBSCRIPT_EXPRESSION: Final = _kind_id("subscript_expression")
_K_MEMBER_EXPRESSION: Final = _kind_id("member_expression")
_K_ARGUMENTS: Final = _kind_id("arguments")
_K_NUMBER: Final = _kind_id("number")
_K_TEMPLATE_STRING: Final = _kind_id("template_string")
_K_BINARY_EXPRESSION: Final = _kind_id("binary_expression")
_K_CALL_EXPRESSION: Final = _kind_id("call_expression")
_K_PARENTHESIZED_EXPRESSION: Final = _kind_id("parenthesized_expression")
_K_COMMENT: Final = _kind_id("comment")
_K_STRING: Final = _kind_id("string")
_K_REGEX: Final = _kind_id("regex")
_FUNCTION_KIND_IDS: Final = frozenset(
    _kind_id(k) for k in ("function_expression", "arrow_function", "function_declaration")
)

# Field ids: ``child_by_field_id`` skips the lookup of the name (a linear scan of the grammar's
# field names in C) that ``child_by_field_name`` repeats on every call; these run ~200,000 times a corpus.
_F_ARGUMENTS: Final = _field_id("arguments")
_F_CONSTRUCTOR: Final = _field_id("constructor")
_F_FUNCTION: Final = _field_id("function")
_F_INDEX: Final = _field_id("index")
_F_KEY: Final = _field_id("key")
_F_LEFT: Final = _field_id("left")
_F_NAME: Final = _field_id("name")
_F_OBJECT: Final = _field_id("object")
_F_OPERATOR: Final = _field_id("operator")
_F_PARAMETER: Final = _field_id("parameter")
_F_PATTERN: Final = _field_id("pattern")
_F_PROPERTY: Final = _field_id("property")
_F_RIGHT: Final = _field_id("right")
_F_VALUE: Final = _field_id("value")


class _Grammar:
    def __init__(self) -> None:
        self.language = _LANGUAGE
        self.buckets: dict[int, str] = {_kind_id(kind): bucket for kind, bucket in _BUCKETS.items()}
        # string and regex nodes hold only tokens (nothing of a bucket): the walk need not enter them
        self.opaque = frozenset(_kind_id(kind) for kind in _OPAQUE_KINDS)


_GRAMMAR: _Grammar | None = None
_GRAMMAR_LOCK = threading.Lock()
_LOCAL = threading.local()


def _grammar() -> _Grammar:
    global _GRAMMAR
    if _GRAMMAR is None:
        with _GRAMMAR_LOCK:
            if _GRAMMAR is None:
                _GRAMMAR = _Grammar()
    return _GRAMMAR


def _parser() -> tree_sitter.Parser:
    parser: tree_sitter.Parser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = tree_sitter.Parser(_grammar().language)
        _LOCAL.parser = parser
    return parser


class _Timeout(Exception):
    pass


def _parse(src: bytes, timeout: float) -> tree_sitter.Tree | None:
    parser = _parser()
    parser.reset()
    deadline = time.monotonic() + timeout

    view = memoryview(src)

    def read(offset: int, _point: tuple[int, int]) -> bytes:
        return bytes(view[offset : offset + 4096])

    def progress(*_state: object) -> bool:
        return time.monotonic() > deadline

    try:
        tree = parser.parse(read, progress_callback=progress)
    except ValueError:  # "Parsing failed": the progress callback cancelled it
        tree = None
    finally:
        parser.reset()
    return tree


# --------------------------------------------------------------------------------------------
# Small helpers on nodes
# --------------------------------------------------------------------------------------------

Node = tree_sitter.Node

_ESCAPE_RE: Final = re.compile(r"\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|u[0-9a-fA-F]{4}|[0-7]{1,3}|\r\n|[\s\S])")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_CODE_ESCAPE_RE: Final = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F{])")
_SIMPLE_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\n": "",
    "\r\n": "",
    "\r": "",
}


_ESCAPE_CACHE: Final[dict[str, str]] = {}
_ESCAPE_CACHE_SIZE: Final = 8192


def _escape_value(e: str) -> str:
    """The character an escape (without its backslash: ``x41``, ``u{1F600}``, ``n``) stands for."""
    if len(e) == 1:  # \n, \', \0 and the lone \x / \u of broken escapes
        return chr(int(e, 8)) if e in "01234567" else _SIMPLE_ESCAPES.get(e, e)
    if e[0] == "x":
        return chr(int(e[1:], 16))
    if e[0] == "u":
        code = int(e[2:-1] if e[1] == "{" else e[1:], 16)
        return chr(code) if code <= 0x10FFFF else ""
    if e[0] in "01234567":
        return chr(int(e, 8))
    return _SIMPLE_ESCAPES.get(e, e)


def _unescape_js(raw: str) -> str:
    if "\\" not in raw:
        return raw
    # Splitting on the escapes and looking each one up in a cache is what ``_ESCAPE_RE.sub`` with a
    # function would do, without a Python call per escape (obfuscated strings are all escapes).
    parts = _ESCAPE_RE.split(raw)  # text, escape, text, escape, ..., text (the regex has one group)
    cache = _ESCAPE_CACHE
    escapes = parts[1::2]
    new = set(escapes).difference(cache)
    if len(cache) + len(new) <= _ESCAPE_CACHE_SIZE:
        for e in new:
            cache[e] = _escape_value(e)
        parts[1::2] = map(cache.__getitem__, escapes)
    else:  # a flood of distinct escapes: decode them without caching
        parts[1::2] = [cache[e] if e in cache else _escape_value(e) for e in escapes]
    return _fix_surrogates("".join(parts))


def _fix_surrogates(text: str) -> str:
    """Pair up ``\\ud83d\\ude00`` halves and replace lone ones (they cannot be encoded)."""
    if _SURROGATE_RE.search(text):
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _named(node: Node) -> list[Node]:
    return [c for c in node.named_children if c.kind_id != _K_COMMENT]


def _args(call: Node) -> list[Node]:
    a = call.child_by_field_id(_F_ARGUMENTS)
    if a is None or a.kind_id != _K_ARGUMENTS:
        return []
    return _named(a)


def _strip_parens(node: Node) -> Node:
    for _ in range(64):
        if node.kind_id != _K_PARENTHESIZED_EXPRESSION:
            return node
        inner = _named(node)
        if not inner:
            return node
        node = inner[-1]
        if node.type == "sequence_expression":
            parts = _named(node)
            if not parts:
                return node
            node = parts[-1]
    return node


def _is_literal(node: Node) -> bool:
    node = _strip_parens(node)
    if node.type in ("string", "number", "true", "false", "null", "undefined", "regex"):
        return True
    if node.type == "template_string":
        return not any(c.type == "template_substitution" for c in node.children)
    return False


def _number(text: str) -> int | None:
    t = text.replace("_", "").strip()
    try:
        return int(t, 0)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        return None
    return int(f) if f.is_integer() and abs(f) < 1 << 31 else None


# --------------------------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scope:
    start: int
    end: int
    kind: str
    name: str
    row: int
    col: int
    end_row: int


def _scope_name(node: Node, text_of: _TextOf, parents: dict[int, Node]) -> str:
    name = node.child_by_field_id(_F_NAME)
    if name is not None:
        return text_of(name)[:60]
    parent = parents.get(node.id)
    if parent is None:
        return ""
    if parent.type == "variable_declarator":
        n = parent.child_by_field_id(_F_NAME)
        return text_of(n)[:60] if n is not None else ""
    if parent.type == "assignment_expression":
        n = parent.child_by_field_id(_F_LEFT)
        return text_of(n)[:60] if n is not None else ""
    if parent.type == "pair":
        n = parent.child_by_field_id(_F_KEY)
        return text_of(n).strip("'\"")[:60] if n is not None else ""
    return ""


_TextOf = Callable[[Node], str]


def _text_of(src: bytes) -> _TextOf:
    """The function that gives a node's source text (a closure: called ~100,000 times a corpus, it
    is cheaper to call than an object with ``__call__``)."""

    def text_of(node: Node) -> str:
        return src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    return text_of


class _Scopes:
    """Function scopes as properly nested byte intervals, the program first."""

    def __init__(self, src: bytes, nodes: Sequence[Node], text_of: _TextOf, parents: dict[int, Node]) -> None:
        scopes = [_Scope(0, len(src) + 1, "program", "", 0, 0, src.count(b"\n"))]
        for n in nodes:
            scopes.append(
                _Scope(
                    n.start_byte,
                    n.end_byte,
                    _FUNCTION_TYPES[n.type],
                    _scope_name(n, text_of, parents),
                    n.start_point.row,
                    n.start_point.column,
                    n.end_point.row,
                )
            )
        scopes.sort(key=lambda s: (s.start, -s.end))
        self.items: list[_Scope] = scopes
        self.starts = [s.start for s in scopes]
        # parents, and the innermost scope of every stretch of bytes (a sweep over the nested intervals)
        parent = [-1] * len(scopes)
        bounds = [0]
        owner = [0]
        stack = [0]
        for i in range(1, len(scopes)):
            s = scopes[i]
            while len(stack) > 1 and scopes[stack[-1]].end <= s.start:
                ended = stack.pop()
                bounds.append(scopes[ended].end)
                owner.append(stack[-1])
            parent[i] = stack[-1]
            bounds.append(s.start)
            owner.append(i)
            stack.append(i)
        while len(stack) > 1:
            ended = stack.pop()
            bounds.append(scopes[ended].end)
            owner.append(stack[-1])
        self.parent = parent
        self._bounds = bounds
        self._owner = owner
        self.by_size = sorted(range(len(scopes)), key=lambda i: scopes[i].end - scopes[i].start)

    def innermost(self, pos: int) -> int:
        """The index of the innermost scope holding byte ``pos`` (O(log n))."""
        return self._owner[bisect_right(self._bounds, pos) - 1]

    def chain(self, pos: int, limit: int = _MAX_SCOPE_WALK) -> Iterable[int]:
        """The scopes holding ``pos``, innermost first (at most ``limit``, then the program)."""
        i = self.innermost(pos)
        steps = 0
        while i >= 0 and steps < limit:
            yield i
            i = self.parent[i]
            steps += 1
        if i >= 0:
            yield 0


# --------------------------------------------------------------------------------------------
# The bounded constant resolver
# --------------------------------------------------------------------------------------------

_UNKNOWN: Final = "\x00"
_Binding = str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _Value:
    text: str
    complete: bool  # no unknown part
    decoded: bool  # an escape, array lookup, atob, fromCharCode or reversal was needed


_UNKNOWN_VALUE: Final = _Value(_UNKNOWN, False, False)
# Values :meth:`_Resolver._leaf` knows without evaluating operands.
_LEAF_KIND_IDS: Final = frozenset(_kind_id(k) for k in ("string", "template_string", "number", "identifier"))
# The node kinds :meth:`_Resolver._resolve` evaluates; anything else is unknown.
_EVALUATED_KIND_IDS: Final = frozenset(
    _kind_id(k)
    for k in (
        "string", "template_string", "number", "parenthesized_expression", "binary_expression", "identifier",
        "subscript_expression", "member_expression", "call_expression",
    )
)  # fmt: skip


class _Resolver:
    """Evaluates string expressions made of literals without running anything; iterative and
    bounded (:data:`_RESOLVE_BUDGET` nodes, :data:`_MAX_VALUE_CHARS` characters)."""

    def __init__(self, text_of: _TextOf, scopes: _Scopes) -> None:
        self.text_of = text_of
        self.scopes = scopes
        self.bindings: dict[tuple[int, str], _Binding] = {}
        self.params: set[tuple[int, str]] = set()
        self.param_index: dict[tuple[int, str], int] = {}  # (function scope, name) -> position
        self.values: dict[tuple[int, str], Node | None] = {}  # the one expression a name is bound to
        self.functions: dict[tuple[int, str], int] = {}  # (scope, name) -> scope index of the function (-1: several)
        self.objects: dict[tuple[int, str], dict[str, str] | None] = {}  # constant objects of strings
        self.location_aliases: set[tuple[int, str]] = set()  # variables assigned window.location & co
        self._cache: dict[int, _Value] = {}
        # Once every name is bound (:meth:`freeze`), what a name means in a scope no longer changes:
        # the scope-chain walks below are memoized per (innermost scope, name).
        self._frozen = False
        self._declared: dict[tuple[int, str], tuple[int, str] | None] = {}
        self._keys: dict[tuple[int, str], tuple[int, str] | None] = {}

    def freeze(self) -> None:
        """Every binding is made: memoize lookups from now on."""
        self._frozen = True

    # -- bindings ------------------------------------------------------------------------------
    def _declaration(self, name: str, pos: int) -> tuple[int, str] | None:
        """(scope, name) of the nearest parameter or variable ``name`` seen from ``pos``, or None
        (the walk of :meth:`_Scopes.chain`, at most :data:`_MAX_LOOKUP_WALK` scopes, then the program)."""
        scope = self.scopes.innermost(pos)
        memo = (scope, name)
        if self._frozen and memo in self._declared:
            return self._declared[memo]
        found: tuple[int, str] | None = None
        params, bindings, parent = self.params, self.bindings, self.scopes.parent
        steps = 0
        while scope >= 0 and steps < _MAX_LOOKUP_WALK:
            key = (scope, name)
            if key in params or key in bindings:
                found = key
                break
            scope = parent[scope]
            steps += 1
        else:
            if scope >= 0 and ((0, name) in params or (0, name) in bindings):
                found = (0, name)
        if self._frozen:
            self._declared[memo] = found
        return found

    def lookup(self, name: str, pos: int) -> _Binding:
        key = self._declaration(name, pos)
        return None if key is None or key in self.params else self.bindings[key]

    def binding_key(self, name: str, pos: int) -> tuple[int, str] | None:
        """Where ``name`` is declared as seen from ``pos``: (scope, name) of a parameter, variable or
        function declaration, or None (an undeclared global)."""
        scope = self.scopes.innermost(pos)
        memo = (scope, name)
        if self._frozen and memo in self._keys:
            return self._keys[memo]
        found: tuple[int, str] | None = None
        for s in self.scopes.chain(pos, _MAX_LOOKUP_WALK):
            key = (s, name)
            if key in self.params or key in self.bindings or key in self.functions:
                found = key
                break
        if self._frozen:
            self._keys[memo] = found
        return found

    def param_at(self, node: Node) -> tuple[int, int] | None:
        """(function scope, position) when the identifier ``node`` names a parameter."""
        key = self.binding_key(self.text_of(node), node.start_byte)
        if key is None or key not in self.params:
            return None
        index = self.param_index.get(key)
        return (key[0], index) if index is not None else None

    def function_at(self, node: Node) -> int | None:
        """The scope index of the function the identifier ``node`` calls, when it is a known one."""
        key = self.binding_key(self.text_of(node), node.start_byte)
        if key is None or key in self.params:
            return None
        fn = self.functions.get(key, -1)
        if fn < 0 or (key in self.bindings and self.values.get(key) is None):
            return None  # several functions, or rebound to something else
        return fn

    def value_of(self, node: Node) -> Node | None:
        """The one expression the identifier ``node`` is bound to (declaration or assignment)."""
        key = self.binding_key(self.text_of(node), node.start_byte)
        return self.values.get(key) if key is not None and key not in self.params else None

    def is_location_alias(self, name: str, pos: int) -> bool:
        key = self._declaration(name, pos)
        return key is not None and key not in self.params and key in self.location_aliases

    def bind_declaration(self, name: str, at: int, value: Node) -> tuple[int, str]:
        key = (self.scopes.innermost(at), name)
        self._bind(key, value)
        return key

    def bind_assignment(self, name: str, at: int, value: Node) -> tuple[int, str] | None:
        target = 0
        for s in self.scopes.chain(at, _MAX_LOOKUP_WALK):
            if (s, name) in self.params:
                return None
            if (s, name) in self.bindings:
                target = s
                break
        self._bind((target, name), value)
        return (target, name)

    def bind_function(self, key: tuple[int, str], fn: int) -> None:
        """``key`` names the function whose scope index is ``fn`` (-1 once it names several)."""
        self.functions[key] = fn if self.functions.get(key, fn) == fn else -1

    def _bind(self, key: tuple[int, str], value: Node) -> None:
        new: _Binding
        value = _strip_parens(value)
        self.values[key] = value if key not in self.values else None
        if value.type == "object":
            self.objects[key] = self._object(value) if key not in self.objects else None
        if value.type == "array":
            items = _named(value)
            new = tuple(self.resolve(i).text for i in items) if items and len(items) <= 20000 else None
            if new is not None and any(_UNKNOWN in s for s in new):
                new = None
        else:
            v = self.resolve(value)
            new = v.text if v.complete else None
            if new is None and value.type in _ALIAS_TYPES and self.mentions(value, _LOCATION_WORDS, budget=12):
                self.location_aliases.add(key)
        if key in self.bindings and self.bindings[key] != new:
            new = None
        self.bindings[key] = new

    def _object(self, node: Node) -> dict[str, str] | None:
        """``{n: '#cc', e: '#exp'}``: the string-valued properties of an object literal."""
        pairs = _named(node)
        if len(pairs) > 2000:
            return None
        out: dict[str, str] = {}
        for p in pairs:
            if p.type != "pair":
                continue
            key, value = p.child_by_field_id(_F_KEY), p.child_by_field_id(_F_VALUE)
            if key is None or value is None or key.type not in ("property_identifier", "string"):
                continue
            text = self.text_of(key) if key.type == "property_identifier" else self.string_of(key)
            v = self.string_of(value) if value.type in ("string", "binary_expression", "template_string") else None
            if text is not None and v is not None:
                out[text] = v
        return out

    def object_property(self, obj: Node, prop: str) -> str | None:
        """``SEL.n`` / ``SEL['n']`` for a constant object ``SEL`` (bound once, to a literal)."""
        obj = _strip_parens(obj)
        if obj.type != "identifier":
            return None
        key = self.binding_key(self.text_of(obj), obj.start_byte)
        if key is None or key in self.params:
            return None
        props = self.objects.get(key)
        return props.get(prop) if props is not None else None

    # -- evaluation ----------------------------------------------------------------------------
    def string_of(self, node: Node | None) -> str | None:
        """The complete value of ``node``, or None."""
        if node is None:
            return None
        v = self.resolve(node)
        return v.text if v.complete else None

    def resolve(self, node: Node) -> _Value:
        cached = self._cache.get(node.id)
        if cached is not None:
            return cached
        value = self._resolve(node)
        if len(self._cache) < 50000:
            self._cache[node.id] = value
        return value

    def _resolve(self, root: Node) -> _Value:
        kind = root.kind_id
        if kind not in _EVALUATED_KIND_IDS:  # a function, object, ``this`` ...: nothing to evaluate
            return _UNKNOWN_VALUE
        if kind in _LEAF_KIND_IDS:  # most values: without the machinery below
            text, decoded = self._leaf(root, kind)
            return _Value(text, _UNKNOWN not in text, decoded)
        # Post-order evaluation with an explicit stack: ("eval", node) pushes operands,
        # (op, node, arity) combines the last ``arity`` results.
        work: list[tuple[str, Node, int]] = [("eval", root, 0)]
        out: list[str] = []
        decoded = False
        steps = 0
        while work:
            op, n, arity = work.pop()
            steps += 1
            if steps > _RESOLVE_BUDGET:
                return _Value(_UNKNOWN, False, decoded)
            if op != "eval":
                vals = out[len(out) - arity :] if arity else []
                del out[len(out) - arity :]
                out.append(self._combine(op, vals))
                if len(out[-1]) > _MAX_VALUE_CHARS:
                    return _Value(_UNKNOWN, False, decoded)
                continue
            kind = n.kind_id
            if kind in _LEAF_KIND_IDS:
                text, leaf_decoded = self._leaf(n, kind)
                decoded = decoded or leaf_decoded
                out.append(text)
            elif kind == _K_PARENTHESIZED_EXPRESSION:
                inner = _strip_parens(n)
                if inner is n:
                    out.append(_UNKNOWN)
                else:
                    work.append(("eval", inner, 0))
            elif kind == _K_BINARY_EXPRESSION:
                operator = n.child_by_field_id(_F_OPERATOR)
                left, right = n.child_by_field_id(_F_LEFT), n.child_by_field_id(_F_RIGHT)
                if operator is None or operator.type != "+" or left is None or right is None:
                    out.append(_UNKNOWN)
                else:
                    work.append(("concat", n, 2))
                    work.append(("eval", right, 0))
                    work.append(("eval", left, 0))
            elif kind == _K_SUBSCRIPT_EXPRESSION:
                v = self._subscript(n)
                if v is not None:
                    decoded = True
                out.append(v if v is not None else _UNKNOWN)
            elif kind == _K_MEMBER_EXPRESSION:
                prop = n.child_by_field_id(_F_PROPERTY)
                obj = n.child_by_field_id(_F_OBJECT)
                v = self.object_property(obj, self.text_of(prop)) if prop is not None and obj is not None else None
                out.append(v if v is not None else _UNKNOWN)
            elif kind == _K_CALL_EXPRESSION:
                plan = self.call_plan(n)
                if plan is None:
                    out.append(_UNKNOWN)
                else:
                    name, operands = plan
                    decoded = decoded or name in ("atob", "fromCharCode", "reverse", "unescape")
                    if name == "fromCharCode":
                        out.append(self._from_char_code(operands))
                        continue
                    work.append((name, n, len(operands)))
                    for o in reversed(operands):
                        work.append(("eval", o, 0))
            else:
                out.append(_UNKNOWN)
        text = out[-1] if out else _UNKNOWN
        return _Value(text, _UNKNOWN not in text, decoded)

    def _leaf(self, n: Node, kind: int) -> tuple[str, bool]:
        """The value of a string, template, number or identifier node (:data:`_LEAF_KIND_IDS`), and
        whether it needed an escape decoded."""
        if kind == _K_STRING:
            raw = self.text_of(n)[1:-1]
            return _unescape_js(raw), "\\" in raw and _CODE_ESCAPE_RE.search(raw) is not None
        if kind == _K_TEMPLATE_STRING:
            if any(c.type == "template_substitution" for c in n.children):
                return _UNKNOWN, False
            return _unescape_js(self.text_of(n)[1:-1]), False
        if kind == _K_NUMBER:
            num = _number(self.text_of(n))
            return (str(num) if num is not None else _UNKNOWN), False
        b = self.lookup(self.text_of(n), n.start_byte)  # an identifier
        return (b if isinstance(b, str) else _UNKNOWN), False

    def _combine(self, op: str, vals: list[str]) -> str:
        if op in ("concat", "join-literal", "concat-method"):
            return "".join(vals)
        if not vals or _UNKNOWN in vals[0]:
            return _UNKNOWN
        v = vals[0]
        if op == "atob":
            try:
                return base64.b64decode(v + "=" * (-len(v) % 4), validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return _UNKNOWN
        if op == "reverse":
            return v[::-1]
        if op == "unescape":
            return urllib.parse.unquote(v)
        if op == "lower":
            return v.lower()
        if op == "upper":
            return v.upper()
        if op == "trim":
            return v.strip()
        return _UNKNOWN

    def _from_char_code(self, operands: list[Node]) -> str:
        chars = []
        for o in operands:
            num = _number(self.text_of(o)) if o.type == "number" else None
            if num is None or not 0 <= num <= 0x10FFFF:
                return _UNKNOWN
            chars.append(chr(num))
        return _fix_surrogates("".join(chars))

    def call_plan(self, n: Node) -> tuple[str, list[Node]] | None:
        callee = n.child_by_field_id(_F_FUNCTION)
        if callee is None:
            return None
        args = _args(n)
        if callee.type == "identifier":
            name = self.text_of(callee)
            if name == "atob" and len(args) == 1:
                return "atob", args
            if name in ("decodeURIComponent", "decodeURI", "unescape") and len(args) == 1:
                return "unescape", args
            return None
        if callee.type not in ("member_expression", "subscript_expression"):
            return None
        method = self.property_name(callee)
        obj = callee.child_by_field_id(_F_OBJECT)
        if obj is None or method is None:
            return None
        if method == "fromCharCode" and args and len(args) <= 4096:
            return "fromCharCode", args
        if method == "atob" and len(args) == 1 and self.text_of(obj) in _WINDOWISH:
            return "atob", args
        if method == "join" and len(args) <= 1:
            sep = self.string_of(args[0]) if args else ","
            inner = _strip_parens(obj)
            # X.split('').reverse().join('')
            if sep == "" and inner.type == "call_expression":
                rev_callee = inner.child_by_field_id(_F_FUNCTION)
                if rev_callee is not None and self.property_name(rev_callee) == "reverse":
                    split_call = rev_callee.child_by_field_id(_F_OBJECT)
                    split_call = _strip_parens(split_call) if split_call is not None else None
                    if split_call is not None and split_call.type == "call_expression":
                        split_callee = split_call.child_by_field_id(_F_FUNCTION)
                        split_args = _args(split_call)
                        if (
                            split_callee is not None
                            and self.property_name(split_callee) == "split"
                            and len(split_args) == 1
                            and self.string_of(split_args[0]) == ""
                        ):
                            target = split_callee.child_by_field_id(_F_OBJECT)
                            if target is not None:
                                return "reverse", [target]
            if sep == "" and inner.type == "array":
                items = _named(inner)
                if len(items) <= 4096:
                    return "join-literal", items
            return None
        if method == "concat" and len(args) <= 64:
            return "concat-method", [obj, *args]
        if method in ("toLowerCase", "toUpperCase", "trim") and not args:
            return {"toLowerCase": "lower", "toUpperCase": "upper", "trim": "trim"}[method], [obj]
        return None

    def _subscript(self, n: Node) -> str | None:
        obj = n.child_by_field_id(_F_OBJECT)
        index = n.child_by_field_id(_F_INDEX)
        if obj is None or index is None:
            return None
        idx = self.index_value(index)
        if idx is None:
            if _strip_parens(index).type == "string":
                key = self.string_of(index)
                return self.object_property(obj, key) if key is not None else None
            return None
        obj = _strip_parens(obj)
        if obj.type == "identifier":
            b = self.lookup(self.text_of(obj), obj.start_byte)
            if isinstance(b, tuple) and 0 <= idx < len(b):
                return b[idx]
            if isinstance(b, str) and 0 <= idx < len(b):
                return b[idx]
            return None
        if obj.type == "array":
            items = _named(obj)
            if 0 <= idx < len(items) and len(items) <= 4096:
                return self.string_of(items[idx])
            return None
        if obj.type == "string":
            s = self.string_of(obj)
            return s[idx] if s is not None and 0 <= idx < len(s) else None
        return None

    def index_value(self, index: Node) -> int | None:
        index = _strip_parens(index)
        if index.type == "number":
            return _number(self.text_of(index))
        if index.type == "string":
            s = self.string_of(index)
            return _number(s) if s else None
        return None

    def property_name(self, node: Node) -> str | None:
        """``value`` for ``x.value``, ``x['value']`` and ``x[_0xab[3]]`` (when it resolves)."""
        kind = node.kind_id
        if kind == _K_MEMBER_EXPRESSION:
            p = node.child_by_field_id(_F_PROPERTY)
            return self.text_of(p) if p is not None else None
        if kind == _K_SUBSCRIPT_EXPRESSION:
            index = node.child_by_field_id(_F_INDEX)
            if index is None or index.kind_id == _K_NUMBER:
                return None
            return self.string_of(index)
        return None

    def path(self, node: Node | None, limit: int = 12, depth: int = 0) -> str:
        """A dotted name for a member chain: ``window.location.href``, ``$().val``, ``?`` (calls
        in the chain are followed three deep: ``a.b().c().d()`` chains can be thousands long)."""
        parts: list[str] = []
        for _ in range(limit):
            if node is None:
                break
            node = _strip_parens(node)
            if node.type in ("member_expression", "subscript_expression"):
                parts.append(self.property_name(node) or "?")
                node = node.child_by_field_id(_F_OBJECT)
                continue
            if node.type in ("identifier", "this", "property_identifier"):
                parts.append(self.text_of(node))
            elif node.type == "call_expression":
                callee = node.child_by_field_id(_F_FUNCTION)
                inner = self.path(callee, 3, depth + 1) if callee is not None and depth < 3 else "?"
                parts.append(inner + "()")
            elif node.type == "new_expression":
                ctor = node.child_by_field_id(_F_CONSTRUCTOR)
                parts.append("new " + (self.text_of(ctor)[:40] if ctor is not None else "?"))
            else:
                parts.append("?")
            break
        return ".".join(reversed(parts))

    def mentions(self, node: Node, words: frozenset[str], budget: int = 64) -> bool:
        """Does the (small) subtree name one of ``words`` (identifier, property or resolved key)?"""
        stack = [node]
        seen = 0
        location = words is _LOCATION_WORDS
        while stack and seen < budget:
            n = stack.pop()
            seen += 1
            kind = n.kind_id  # (cheaper than ``type``: this runs for every comparison and alias)
            if kind in (_K_IDENTIFIER, _K_PROPERTY_IDENTIFIER):
                name = self.text_of(n)
                if name in words:
                    return True
                if location and kind == _K_IDENTIFIER and self.is_location_alias(name, n.start_byte):
                    return True
                continue  # a token: nothing inside
            if kind == _K_SUBSCRIPT_EXPRESSION:
                key = self.property_name(n)
                if key is not None and key in words:
                    return True
            elif kind in _FUNCTION_KIND_IDS:
                continue
            stack.extend(n.named_children)
        return False


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Occ:
    """An occurrence of a fact or trait (internal)."""

    fact: str
    start: int
    row: int
    col: int  # bytes
    end: int
    kind: str = (
        ""  # network-sink: beacon|loader|nav|form (pending-src|pending-href until paired); encodes-data: strong|weak
    )
    computed: bool = False
    decoded: bool = False  # network-sink: URL needed decoding (atob, array lookup ...)
    detail: str = ""  # resolved URL or markup, for explanations
    same_origin: bool = False  # network-sink: the URL starts with a relative path ("/x?", "./x")
    fixed: bool = False  # network-sink: a request to a plain literal URL or a configuration property


def _occ(
    fact: str, node: Node, kind: str = "", computed: bool = False, decoded: bool = False, detail: str = ""
) -> _Occ:
    return _Occ(
        fact,
        node.start_byte,
        node.start_point.row,
        node.start_point.column,
        node.end_byte,
        kind,
        computed,
        decoded,
        detail,
    )


class _Collector:
    """Turns query captures into facts."""

    def __init__(
        self, src: bytes, text_of: _TextOf, resolver: _Resolver, deadline: float, parents: dict[int, Node]
    ) -> None:
        self.src = src
        self.parents = parents
        self.text_of = text_of
        self.r = resolver
        self.deadline = deadline
        self.facts: dict[str, list[_Occ]] = {}
        self.card_context = False
        self.calls: list[tuple[Node, int, list[Node]]] = []  # calls of this text's own functions
        self._count = 0
        self._url_props: set[str] | None = None
        self.url_nodes: tuple[list[Node], list[Node]] = ([], [])  # assignments, strings (see url_props)

    def add(self, occ: _Occ) -> None:
        lst = self.facts.setdefault(occ.fact, [])
        if len(lst) < _MAX_OCCURRENCES_PER_FACT:
            lst.append(occ)

    def tick(self) -> None:
        self._count += 1
        if self._count % _CHECK_EVERY == 0 and time.monotonic() > self.deadline:
            raise _Timeout

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Timeout

    # -- sinks ---------------------------------------------------------------------------------
    def sink(self, node: Node, kind: str, url: Node | None, request: bool = False) -> None:
        """``request``: fetch, XMLHttpRequest or jQuery ajax, whose response the page can use."""
        computed, decoded, same_origin, detail = self.url_facts(url)
        occ = _occ("network-sink", node, kind=kind, computed=computed, decoded=decoded, detail=detail)
        fixed = request and url is not None and not decoded and (self.plain_url(url) or self.configured_url(url))
        if same_origin or fixed:
            occ = dataclasses.replace(occ, same_origin=same_origin, fixed=fixed)
        self.add(occ)
        if request:
            self.response_handlers(node)

    def plain_url(self, url: Node) -> bool:
        """A string literal with no escapes, inline or in a constant bound once."""
        url = _strip_parens(url)
        if url.type == "identifier":
            bound = self.r.value_of(url)
            url = _strip_parens(bound) if bound is not None else url
        if url.type != "string":
            return False
        v = self.r.resolve(url)
        return v.complete and not v.decoded

    def response_handlers(self, call: Node) -> None:
        """``fetch(...).then(h)``, ``$.ajax(...).done(h)``: code in ``h`` runs after the request
        (a redirect to the receipt, a token written into the form), so it does not aggravate it."""
        node = call
        for _ in range(16):
            member = self.parent(node)
            if member is None or member.type != "member_expression":
                return
            chained = self.parent(member)
            if self.r.property_name(member) not in _PROMISE_METHODS or chained is None:
                return
            if chained.type != "call_expression":
                return
            a = chained.child_by_field_id(_F_ARGUMENTS)
            if a is not None:
                self.add(_occ("after-response", a))
            node = chained

    def configured_url(self, url: Node) -> bool:
        """Is the URL a property of a configuration object the page provides, optionally with a
        plain literal fallback: ``(window.SHOP || {}).tokenUrl || "https://psp.test/v1/tokens"``,
        ``this.options.endpoint``, ``cfg.url`` for a parameter ``cfg`` (followed through variables)?
        Not: objects this text builds itself, location/DOM properties, decoded strings."""
        work = [_strip_parens(url)]
        root_only = [False]
        for _ in range(16):
            if not work:
                return True
            n = _strip_parens(work.pop())
            root = root_only.pop()
            if n.type == "identifier":
                name = self.text_of(n)
                key = self.r.binding_key(name, n.start_byte)
                if key is None:
                    if not root or name in _LOCATION_WORDS or name in ("document", "$", "jQuery"):
                        return False  # a bare global URL variable says nothing; a global object may be config
                    continue
                if key in self.r.params:
                    if not root:
                        return False
                    continue
                bound = self.r.values.get(key)
                if bound is None or _strip_parens(bound).type == "object":
                    return False  # several values, or an object literal written here
                work.append(bound)
                root_only.append(root)
            elif n.type in ("this", "null", "undefined"):
                if not root:
                    return False
            elif n.type == "object" and root and not _named(n):
                continue  # the `{}` of (window.X || {})
            elif n.type == "binary_expression":
                op = n.child_by_field_id(_F_OPERATOR)
                left, right = n.child_by_field_id(_F_LEFT), n.child_by_field_id(_F_RIGHT)
                if op is None or op.type not in ("||", "??") or left is None or right is None:
                    return False
                work.append(left)
                root_only.append(root)
                right = _strip_parens(right)
                if not root and right.type == "string" and not self.r.resolve(right).decoded:
                    continue  # the plain fallback
                work.append(right)
                root_only.append(root)
            elif n.type == "member_expression":
                prop = n.child_by_field_id(_F_PROPERTY)
                obj = n.child_by_field_id(_F_OBJECT)
                if prop is None or obj is None or prop.type != "property_identifier":
                    return False
                name = self.text_of(prop)
                if name in _NOT_CONFIG_PROPS or name in _LOCATION_WORDS or name in self.url_props():
                    return False
                work.append(obj)
                root_only.append(True)
            else:
                return False
        return False

    def url_facts(self, url: Node | None) -> tuple[bool, bool, bool, str]:
        """(computed, decoded, same-origin, shown) for a sink's URL expression."""
        if url is None:
            return True, False, False, ""
        url = _strip_parens(url)
        v = self.r.resolve(url)
        shown = v.text.replace(_UNKNOWN, "…")[:100]
        same_origin = bool(_RELATIVE_URL_RE.match(v.text))
        if _is_literal(url):
            return bool(_ABSOLUTE_URL_RE.match(v.text)), v.decoded, same_origin, shown
        return True, v.decoded, same_origin, shown

    # -- calls ---------------------------------------------------------------------------------
    def call(self, n: Node) -> None:
        callee = n.child_by_field_id(_F_FUNCTION)
        if callee is None:
            return
        r = self.r
        recv: Node | None = None
        callee_kind = callee.kind_id
        bare = callee_kind == _K_IDENTIFIER
        if bare:
            name = self.text_of(callee)
        elif callee_kind in (_K_MEMBER_EXPRESSION, _K_SUBSCRIPT_EXPRESSION):
            pname = r.property_name(callee)
            if pname is None:
                return
            name = pname
            if name not in _SELECTOR_METHODS and name not in _CALL_FACT_NAMES:
                return  # most method calls: nothing below can match
            recv = callee.child_by_field_id(_F_OBJECT)
        else:
            return
        args = _args(n)

        # selectors: querySelector & co, jQuery $('...'), any call with a selector-looking string
        if args and (bare or name in _SELECTOR_METHODS):
            sel = r.resolve(args[0])
            if sel.complete and sel.text and len(sel.text) <= 2000:
                self.selector(n, name, sel.text, bare)
            elif name in _SELECTOR_METHODS or _is_jquery_name(name):
                self.param_query(n, args[0])
        if args and bare and len(self.calls) < _MAX_OCCURRENCES_PER_FACT * 4:
            fn = r.function_at(callee)
            if fn is not None:
                self.calls.append((n, fn, args))  # looked at once the helpers are known
        if name not in _CALL_FACT_NAMES:
            return  # most calls: none of the branches below can match
        recv_path = r.path(recv) if recv is not None else ""
        last = recv_path.rsplit(".", 1)[-1]
        if (name == "val" and not args and recv is not None) or (
            name == "getAttribute" and len(args) == 1 and r.string_of(args[0]) == "value"
        ):
            self.add(_occ("value-read", n, detail=self.base_name(recv)))
            if recv is not None:
                self.param_value(n, recv)
        elif name in ("serializeArray", "serializeObject", "serializeJSON") or (
            name == "serialize"
            and recv is not None
            and (_strip_parens(recv).type == "call_expression" or last in ("Form", "$", "jQuery"))
        ):
            self.add(_occ("reads-form", n, kind="whole"))
        elif name in _LISTEN_METHODS and args:
            ev_arg = args[0]
            ev = r.string_of(ev_arg)
            if ev is not None:
                events = {e.strip().lower().removeprefix("on").split(".")[0] for e in re.split(r"[\s,]+", ev)}
                if events & _TRIGGER_EVENTS and len(args) >= 2:
                    self.add(_occ("submit-trigger", n))
        elif name in _JQ_TRIGGER_METHODS and args and recv is not None:
            if _strip_parens(args[-1]).type in ("function_expression", "arrow_function", "identifier"):
                self.add(_occ("submit-trigger", n))
        elif name in ("setTimeout", "setInterval") and args and last in _WINDOWISH:
            if _strip_parens(args[0]).type in (
                "function_expression",
                "arrow_function",
                "identifier",
                "member_expression",
            ):
                self.add(_occ("timer", n, kind=name))
        elif name == "fetch" and args and last in _WINDOWISH:
            self.sink(n, "beacon", args[0], request=True)
        elif name == "sendBeacon" and args:
            self.sink(n, "beacon", args[0])
        elif name == "open" and args:
            if callee.type == "identifier" or (recv is not None and last in _WINDOWISH):
                self.sink(n, "nav", args[0])
            elif len(args) >= 2:
                method = r.string_of(args[0])
                if (method is not None and _HTTP_METHOD_RE.match(method)) or (
                    method is None and b"XMLHttpRequest" in self.src
                ):
                    self.sink(n, "beacon", args[1], request=True)
        elif name == "ajax" and args:
            self.sink(n, "beacon", self.ajax_url(args[0]), request=True)
        elif name in ("post", "get", "getJSON") and args and last in ("$", "jQuery", "axios", "$j", "jQ"):
            self.sink(n, "beacon", args[0], request=True)
        elif name == "getScript" and args:
            self.sink(n, "loader", args[0])
        elif name in ("assign", "replace") and args and last == "location":
            self.sink(n, "nav", args[0])
        elif name in ("setAttribute", "attr") and len(args) == 2:
            attr = (r.string_of(args[0]) or "").lower()
            if attr == "src":
                self.sink(n, "pending-src", args[1])
            elif attr == "href":
                self.sink(n, "pending-href", args[1])
            elif attr == "action":
                self.sink(n, "form", args[1])
        elif name == "createElement" and args:
            tag = (r.string_of(args[0]) or "").lower()
            if tag in ("script", "iframe"):
                self.add(_occ("loader-element", n))
            elif tag == "link":
                self.add(_occ("link-element", n))
        elif name in ("write", "writeln") and args and last == "document":
            self.html_sink(n, args)
        elif name in _HTML_METHODS and args:
            self.html_sink(n, args[-1:], require_markup=name != "insertAdjacentHTML")
        elif name in ("btoa",) and args and last in _WINDOWISH and not _is_literal(args[0]):
            self.add(_occ("encodes-data", n, kind="strong"))
        elif name in ("encodeURIComponent", "escape", "encodeURI") and args and not _is_literal(args[0]):
            if last in _WINDOWISH:
                self.add(_occ("encodes-data", n, kind="weak"))
        elif name == "stringify" and last == "JSON" and args and not _is_literal(args[0]):
            self.add(_occ("encodes-data", n, kind="json"))
        elif (name == "encrypt" and ("AES" in recv_path or "CryptoJS" in recv_path or "RC4" in recv_path)) or (
            name == "join" and self.is_reverse_join(n)
        ):
            self.add(_occ("encodes-data", n, kind="strong"))
        elif name == "charCodeAt":
            self.add(_occ("char-code", n))
        elif name == "toString" and len(args) == 1 and r.string_of(args[0]) in ("16", "36"):
            self.add(_occ("radix", n))
        elif name in ("test", "exec") and args and recv is not None:
            if r.mentions(args[0], _LOCATION_WORDS):
                pattern = self.pattern_of(recv)
                if pattern is not None and _CHECKOUT_RE.search(pattern):
                    self.add(_occ("checkout-gate", n))
            elif r.mentions(args[0], _NAME_WORDS, budget=8):
                self.card_compare(n, recv)
        elif name in ("indexOf", "includes", "search", "match", "startsWith", "endsWith", "lastIndexOf") and args:
            if recv is not None and r.mentions(recv, _LOCATION_WORDS):
                arg = _strip_parens(args[0])
                pattern = self.pattern_of(arg) if arg.type in ("regex", "new_expression") else r.string_of(arg)
                if pattern is not None and _CHECKOUT_RE.search(pattern):
                    self.add(_occ("checkout-gate", n))
            elif recv is not None and r.mentions(recv, _NAME_WORDS, budget=8):
                self.card_compare(n, args[0])
        elif (
            (name == "setItem" and len(args) == 2 and ("Storage" in recv_path) and not _is_literal(args[1]))
            or (name in ("cookie",) and len(args) >= 2 and last in ("$", "jQuery") and not _is_literal(args[1]))
            or (name == "set" and last == "Cookies" and len(args) >= 2 and not _is_literal(args[1]))
        ):
            self.add(_occ("staging", n))
        elif name == "defineProperty" and len(args) == 3 and r.string_of(args[1]) == "id":
            desc = _strip_parens(args[2])
            if desc.type == "object" and any(self.pair_key(p) == "get" for p in _named(desc)):
                self.add(_occ("anti-analysis", n))

    def is_reverse_join(self, n: Node) -> bool:
        plan = self.r.call_plan(n)
        if plan is None or plan[0] != "reverse":
            return False
        return not _is_literal(plan[1][0])

    def pattern_of(self, node: Node) -> str | None:
        node = _strip_parens(node)
        if node.type == "regex":
            p = node.child_by_field_id(_F_PATTERN)
            return self.text_of(p) if p is not None else None
        if node.type == "new_expression":
            ctor = node.child_by_field_id(_F_CONSTRUCTOR)
            if ctor is not None and self.text_of(ctor) == "RegExp":
                args = _args(node)
                return self.r.string_of(args[0]) if args else None
        if node.type == "identifier":
            b = self.r.lookup(self.text_of(node), node.start_byte)
            return b if isinstance(b, str) else None
        return self.r.string_of(node)

    def pair_key(self, pair: Node) -> str | None:
        if pair.type == "shorthand_property_identifier":
            return self.text_of(pair)
        if pair.type not in ("pair", "method_definition"):
            return None
        key = pair.child_by_field_id(_F_KEY) or pair.child_by_field_id(_F_NAME)
        if key is None:
            return None
        if key.type in ("property_identifier", "identifier"):
            return self.text_of(key)
        if key.type == "computed_property_name":
            inner = _named(key)
            return self.r.string_of(inner[0]) if inner else None
        return self.r.string_of(key)

    def ajax_url(self, arg: Node) -> Node | None:
        arg = _strip_parens(arg)
        if arg.type == "object":
            url = None
            for p in _named(arg):
                key = self.pair_key(p)
                if p.type == "pair" and key == "url":
                    url = p.child_by_field_id(_F_VALUE)
                elif key in ("success", "complete", "error"):
                    self.add(_occ("after-response", p))
            return url
        return arg

    def selector(self, n: Node, method: str, sel: str, bare_call: bool) -> None:
        looks_like_selector = method in _SELECTOR_METHODS or bool(_SELECTOR_SHAPE_RE.match(sel))
        if bare_call and not looks_like_selector and not _is_jquery_name(method):
            return
        if method in ("getElementsByTagName",):
            if sel.lower() in ("input", "select", "textarea"):
                self.add(_occ("input-collection", n))
            elif sel.lower() == "form":
                self.add(_occ("input-collection", n, kind="form"))
            return
        if _is_card(sel) or _CARD_SELECTOR_RE.search(sel):
            self.add(_occ("card-ref", n, detail=self.ref_use(n)))
            self.card_context = True
        elif _PERSONAL_RE.search(sel):
            self.add(_occ("personal-ref", n, kind=_personal_kind(sel), detail=self.ref_use(n)))
        if _PAYMENT_SELECTOR_RE.search(sel):
            self.card_context = True
        if method in ("querySelectorAll", "find", "children", "filter") or bare_call:
            parts = [p for p in sel.split(",") if p.strip()]
            if bare_call and not _is_jquery_name(method) and len(parts) < 2:
                return  # E('input') is more often createElement than a jQuery collection
            if (
                parts
                and all(_INPUT_COLLECTION_PART.match(p) for p in parts)
                and re.search(r"input|select|textarea|\*", sel, re.IGNORECASE)
            ):
                self.add(_occ("input-collection", n))
            elif re.fullmatch(r"\s*form\s*", sel, re.IGNORECASE):
                self.add(_occ("input-collection", n, kind="form"))

    # -- reads through helper functions -------------------------------------------------------------
    # ``function v(q){var e=d.querySelector(q);return e&&e.value}`` called as ``v('#cc_number')``, and
    # ``function g(el){return el.value}`` called as ``g(d.getElementById('cc_number'))``: the helper
    # marks which parameter it queries or reads ("param-ref"/"param-value", kind ``SCOPE:POSITION``),
    # each call of a known function with a card/personal literal or field marks a "helper-arg";
    # :func:`_derive` pairs them.
    def param_in(self, node: Node) -> tuple[int, int] | None:
        """The parameter an expression is built from: ``q``, ``'#' + q``, `` `[name=${q}]` ``."""
        stack = [node]
        for _ in range(24):
            if not stack:
                return None
            n = _strip_parens(stack.pop())
            if n.type == "identifier":
                found = self.r.param_at(n)
                if found is not None:
                    return found
            elif n.type == "binary_expression" or n.type in ("template_string", "template_substitution"):
                stack.extend(reversed(_named(n)))
        return None

    def param_query(self, n: Node, arg: Node) -> None:
        """A DOM query (or jQuery call) on a parameter: remember how its result is used."""
        found = self.param_in(arg)
        if found is not None:
            self.add(_occ("param-ref", n, kind=f"{found[0]}:{found[1]}", detail=self.ref_use(n)))

    def param_value(self, n: Node, obj: Node) -> None:
        """``p.value`` / ``p.val()`` / ``$(p).val()`` / ``elements[p].value`` on a parameter ``p``."""
        obj = _strip_parens(obj)
        if obj.type == "call_expression":
            callee = obj.child_by_field_id(_F_FUNCTION)
            args = _args(obj)
            if callee is None or callee.type != "identifier" or len(args) != 1:
                return
            if not _is_jquery_name(self.text_of(callee)):
                return
            obj = _strip_parens(args[0])
        if obj.type == "identifier":
            found = self.r.param_at(obj)
            if found is not None:
                self.add(_occ("param-value", n, kind=f"{found[0]}:{found[1]}"))
        elif obj.type == "subscript_expression":
            index, inner = obj.child_by_field_id(_F_INDEX), obj.child_by_field_id(_F_OBJECT)
            if (
                index is not None
                and inner is not None
                and _strip_parens(index).type == "identifier"
                and self.r.path(inner).rsplit(".", 1)[-1] == "elements"
            ):
                found = self.r.param_at(_strip_parens(index))
                if found is not None:
                    self.add(_occ("param-ref", n, kind=f"{found[0]}:{found[1]}", detail="direct"))

    def helper_calls(self) -> None:
        """Calls of functions that query or read their parameters (only those are resolved)."""
        helpers = {int(o.kind.split(":")[0]) for f in ("param-ref", "param-value") for o in self.facts.get(f, [])}
        for n, fn, args in self.calls if helpers else []:
            if fn in helpers:
                self.tick()
                self.helper_call(n, fn, args)

    def url_props(self) -> set[str]:
        """Properties this text itself sets to an absolute URL (``x.url = 'https://…'``,
        ``{url: 'https://…'}``): reading them back is not reading the page's configuration.
        Computed on first use (few texts need it)."""
        if self._url_props is None:
            found: set[str] = set()
            assigns, strings = self.url_nodes
            for node in assigns:
                left, right = node.child_by_field_id(_F_LEFT), node.child_by_field_id(_F_RIGHT)
                if left is not None and right is not None and left.type == "member_expression":
                    prop = self.r.property_name(left)
                    if prop is not None and _ABSOLUTE_URL_RE.match(self.r.string_of(right) or ""):
                        found.add(prop)
            for node in strings:
                parent = self.parent(node)
                if (
                    parent is not None
                    and parent.type == "pair"
                    and _ABSOLUTE_URL_RE.match(self.r.string_of(node) or "")
                ):
                    key = self.pair_key(parent)
                    if key is not None:
                        found.add(key)
            self._url_props = found
        return self._url_props

    def helper_call(self, n: Node, fn: int, args: list[Node]) -> None:
        """A call of a function of this text: a card/personal selector or field handed to it."""
        for index, arg in enumerate(args[:8]):
            a = _strip_parens(arg)
            element = self.r.value_of(a) if a.type == "identifier" else a
            text = self.queried(_strip_parens(element)) if element is not None else None
            mode = "el"
            if text is None:
                v = self.r.resolve(a)
                text, mode = (v.text if v.complete and len(v.text) <= 300 else None), "sel"
            if not text:
                continue
            if _is_card(text) or _CARD_SELECTOR_RE.search(text):
                self.add(_occ("helper-arg", n, kind="card", detail=f"{fn}:{index}:{mode}"))
                self.card_context = True
            elif _PERSONAL_RE.search(text):
                self.add(_occ("helper-arg", n, kind=_personal_kind(text), detail=f"{fn}:{index}:{mode}"))

    def queried(self, call: Node) -> str | None:
        """The selector/name/id of a DOM query call (``d.getElementById('cc')``, ``$('#cc')``,
        ``d.getElementsByName('cc')[0]``)."""
        if call.type == "subscript_expression":
            index, obj = call.child_by_field_id(_F_INDEX), call.child_by_field_id(_F_OBJECT)
            if index is None or obj is None or index.type != "number":
                return None
            call = _strip_parens(obj)
        if call.type != "call_expression":
            return None
        callee = call.child_by_field_id(_F_FUNCTION)
        args = _args(call)
        if callee is None or not args:
            return None
        if callee.type == "identifier":
            if not _is_jquery_name(self.text_of(callee)):
                return None
        elif self.r.property_name(callee) not in _SELECTOR_METHODS:
            return None
        text = self.r.string_of(args[0])
        return text if text is not None and len(text) <= 300 else None

    def card_compare(self, n: Node, other: Node) -> None:
        value = self.r.resolve(other)
        pattern = value.text if value.complete else None
        o = _strip_parens(other)
        if o.type == "regex":
            pattern = self.pattern_of(o)
        if pattern is not None and len(pattern) <= 300 and (_is_card(pattern) or _CARD_WORD_RE.match(pattern)):
            self.add(_occ("card-ref", n, detail="loose"))
            self.card_context = True

    def html_sink(self, n: Node, args: list[Node], require_markup: bool = False) -> None:
        parts = [self.r.resolve(a).text for a in args]
        markup = "".join(parts)
        if require_markup and "<" not in markup:
            return
        has_card_markup = bool(_MARKUP_INPUT_RE.search(markup) and _is_card(markup))
        self.add(_occ("html-sink", n, kind="card" if has_card_markup else ""))
        m = _MARKUP_LOADER_RE.search(markup)
        if m is not None:
            url = m.group(1)
            computed = url == "" or url.startswith(_UNKNOWN) or bool(_ABSOLUTE_URL_RE.match(url))
            self.add(_occ("network-sink", n, kind="loader", computed=computed, detail=url.replace(_UNKNOWN, "…")[:100]))

    # -- new -----------------------------------------------------------------------------------
    def new(self, n: Node) -> None:
        ctor = n.child_by_field_id(_F_CONSTRUCTOR)
        if ctor is None:
            return
        name = self.r.path(ctor).rsplit(".", 1)[-1]
        args = _args(n)
        if name in ("WebSocket", "EventSource"):
            self.sink(n, "beacon", args[0] if args else None)
        elif name == "RTCPeerConnection":
            self.add(_occ("network-sink", n, kind="beacon", computed=True, detail="WebRTC"))
        elif name == "FormData" and args:
            self.add(_occ("reads-form", n, kind="whole"))
        elif name == "Image":
            self.add(_occ("image-element", n))

    # -- assignments ---------------------------------------------------------------------------
    def assign(self, n: Node) -> None:
        left = n.child_by_field_id(_F_LEFT)
        right = n.child_by_field_id(_F_RIGHT)
        if left is None or right is None:
            return
        r = self.r
        if left.type == "identifier":
            if self.text_of(left) == "location":
                self.sink(n, "nav", right)
            return
        if left.type not in ("member_expression", "subscript_expression"):
            return
        prop = r.property_name(left)
        obj = left.child_by_field_id(_F_OBJECT)
        obj_path = r.path(obj)
        obj_last = obj_path.rsplit(".", 1)[-1]
        if prop == "src":
            o = _strip_parens(obj) if obj is not None else None
            kind = "pending-src"
            if o is not None and o.type == "new_expression":
                kind = "beacon"
            self.sink(n, kind, right)
        elif prop == "action":
            self.sink(n, "form", right)
        elif prop == "href" and obj_last != "location":
            self.sink(n, "pending-href", right)  # a <link> prefetch is a request; an <a> is not
        elif prop == "location" or (prop == "href" and obj_last == "location"):
            self.sink(n, "nav", right)
        elif prop in ("innerHTML", "outerHTML"):
            self.html_sink(n, [right])
        elif (prop == "cookie" and obj_last == "document" and not _is_literal(right)) or (
            obj_last in ("localStorage", "sessionStorage") and not _is_literal(right)
        ):
            self.add(_occ("staging", n))
        elif (
            prop is not None
            and prop.startswith("on")
            and prop[2:] in _TRIGGER_EVENTS
            and _strip_parens(right).type in _CALLBACK_TYPES
        ):
            self.add(_occ("submit-trigger", n))
        elif prop in _RESPONSE_EVENTS and obj is not None and self.is_xhr(obj):
            self.add(_occ("after-response", right))

    def is_xhr(self, obj: Node) -> bool:
        """Is ``obj`` a variable holding ``new XMLHttpRequest()``?"""
        obj = _strip_parens(obj)
        bound = self.r.value_of(obj) if obj.type == "identifier" else None
        if bound is None or _strip_parens(bound).type != "new_expression":
            return False
        ctor = _strip_parens(bound).child_by_field_id(_F_CONSTRUCTOR)
        return ctor is not None and self.text_of(ctor).endswith("XMLHttpRequest")

    # -- member and subscript reads ------------------------------------------------------------
    # (``Node.parent`` costs O(depth) in tree-sitter; parents come from the walk instead.)
    def parent(self, node: Node) -> Node | None:
        return self.parents.get(node.id)

    def is_write_target(self, node: Node) -> bool:
        parent = self.parent(node)
        if parent is None:
            return False
        if parent.type in ("assignment_expression", "augmented_assignment_expression"):
            left = parent.child_by_field_id(_F_LEFT)
            return left is not None and left.id == node.id
        return False

    def member_expression(self, member: Node) -> None:
        prop = member.child_by_field_id(_F_PROPERTY)
        if prop is None or prop.type != "property_identifier":
            return
        name = self.src[prop.start_byte : prop.end_byte]
        if name in _MEMBER_NAMES:
            self.member(member, name.decode())
        elif _CARD_PROP_HINT.search(name):
            self.card_prop(member, prop)

    def member(self, member: Node, name: str) -> None:
        if name == "value":
            if not self.is_write_target(member):
                obj = member.child_by_field_id(_F_OBJECT)
                self.add(_occ("value-read", member, detail=self.base_name(obj)))
                if obj is not None:
                    self.param_value(member, obj)
        elif name == "elements" and not self.picks_one(member):
            self.add(_occ("input-collection", member))
        elif name in _ANTI_PROPS:
            self.add(_occ("anti-analysis", member))
        elif name in ("outerWidth", "outerHeight"):
            parent = self.parent(member)
            if parent is not None and parent.type == "binary_expression":
                op = parent.child_by_field_id(_F_OPERATOR)
                if op is not None and op.type == "-" and "inner" in self.text_of(parent)[:200]:
                    self.add(_occ("anti-analysis", parent))

    def picks_one(self, member: Node) -> bool:
        """``form.elements['cc_number']`` / ``form.elements.email`` read one named field, not the form."""
        parent = self.parent(member)
        if parent is None:
            return False
        if parent.type == "subscript_expression":
            index = parent.child_by_field_id(_F_INDEX)
            key = self.r.string_of(index) if index is not None and index.type != "number" else None
            return key is not None and not key.isdigit()
        if parent.type == "member_expression":
            return self.r.property_name(parent) not in ("length", "forEach", "item")
        return False

    def base_name(self, node: Node | None) -> str:
        """The identifier a member chain starts from: ``inputs`` for ``inputs[i]``, ``this`` for
        ``$(this)``; empty when there is none."""
        for _ in range(8):
            if node is None:
                return ""
            node = _strip_parens(node)
            if node.type in ("identifier", "this"):
                return self.text_of(node)
            if node.type in ("member_expression", "subscript_expression"):
                node = node.child_by_field_id(_F_OBJECT)
            elif node.type == "call_expression":
                args = _args(node)
                callee = node.child_by_field_id(_F_FUNCTION)
                # $(el) / jQuery(el) wrap an element; x.find(...) / x.eq(0) keep the chain
                node = args[0] if callee is not None and callee.type == "identifier" and len(args) == 1 else callee
            else:
                return ""
        return ""

    def ref_use(self, ref: Node) -> str:
        """How a field reference is used, for pairing with a ``.value`` read: ``direct`` (read on
        the spot), ``var:NAME`` (kept in a variable), ``range:START:END`` (handed to a call, as
        receiver or argument: a listener or a loop reads it) or empty."""
        node = ref
        for _ in range(4):
            parent = self.parent(node)
            if parent is None:
                return ""
            if parent.type in ("member_expression", "subscript_expression"):
                prop = self.r.property_name(parent)
                if prop == "value":
                    return "" if self.is_write_target(parent) else "direct"
                grand = self.parent(parent)
                if prop == "val" and grand is not None and grand.type == "call_expression" and not _args(grand):
                    return "direct"
                index = parent.child_by_field_id(_F_INDEX)
                if parent.type == "subscript_expression" and index is not None and index.type == "number":
                    node = parent  # $(sel)[0].value
                    continue
                if grand is not None and grand.type == "call_expression":
                    if prop in ("first", "last", "eq", "get", "item"):
                        node = grand  # $(sel).first().val()
                        continue
                    return f"range:{grand.start_byte}:{grand.end_byte}"  # $(sel).on('change', ...)
                return ""
            if parent.type == "variable_declarator":
                target = parent.child_by_field_id(_F_NAME)
                return f"var:{self.text_of(target)}" if target is not None and target.type == "identifier" else ""
            if parent.type == "assignment_expression":
                target = parent.child_by_field_id(_F_LEFT)
                return f"var:{self.text_of(target)}" if target is not None and target.type == "identifier" else ""
            if parent.type == "arguments":
                call = self.parent(parent)
                return f"range:{call.start_byte}:{call.end_byte}" if call is not None else ""
            if parent.type == "parenthesized_expression":
                node = parent
                continue
            return ""
        return ""

    def read_follows(self, node: Node) -> bool:
        """Is ``node`` immediately read as ``.value`` (``node.value`` / ``node['value']``)?"""
        parent = self.parent(node)
        return (
            parent is not None
            and parent.type in ("member_expression", "subscript_expression")
            and self.r.property_name(parent) == "value"
        )

    def card_prop(self, member: Node, prop: Node) -> None:
        # form.cc_number.value / payment.cc_cid.value
        if _is_card(self.text_of(prop)) and self.read_follows(member):
            self.add(_occ("card-ref", member, detail="direct"))
            self.card_context = True

    def subscript_expression(self, sub: Node) -> None:
        index = sub.child_by_field_id(_F_INDEX)
        if index is None or index.type == "number":
            return
        name = self.r.property_name(sub)
        if not name or len(name) > 200:
            return
        if name in ("value", "elements", "outerWidth", "outerHeight") or name in _ANTI_PROPS:
            self.member(sub, name)
        elif _is_card(name) and self.read_follows(sub):
            # form.elements['cc_number'].value / payment['cc_cid'].value
            self.add(_occ("card-ref", sub, detail="direct"))
            self.card_context = True

    # -- literals ------------------------------------------------------------------------------
    def literal(self, n: Node) -> None:
        start, end = n.start_byte, n.end_byte
        if (
            end - start <= 402
            and not self.card_context
            and _LITERAL_CARD_HINT.search(self.src, start, end)
            and _is_card(_unescape_js(self.text_of(n)))
        ):
            self.card_context = True
        if n.kind_id == _K_REGEX or not _LITERAL_HINT.search(self.src, start, end):
            return
        raw = self.text_of(n)
        text = _unescape_js(raw[1:-1]) if len(raw) < 200000 else raw
        if "<" in text and _MARKUP_INPUT_RE.search(text) and _is_card(text):
            self.add(_occ("card-markup", n))
        if _B64_ALPHABET in text:
            self.add(_occ("encodes-data", n, kind="strong"))
        if any(a in text for a in _ANTI_STRINGS):
            self.add(_occ("anti-analysis", n))

    def compare(self, n: Node) -> None:
        op = n.child_by_field_id(_F_OPERATOR)
        if op is None or op.type not in _COMPARE_OPERATORS:
            return
        left, right = n.child_by_field_id(_F_LEFT), n.child_by_field_id(_F_RIGHT)
        if left is None or right is None:
            return
        if op.type == "^":
            self.add(_occ("xor", n))
            return
        for a, b in ((left, right), (right, left)):
            if self.r.mentions(a, _LOCATION_WORDS, budget=16):
                s = self.r.string_of(b)
                if s is not None and _CHECKOUT_RE.search(s):
                    self.add(_occ("checkout-gate", n))
                    return
            if self.r.mentions(a, _NAME_WORDS, budget=8):
                s = self.r.string_of(b)
                if s is not None and len(s) <= 200 and _is_card(s):
                    self.add(_occ("card-ref", n, detail="loose"))
                    self.card_context = True
                    return


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Analysis:
    report: StructureReport
    src: bytes
    scopes: _Scopes | None
    traits: dict[str, list[_Occ]]  # public trait -> occurrences sorted by start
    card_context: bool
    after: tuple[list[int], list[int]] = ([], [])  # disjoint response-handler byte ranges (starts, ends)


def _merge(occs: Iterable[_Occ]) -> tuple[list[int], list[int]]:
    """Disjoint byte ranges covering the occurrences, as sorted starts and ends."""
    starts: list[int] = []
    ends: list[int] = []
    for o in sorted(occs, key=lambda o: o.start):
        if ends and o.start <= ends[-1]:
            ends[-1] = max(ends[-1], o.end)
        else:
            starts.append(o.start)
            ends.append(o.end)
    return starts, ends


def _inside(ranges: tuple[list[int], list[int]], pos: int) -> bool:
    k = bisect_right(ranges[0], pos) - 1
    return k >= 0 and pos < ranges[1][k]


def _in_range(starts: list[int], lo: int, hi: int) -> bool:
    k = bisect_left(starts, lo)
    return k < len(starts) and starts[k] < hi


def _derive(facts: dict[str, list[_Occ]], scopes: _Scopes) -> dict[str, list[_Occ]]:
    """Pair low-level facts inside their innermost function into the public traits."""
    for lst in facts.values():
        lst.sort(key=lambda o: o.start)
    starts = {k: [o.start for o in v] for k, v in facts.items()}

    def in_same_function(occ: _Occ, fact: str) -> bool:
        s = scopes.items[scopes.innermost(occ.start)]
        return _in_range(starts.get(fact, []), s.start, s.end)

    out: dict[str, list[_Occ]] = {t.name: [] for t in TRAITS}
    for name in ("network-sink", "encodes-data", "checkout-gate", "submit-trigger", "timer"):
        out[name].extend(facts.get(name, []))
    for name in ("anti-analysis", "staging", "reads-form"):
        out[name].extend(facts.get(name, []))
    # (fact, fact it pairs with in the same function, trait it becomes)
    pairs = (
        ("card-ref", "value-read", "reads-card-field"),
        ("personal-ref", "value-read", "reads-personal-field"),
        ("input-collection", "value-read", "reads-form"),
        ("char-code", "xor", "encodes-data"),
        ("char-code", "radix", "encodes-data"),
        ("html-sink", "card-markup", "dom-injection"),
    )
    reads = facts.get("value-read", [])

    def is_read(ref: _Occ) -> bool:
        use = ref.detail
        if use == "direct":
            return True
        if use == "loose":
            return in_same_function(ref, "value-read")
        if use.startswith("var:"):
            name = use[4:]
            s = scopes.items[scopes.innermost(ref.start)]
            k = bisect_left(starts.get("value-read", []), s.start)
            for read in reads[k : k + _MAX_PAIRING_SCAN]:
                if read.start >= s.end:
                    break
                if read.detail == name:
                    return True
            return False
        if use.startswith("range:"):
            _, lo, hi = use.split(":")
            return _in_range(starts.get("value-read", []), int(lo), int(hi))
        return False

    # helpers that query their parameter and read the result (or read their parameter's value):
    # a card/personal selector or field handed to one is read at the call site
    readers = {f"{o.kind}:sel" for o in facts.get("param-ref", []) if is_read(o)}
    readers.update(f"{o.kind}:el" for o in facts.get("param-value", []))
    for occ in facts.get("helper-arg", []) if readers else []:
        if occ.detail in readers:
            fact = "card-ref" if occ.kind == "card" else "personal-ref"
            facts.setdefault(fact, []).append(
                dataclasses.replace(occ, fact=fact, kind="" if fact == "card-ref" else occ.kind, detail="direct")
            )
    for fact in ("card-ref", "personal-ref"):
        facts.get(fact, []).sort(key=lambda o: o.start)

    for fact, partner, trait in pairs:
        for occ in facts.get(fact, []):
            if fact in ("card-ref", "personal-ref"):
                paired = is_read(occ)
            else:
                paired = (fact == "html-sink" and occ.kind == "card") or in_same_function(occ, partner)
            if paired:
                if trait == "encodes-data":  # a charCodeAt loop: also what hash functions look like
                    out[trait].append(dataclasses.replace(occ, fact=trait, kind="strong", detail="char-code"))
                else:
                    kind = occ.kind if fact == "personal-ref" else ""
                    out[trait].append(dataclasses.replace(occ, fact=trait, kind=kind))
    # src assignments: a script/iframe loader when the function creates one, else a beacon
    sinks: list[_Occ] = []
    for occ in out["network-sink"]:
        if occ.kind == "pending-src":
            kind = "loader" if in_same_function(occ, "loader-element") else "beacon"
            occ = dataclasses.replace(occ, kind=kind)
        elif occ.kind == "pending-href":
            if not in_same_function(occ, "link-element"):
                continue
            occ = dataclasses.replace(occ, kind="beacon")
        sinks.append(occ)
    out["network-sink"] = sinks
    out["computed-url"] = [dataclasses.replace(o, fact="computed-url") for o in sinks if o.computed]
    for lst in out.values():
        lst.sort(key=lambda o: o.start)
    return out


def _char_col(src: bytes, start: int, col_bytes: int) -> int:
    return len(src[start - col_bytes : start].decode("utf-8", "replace")) + 1


def _excerpt(src: bytes, start: int, limit: int = EXCERPT_CHARS) -> str:
    chunk = src[start : start + limit * 4].decode("utf-8", "replace")
    return " ".join(chunk.split())[:limit]


def _position(src: bytes, occ: _Occ, trait: str) -> TraitPosition:
    return TraitPosition(trait, occ.row + 1, _char_col(src, occ.start, occ.col), _excerpt(src, occ.start))


def _empty(parsed: bool, error: str | None) -> _Analysis:
    return _Analysis(StructureReport(parsed, error), b"", None, {}, False)


def _walk(
    tree: tree_sitter.Tree, grammar: _Grammar, deadline: float
) -> tuple[dict[str, list[Node]], dict[int, Node], int]:
    """One iterative pass over the tree: the interesting nodes by bucket (in source order), the
    parent of each of them, and the number of bytes inside ERROR nodes.

    Strings and regexes are collected but not entered: they hold only their tokens (quotes,
    fragments, escapes), a sixth of a typical tree. One that holds an error (ERROR or MISSING node)
    is entered, so the error bytes are counted as before."""
    buckets: dict[str, list[Node]] = {b: [] for b in set(_BUCKETS.values())}
    # kind id -> the list its nodes go to (one dict lookup per node)
    targets = {kind_id: buckets[bucket] for kind_id, bucket in grammar.buckets.items()}
    opaque = grammar.opaque
    parents: dict[int, Node] = {}
    cursor = tree.walk()
    ancestors: list[Node] = []
    error_bytes = 0
    reach = 0  # end of the error bytes counted so far (nested ERROR nodes are not counted twice)
    countdown = 4096  # nodes until the time limit is checked again
    node = cursor.node
    while node is not None:
        countdown -= 1
        if not countdown:
            if time.monotonic() > deadline:
                raise _Timeout
            countdown = 4096
        kind_id = node.kind_id
        target = targets.get(kind_id)
        descend = True
        if target is not None:
            target.append(node)
            if ancestors:
                parents[node.id] = ancestors[-1]
            descend = kind_id not in opaque or node.has_error
        elif kind_id == _ERROR_KIND_ID and node.end_byte > reach:
            error_bytes += node.end_byte - max(node.start_byte, reach)
            reach = node.end_byte
        if descend and cursor.goto_first_child():
            ancestors.append(node)
        else:
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return buckets, parents, error_bytes
                ancestors.pop()
        node = cursor.node
    return buckets, parents, error_bytes  # pragma: no cover - the loop returns


def _bind(
    buckets: dict[str, list[Node]], scopes: _Scopes, resolver: _Resolver, collector: _Collector, text_of: _TextOf
) -> None:
    """Parameters (with their positions), function names and string constants/arrays bound to
    names, in source order."""
    for params in buckets["params"]:
        for index, param in enumerate(_named(params)):
            ident = param.child_by_field_id(_F_LEFT) if param.type == "assignment_pattern" else param
            if ident is not None and ident.type == "identifier":
                key = (scopes.innermost(ident.start_byte), text_of(ident))
                resolver.params.add(key)
                resolver.param_index.setdefault(key, index)
    for fn in buckets["scope"]:
        if fn.type == "arrow_function":
            ident = fn.child_by_field_id(_F_PARAMETER)
            if ident is not None and ident.type == "identifier":
                key = (scopes.innermost(ident.start_byte), text_of(ident))
                resolver.params.add(key)
                resolver.param_index.setdefault(key, 0)
        elif fn.type in ("function_declaration", "generator_function_declaration"):
            ident = fn.child_by_field_id(_F_NAME)
            own = scopes.innermost(fn.start_byte)
            if ident is not None and own > 0 and scopes.items[own].start == fn.start_byte:
                resolver.bind_function((scopes.parent[own], text_of(ident)), own)
    pairs: list[tuple[int, str, Node, bool]] = []  # (name position, name, value, is declaration)
    for node in buckets["declarator"]:
        target, value = node.child_by_field_id(_F_NAME), node.child_by_field_id(_F_VALUE)
        if target is not None and value is not None and target.type == "identifier":
            pairs.append((target.start_byte, text_of(target), value, True))
    for node in buckets["assign"]:
        if node.type != "assignment_expression":
            continue
        left, right = node.child_by_field_id(_F_LEFT), node.child_by_field_id(_F_RIGHT)
        if left is not None and right is not None and left.type == "identifier":
            pairs.append((left.start_byte, text_of(left), right, False))
    pairs.sort(key=lambda p: p[0])
    for at, name, value, decl in pairs:
        collector.tick()
        bound = resolver.bind_declaration(name, at, value) if decl else resolver.bind_assignment(name, at, value)
        value = _strip_parens(value)
        if bound is not None and value.type in ("function_expression", "arrow_function", "generator_function"):
            own = scopes.innermost(value.start_byte)
            if scopes.items[own].start == value.start_byte:
                resolver.bind_function(bound, own)
    collector.url_nodes = (buckets["assign"], buckets["str"])
    resolver.freeze()


def _analyse(text: str, with_report: bool = True) -> _Analysis:
    """Parse, walk, bind, collect and derive. ``with_report=False`` (the rule hits only) skips the
    per-scope report: :func:`_hits` reads nothing of it but ``parsed``."""
    if not needs_parse(text):
        return _empty(False, None)
    src = text.encode("utf-8", "surrogatepass")
    error: str | None = None
    if len(src) > MAX_PARSE_BYTES:
        src = src[:MAX_PARSE_BYTES]
        error = f"too large: first {MAX_PARSE_BYTES // (1024 * 1024)} MiB analysed"
    tree = _parse(src, PARSE_TIMEOUT_SECONDS)
    if tree is None:
        return _empty(False, f"parse timeout after {PARSE_TIMEOUT_SECONDS:g} s")
    grammar = _grammar()
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_SECONDS

    try:
        buckets, parents, error_bytes = _walk(tree, grammar, deadline)
    except _Timeout:
        return _empty(True, f"analysis timeout after {ANALYSIS_TIMEOUT_SECONDS:g} s")
    if src and error_bytes / len(src) > ERROR_RATE_LIMIT:
        rate = f"parse errors in {100 * error_bytes // len(src)}% of the text"
        error = f"{error}; {rate}" if error else rate
    text_of = _text_of(src)
    scopes = _Scopes(src, buckets["scope"], text_of, parents)
    resolver = _Resolver(text_of, scopes)
    collector = _Collector(src, text_of, resolver, deadline, parents)
    try:
        _bind(buckets, scopes, resolver, collector, text_of)
        handlers = (
            ("call", collector.call),
            ("new", collector.new),
            ("assign", collector.assign),
            ("member", collector.member_expression),
            ("subscript", collector.subscript_expression),
            ("str", collector.literal),
            ("binary", collector.compare),
        )
        for bucket, handler in handlers:
            nodes = buckets[bucket]
            for chunk in range(0, len(nodes), _CHECK_EVERY):  # the time limit once per chunk of nodes
                collector.check_deadline()
                for node in nodes[chunk : chunk + _CHECK_EVERY]:
                    handler(node)
        for node in buckets["debugger"]:
            collector.add(_occ("anti-analysis", node))
        collector.helper_calls()
    except _Timeout:
        error = f"{error}; analysis timeout" if error else f"analysis timeout after {ANALYSIS_TIMEOUT_SECONDS:g} s"

    traits = _derive(collector.facts, scopes)
    report = _report(src, scopes, traits, error) if with_report else StructureReport(True, error)
    after = _merge(collector.facts.get("after-response", []))
    return _Analysis(report, src, scopes, traits, collector.card_context, after)


def _report(src: bytes, scopes: _Scopes, traits: dict[str, list[_Occ]], error: str | None) -> StructureReport:
    starts = {k: [o.start for o in v] for k, v in traits.items() if v}
    program = tuple(
        sorted(
            (_position(src, v[0], k) for k, v in traits.items() if v),
            key=lambda p: (p.line, p.column, _TRAIT_ORDER[p.trait]),
        )
    )
    out: list[ScopeTraits] = []
    for i, s in enumerate(scopes.items):
        if len(out) >= _MAX_REPORTED_SCOPES:
            break
        found: list[TraitPosition] = []
        if i == 0:
            found = list(program)
        else:
            for k, st in starts.items():
                j = bisect_left(st, s.start)
                if j < len(st) and st[j] < s.end:
                    found.append(_position(src, traits[k][j], k))
            if not found:
                continue
            found.sort(key=lambda p: (p.line, p.column, _TRAIT_ORDER[p.trait]))
        out.append(
            ScopeTraits(
                s.kind,
                s.name,
                s.row + 1,
                _char_col(src, s.start, s.col) if i else 1,
                s.end_row + 1,
                tuple(found),
            )
        )
    return StructureReport(True, error, program, tuple(out))


def js_traits(text: str) -> StructureReport:
    """The behaviour traits of a JavaScript text, per scope (see :class:`StructureReport`).

    Never raises on hostile input; degradations are reported in ``error``."""
    return _analyse(text).report


def js_structure(text: str) -> tuple[StructureReport, list[CodeHit]]:
    """:func:`js_traits` and :func:`structure_hits` from one parse."""
    a = _analyse(text)
    return a.report, _hits(a)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

_MITRE: Final = "https://attack.mitre.org/techniques/T1056/003/"

_CATALOG: Final[tuple[RuleInfo, ...]] = (
    RuleInfo(
        "SG440",
        Layer.STRUCTURE,
        Severity.CRITICAL,
        Confidence.HIGH,
        "Card data read and sent to a computed URL",
        "One scope reads card fields (or a whole form, in code that names card fields, payment selectors "
        "or tests for the checkout page) and sends data to a URL that is computed, decoded or absolute. "
        "Critical (high confidence) when the same scope also tests for the checkout page, base64/XOR/"
        "CryptoJS-encodes, stages data in storage or a cookie, hides from devtools, or the URL itself had "
        "to be decoded; high (medium confidence) when only a submit/click listener, a timer or JSON/URI "
        "encoding aggravates it and the data goes out in a request (not a redirect or form action) to a "
        "URL that is not a relative path of the shop. A tokeniser's shape is SG445: card fields (no "
        "whole form, no e-mail/phone/password) posted with fetch/XMLHttpRequest/jQuery ajax to a plain "
        "literal URL or one from the page's configuration object, aggravated only by a submit/click "
        "listener and JSON (timers and encoding in the response handlers do not count).",
        (_MITRE,),
        "Direct-post payment integrations that read the card fields themselves and post them on a "
        "timer, URI-encoded or with the shopper's e-mail/phone can reach the high/medium variant; compare "
        "the destination host with your payment providers.",
    ),
    RuleInfo(
        "SG441",
        Layer.STRUCTURE,
        Severity.HIGH,
        Confidence.MEDIUM,
        "Card data staged in storage or a cookie",
        "One scope reads card fields (or a form in code that names card fields) and writes collected data "
        "to localStorage, sessionStorage or document.cookie, to send it later or from another page.",
        (_MITRE,),
        "Form-persistence plugins that save drafts of a checkout form.",
    ),
    RuleInfo(
        "SG442",
        Layer.STRUCTURE,
        Severity.HIGH,
        Confidence.MEDIUM,
        "Fake payment form injected",
        "Script writes markup with card input fields (number, CVV, expiry) into the page with innerHTML, "
        "insertAdjacentHTML, document.write or jQuery html/append: skimmers inject a fake payment form "
        "where the shop has none (hosted payment pages, PayPal-only checkouts).",
        (_MITRE,),
        "Payment plugins that render their own card form from JavaScript templates.",
    ),
    RuleInfo(
        "SG443",
        Layer.STRUCTURE,
        Severity.MEDIUM,
        Confidence.MEDIUM,
        "Checkout-gated script loader",
        "One scope tests the page URL for checkout/onestep/payment words and then loads a script or iframe "
        "from a computed or absolute URL: loaders fetch the skimmer only where card data is typed.",
        (_MITRE,),
        "Tag managers and payment widgets that load a vendor script only on the checkout page.",
    ),
    RuleInfo(
        "SG444",
        Layer.STRUCTURE,
        Severity.MEDIUM,
        Confidence.LOW,
        "Anti-analysis next to field reading or sending",
        "One scope checks for devtools or automation (navigator.webdriver, outer/inner size, debugger, "
        "console getter traps) and reads card fields or a form, or sends data to a URL it had to decode.",
        (_MITRE,),
        "Bot-detection and fraud-prevention scripts check automation and send a verdict.",
    ),
    RuleInfo(
        "SG445",
        Layer.STRUCTURE,
        Severity.LOW,
        Confidence.LOW,
        "Card field read next to a network sink",
        "One scope reads card fields and has a network sink, and SG440 did not fire (no aggravating trait, "
        "a relative same-shop URL, only a redirect, or a tokeniser posting JSON on submit to a URL from the "
        "page's configuration): the shape payment SDKs, card validators and BIN lookups share with "
        "skimmers. Informational; review the destination.",
        (_MITRE,),
        "Payment SDKs, card tokenizers and checkout validation code.",
    ),
    RuleInfo(
        "SG446",
        Layer.STRUCTURE,
        Severity.HIGH,
        Confidence.MEDIUM,
        "Personal or login data read and sent encoded to a foreign URL",
        "One scope reads personal or login fields (password, phone, address, name; an e-mail field alone "
        "does not count), base64-encodes, encrypts or reverses data (btoa, a base64 alphabet, CryptoJS, "
        "split-reverse-join; not a hash-like charCodeAt loop, JSON or URI encoding) or sends to a URL it had "
        "to decode, and sends it in a request to a computed or absolute URL that is not a relative path of "
        "the shop: registration and login skimmers steal accounts, addresses and phone numbers.",
        (_MITRE,),
        "Marketing or identity tags that read a sign-up form and send it base64-encoded to their own API; "
        "compare the destination host with your vendors.",
    ),
)
_CATALOG_BY_ID: Final = {r.rule_id: r for r in _CATALOG}


def structure_catalog() -> tuple[RuleInfo, ...]:
    """Documentation of the structure rules SG440-SG446 (IDs are stable)."""
    return _CATALOG


_STRONG_TRAITS: Final = ("checkout-gate", "staging", "anti-analysis")
_WEAK_TRAITS: Final = ("submit-trigger", "timer")


@dataclass(frozen=True)
class _Group:
    label: str
    occs: list[_Occ]


def _windows(groups: Sequence[_Group]) -> tuple[list[int], list[int]]:
    """Minimal windows (left, right byte offsets) no wider than WINDOW_BYTES that hold one
    occurrence of every group; both lists are non-decreasing."""
    events = sorted(((o.start, gi) for gi, g in enumerate(groups) for o in g.occs), key=lambda e: e[0])[:40000]
    need = len(groups)
    count = [0] * need
    covered = 0
    i = 0
    lefts: list[int] = []
    rights: list[int] = []
    for pos, gi in events:
        if count[gi] == 0:
            covered += 1
        count[gi] += 1
        if covered < need:
            continue
        while count[events[i][1]] > 1:
            count[events[i][1]] -= 1
            i += 1
        if pos - events[i][0] <= WINDOW_BYTES:
            lefts.append(events[i][0])
            rights.append(pos)
    return lefts, rights


def _smallest_scope(groups: Sequence[_Group], scopes: _Scopes) -> tuple[int, int, int] | None:
    """The smallest scope holding every group (within a window if the scope is large):
    (scope index, lo, hi) where [lo, hi] bounds the occurrences to use."""
    if any(not g.occs for g in groups):
        return None
    starts = [[o.start for o in g.occs] for g in groups]
    lefts, rights = _windows(groups)
    for si in scopes.by_size:
        s = scopes.items[si]
        if not all(_in_range(st, s.start, s.end) for st in starts):
            continue
        if s.end - s.start <= WINDOW_BYTES:
            return si, s.start, s.end
        k = bisect_left(lefts, s.start)
        if k < len(lefts) and rights[k] < s.end:
            return si, lefts[k], rights[k] + 1
    return None


def _first_in(occs: Sequence[_Occ], lo: int, hi: int) -> _Occ | None:
    k = bisect_left([o.start for o in occs], lo)
    return occs[k] if k < len(occs) and occs[k].start < hi else None


_PHRASES: Final = {
    "reads-card-field": "reads card fields",
    "reads-form": "reads a form",
    "reads-personal-field": "reads personal fields",
    "network-sink": "has a network sink",
    "computed-url": "sends to a computed URL",
    "encodes-data": "encodes data",
    "checkout-gate": "tests for the checkout page",
    "submit-trigger": "waits for a submit/click/input event",
    "timer": "runs on a timer",
    "anti-analysis": "checks for devtools/automation",
    "staging": "stores collected data",
    "dom-injection": "writes a card form into the page",
}


def _phrase(occ: _Occ) -> str:
    if occ.fact == "computed-url" and occ.kind == "loader":
        return "loads a script from a decoded URL" if occ.decoded else "loads a script from a computed URL"
    if occ.fact == "computed-url" and occ.decoded:
        return "sends to a decoded URL"
    return _PHRASES.get(occ.fact, occ.fact)


def _describe_scope(scope: _Scope) -> str:
    if scope.kind == "program":
        return "The script's top level"
    label = {"function": "function", "arrow": "arrow function", "method": "method"}[scope.kind]
    name = f" {scope.name!r}" if scope.name else ""
    return f"The {label}{name} at line {scope.row + 1}"


def structure_hits(text: str) -> list[CodeHit]:
    """Structure-layer hits (SG440-SG446) for a JavaScript text, at most one per rule, each from
    the smallest scope that holds its combination of traits. ``line``/``column`` are 1-based in
    ``text``; ``traits`` lists every trait of that scope."""
    return _hits(_analyse(text, with_report=False))


def _hits(a: _Analysis) -> list[CodeHit]:
    if a.scopes is None or not a.report.parsed:
        return []
    t = a.traits
    scopes = a.scopes
    card_data = list(t["reads-card-field"])
    if a.card_context or t["checkout-gate"]:
        card_data = sorted(card_data + t["reads-form"], key=lambda o: o.start)
    exfil = t["computed-url"]
    strong_agg = sorted(
        [o for name in _STRONG_TRAITS for o in t[name]]
        + [o for o in t["encodes-data"] if o.kind == "strong"]
        + [o for o in exfil if o.decoded],
        key=lambda o: o.start,
    )
    # weak aggravators (not in code that runs once a request has answered: a redirect to the receipt);
    # a submit listener and JSON are also what every tokeniser does
    weak = t["timer"] + [o for o in t["encodes-data"] if o.kind == "weak"]
    other_weak = sorted(strong_agg + [o for o in weak if not _inside(a.after, o.start)], key=lambda o: o.start)
    any_agg = sorted(
        other_weak + t["submit-trigger"] + [o for o in t["encodes-data"] if o.kind == "json"], key=lambda o: o.start
    )
    # a tokeniser sends the card (at most with the billing address) to the PSP, never e-mail/phone/password
    identity = [o for o in t["reads-personal-field"] if o.kind in ("email", "contact")]
    tokeniser_agg = sorted(other_weak + identity, key=lambda o: o.start)
    hits: list[CodeHit] = []

    def emit(
        rule_id: str,
        groups: Sequence[_Group],
        key: int,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        what: str = "",
    ) -> bool:
        found = _smallest_scope(groups, scopes)
        if found is None:
            return False
        si, lo, hi = found
        info = _CATALOG_BY_ID[rule_id]
        key_occ = _first_in(groups[key].occs, lo, hi) or groups[key].occs[0]
        parts: list[str] = []
        for g in groups:
            occ = _first_in(g.occs, lo, hi)
            if occ is not None:
                phrase = f"{_phrase(occ)} (line {occ.row + 1})"
                if phrase not in parts:
                    parts.append(phrase)
        scope = scopes.items[si]
        traits_in_scope = sorted(
            {name for name, occs in t.items() if occs and _first_in(occs, scope.start, scope.end) is not None},
            key=lambda n: _TRAIT_ORDER[n],
        )
        shown = key_occ.detail.strip("…")
        dest = f"; destination {key_occ.detail!r}" if shown and key_occ.fact in ("network-sink", "computed-url") else ""
        explanation = f"{_describe_scope(scope)} " + ", ".join(parts[:-1]) + f" and {parts[-1]}{what}{dest}."
        if len(parts) == 1:
            explanation = f"{_describe_scope(scope)} {parts[0]}{what}{dest}."
        hits.append(
            CodeHit(
                rule_id=rule_id,
                layer=Layer.STRUCTURE,
                severity=severity if severity is not None else info.severity,
                confidence=confidence if confidence is not None else info.confidence,
                title=info.title,
                explanation=explanation,
                excerpt=_excerpt(a.src, key_occ.start, 200),
                line=key_occ.row + 1,
                column=_char_col(a.src, key_occ.start, key_occ.col),
                traits=tuple(traits_in_scope),
            )
        )
        return True

    card_g = _Group("reads card data", card_data)
    exfil_g = _Group("sends to a computed URL", exfil)
    # without a strong aggravator: only requests that carry data to somewhere else count (not a
    # redirect or a form action, not the shop's own relative path)
    foreign = [o for o in exfil if not o.same_origin and o.kind in ("beacon", "loader")]
    # ... and a request to a plain literal URL or one from the page's configuration object, sent on
    # submit as JSON, is a tokeniser (direct-post payment integration): SG445 unless something else
    # aggravates it
    sg440 = (
        emit(
            "SG440",
            [card_g, exfil_g, _Group("with a strong aggravator", strong_agg)],
            1,
            what=": the shape of a web skimmer",
        )
        or emit(
            "SG440",
            [
                card_g,
                _Group("sends to a computed URL", [o for o in foreign if not o.fixed]),
                _Group("waits for submit/a timer or encodes", any_agg),
            ],
            1,
            Severity.HIGH,
            Confidence.MEDIUM,
            what=": the shape of a web skimmer",
        )
        or emit(
            "SG440",
            [
                card_g,
                _Group("sends to a fixed URL", [o for o in foreign if o.fixed]),
                _Group("runs on a timer, encodes or reads e-mail/phone/password", tokeniser_agg),
            ],
            1,
            Severity.HIGH,
            Confidence.MEDIUM,
            what=": the shape of a web skimmer",
        )
        or emit(  # a tokeniser picks the card fields; it never sends the whole checkout form
            "SG440",
            [
                _Group("grabs a whole form", [o for o in card_data if o.fact == "reads-form" and o.kind == "whole"]),
                _Group("sends to a fixed URL", [o for o in foreign if o.fixed]),
                _Group("waits for submit/a timer or encodes", any_agg),
            ],
            1,
            Severity.HIGH,
            Confidence.MEDIUM,
            what=": the shape of a web skimmer",
        )
    )
    emit("SG441", [card_g, _Group("stores collected data", t["staging"])], 1)
    emit("SG442", [_Group("writes a card form into the page", t["dom-injection"])], 0)
    loaders = [o for o in exfil if o.kind == "loader"]
    emit("SG443", [_Group("tests for the checkout page", t["checkout-gate"]), _Group("loads a script", loaders)], 1)
    reads_or_hides = sorted(
        t["reads-card-field"] + t["reads-form"] + [o for o in exfil if o.decoded], key=lambda o: o.start
    )
    emit(
        "SG444",
        [
            _Group("checks for devtools/automation", t["anti-analysis"]),
            _Group("reads fields or sends to a decoded URL", reads_or_hides),
        ],
        0,
    )
    if not sg440:
        emit(
            "SG445",
            [_Group("reads card fields", t["reads-card-field"]), _Group("has a network sink", t["network-sink"])],
            1,
        )
    # personal/login data: an e-mail alone is what marketing and analytics tags collect (hashed)
    personal = t["reads-personal-field"]
    really_encoded = sorted(
        [o for o in t["encodes-data"] if o.kind == "strong" and o.detail != "char-code"]
        + [o for o in foreign if o.decoded],
        key=lambda o: o.start,
    )
    emit(
        "SG446",
        [
            _Group("reads personal fields", personal),
            _Group("reads a field other than e-mail", [o for o in personal if o.kind != "email"]),
            _Group("sends to a foreign URL", foreign),
            _Group("encodes data", really_encoded),
        ],
        2,
        what=": the shape of a login/registration skimmer",
    )
    return hits
